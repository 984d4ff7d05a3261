"""The convolutional workloads W5 (a CNN training step) and W8 (ResNet-18 inference): their
fixed definitions, their arrays, and each system's version of them.

W5  The "deep MNIST" CNN of the TensorFlow 1 tutorials, one SGD step (lr 0.01) on a batch of
    64 images (64, 28, 28, 1) NHWC: conv 5x5 1->32 SAME + bias, ReLU, max pool 2x2/2, conv 5x5
    32->64 SAME + bias, ReLU, max pool 2x2/2, flatten (NHWC order, 3136), dense 1024 + bias,
    ReLU, dense 10 + bias, mean sparse softmax cross-entropy. Flops: the convolutions and
    matmuls only, forward (1.78 G), weight gradients (the same) and input gradients of every
    layer but the first.
W8  ResNet-18 inference, batch 1, (1, 224, 224, 3) NHWC: conv 7x7/2 (pad 3) 3->64 + BN + ReLU,
    max pool 3x3/2 (pad 1), four stages of two basic blocks (64, 128, 256, 512 channels; the
    first block of stages 2-4 has stride 2 and a 1x1/2 conv + BN shortcut), global average
    pool, dense 1000 + bias. BN in inference with random running statistics (eps 1e-5).
    Flops: the convolutions and the dense layer (3.63 G).

Weights are He-normal from a fixed seed, so every system computes the same numbers; a peer in
another layout (torch and ONNX: NCHW) gets the same arrays transposed, and explicit padding
everywhere, so that no system's SAME rule differs from another's.
"""

from __future__ import annotations

import numpy as np

BN_EPS = 1e-5


