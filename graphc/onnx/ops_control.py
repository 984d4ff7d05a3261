"""Control-flow ONNX ops over graphc's structured regions (docs/control-flow.md): If as
tf.cond, Loop and Scan as tf.while_loop with TensorArrays collecting the scan outputs.

Subgraphs read outer values by name; the importer turns those into tensors before the
region is traced, so the region captures them. An If whose condition is known at import
time imports only the taken branch. graphc's loop vars keep their shapes across
iterations and both branches of a cond return the same shapes: a model that needs
otherwise is refused with an error naming the node. Loop's scan outputs need the number
of iterations at import time (M constant and the condition never turning false early).
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.errors import OnnxImportError
from graphc.onnx.registry import converter
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.control_flow import cond, while_loop
from graphc.ops.tensor import cast, convert_to_tensor
from graphc.ops.tensor_array import TensorArray


@converter("If")
def _if(ctx):
    then_g, else_g = ctx.subgraph("then_branch"), ctx.subgraph("else_branch")
    known = ctx.value(0)
    if known is not None:  # decided at import time: only the taken branch exists
        return ctx.run_subgraph(then_g if bool(np.asarray(known).reshape(-1)[0]) else else_g,
                                [])
    pred = ctx.input(0)
    if pred.dtype is not dtypes.bool_:
        pred = cast(pred, dtypes.bool_)
    if pred.node.shape != ():
        pred = A.reshape(pred, [])
    ctx.capture(then_g, else_g)
    outs = cond(pred, lambda: ctx.run_subgraph(then_g, []),
                lambda: ctx.run_subgraph(else_g, []), strict=True)
    return list(outs)


def _passes_cond_through(body) -> bool:
    """Whether the body's condition output is its condition input, unchanged."""
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if cond_in == cond_out:
        return True
    return any(n.op_type == "Identity" and list(n.input) == [cond_in] and
               list(n.output) == [cond_out] for n in body.node)


@converter("Loop")
def _loop(ctx):
    body = ctx.subgraph("body")
    n_state = len(ctx.node.inputs) - 2
    n_scan = len(body.output) - 1 - n_state
    limit = ctx.value(0) if ctx.present(0) else None
    start = ctx.value(1) if ctx.present(1) else None
    if n_scan:  # the scan outputs' length depends on both
        if ctx.present(0) and limit is None:
            limit = ctx.const(0, "trip count M")
        if ctx.present(1) and start is None:
            start = ctx.const(1, "loop condition")
    trips = None if limit is None else int(np.asarray(limit).reshape(-1)[0])
    if n_scan and (trips is None or (ctx.present(1) and not _passes_cond_through(body))):
        ctx.fail("Loop with scan outputs needs its number of iterations at import time: "
                 "a constant M and a condition that stays true")
    if start is not None:
        start = bool(np.asarray(start).reshape(-1)[0])
        trips = 0 if (not start and trips is not None) else trips
        start_cond_t = convert_to_tensor(start)
    elif ctx.present(1):
        start_cond_t = cast(ctx.input(1), dtypes.bool_)
    else:
        start_cond_t = convert_to_tensor(True)
    states = [ctx.input(2 + k) for k in range(n_state)]
    ctx.capture(body)
    arrays = [TensorArray(_out_dtype(ctx, body, 1 + n_state + k, n_state + k), size=trips)
              for k in range(n_scan)]
    limit_t = None if trips is None and not ctx.present(0) else (
        convert_to_tensor(np.int64(trips)) if trips is not None else
        cast(A.reshape(ctx.input(0), []), dtypes.int64))

    def keep_going(i, c, *rest):
        return c if limit_t is None else M.logical_and(M.less(cast(i, dtypes.int64), limit_t),
                                                        c)

    def step(i, c, *rest):
        values, tas = list(rest[:n_state]), list(rest[n_state:])
        outs = ctx.run_subgraph(body, [cast(i, dtypes.int64), c] + values)
        new_cond = A.reshape(cast(outs[0], dtypes.bool_), [])
        new_states = [_same_shape(ctx, v, o) for v, o in zip(values, outs[1:1 + n_state])]
        tas = [ta.write(i, o) for ta, o in zip(tas, outs[1 + n_state:])]
        return [i + 1, new_cond] + new_states + tas

    loop_vars = [convert_to_tensor(np.int32(0)), A.reshape(start_cond_t, [])] + states + arrays
    result = while_loop(keep_going, step, loop_vars, maximum_iterations=trips,
                        return_same_structure=True)
    final = list(result[2:2 + n_state])
    scans = [ta.stack() for ta in result[2 + n_state:]]
    return final + scans


def _out_dtype(ctx, body, body_index: int, node_index: int):
    """The element type of a scan output: as the body declares it, else as the node's."""
    from graphc.onnx.model_file import tensor_type
    from graphc.onnx.registry import graphc_dtype
    dtype = graphc_dtype(tensor_type(body.output[body_index])[0]) or \
        ctx.output_dtype(node_index)
    if dtype is None:  # undeclared (inside a function body): the loop's own float type;
        # a write of another type fails the import with a dtype error, never silently
        floats = [t.dtype for t in ctx.inputs()[::-1] if t.dtype.kind == "f"]  # scanned
        # inputs come last, and a scan output is most often made from them
        if not floats:
            raise OnnxImportError(f"the element type of scan output "
                                  f"'{body.output[body_index].name}' is not declared")
        dtype = floats[0]
    return dtype


