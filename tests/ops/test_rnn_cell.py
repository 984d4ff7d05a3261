"""tf.nn.rnn_cell, static_rnn and static_bidirectional_rnn (graphc/ops/rnn_*.py) against
numpy versions of TF1's formulas, fed the variables' values read back from the session, on
every target; TF1's variable names; gradients against finite differences; DropoutWrapper;
the tf.contrib.rnn spelling; errors."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf

_RNG = np.random.default_rng(7)
B, D = 3, 2  # batch, input depth


@pytest.fixture(autouse=True)
def _own_draws(request):
    """Each test draws from its own generator, so its data do not depend on which tests
    ran before it in the same process (a clip test needs its clip to be reached)."""
    global _RNG
    _RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def u(*shape):
    return _RNG.uniform(-1, 1, shape)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- numpy versions of TF1's cells: w holds the variables by name within the cell's scope ---
def np_basic_rnn(w, x, h):
    out = np.tanh(np.concatenate([x, h], 1) @ w["kernel"] + w["bias"])
    return out, out


def np_basic_lstm(w, x, state, forget_bias=1.0):
    c, h = state
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ w["kernel"] + w["bias"], 4, axis=1)
    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * np.tanh(j)
    new_h = np.tanh(new_c) * sigmoid(o)
    return new_h, (new_c, new_h)


def np_lstm(w, x, state, use_peepholes=False, cell_clip=None, num_proj=None, proj_clip=None,
            forget_bias=1.0):
    c_prev, m_prev = state
    i, j, f, o = np.split(np.concatenate([x, m_prev], 1) @ w["kernel"] + w["bias"], 4, axis=1)
    if use_peepholes:
        c = (sigmoid(f + forget_bias + w["w_f_diag"] * c_prev) * c_prev
             + sigmoid(i + w["w_i_diag"] * c_prev) * np.tanh(j))
    else:
        c = sigmoid(f + forget_bias) * c_prev + sigmoid(i) * np.tanh(j)
    if cell_clip is not None:
        c = np.clip(c, -cell_clip, cell_clip)
    m = sigmoid(o + w["w_o_diag"] * c if use_peepholes else o) * np.tanh(c)
    if num_proj is not None:
        m = m @ w["projection/kernel"]
        if proj_clip is not None:
            m = np.clip(m, -proj_clip, proj_clip)
    return m, (c, m)


def np_gru(w, x, h):
    r, z = np.split(sigmoid(np.concatenate([x, h], 1) @ w["gates/kernel"] + w["gates/bias"]),
                    2, axis=1)
    c = np.tanh(np.concatenate([x, r * h], 1) @ w["candidate/kernel"] + w["candidate/bias"])
    new_h = z * h + (1 - z) * c
    return new_h, new_h


def np_static_rnn(step, xs, state, lengths=None):
    """TF1's static_rnn in numpy: rows past their length output zeros and keep their state."""
    outputs = []
    for t, x in enumerate(xs):
        out, new_state = step(x, state)
        if lengths is not None:
            done = (t >= np.asarray(lengths))[:, None]
            out = np.where(done, 0.0, out)
            new_state = tuple(np.where(done, s, n) for s, n in zip(state, new_state)) \
                if isinstance(state, tuple) else np.where(done, state, new_state)
        outputs.append(out)
        state = new_state
    return outputs, state


def run_with_variables(fetches, cells, feed=None, target="reference"):
    """(values of fetches, {name within the cell's scope: value}) from one session; with a
    list of cells, one such dict per cell."""
    many = isinstance(cells, list)
    variables = [{v.name[len(c._scope.name) + 1:-2]: v for v in c.variables}
                 for c in (cells if many else [cells])]
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        got, values = sess.run([fetches, variables], feed)
    return got, (values if many else values[0])


def one_step(cell, state_value, x_value):
    """The cell applied once to constants, float64."""
    state = tuple(tf.constant(s) for s in state_value) if isinstance(state_value, tuple) \
        else tf.constant(state_value)
    return cell(tf.constant(x_value), state)


# --- cells, one step ------------------------------------------------------------------------
def test_basic_rnn_cell(target):
    x, h = u(B, D), u(B, 4)
    cell = tf.nn.rnn_cell.BasicRNNCell(4)
    (out, state), w = run_with_variables(one_step(cell, h, x), cell, target=target)
    assert_close(out, np_basic_rnn(w, x, h)[0])
    assert_close(state, out)


