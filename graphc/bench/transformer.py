"""The Transformer workload W6: one encoder layer's forward pass, its fixed definition, its
arrays, and each system's version of it.

W6  Batch 8 of 128 positions, d_model 256, 4 heads of 64, feed-forward 1024 with ReLU,
    post-LN as in the original Transformer (LayerNorm(x + attention), then
    LayerNorm(h + FFN(h)), epsilon 1e-5), inference (no dropout), no mask. graphc runs it
    as a Keras program would: graphc.keras.transformer.TransformerEncoderBlock, built on
    tf.keras.layers.MultiHeadAttention, with the weights loaded by set_weights' Variable
    loads; numpy computes it with einsums; torch eager with nn.TransformerEncoderLayer;
    jax.jit with jnp ops; onnxruntime runs an ONNX graph built with onnx.helper. Flops:
    the matmuls only (four projections, the two attention products, the two FFN layers).

The weights are drawn from a fixed seed in Keras's layout (query/key/value kernels
[d_model, heads, head_dim], biases [heads, head_dim], the output kernel
[heads, head_dim, d_model]); the other systems get them reshaped: torch's packed in_proj
is the three kernels flattened to [d_model, d_model], transposed and stacked.
"""

from __future__ import annotations

import numpy as np

LN_EPS = 1e-5
# Keras's weights of the block, in TransformerEncoderBlock.weights order
WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "ln1_gamma", "ln1_beta",
           "w1", "b1", "w2", "b2", "ln2_gamma", "ln2_beta")


def transformer_arrays(batch: int = 8, seq: int = 128, d_model: int = 256, heads: int = 4,
                       d_ff: int = 1024) -> dict:
    rng = np.random.default_rng(0)
    depth = d_model // heads

    def glorot(shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    def small(shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)
    arrays = {"x": rng.standard_normal((batch, seq, d_model)).astype(np.float32)}
    for name in ("q", "k", "v"):
        arrays[f"w{name}"] = glorot((d_model, heads, depth), d_model, d_model)
        arrays[f"b{name}"] = small((heads, depth))
    arrays["wo"] = glorot((heads, depth, d_model), d_model, d_model)
    arrays["bo"] = small(d_model)
    arrays["w1"], arrays["b1"] = glorot((d_model, d_ff), d_model, d_ff), small(d_ff)
    arrays["w2"], arrays["b2"] = glorot((d_ff, d_model), d_ff, d_model), small(d_model)
    for ln in ("ln1", "ln2"):
        arrays[f"{ln}_gamma"] = (1 + small(d_model)).astype(np.float32)
        arrays[f"{ln}_beta"] = small(d_model)
    return arrays


def transformer_flops(arrays: dict) -> float:
    batch, seq, d_model = arrays["x"].shape
    d_ff = arrays["w1"].shape[1]
    projections = 4 * 2.0 * batch * seq * d_model * d_model
    attention = 2 * 2.0 * batch * seq * seq * d_model  # scores and weighted sum, all heads
    return projections + attention + 2 * 2.0 * batch * seq * d_model * d_ff


def _flat(arrays: dict) -> dict:
    """The projections as 2-D matrices: q/k/v [d_model, d_model], output [d_model,
    d_model], biases [d_model]."""
    d_model = arrays["x"].shape[-1]
    out = {k: arrays[k].reshape(d_model, -1) for k in ("wq", "wk", "wv")}
    out.update({k: arrays[k].reshape(-1) for k in ("bq", "bk", "bv")})
    out["wo"] = arrays["wo"].reshape(-1, d_model)
    return out


# --- graphc ----------------------------------------------------------------------------------
def transformer_graphc(tf, arrays: dict, loaded: dict):
    """(output, [x]) of W6 in graphc; loaded["block"] is the block, whose weights
    load_graphc_weights sets once the session has initialized them."""
    from graphc.keras.transformer import TransformerEncoderBlock
    heads = arrays["wq"].shape[1]
    x = tf.placeholder(tf.float32, arrays["x"].shape, name="x")
    block = TransformerEncoderBlock(heads, arrays["w1"].shape[1], activation="relu",
                                    layer_norm_epsilon=LN_EPS)
    y = block(x, training=False)
    loaded["block"] = block
    return y, [x]


def load_graphc_weights(session, arrays: dict, block) -> None:
    for variable, name in zip(block.weights, WEIGHTS):
        variable.load(arrays[name], session)


# --- numpy -----------------------------------------------------------------------------------
def _layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * gamma + beta


def transformer_numpy(arrays: dict):
    """A call computing W6 with numpy (fresh outputs)."""
    a, f = arrays, _flat(arrays)
    batch, seq, d_model = a["x"].shape
    heads, depth = a["wq"].shape[1:]

    def split(t):
        return t.reshape(batch, seq, heads, depth).transpose(0, 2, 1, 3)

    def run():
        x = a["x"]
        q, k, v = (split(x @ f[f"w{n}"] + f[f"b{n}"]) for n in "qkv")
        logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(depth)
        e = np.exp(logits - logits.max(-1, keepdims=True))
        context = (e / e.sum(-1, keepdims=True)) @ v
        attn = context.transpose(0, 2, 1, 3).reshape(batch, seq, d_model) @ f["wo"] + a["bo"]
        h = _layer_norm(x + attn, a["ln1_gamma"], a["ln1_beta"])
        ffn = np.maximum(h @ a["w1"] + a["b1"], 0) @ a["w2"] + a["b2"]
        return _layer_norm(h + ffn, a["ln2_gamma"], a["ln2_beta"])
    return run


# --- torch -----------------------------------------------------------------------------------
def transformer_torch(torch, arrays: dict):
    """W6 in torch eager: nn.TransformerEncoderLayer (batch_first, post-LN, ReLU) with the
    same weights, in inference mode; a call returning the output."""
    layer = torch_encoder_layer(torch, arrays)
    x = torch.from_numpy(arrays["x"])

    def run():
        with torch.inference_mode():
            return layer(x).numpy()
    return run


def torch_encoder_layer(torch, arrays: dict):
    """The nn.TransformerEncoderLayer of W6 with the arrays' weights, in eval mode (what
    torch.onnx exports for the ONNX import test)."""
    a, f = arrays, _flat(arrays)
    d_model = a["x"].shape[-1]
    heads = a["wq"].shape[1]
    layer = torch.nn.TransformerEncoderLayer(d_model, heads, a["w1"].shape[1], dropout=0.0,
                                             activation="relu", layer_norm_eps=LN_EPS,
                                             batch_first=True, norm_first=False)
    values = {
        "self_attn.in_proj_weight": np.concatenate([f["wq"].T, f["wk"].T, f["wv"].T]),
        "self_attn.in_proj_bias": np.concatenate([f["bq"], f["bk"], f["bv"]]),
        "self_attn.out_proj.weight": f["wo"].T, "self_attn.out_proj.bias": a["bo"],
        "linear1.weight": a["w1"].T, "linear1.bias": a["b1"],
        "linear2.weight": a["w2"].T, "linear2.bias": a["b2"],
        "norm1.weight": a["ln1_gamma"], "norm1.bias": a["ln1_beta"],
        "norm2.weight": a["ln2_gamma"], "norm2.bias": a["ln2_beta"]}
    layer.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                           for k, v in values.items()})
    return layer.eval()