def _same_shape(ctx, before, after):
    if before.node.shape != after.node.shape and None not in (before.node.shape or [None]):
        if after.node.shape is None or len(after.node.shape) != len(before.node.shape) or any(
                a is not None and a != b for a, b in zip(after.node.shape, before.node.shape)):
            ctx.fail(f"a loop-carried value changes shape from {before.shape} to "
                     f"{after.shape}; graphc's loop vars keep their shapes")
        return A.ensure_shape(after, before.node.shape)
    if after.dtype is not before.dtype:
        ctx.fail(f"a loop-carried value changes type from {before.dtype} to {after.dtype}")
    return after


def _scan_check(node):
    if node.opset < 9 and node.present(0):
        return "Scan-8 with sequence_lens (sequences of several lengths) is not supported"
    return None


@converter("Scan", check=_scan_check)
def _scan(ctx):
    body = ctx.subgraph("body")
    n_in = int(ctx.attr("num_scan_inputs"))
    if ctx.opset < 9:
        return _scan_batched(ctx, body, n_in)
    n_state = len(ctx.node.inputs) - n_in
    n_out = len(body.output) - n_state
    in_axes = list(ctx.attr("scan_input_axes", [0] * n_in) or [0] * n_in)
    in_dirs = list(ctx.attr("scan_input_directions", [0] * n_in) or [0] * n_in)
    out_axes = list(ctx.attr("scan_output_axes", [0] * n_out) or [0] * n_out)
    out_dirs = list(ctx.attr("scan_output_directions", [0] * n_out) or [0] * n_out)
    sequences = []
    for k in range(n_in):  # each scan input with its scanned axis first
        x = ctx.input(n_state + k)
        axis = int(in_axes[k]) % x.node.rank
        sequences.append(A.transpose(x, [axis] + [a for a in range(x.node.rank) if a != axis]))
    states = [ctx.input(k) for k in range(n_state)]
    outputs = _scan_loop(ctx, body, states, sequences, in_dirs, out_dirs)
    for k in range(n_out):
        y = outputs[n_state + k]
        axis = int(out_axes[k]) % y.node.rank
        if axis:
            perm = list(range(1, y.node.rank))
            perm.insert(axis, 0)
            outputs[n_state + k] = A.transpose(y, perm)
    return outputs


def _scan_batched(ctx, body, n_in):
    """Scan-8: inputs and outputs carry a batch axis first (then the sequence axis); the
    body runs on one batch entry at a time, so each entry is its own scan."""
    n_state = len(ctx.node.inputs) - 1 - n_in
    n_out = len(body.output) - n_state
    states = [ctx.input(1 + k) for k in range(n_state)]
    scanned = [ctx.input(1 + n_state + k) for k in range(n_in)]
    dirs = list(ctx.attr("directions", [0] * n_in) or [0] * n_in)
    batch = ctx.static_shape(scanned[0], "Scan-8")[0]
    per_entry = []
    for b in range(batch):
        per_entry.append(_scan_loop(ctx, body, [s[b] for s in states],
                                    [x[b] for x in scanned], dirs, [0] * n_out))
    return [A.stack([entry[k] for entry in per_entry], axis=0)
            for k in range(n_state + n_out)]


def _scan_loop(ctx, body, states, sequences, in_dirs, out_dirs) -> list:
    """(final states..., scan outputs stacked on a new first axis) of the body run over
    the first axis of each sequence (reversed where its direction is 1)."""
    n_state = len(states)
    n_out = len(body.output) - n_state
    sequences = [A.reverse(x, [0]) if d else x for x, d in zip(sequences, in_dirs)]
    lengths = {x.node.shape[0] for x in sequences}
    if len(lengths) != 1 or None in lengths:
        ctx.fail(f"Scan inputs need one length known at import time, got {sorted(lengths)}")
    steps = lengths.pop()
    ctx.capture(body)
    arrays = [TensorArray(_out_dtype(ctx, body, n_state + k, n_state + k), size=steps)
              for k in range(n_out)]

    def step(i, *rest):
        values, tas = list(rest[:n_state]), list(rest[n_state:])
        items = [A.gather(x, i, axis=0) for x in sequences]
        outs = ctx.run_subgraph(body, values + items)
        new_states = [_same_shape(ctx, v, o) for v, o in zip(values, outs[:n_state])]
        return [i + 1] + new_states + [ta.write(i, o) for ta, o in zip(tas, outs[n_state:])]

    result = while_loop(lambda i, *rest: M.less(i, steps), step,
                        [convert_to_tensor(np.int32(0))] + states + arrays,
                        maximum_iterations=steps, return_same_structure=True)
    outputs = list(result[1:1 + n_state])
    for k, ta in enumerate(result[1 + n_state:]):
        y = ta.stack()
        outputs.append(A.reverse(y, [0]) if out_dirs[k] else y)
    return outputs