@pytest.mark.parametrize("forget_bias", [1.0, 0.25])
def test_basic_lstm_cell_tuple_state(forget_bias, target):
    x, c, h = u(B, D), u(B, 3), u(B, 3)
    cell = tf.nn.rnn_cell.BasicLSTMCell(3, forget_bias=forget_bias)
    (out, state), w = run_with_variables(one_step(cell, (c, h), x), cell, target=target)
    want_out, (want_c, want_h) = np_basic_lstm(w, x, (c, h), forget_bias)
    assert_close(out, want_out)
    assert_close(state.c, want_c)
    assert_close(state.h, want_h)


def test_basic_lstm_cell_concatenated_state(target):
    x, c, h = u(B, D), u(B, 3), u(B, 3)
    cell = tf.nn.rnn_cell.BasicLSTMCell(3, state_is_tuple=False)
    assert cell.state_size == 6
    (out, state), w = run_with_variables(one_step(cell, np.concatenate([c, h], 1), x), cell,
                                         target=target)
    want_out, want_state = np_basic_lstm(w, x, (c, h))
    assert_close(out, want_out)
    assert_close(state, np.concatenate(want_state, 1))


LSTM_CASES = {
    "plain": {},
    "peepholes": {"use_peepholes": True},
    "cell_clip": {"cell_clip": 0.2},
    "num_proj": {"num_proj": 2},
    "proj_clip": {"num_proj": 2, "proj_clip": 0.05},
    "forget_bias": {"forget_bias": 0.3},
    "everything": {"use_peepholes": True, "cell_clip": 0.3, "num_proj": 3, "proj_clip": 0.1,
                   "forget_bias": 0.5},
}


@pytest.mark.parametrize("state_is_tuple", [True, False], ids=["tuple", "concat"])
@pytest.mark.parametrize("case", LSTM_CASES, ids=list(LSTM_CASES))
def test_lstm_cell(case, state_is_tuple):
    options = LSTM_CASES[case]
    proj = options.get("num_proj") or 4
    x, c, m = u(B, D), 2 * u(B, 4), u(B, proj)  # |c| up to 2: cell_clip matters
    cell = tf.nn.rnn_cell.LSTMCell(4, state_is_tuple=state_is_tuple, **options)
    assert cell.output_size == proj
    state = (c, m) if state_is_tuple else np.concatenate([c, m], 1)
    (out, new_state), w = run_with_variables(one_step(cell, state, x), cell)
    want_out, want_state = np_lstm(w, x, (c, m), **options)
    assert_close(out, want_out)
    assert_close(new_state if not state_is_tuple else np.concatenate(new_state, 1),
                 np.concatenate(want_state, 1))
    for clip, value in (("proj_clip", out), ("cell_clip", want_state[0])):
        if clip in options:  # the clip is active
            assert np.abs(value).max() == pytest.approx(options[clip])


def test_lstm_cell_everything_compiled(target):
    options = LSTM_CASES["everything"]
    x, c, m = u(B, D), 2 * u(B, 4), u(B, 3)
    cell = tf.nn.rnn_cell.LSTMCell(4, **options)
    (out, state), w = run_with_variables(one_step(cell, (c, m), x), cell, target=target)
    want_out, want_state = np_lstm(w, x, (c, m), **options)
    assert_close(out, want_out)
    assert_close(state.c, want_state[0])


def test_gru_cell(target):
    x, h = u(B, D), u(B, 3)
    cell = tf.nn.rnn_cell.GRUCell(3)
    (out, state), w = run_with_variables(one_step(cell, h, x), cell, target=target)
    assert_close(w["gates/bias"], np.ones(6))  # TF1: the gates start open
    assert_close(w["candidate/bias"], np.zeros(3))
    assert_close(out, np_gru(w, x, h)[0])
    assert_close(state, out)


def test_gru_cell_initializers():
    cell = tf.nn.rnn_cell.GRUCell(2, kernel_initializer=tf.constant_initializer(0.5),
                                  bias_initializer=tf.constant_initializer(-1.0))
    _, w = run_with_variables(one_step(cell, u(B, 2), u(B, D)), cell)
    assert_close(w["gates/kernel"], np.full((4, 4), 0.5))
    assert_close(w["gates/bias"], np.full(4, -1.0))
    assert_close(w["candidate/bias"], np.full(2, -1.0))


