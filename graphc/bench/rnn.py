"""The recurrent workload W9: a character-level LSTM language-model training step, its
fixed definition, its arrays, and each system's version of it.

W9  Batch 32 of 64 characters (ids < 96), an embedding of 64, one LSTM layer of 256 units
    (TF1's BasicLSTMCell: gates i, j, f, o from [x, h] @ kernel + bias, forget bias 1.0), a
    dense layer to 96 logits at every step, the mean sparse softmax cross-entropy over all
    steps against the next characters, one Adam step (lr 0.001). graphc runs it as a TF1
    program would (tf.nn.dynamic_rnn over tf.nn.rnn_cell.BasicLSTMCell); torch eager with
    nn.LSTM; jax.jit with lax.scan. Flops: the matmuls only (the LSTM's [x, h] @ kernel and
    the dense layer), forward and backward (3x forward).

Weights come from a fixed seed, so every system computes the same numbers: torch's LSTM gets
TF's kernel split into its input and hidden parts with the gates reordered (i, f, g, o) and
the forget bias folded into its input bias.
"""

from __future__ import annotations

import numpy as np

FORGET_BIAS = 1.0


def lstm_arrays(batch: int = 32, steps: int = 64, vocab: int = 96, embed: int = 64,
                units: int = 256) -> dict:
    rng = np.random.default_rng(0)
    text = rng.integers(0, vocab, (batch, steps + 1))
    scale = np.sqrt(6.0 / (embed + 2 * units))  # glorot-uniform-like for [x, h] -> 4h
    return {
        "ids": text[:, :-1].astype(np.int32), "labels": text[:, 1:].astype(np.int32),
        "emb": (rng.standard_normal((vocab, embed)) * 0.1).astype(np.float32),
        "kernel": rng.uniform(-scale, scale, (embed + units, 4 * units)).astype(np.float32),
        "bias": np.zeros(4 * units, np.float32),
        "w_out": (rng.standard_normal((units, vocab)) / np.sqrt(units)).astype(np.float32),
        "b_out": np.zeros(vocab, np.float32)}


def lstm_flops(arrays: dict) -> float:
    batch, steps = arrays["ids"].shape
    forward = 2.0 * batch * steps * (arrays["kernel"].size + arrays["w_out"].size)
    return 3 * forward


def lstm_step_graphc(tf, arrays: dict, lr: float):
    """(fetches [train, loss], placeholders) of the W9 step in graphc, as TF1 code."""
    ids = tf.placeholder(tf.int32, arrays["ids"].shape, name="ids")
    labels = tf.placeholder(tf.int32, arrays["labels"].shape, name="labels")
    units = arrays["w_out"].shape[0]
    emb = tf.Variable(arrays["emb"], name="emb")
    with tf.variable_scope("rnn", reuse=tf.AUTO_REUSE) as scope:
        with tf.variable_scope("basic_lstm_cell"):  # the cell's own variables, preset
            tf.get_variable("kernel", initializer=arrays["kernel"])
            tf.get_variable("bias", initializer=arrays["bias"])
        cell = tf.nn.rnn_cell.BasicLSTMCell(units, forget_bias=FORGET_BIAS)
        outputs, _ = tf.nn.dynamic_rnn(cell, tf.gather(emb, ids), dtype=tf.float32,
                                       scope=scope)
    w_out = tf.Variable(arrays["w_out"], name="w_out")
    b_out = tf.Variable(arrays["b_out"], name="b_out")
    logits = tf.matmul(tf.reshape(outputs, [-1, units]), w_out) + b_out
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(labels, [-1]), logits=logits))
    train = tf.train.AdamOptimizer(lr).minimize(loss)
    return [train, loss], [ids, labels]


