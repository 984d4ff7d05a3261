"""tf.nn.static_rnn and tf.nn.static_bidirectional_rnn: the cell unrolled over a Python list
of inputs, one [batch, depth] tensor per time step, as TF1 (rnn.py) does.

With `sequence_length`, each batch row stops at its own length: past it the outputs are
zeros and the state is carried through unchanged, so the final state is each row's state at
its last valid step. TF1 wraps each step in tf.cond to skip whole steps past the longest
(or before the shortest) sequence; graphc always selects per row with tf.where, which gives
the same values and gradients.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ops import array_ops, math_ops
from graphc.ops.rnn_base import (
    assert_like_rnncell,
    flatten,
    map_structure,
    pack_as,
    zeros_for,
)
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.variables import variable_scope


def _check_inputs(inputs, op: str) -> list:
    """The inputs as a list of tensors (or nested tuples of them), one per time step."""
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{op}: inputs must be a sequence (a list with one [batch, depth] "
                        f"tensor per time step), got {inputs!r}")
    if not inputs:
        raise ValueError(f"{op}: inputs must not be empty (one tensor per time step)")
    return [map_structure(convert_to_tensor, step) for step in inputs]


def _batch_size(inputs, op: str):
    """The batch size: an int when the inputs' shapes know it, else a scalar tensor."""
    first = flatten(inputs[0])[0]
    fixed = first.shape[0] if first.shape.ndims == 1 else None
    if first.shape.ndims != 1:  # TF1 lets a rank-1 first input through (embedding ids)
        for x in (x for step in inputs for x in flatten(step)):
            rank = x.shape.ndims
            if rank is None or rank < 2:
                raise ValueError(f"{op}: each input must have rank at least 2 ([batch, depth]),"
                                 f" but input '{x.name}' has shape {x.shape}")
            if None in x.shape.dims[1:]:
                raise ValueError(f"{op}: Input size (dimension 1 of inputs) must be accessible "
                                 f"via shape inference, but input '{x.name}' has shape "
                                 f"{x.shape}")
            batch = x.shape[0]
            if fixed is not None and batch is not None and batch != fixed:
                raise ValueError(f"{op}: all inputs must have the same batch size, but found "
                                 f"{fixed} and {batch} (input '{x.name}')")
            fixed = batch if fixed is None else fixed
    return int(fixed) if fixed is not None else array_ops.shape(first)[0]


def _sequence_lengths(sequence_length, op: str):
    lengths = convert_to_tensor(sequence_length)
    if lengths.shape.ndims not in (None, 1):
        raise ValueError(f"{op}: sequence_length must be a vector of length batch_size, got "
                         f"shape {lengths.shape}")
    return math_ops.cast(lengths, dtypes.int32)


def select_rows(condition, x, y):
    """Row b of x where condition[b] else row b of y: TF1's tf.where with a [batch]
    condition, which graphc's broadcasting tf.where needs spelled [batch, 1, ...]."""
    rank = y.shape.ndims
    column = array_ops.reshape(condition, [-1] + [1] * (rank - 1))
    return math_ops.where(column, x, y)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None,
               scope=None):
    """(outputs, final state): `cell` applied to each of the `inputs` in turn, under the
    variable scope `scope` (default "rnn"), starting from initial_state or zeros of dtype."""
    assert_like_rnncell("cell", cell, "static_rnn")
    inputs = _check_inputs(inputs, "static_rnn")
    with variable_scope(scope or "rnn") as varscope:
        batch_size = _batch_size(inputs, "static_rnn")
        if initial_state is not None:
            state = initial_state
        elif dtype is None:
            raise ValueError("static_rnn: If no initial_state is provided, dtype must be "
                             "specified")
        elif getattr(cell, "get_initial_state", None) is not None:
            state = cell.get_initial_state(inputs=None, batch_size=batch_size, dtype=dtype)
        else:
            state = cell.zero_state(batch_size, dtype)
        lengths = None
        if sequence_length is not None:
            lengths = _sequence_lengths(sequence_length, "static_rnn")
            out_dtype = dtype if dtype is not None else flatten(state)[0].dtype
            zero_output = map_structure(lambda size: zeros_for(batch_size, size, out_dtype),
                                        cell.output_size)
        outputs = []
        for time, step in enumerate(inputs):
            if time > 0:
                varscope.reuse_variables()
            output, new_state = cell(step, state)
            if lengths is not None:
                done = math_ops.greater_equal(time, lengths)  # [batch]: past the row's end
                output = map_structure(lambda z, o: select_rows(done, z, o), zero_output,
                                       output)
                new_state = map_structure(lambda s, n: select_rows(done, s, n), state,
                                          new_state)
            outputs.append(output)
            state = new_state
        return outputs, state


def _reverse_seq(steps, lengths):
    """The time steps reversed, each batch row within its own length (TF1's
    reverse_sequence): out[t][b] = in[lengths[b] - 1 - t][b] for t < lengths[b], else
    in[t][b]. With a static list of steps that is a chain of row selects, T(T + 1) / 2 in
    all, exact and free of gathers (the batch may be unknown when the graph is built)."""
    if lengths is None:
        return list(reversed(steps))
    flat_steps = [flatten(s) for s in steps]
    count = len(steps)
    results = [[] for _ in steps]
    for leaf in range(len(flat_steps[0])):
        seq = [flat[leaf] for flat in flat_steps]
        for t in range(count):
            source = lengths - (t + 1)  # [batch]: the step row b reads; < 0 past its end
            out = seq[t]
            for s in range(count - t):
                out = select_rows(math_ops.equal(source, s), seq[s], out)
            results[t].append(out)
    return [pack_as(step, flat) for step, flat in zip(steps, results)]


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None,
                             initial_state_bw=None, dtype=None, sequence_length=None,
                             scope=None):
    """(outputs, final fw state, final bw state): static_rnn forward (scope "fw") and over
    the reversed sequences (scope "bw", each row reversed within its length) under `scope`
    (default "bidirectional_rnn"); each output concatenates the two along axis 1."""
    assert_like_rnncell("cell_fw", cell_fw, "static_bidirectional_rnn")
    assert_like_rnncell("cell_bw", cell_bw, "static_bidirectional_rnn")
    inputs = _check_inputs(inputs, "static_bidirectional_rnn")
    lengths = None if sequence_length is None else _sequence_lengths(
        sequence_length, "static_bidirectional_rnn")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype,
                                             lengths, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            reversed_inputs = _reverse_seq(inputs, lengths)
            reversed_bw, state_bw = static_rnn(cell_bw, reversed_inputs, initial_state_bw,
                                               dtype, lengths, scope=bw_scope)
    output_bw = _reverse_seq(reversed_bw, lengths)
    outputs = [map_structure(lambda f, b: array_ops.concat([f, b], 1), fw, bw)
               for fw, bw in zip(output_fw, output_bw)]
    return outputs, state_fw, state_bw