def test_multi_rnn_cell_of_two_lstms(target):
    x = u(B, D)
    states = ((u(B, 3), u(B, 3)), (u(B, 2), u(B, 2)))
    cell = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicLSTMCell(3),
                                        tf.nn.rnn_cell.LSTMCell(2, use_peepholes=True)])
    assert cell.state_size == ((3, 3), (2, 2)) and cell.output_size == 2
    state = tuple(tf.nn.rnn_cell.LSTMStateTuple(tf.constant(c), tf.constant(h))
                  for c, h in states)
    (out, new_state), w = run_with_variables(cell(tf.constant(x), state), cell, target=target)
    first = {k[len("cell_0/basic_lstm_cell/"):]: v for k, v in w.items() if "cell_0" in k}
    second = {k[len("cell_1/lstm_cell/"):]: v for k, v in w.items() if "cell_1" in k}
    h0, s0 = np_basic_lstm(first, x, states[0])
    h1, s1 = np_lstm(second, h0, states[1], use_peepholes=True)
    assert_close(out, h1)
    for got, want in zip(new_state, (s0, s1)):
        assert_close(got.c, want[0])
        assert_close(got.h, want[1])


def test_multi_rnn_cell_concatenated_state():
    cell = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicRNNCell(3),
                                        tf.nn.rnn_cell.GRUCell(2)], state_is_tuple=False)
    assert cell.state_size == 5
    x, h = u(B, D), u(B, 5)
    (out, state), w = run_with_variables(cell(tf.constant(x), tf.constant(h)), cell)
    first = {k[len("cell_0/basic_rnn_cell/"):]: v for k, v in w.items() if "cell_0" in k}
    second = {k[len("cell_1/gru_cell/"):]: v for k, v in w.items() if "cell_1" in k}
    h0, _ = np_basic_rnn(first, x, h[:, :3])
    h1, _ = np_gru(second, h0, h[:, 3:])
    assert_close(out, h1)
    assert_close(state, np.concatenate([h0, h1], 1))


def test_zero_state_with_a_batch_known_at_run_time():
    x = tf.placeholder(tf.float32, [None, D])
    cell = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicLSTMCell(3),
                                        tf.nn.rnn_cell.GRUCell(2)])
    zero = cell.zero_state(tf.shape(x)[0], tf.float32)
    assert isinstance(zero[0], tf.nn.rnn_cell.LSTMStateTuple) and zero[0].dtype == tf.float32
    out, _ = cell(x, zero)
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        got_zero, got_out = sess.run([zero, out], {x: np.ones((5, D))})
    assert got_zero[0].c.shape == (5, 3) and not got_zero[1].any()
    assert got_out.shape == (5, 2)


# --- static_rnn -----------------------------------------------------------------------------
@pytest.mark.parametrize("lengths", [None, [2, 4, 0]], ids=["full", "ragged"])
def test_static_rnn_lstm(lengths, target):
    xs = [u(B, D) for _ in range(4)]
    inputs = [tf.placeholder(tf.float64, [None, D]) for _ in xs]
    cell = tf.nn.rnn_cell.BasicLSTMCell(3)
    outputs, state = tf.nn.static_rnn(cell, inputs, dtype=tf.float64,
                                      sequence_length=lengths)
    (got_out, got_state), w = run_with_variables(
        [outputs, state], cell, dict(zip(inputs, xs)), target)

    def step(x, s):
        return np_basic_lstm(w, x, s)
    want_out, want_state = np_static_rnn(step, xs, (np.zeros((B, 3)),) * 2, lengths)
    for got, want in zip(got_out, want_out):
        assert_close(got, want)
    assert_close(got_state.c, want_state[0])
    assert_close(got_state.h, want_state[1])
    if lengths is not None:
        assert not got_out[3][0].any() and not got_out[0][2].any()  # zeros past each end
        assert_close(got_state.h[0], got_out[1][0])  # row 0's final state is from step 1


def test_static_rnn_gru_from_an_initial_state(target):
    xs = [u(B, D) for _ in range(3)]
    h0 = u(B, 2)
    cell = tf.nn.rnn_cell.GRUCell(2)
    outputs, state = tf.nn.static_rnn(cell, [tf.constant(x) for x in xs],
                                      initial_state=tf.constant(h0),
                                      sequence_length=tf.constant([3, 1, 2], tf.int64))
    (got_out, got_state), w = run_with_variables([outputs, state], cell, target=target)
    want_out, want_state = np_static_rnn(lambda x, h: np_gru(w, x, h), xs, h0, [3, 1, 2])
    for got, want in zip(got_out, want_out):
        assert_close(got, want)
    assert_close(got_state, want_state)


