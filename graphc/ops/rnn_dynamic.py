"""tf.nn.dynamic_rnn, tf.nn.bidirectional_dynamic_rnn and tf.reverse_sequence: the cell
run by a tf.while_loop over the time dimension, as TF1 (rnn.py) runs it, so a sequence model
compiles to one loop in the one native call whatever its length.

Inputs are read from TensorArrays over the time-major inputs and the outputs written to
one; with `sequence_length`, past each batch row's end the outputs are zeros and the state
is carried through unchanged (TF1's _rnn_step), so the final state is each row's state at
its last valid step. When the number of steps is known when the graph is built, it is the
loop's maximum_iterations and the loop is differentiable.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ops import array_ops, math_ops, nest
from graphc.ops.control_flow import while_loop
from graphc.ops.rnn_base import assert_like_rnncell, zeros_for
from graphc.ops.rnn_static import _sequence_lengths, select_rows
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.tensor_array import TensorArray
from graphc.ops.variables import variable_scope


def _swap_batch_time(x):
    """[a, b, ...] -> [b, a, ...]."""
    rank = x.node.rank
    if rank is None or rank < 2:
        raise ValueError(f"dynamic_rnn: inputs must have rank at least 2 ([batch, time, ...] "
                         f"or [time, batch, ...]), but '{x.name}' has shape {x.shape}")
    return array_ops.transpose(x, [1, 0] + list(range(2, rank)))


def _dim(x, axis: int):
    """x's size along `axis`: an int when known when the graph is built, else a tensor."""
    d = x.node.shape[axis]
    return int(d) if d is not None else array_ops.shape(x)[axis]


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """(outputs, final state): `cell` applied at each time step of `inputs` ([batch, time,
    depth], or [time, batch, depth] with time_major; a nest of such tensors) under the
    variable scope `scope` (default "rnn"). `parallel_iterations` and `swap_memory` are
    accepted and do nothing."""
    assert_like_rnncell("cell", cell, "dynamic_rnn")
    flat = [convert_to_tensor(x) for x in nest.flatten(inputs)]
    if not flat:
        raise ValueError("dynamic_rnn: inputs must hold at least one tensor")
    steps = flat if time_major else [_swap_batch_time(x) for x in flat]
    for x in steps:
        if x.node.rank is None or x.node.rank < 3 or None in x.node.shape[2:]:
            raise ValueError(f"dynamic_rnn: each input must be [batch, time, depth] with a "
                             f"known depth, but '{x.name}' has shape {x.shape}")
    with variable_scope(scope or "rnn"):
        time, batch = _dim(steps[0], 0), _dim(steps[0], 1)
        state = _initial_state(cell, initial_state, dtype, batch)
        out_dtype = nest.flatten(state)[0].dtype
        lengths = None if sequence_length is None else _sequence_lengths(
            sequence_length, "dynamic_rnn")
        outputs, state = _time_loop(cell, steps, inputs, state, time, batch, lengths,
                                    out_dtype)
    if not time_major:
        outputs = nest.map_structure(_swap_batch_time, outputs)
    return outputs, state


def _initial_state(cell, initial_state, dtype, batch):
    if initial_state is not None:
        return initial_state
    if dtype is None:
        raise ValueError("dynamic_rnn: If there is no initial_state, you must give a dtype.")
    return cell.zero_state(batch, dtypes.as_dtype(dtype))


def _time_loop(cell, steps, structure, state, time, batch, lengths, out_dtype):
    """The while loop over time: (outputs as [time, batch, ...] tensors, final state)."""
    inputs = [TensorArray(x.dtype, size=time).unstack(x) for x in steps]
    sizes = nest.flatten(cell.output_size)
    zero_outputs = [zeros_for(batch, size, out_dtype) for size in sizes]
    outputs = [TensorArray(out_dtype, size=time).unstack(
        array_ops.zeros([time] + [batch] + _dims(size), out_dtype)) for size in sizes]

    def body(t, outs, state):
        x = nest.pack_sequence_as(structure, [ta.read(t) for ta in inputs])
        output, new_state = cell(x, state)
        output = nest.flatten(output)
        if lengths is not None:
            done = math_ops.greater_equal(t, lengths)  # [batch]: past the row's end
            output = [select_rows(done, z, o) for z, o in zip(zero_outputs, output)]
            new_state = nest.map_structure(lambda s, n: select_rows(done, s, n), state,
                                           new_state)
        return t + 1, [ta.write(t, o) for ta, o in zip(outs, output)], new_state

    _, outs, state = while_loop(lambda t, *_: t < time, body, [0, outputs, state],
                                maximum_iterations=time)
    return nest.pack_sequence_as(cell.output_size, [ta.stack() for ta in outs]), state