def _torch_lstm_weights(arrays: dict):
    """TF's kernel and bias as torch's (weight_ih, weight_hh, bias_ih, bias_hh)."""
    embed = arrays["emb"].shape[1]
    kernel, bias = arrays["kernel"], arrays["bias"].copy()
    units = kernel.shape[1] // 4
    i, j, f, o = (np.arange(units) + k * units for k in range(4))
    order = np.concatenate([i, f, j, o])
    bias[f] += FORGET_BIAS
    return (kernel[:embed, order].T.copy(), kernel[embed:, order].T.copy(),
            bias[order].copy(), np.zeros(4 * units, np.float32))


def lstm_step_torch(torch, arrays: dict, lr: float):
    """One W9 step in torch eager (nn.LSTM, the same weights), returning the loss."""
    vocab, embed = arrays["emb"].shape
    units = arrays["w_out"].shape[0]
    lstm = torch.nn.LSTM(embed, units, batch_first=True)
    with torch.no_grad():
        for p, value in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                             lstm.bias_hh_l0), _torch_lstm_weights(arrays)):
            p.copy_(torch.from_numpy(value))
    emb = torch.nn.Parameter(torch.from_numpy(arrays["emb"].copy()))
    w_out = torch.nn.Parameter(torch.from_numpy(arrays["w_out"].copy()))
    b_out = torch.nn.Parameter(torch.from_numpy(arrays["b_out"].copy()))
    params = [emb, w_out, b_out, *lstm.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    ids = torch.from_numpy(arrays["ids"].astype(np.int64))
    labels = torch.from_numpy(arrays["labels"].astype(np.int64)).reshape(-1)

    def step():
        opt.zero_grad()
        out, _ = lstm(emb[ids])
        logits = out.reshape(-1, units) @ w_out + b_out
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        return loss.detach().numpy()
    return step


def lstm_step_jax(jax, arrays: dict, lr: float):
    """One W9 step with jax.jit (lax.scan over time, TF's LSTM math), returning the loss."""
    jnp = jax.numpy
    names = ("emb", "kernel", "bias", "w_out", "b_out")

    def loss_fn(params, ids, labels):
        p = dict(zip(names, params))
        x = jnp.transpose(p["emb"][ids], (1, 0, 2))  # [time, batch, embed]
        units = p["w_out"].shape[0]

        def cell(carry, xt):
            c, h = carry
            z = jnp.concatenate([xt, h], 1) @ p["kernel"] + p["bias"]
            i, j, f, o = jnp.split(z, 4, axis=1)
            c = c * jax.nn.sigmoid(f + FORGET_BIAS) + jax.nn.sigmoid(i) * jnp.tanh(j)
            h = jnp.tanh(c) * jax.nn.sigmoid(o)
            return (c, h), h
        zeros = jnp.zeros((x.shape[1], units), x.dtype)
        _, hs = jax.lax.scan(cell, (zeros, zeros), x)
        logits = jnp.transpose(hs, (1, 0, 2)).reshape(-1, units) @ p["w_out"] + p["b_out"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, labels.reshape(-1, 1), axis=1))

    def adam(params, m, v, t, grads):
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = [b1 * a + (1 - b1) * g for a, g in zip(m, grads)]
        v = [b2 * a + (1 - b2) * g * g for a, g in zip(v, grads)]
        rate = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return [q - rate * a / (jnp.sqrt(b) + eps) for q, a, b in zip(params, m, v)], m, v

    @jax.jit
    def step(params, m, v, t, ids, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, ids, labels)
        params, m, v = adam(params, m, v, t, grads)
        return params, m, v, loss
    params = [jax.device_put(arrays[k]) for k in names]
    state = [params, [jnp.zeros_like(q) for q in params], [jnp.zeros_like(q) for q in params],
             0]
    ids, labels = jax.device_put(arrays["ids"]), jax.device_put(arrays["labels"])

    def run():
        state[3] += 1
        state[0], state[1], state[2], loss = step(state[0], state[1], state[2],
                                                  float(state[3]), ids, labels)
        return np.asarray(loss.block_until_ready())
    return run