def _reverse_within(xs, lengths):
    """TF1's reverse_sequence over a list of [batch, ...] steps."""
    out = [x.copy() for x in xs]
    for b, n in enumerate(lengths):
        for t in range(n):
            out[t][b] = xs[n - 1 - t][b]
    return out


@pytest.mark.parametrize("lengths", [None, [3, 1, 2]], ids=["full", "ragged"])
def test_static_bidirectional_rnn(lengths, target):
    xs = [u(B, D) for _ in range(3)]
    fw, bw = tf.nn.rnn_cell.BasicRNNCell(2), tf.nn.rnn_cell.GRUCell(3)
    outputs, state_fw, state_bw = tf.nn.static_bidirectional_rnn(
        fw, bw, [tf.constant(x) for x in xs], dtype=tf.float64, sequence_length=lengths)
    assert [o.shape.as_list() for o in outputs] == [[B, 5]] * 3
    (got, got_fw, got_bw), (w_fw, w_bw) = run_with_variables(
        [outputs, state_fw, state_bw], [fw, bw], target=target)
    full = lengths or [3] * B
    want_fw, want_state_fw = np_static_rnn(lambda x, h: np_basic_rnn(w_fw, x, h), xs,
                                              np.zeros((B, 2)), lengths)
    reversed_out, want_state_bw = np_static_rnn(lambda x, h: np_gru(w_bw, x, h),
                                                   _reverse_within(xs, full), np.zeros((B, 3)),
                                                   lengths)
    want_bw = _reverse_within(reversed_out, full)
    for g, f, b in zip(got, want_fw, want_bw):
        assert_close(g, np.concatenate([f, b], 1))
    assert_close(got_fw, want_state_fw)
    assert_close(got_bw, want_state_bw)


def test_gradient_of_static_rnn_matches_finite_differences(target):
    """d loss / d kernel in float64 against central differences, through ragged lengths."""
    xs = [u(B, D) for _ in range(3)]
    cell = tf.nn.rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2)
    outputs, state = tf.nn.static_rnn(cell, [tf.constant(x) for x in xs], dtype=tf.float64,
                                      sequence_length=[3, 2, 1])
    weights = [tf.constant(u(B, 2)) for _ in outputs]
    loss = tf.add_n([tf.reduce_sum(o * wt) for o, wt in zip(outputs, weights)]) \
        + tf.reduce_sum(tf.square(state.c))
    kernel = cell.variables[0]
    (grad,) = tf.gradients(loss, [kernel])
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        k0, symbolic = sess.run([kernel, grad])
        numeric, delta = np.zeros_like(k0), 1e-6
        for index in np.ndindex(k0.shape):
            values = []
            for sign in (1, -1):
                k = k0.copy()
                k[index] += sign * delta
                kernel.load(k, sess)
                values.append(sess.run(loss))
            numeric[index] = (values[0] - values[1]) / (2 * delta)
    assert_close(symbolic, numeric, rtol=1e-6, atol=1e-8)


# --- variables: names, sharing --------------------------------------------------------------
LSTM = "rnn/lstm_cell/"
BIDI = "bidirectional_rnn/"
NAME_CASES = {  # cell(s) -> TF1's variable names and shapes, after a static_rnn of depth 2
    "basic_lstm": (lambda: tf.nn.rnn_cell.BasicLSTMCell(3),
                   {"rnn/basic_lstm_cell/kernel": [5, 12], "rnn/basic_lstm_cell/bias": [12]}),
    "lstm": (lambda: tf.nn.rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2),
             {LSTM + "kernel": [4, 12], LSTM + "bias": [12], LSTM + "w_f_diag": [3],
              LSTM + "w_i_diag": [3], LSTM + "w_o_diag": [3], LSTM + "projection/kernel": [3, 2]}),
    "gru": (lambda: tf.nn.rnn_cell.GRUCell(3),
            {"rnn/gru_cell/gates/kernel": [5, 6], "rnn/gru_cell/gates/bias": [6],
             "rnn/gru_cell/candidate/kernel": [5, 3], "rnn/gru_cell/candidate/bias": [3]}),
    "bidirectional": (lambda: (tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicLSTMCell(3),
                                                            tf.nn.rnn_cell.BasicRNNCell(2)]),
                               tf.nn.rnn_cell.BasicRNNCell(2)),
                      {BIDI + "fw/multi_rnn_cell/cell_0/basic_lstm_cell/kernel": [5, 12],
                       BIDI + "fw/multi_rnn_cell/cell_0/basic_lstm_cell/bias": [12],
                       BIDI + "fw/multi_rnn_cell/cell_1/basic_rnn_cell/kernel": [5, 2],
                       BIDI + "fw/multi_rnn_cell/cell_1/basic_rnn_cell/bias": [2],
                       BIDI + "bw/basic_rnn_cell/kernel": [4, 2],
                       BIDI + "bw/basic_rnn_cell/bias": [2]}),
}