def _he(rng, shape, fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


# --- W5 --------------------------------------------------------------------------------------
def cnn_arrays(batch: int, side: int, channels=(32, 64), hidden: int = 1024) -> dict:
    rng = np.random.default_rng(0)
    c1, c2 = channels
    flat = (side // 4) ** 2 * c2
    return {
        "x": rng.random((batch, side, side, 1), dtype=np.float32),
        "labels": rng.integers(0, 10, batch).astype(np.int64),
        "w1": _he(rng, (5, 5, 1, c1), 25), "b1": np.zeros(c1, np.float32),
        "w2": _he(rng, (5, 5, c1, c2), 25 * c1), "b2": np.zeros(c2, np.float32),
        "w3": _he(rng, (flat, hidden), flat), "b3": np.zeros(hidden, np.float32),
        "w4": _he(rng, (hidden, 10), hidden), "b4": np.zeros(10, np.float32)}


def cnn_flops(arrays: dict) -> float:
    batch, side = arrays["x"].shape[:2]
    (_, _, c0, c1), (_, _, _, c2) = arrays["w1"].shape, arrays["w2"].shape
    conv1 = 2.0 * batch * side * side * 25 * c0 * c1
    conv2 = 2.0 * batch * (side // 2) ** 2 * 25 * c1 * c2
    dense = 2.0 * batch * (arrays["w3"].size + arrays["w4"].size)
    forward = conv1 + conv2 + dense
    return 3 * forward - conv1  # no input gradient of the first layer


def cnn_step_graphc(tf, arrays: dict, lr: float, wrap=None):
    """(fetches [train, loss], placeholders) of the W5 step in graphc; `wrap(optimizer)`, if
    given, wraps its SGD optimizer (graphc.distributed.DistributedOptimizer)."""
    x = tf.placeholder(tf.float32, arrays["x"].shape, name="x")
    labels = tf.placeholder(tf.int64, arrays["labels"].shape, name="labels")
    v = {k: tf.Variable(arrays[k], name=k) for k in ("w1", "b1", "w2", "b2", "w3", "b3", "w4",
                                                       "b4")}
    pad = [[0, 0], [2, 2], [2, 2], [0, 0]]
    h = x
    for i in (1, 2):
        h = tf.nn.relu(tf.nn.conv2d(h, v[f"w{i}"], [1, 1, 1, 1], pad) + v[f"b{i}"])
        h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    h = tf.reshape(h, [h.shape[0], -1])
    h = tf.nn.relu(tf.matmul(h, v["w3"]) + v["b3"])
    logits = tf.matmul(h, v["w4"]) + v["b4"]
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    optimizer = tf.train.GradientDescentOptimizer(lr)
    train = (wrap(optimizer) if wrap else optimizer).minimize(loss)
    return [train, loss], [x, labels]


def cnn_step_torch(torch, arrays: dict, lr: float):
    """One W5 step in torch eager (NCHW, the same weights), returning the loss."""
    F = torch.nn.functional
    conv = {i: torch.tensor(arrays[f"w{i}"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
            for i in (1, 2)}
    rest = {k: torch.tensor(arrays[k], requires_grad=True)
            for k in ("b1", "b2", "w3", "b3", "w4", "b4")}
    params = [conv[1], rest["b1"], conv[2], rest["b2"], rest["w3"], rest["b3"], rest["w4"],
              rest["b4"]]
    x = torch.from_numpy(arrays["x"].transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(arrays["labels"])

    def step():
        h = x
        for i in (1, 2):
            h = F.max_pool2d(torch.relu(F.conv2d(h, conv[i], rest[f"b{i}"], padding=2)), 2)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # graphc's NHWC flatten order
        h = torch.relu(h @ rest["w3"] + rest["b3"])
        loss = F.cross_entropy(h @ rest["w4"] + rest["b4"], labels)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
        return loss.detach().numpy()
    return step


def cnn_step_jax(jax, arrays: dict, lr: float):
    """One W5 step with jax.jit (NHWC, as graphc), returning the loss."""
    jnp, lax = jax.numpy, jax.lax
    names = ("w1", "b1", "w2", "b2", "w3", "b3", "w4", "b4")

    def loss_fn(params, x, labels):
        p = dict(zip(names, params))
        h = x
        for i in (1, 2):
            h = lax.conv_general_dilated(h, p[f"w{i}"], (1, 1), [(2, 2), (2, 2)],
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
            h = jax.nn.relu(h + p[f"b{i}"])
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p["w3"] + p["b3"])
        logp = jax.nn.log_softmax(h @ p["w4"] + p["b4"])
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    @jax.jit
    def step(params, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, labels)
        return [q - lr * g for q, g in zip(params, grads)], loss
    state = [[jax.device_put(arrays[k]) for k in names]]
    x, labels = jax.device_put(arrays["x"]), jax.device_put(arrays["labels"])

    def run():
        state[0], loss = step(state[0], x, labels)
        return np.asarray(loss.block_until_ready())
    return run


# --- W8 --------------------------------------------------------------------------------------
STAGES = (64, 128, 256, 512)


# ResNet-18's basic blocks in order: (name, stride); the first of stages 2-4 halves the size
BLOCKS = tuple((f"s{s}b{b}", 2 if s > 0 and b == 0 else 1) for s in range(4) for b in range(2))


def resnet_layers(widths=STAGES):
    """The convolutions of ResNet-18 in order: (name, kernel, in channels, out channels)."""
    layers = [("conv1", 7, 3, widths[0])]
    cin = widths[0]
    for name, stride in BLOCKS:
        cout = widths[int(name[1])]
        layers += [(f"{name}c1", 3, cin, cout), (f"{name}c2", 3, cout, cout)]
        if stride != 1 or cin != cout:
            layers.append((f"{name}sc", 1, cin, cout))
        cin = cout
    return layers


def resnet_arrays(side: int = 224, widths=STAGES, classes: int = 1000) -> dict:
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((1, side, side, 3)).astype(np.float32)}
    for name, k, cin, cout in resnet_layers(widths):
        arrays[f"{name}.w"] = _he(rng, (k, k, cin, cout), k * k * cin)
        arrays[f"{name}.gamma"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        arrays[f"{name}.beta"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        arrays[f"{name}.mean"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        arrays[f"{name}.var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    arrays["fc.w"] = _he(rng, (widths[-1], classes), widths[-1])
    arrays["fc.b"] = np.zeros(classes, np.float32)
    arrays["x_nchw"] = arrays["x"].transpose(0, 3, 1, 2).copy()
    return arrays


def resnet_flops(arrays: dict) -> float:
    def conv(size, name, stride, pad):
        k, _, cin, cout = arrays[f"{name}.w"].shape
        out = (size + 2 * pad - k) // stride + 1
        return out, 2.0 * out * out * k * k * cin * cout
    size, total = conv(arrays["x"].shape[1], "conv1", 2, 3)
    size = (size + 2 - 3) // 2 + 1  # the max pool
    for name, stride, shortcut in _blocks(arrays):
        out, f1 = conv(size, f"{name}c1", stride, 1)
        _, f2 = conv(out, f"{name}c2", 1, 1)
        total += f1 + f2 + (conv(size, f"{name}sc", stride, 0)[1] if shortcut else 0.0)
        size = out
    return total + 2.0 * arrays["fc.w"].size


def _blocks(arrays):
    """(prefix, stride, has a shortcut conv) of each basic block."""
    for name, stride in BLOCKS:
        yield name, stride, f"{name}sc.w" in arrays


def resnet_graphc(tf, arrays: dict):
    """(logits, [x]) of W8 in graphc: NHWC, weights as constants."""
    x = tf.placeholder(tf.float32, arrays["x"].shape, name="x")

    def conv_bn(h, name, stride, pad, relu=True):
        w = tf.constant(arrays[f"{name}.w"])
        h = tf.nn.conv2d(h, w, [1, stride, stride, 1], [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        h = tf.nn.batch_normalization(
            h, tf.constant(arrays[f"{name}.mean"]), tf.constant(arrays[f"{name}.var"]),
            tf.constant(arrays[f"{name}.beta"]), tf.constant(arrays[f"{name}.gamma"]), BN_EPS)
        return tf.nn.relu(h) if relu else h
    h = conv_bn(x, "conv1", 2, 3)
    # after a ReLU every value is >= 0, so zero padding is the max pool's -inf padding
    h = tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]])
    h = tf.nn.max_pool(h, [1, 3, 3, 1], [1, 2, 2, 1], "VALID")
    for name, stride, shortcut in _blocks(arrays):
        y = conv_bn(h, f"{name}c1", stride, 1)
        y = conv_bn(y, f"{name}c2", 1, 1, relu=False)
        sc = conv_bn(h, f"{name}sc", stride, 0, relu=False) if shortcut else h
        h = tf.nn.relu(y + sc)
    h = tf.reduce_mean(h, axis=[1, 2])
    return tf.matmul(h, tf.constant(arrays["fc.w"])) + tf.constant(arrays["fc.b"]), [x]


def resnet_torch(torch, arrays: dict):
    """W8 in torch eager (NCHW, the same weights), a call returning the logits."""
    F = torch.nn.functional
    t = {k: torch.from_numpy(v.transpose(3, 2, 0, 1).copy() if k.endswith(".w") and v.ndim == 4
                             else v) for k, v in arrays.items()}
    x = t["x_nchw"]

    def conv_bn(h, name, stride, pad, relu=True):
        h = F.conv2d(h, t[f"{name}.w"], stride=stride, padding=pad)
        h = F.batch_norm(h, t[f"{name}.mean"], t[f"{name}.var"], t[f"{name}.gamma"],
                         t[f"{name}.beta"], False, 0.0, BN_EPS)
        return torch.relu(h) if relu else h

    def run():
        with torch.inference_mode():
            h = F.max_pool2d(conv_bn(x, "conv1", 2, 3), 3, 2, 1)
            for name, stride, shortcut in _blocks(arrays):
                y = conv_bn(conv_bn(h, f"{name}c1", stride, 1), f"{name}c2", 1, 1, False)
                h = torch.relu(y + (conv_bn(h, f"{name}sc", stride, 0, False) if shortcut
                                    else h))
            h = h.mean(dim=(2, 3))
            return (h @ t["fc.w"] + t["fc.b"]).numpy()
    return run


def resnet_onnx(arrays: dict):
    """W8 as an ONNX model (opset 17, NCHW input "x_nchw"), built with the onnx package."""
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []

    def init(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def conv_bn(h, name, stride, pad, relu=True):
        w = init(f"{name}.w", arrays[f"{name}.w"].transpose(3, 2, 0, 1))
        nodes.append(helper.make_node("Conv", [h, w], [f"{name}.conv"], strides=[stride] * 2,
                                      pads=[pad] * 4))
        params = [init(f"{name}.{p}", arrays[f"{name}.{p}"])
                  for p in ("gamma", "beta", "mean", "var")]
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *params],
                                      [f"{name}.bn"], epsilon=BN_EPS))
        if not relu:
            return f"{name}.bn"
        nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.relu"]))
        return f"{name}.relu"
    h = conv_bn("x_nchw", "conv1", 2, 3)
    nodes.append(helper.make_node("MaxPool", [h], ["pool"], kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1]))
    h = "pool"
    for name, stride, shortcut in _blocks(arrays):
        y = conv_bn(conv_bn(h, f"{name}c1", stride, 1), f"{name}c2", 1, 1, relu=False)
        sc = conv_bn(h, f"{name}sc", stride, 0, relu=False) if shortcut else h
        nodes.append(helper.make_node("Add", [y, sc], [f"{name}.sum"]))
        nodes.append(helper.make_node("Relu", [f"{name}.sum"], [f"{name}.out"]))
        h = f"{name}.out"
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", init("fc.w", arrays["fc.w"]),
                                           init("fc.b", arrays["fc.b"])], ["logits"]))
    graph = helper.make_graph(
        nodes, "graphc_bench_W8",
        [helper.make_tensor_value_info("x_nchw", TensorProto.FLOAT, arrays["x_nchw"].shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