# --- jax -------------------------------------------------------------------------------------
def transformer_jax(jax, arrays: dict):
    """W6 with jax.jit (the numpy twin's math in jax.numpy), a call waiting for the
    result."""
    a = {**arrays, **_flat(arrays)}
    batch, seq, d_model = a["x"].shape
    heads, depth = arrays["wq"].shape[1:]
    names = ("x", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "ln1_gamma", "ln1_beta",
             "w1", "b1", "w2", "b2", "ln2_gamma", "ln2_beta")

    def layer_norm(x, gamma, beta):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + LN_EPS) * gamma + beta

    def forward(*params):
        p = dict(zip(names, params))
        x = p["x"]

        def split(t):
            return t.reshape(batch, seq, heads, depth).transpose(0, 2, 1, 3)
        q, k, v = (split(x @ p[f"w{n}"] + p[f"b{n}"]) for n in "qkv")
        weights = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(depth), axis=-1)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d_model)
        h = layer_norm(x + context @ p["wo"] + p["bo"], p["ln1_gamma"], p["ln1_beta"])
        ffn = jax.nn.relu(h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return layer_norm(h + ffn, p["ln2_gamma"], p["ln2_beta"])
    jitted = jax.jit(forward)
    params = [jax.device_put(a[n]) for n in names]

    def run():
        return np.asarray(jitted(*params).block_until_ready())
    return run


# --- onnxruntime -----------------------------------------------------------------------------
def transformer_onnx(arrays: dict):
    """W6 as an ONNX model (opset 17: MatMul, Softmax, LayerNormalization), input "x"."""
    from onnx import TensorProto, helper, numpy_helper
    a, f = arrays, _flat(arrays)
    batch, seq, d_model = a["x"].shape
    heads, depth = a["wq"].shape[1:]
    nodes, inits = [], []

    def init(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def linear(x, w, b, name):
        return node("Add", [node("MatMul", [x, init(f"{name}.w", w)], f"{name}.mm"),
                            init(f"{name}.b", b)], name)
    heads_shape = init("heads_shape", np.array([batch, seq, heads, depth], np.int64))
    model_shape = init("model_shape", np.array([batch, seq, d_model], np.int64))
    proj = {}
    for n in "qkv":
        y = linear("x", f[f"w{n}"], f[f"b{n}"], n)
        y = node("Reshape", [y, heads_shape], f"{n}.heads")
        perm = [0, 2, 3, 1] if n == "k" else [0, 2, 1, 3]  # k as [B, H, depth, T]
        proj[n] = node("Transpose", [y], f"{n}.t", perm=perm)
    scores = node("Mul", [node("MatMul", [proj["q"], proj["k"]], "qk"),
                          init("scale", np.float32(1 / np.sqrt(depth)))], "scores")
    weights = node("Softmax", [scores], "weights", axis=-1)
    context = node("Transpose", [node("MatMul", [weights, proj["v"]], "ctx")], "ctx.t",
                   perm=[0, 2, 1, 3])
    context = node("Reshape", [context, model_shape], "ctx.flat")
    attn = linear(context, f["wo"], a["bo"], "attn")

    def layer_norm(x, name):
        return node("LayerNormalization", [x, init(f"{name}.g", a[f"{name}_gamma"]),
                                           init(f"{name}.b", a[f"{name}_beta"])],
                    name, axis=-1, epsilon=LN_EPS)
    h = layer_norm(node("Add", ["x", attn], "res1"), "ln1")
    hidden = node("Relu", [linear(h, a["w1"], a["b1"], "ffn1")], "ffn1.relu")
    y = layer_norm(node("Add", [h, linear(hidden, a["w2"], a["b2"], "ffn2")], "res2"), "ln2")
    graph = helper.make_graph(
        nodes, "graphc_bench_W6",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, a["x"].shape)],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