@pytest.mark.parametrize("case", NAME_CASES, ids=list(NAME_CASES))
def test_variable_names_are_tf1s(case):
    make, expected = NAME_CASES[case]
    x = [tf.placeholder(tf.float32, [B, D])] * 2
    cells = make()
    if isinstance(cells, tuple):
        tf.nn.static_bidirectional_rnn(*cells, x, dtype=tf.float32)
    else:
        tf.nn.static_rnn(cells, x, dtype=tf.float32)
    got = {v.name: v.shape.as_list() for v in tf.global_variables()}
    assert list(got.items()) == [(k + ":0", v) for k, v in expected.items()]


def names():
    return [v.name for v in tf.global_variables()]


def test_a_cell_builds_once_and_reuses_its_variables():
    x = tf.constant(u(B, D))
    cell = tf.nn.rnn_cell.BasicRNNCell(2)
    state = cell.zero_state(B, tf.float64)
    with tf.variable_scope("rnn"):
        out, state = cell(x, state)
        tf.nn.rnn_cell.BasicRNNCell(2)(x, state)  # a second cell: a scope of its own
    with tf.variable_scope("elsewhere"):
        cell(x, state)  # the variables of the first call, wherever the cell is called
    assert names() == ["rnn/basic_rnn_cell/kernel:0", "rnn/basic_rnn_cell/bias:0",
                       "rnn/basic_rnn_cell_1/kernel:0", "rnn/basic_rnn_cell_1/bias:0"]
    assert cell.trainable_variables == tf.trainable_variables()[:2]
    assert {v.dtype for v in cell.variables} == {tf.float64}  # the inputs' dtype
    with tf.variable_scope("rnn"):  # re-entered: default names count from 0 again (TF1)
        shared = tf.nn.rnn_cell.BasicRNNCell(2, reuse=True)
        shared(x, state)  # reuse=True: the first cell's variables
        with pytest.raises(ValueError, match="Variable rnn/basic_rnn_cell/kernel already "
                                             "exists, disallowed"):
            tf.nn.rnn_cell.BasicRNNCell(2)(x, state)
    assert shared.variables == cell.variables
    tf.nn.rnn_cell.BasicRNNCell(2, name="mine")(x, state, scope="given")
    assert names()[4:] == ["given/kernel:0", "given/bias:0"]


# --- wrappers -------------------------------------------------------------------------------
def test_dropout_wrapper_keep_one_is_the_bare_cell(target):
    x = tf.constant(u(B, D))
    cell = tf.nn.rnn_cell.BasicLSTMCell(3)
    state = cell.zero_state(B, tf.float64)
    bare = cell(x, state)
    wrapped = tf.nn.rnn_cell.DropoutWrapper(cell, input_keep_prob=1.0, output_keep_prob=1.0)
    same = wrapped(x, state)
    fed = tf.nn.rnn_cell.DropoutWrapper(  # a keep probability fed at run time: 1.0 here
        cell, output_keep_prob=tf.placeholder_with_default(tf.constant(1.0, tf.float64), []))
    assert len(tf.global_variables()) == 2  # the wrappers share the cell's variables
    assert wrapped.state_size == cell.state_size and wrapped.variables == cell.variables
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        got_bare, got_same, got_fed = sess.run([bare, same, fed(x, state)[0]])
    assert_close(got_same[0], got_bare[0], rtol=1e-15)
    assert_close(got_same[1].c, got_bare[1].c, rtol=1e-15)
    assert_close(got_fed, got_bare[0], rtol=1e-15)


def test_dropout_wrapper_drops_about_the_right_fraction():
    batch = 400
    x = tf.constant(_RNG.uniform(0.5, 1.5, (batch, D)))
    cell = tf.nn.rnn_cell.BasicLSTMCell(5)
    state = cell.zero_state(batch, tf.float64)
    bare_out, bare_state = cell(x, state)
    wrapped = tf.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=0.6, state_keep_prob=0.5,
                                            seed=4)
    out, new_state = wrapped(x, state)
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([bare_out, bare_state, out, new_state])
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        again = sess.run(out)
    b_out, b_state, w_out, w_state = got
    kept = w_out != 0  # 2000 draws: 3 sigma of a Bernoulli(0.6) mean is 0.033
    assert abs(kept.mean() - 0.6) < 0.04, kept.mean()
    assert_close(w_out[kept], b_out[kept] / 0.6)
    assert_close(w_state.c, b_state.c)  # TF1: an LSTM's cell state c is never dropped
    assert abs((w_state.h != 0).mean() - 0.5) < 0.05
    kept_again = again != 0
    assert (kept_again == kept).all()  # seeded: the same mask in a new session