def _dims(size) -> list:
    return [size] if isinstance(size, int) else list(size)


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None,  # noqa: A002
                     name=None, seq_dim=None, batch_dim=None):
    """Each batch row's first seq_lengths[b] elements along seq_axis reversed, the rest
    kept (TF1's tf.reverse_sequence)."""
    x = convert_to_tensor(input)
    seq_axis = seq_axis if seq_axis is not None else seq_dim
    batch_axis = (batch_axis if batch_axis is not None else batch_dim) or 0
    if seq_axis is None:
        raise ValueError("reverse_sequence: seq_axis must be given")
    rank = x.node.rank
    if rank is None or seq_axis == batch_axis or not (0 <= seq_axis < rank and
                                                       0 <= batch_axis < rank):
        raise ValueError(f"reverse_sequence: seq_axis {seq_axis} and batch_axis {batch_axis}"
                         f" must be two different axes of the input of shape {x.shape}")
    rest = [a for a in range(rank) if a not in (seq_axis, batch_axis)]
    perm = [seq_axis, batch_axis] + rest
    inverse = [perm.index(a) for a in range(rank)]
    moved = array_ops.transpose(x, perm)  # [time, batch, ...]
    out = _reverse_time_major(moved, math_ops.cast(convert_to_tensor(seq_lengths),
                                                   dtypes.int32))
    return array_ops.transpose(out, inverse, name=name)


def _reverse_time_major(x, lengths):
    """out[t, b] = x[lengths[b] - 1 - t, b] for t < lengths[b], else x[t, b]: one gather
    over the [time * batch] rows."""
    time, batch = _dim(x, 0), _dim(x, 1)
    t = array_ops.reshape(array_ops.range(0, time), [-1, 1])
    b = array_ops.reshape(array_ops.range(0, batch), [1, -1])
    within = math_ops.less(t, array_ops.reshape(lengths, [1, -1]))
    source = math_ops.where(within, array_ops.reshape(lengths, [1, -1]) - 1 - t,
                            t + 0 * b)
    index = array_ops.reshape(source * batch + b, [-1])
    rows = array_ops.reshape(x, array_ops.concat([[-1], array_ops.shape(x)[2:]], 0))
    return array_ops.reshape(array_ops.gather(rows, index), array_ops.shape(x))


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None, dtype=None,
                              parallel_iterations=None, swap_memory=False, time_major=False,
                              scope=None):
    """((output_fw, output_bw), (state_fw, state_bw)): dynamic_rnn forward (scope "fw")
    and over the sequences reversed within their lengths (scope "bw"), under `scope`
    (default "bidirectional_rnn"); output_bw is reversed back to the inputs' order."""
    assert_like_rnncell("cell_fw", cell_fw, "bidirectional_dynamic_rnn")
    assert_like_rnncell("cell_bw", cell_bw, "bidirectional_dynamic_rnn")
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)

    def reverse(x):
        if sequence_length is None:
            return array_ops.reverse(x, [time_axis])
        return reverse_sequence(x, sequence_length, time_axis, batch_axis)

    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = dynamic_rnn(cell_fw, inputs, sequence_length,
                                              initial_state_fw, dtype, time_major=time_major,
                                              scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            reversed_inputs = nest.map_structure(reverse, inputs)
            reversed_bw, state_bw = dynamic_rnn(cell_bw, reversed_inputs, sequence_length,
                                                initial_state_bw, dtype,
                                                time_major=time_major, scope=bw_scope)
    output_bw = nest.map_structure(reverse, reversed_bw)
    return (output_fw, output_bw), (state_fw, state_bw)