def test_residual_and_device_wrappers():
    x_value = u(B, 3)
    x = tf.constant(x_value)
    cell = tf.nn.rnn_cell.GRUCell(3)
    state = tf.constant(u(B, 3))
    bare, _ = cell(x, state)
    residual, _ = tf.nn.rnn_cell.ResidualWrapper(cell)(x, state)
    placed, _ = tf.nn.rnn_cell.DeviceWrapper(cell, "/gpu:0")(x, state)
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        got_bare, got_residual, got_placed = sess.run([bare, residual, placed])
    assert_close(got_residual, got_bare + x_value)
    assert_close(got_placed, got_bare)


# --- spellings and errors -------------------------------------------------------------------
def test_tf1_spellings():
    from graphc.contrib import rnn
    from graphc.contrib.rnn import LSTMCell
    assert tf.compat.v1.nn.rnn_cell is tf.nn.rnn_cell
    assert tf.contrib.rnn is rnn and LSTMCell is tf.nn.rnn_cell.LSTMCell
    assert tf.contrib.rnn.static_rnn is tf.nn.static_rnn
    assert tf.contrib.rnn.LSTMStateTuple is tf.nn.rnn_cell.LSTMStateTuple
    assert not hasattr(tf.nn.rnn_cell, "LayerNormBasicLSTMCell")


def test_errors():
    cell = tf.nn.rnn_cell.BasicLSTMCell(3)
    x = tf.placeholder(tf.float32, [B, D])
    with pytest.raises(ValueError, match=r"BasicLSTMCell: input 0 of layer basic_lstm_cell is "
                                         r"incompatible with the layer: expected ndim=2 .*"
                                         r"found ndim=3"):
        cell(tf.placeholder(tf.float32, [B, 1, D]), cell.zero_state(B, tf.float32))
    with pytest.raises(ValueError, match=r"GRUCell: expected inputs.shape\[-1\] to be known"):
        tf.nn.rnn_cell.GRUCell(2)(tf.placeholder(tf.float32, [B, None]), tf.zeros([B, 2]))
    with pytest.raises(ValueError, match="static_rnn: If no initial_state is provided, dtype "
                                         "must be specified"):
        tf.nn.static_rnn(cell, [x])
    with pytest.raises(TypeError, match="static_rnn: inputs must be a sequence"):
        tf.nn.static_rnn(cell, x, dtype=tf.float32)
    with pytest.raises(ValueError, match="static_rnn: inputs must not be empty"):
        tf.nn.static_rnn(cell, [], dtype=tf.float32)
    with pytest.raises(ValueError, match=r"static_rnn: Input size \(dimension 1 of inputs\) "
                                         r"must be accessible via shape inference"):
        tf.nn.static_rnn(cell, [tf.placeholder(tf.float32, [B, None])], dtype=tf.float32)
    with pytest.raises(ValueError, match="static_rnn: sequence_length must be a vector"):
        tf.nn.static_rnn(cell, [x], dtype=tf.float32, sequence_length=[[1]])
    with pytest.raises(TypeError, match=r"static_bidirectional_rnn: the argument 'cell_bw' "
                                        r"\(3\) is not an RNNCell: 'output_size' property"):
        tf.nn.static_bidirectional_rnn(cell, 3, [x], dtype=tf.float32)
    with pytest.raises(NotImplementedError, match=r"variational_recurrent=True\) is not "
                                                  r"supported"):
        tf.nn.rnn_cell.DropoutWrapper(cell, variational_recurrent=True)
    with pytest.raises(ValueError, match="Parameter output_keep_prob must be between 0 and 1"):
        tf.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=1.5)
    with pytest.raises(ValueError, match="Must specify at least one cell"):
        tf.nn.rnn_cell.MultiRNNCell([])
    with pytest.raises(ValueError, match="state_is_tuple is not set"):
        tf.nn.rnn_cell.MultiRNNCell([cell], state_is_tuple=False)
