"""Peers used only when installed: torch, jax, onnxruntime. Each imports its library inside its
methods, so `graphc bench` runs without them and reports them as skipped.

Every adapter computes what the numpy twin in workloads.py computes, from the same arrays,
and has no implementation (so the peer shows "n/a") for what it cannot do faithfully.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from graphc.bench.harness import System
from graphc.bench.peers import NumpyPeer, Peer

GELU_C, GELU_K = 0.7978845608, 0.044715


def _timed_first(fn):
    """(fn, seconds of its first call, its result): for libraries that compile on first
    use."""
    start = time.perf_counter()
    first = fn()
    return fn, time.perf_counter() - start, first


# --- torch -------------------------------------------------------------------------------------
class TorchPeer(Peer):
    name = module = "torch"

    def config(self) -> dict:
        import torch
        return {"version": torch.__version__, "threads": torch.get_num_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "mkldnn": torch.backends.mkldnn.is_available()}

    def set_threads(self, n: int) -> str:
        import torch
        if not hasattr(self, "_saved"):
            self._saved = torch.get_num_threads()
        torch.set_num_threads(n)
        return f"torch.set_num_threads({n})"

    def restore(self) -> None:
        if hasattr(self, "_saved"):
            import torch
            torch.set_num_threads(self._saved)

    def systems(self, case) -> list:
        import torch
        t = {k: torch.from_numpy(v) for k, v in case.arrays.items()}
        fn = _torch_fn(torch, case, t)
        if fn is None:
            return []
        first = fn() if case.stateful else None  # the first step's loss, to compare
        out = [System("torch", "torch", fn, "in place" if case.stateful else "fresh",
                      first=first)]
        if case.workload in ("W3", "matmul", "W7"):
            a, b = (t["a"], t["b"]) if "a" in t else (t["x"], t["y"])
            op = torch.matmul if case.workload != "W7" else torch.add
            buffer = op(a, b)
            out.append(System("torch out=", "torch", lambda: op(a, b, out=buffer),
                              "reused (out=)"))
        return out


def _torch_fn(torch, case, t):
    w = case.workload
    if w == "W1":
        x, a, b = t["x"], t["a"], t["b"]

        def gelu():
            z = x * a + b
            return 0.5 * z * (1 + torch.tanh(GELU_C * (z + GELU_K * z ** 3)))
        return gelu
    if w == "W2":
        return lambda: torch.softmax(t["x"], dim=1)
    if w in ("W3", "matmul"):
        return lambda: t["a"] @ t["b"]
    if w == "W7":
        return lambda: torch.add(t["x"], t["y"])
    if w == "W4":
        return _torch_mlp(torch, case, t)
    if w == "W5":
        from graphc.bench.cnn import cnn_step_torch
        return cnn_step_torch(torch, case.arrays, case.params["lr"])
    if w == "W8":
        from graphc.bench.cnn import resnet_torch
        return resnet_torch(torch, case.arrays)
    if w == "W6":
        from graphc.bench.transformer import transformer_torch
        return transformer_torch(torch, case.arrays)
    if w == "W9":
        from graphc.bench.rnn import lstm_step_torch
        return lstm_step_torch(torch, case.arrays, case.params["lr"])
    if w == "op" and not case.params["attrs"]:
        fn = getattr(torch, case.params["op"], None)
        return (lambda: fn(*t.values())) if callable(fn) else None
    return None


def _torch_mlp(torch, case, t):
    params = [torch.tensor(case.arrays[f"{k}{i}"], requires_grad=True)
              for i in (1, 2, 3) for k in ("w", "b")]
    x, labels, lr = t["x"], t["labels"], case.params["lr"]

    def step():
        h = x
        for i in range(3):
            h = h @ params[2 * i] + params[2 * i + 1]
            h = torch.relu(h) if i < 2 else h
        loss = torch.nn.functional.cross_entropy(h, labels)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
        return loss.detach()
    return step


# --- jax ---------------------------------------------------------------------------------------
class JaxPeer(Peer):
    name = module = "jax"
    XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"

    def config(self) -> dict:
        import jax
        return {"version": jax.__version__, "backend": jax.default_backend(),
                "XLA_FLAGS": os.environ.get("XLA_FLAGS", "(unset)"),
                "x64": bool(jax.config.jax_enable_x64)}

    def set_threads(self, n: int) -> str:
        """XLA sizes its thread pool when jax starts: a one-thread request before that adds a
        flag; afterwards only the process's CPU pinning applies."""
        if "jax" in sys.modules:
            return "XLA threads fixed when jax started; CPU pinning applies"
        if n == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            if self.XLA_ONE_THREAD not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} {self.XLA_ONE_THREAD}".strip()
            return f"XLA_FLAGS={os.environ['XLA_FLAGS']}"
        return "XLA default threads (one per allowed CPU)"

    def systems(self, case) -> list:
        import jax
        if not jax.config.jax_enable_x64 and any(a.dtype.itemsize == 8 and a.dtype.kind == "f"
                                                 for a in case.arrays.values()):
            return []  # jax would silently compute in float32
        args = {k: jax.device_put(v) for k, v in case.arrays.items()}
        if case.workload == "W5":
            from graphc.bench.cnn import cnn_step_jax
            fn = cnn_step_jax(jax, case.arrays, case.params["lr"])
        elif case.workload == "W9":
            from graphc.bench.rnn import lstm_step_jax
            fn = lstm_step_jax(jax, case.arrays, case.params["lr"])
        elif case.workload == "W6":
            from graphc.bench.transformer import transformer_jax
            fn = transformer_jax(jax, case.arrays)
        elif case.workload == "W4":
            fn = _jax_mlp(jax, case, args)
        else:
            fn = _jax_call(jax, case, args)
        if fn is None:
            return []
        fn, compile_s, first = _timed_first(fn)  # jit compiles on the first call
        outputs = "functional update" if case.stateful else "fresh"
        return [System("jax.jit", "jax", fn, outputs, compile_s,
                       first if case.stateful else None)]


def _jax_call(jax, case, args):
    """A zero-argument call of the jitted case that waits for its result, or None."""
    pure = _jax_pure(jax, case)
    if pure is None:
        return None
    jitted, values = jax.jit(pure), list(args.values())

    def call():
        return jitted(*values).block_until_ready()
    return call


def _jax_pure(jax, case):
    """A function of the case's arrays (in Case.arrays order) computing the result."""
    jnp, w = jax.numpy, case.workload
    if w == "W1":
        def gelu(x, a, b):
            z = x * a + b
            return 0.5 * z * (1 + jnp.tanh(GELU_C * (z + GELU_K * z ** 3)))
        return gelu
    if w == "W2":
        return lambda x: jax.nn.softmax(x, axis=1)
    if w in ("W3", "matmul"):
        return jnp.matmul
    if w == "W7":
        return jnp.add
    if w == "op":
        from graphc.bench.adhoc import array_op
        return array_op(jnp, case.params["op"], case.params["attrs"])
    return None


def _jax_mlp(jax, case, args):
    jnp, lr = jax.numpy, case.params["lr"]

    def loss_fn(params, x, labels):
        h = x
        for i in range(3):
            h = h @ params[2 * i] + params[2 * i + 1]
            h = jax.nn.relu(h) if i < 2 else h
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    @jax.jit
    def step(params, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, labels)
        return [p - lr * g for p, g in zip(params, grads)], loss
    state = [[args[f"{k}{i}"] for i in (1, 2, 3) for k in ("w", "b")]]

    def run():
        state[0], loss = step(state[0], args["x"], args["labels"])
        return loss.block_until_ready()
    return run


# --- onnxruntime -------------------------------------------------------------------------------
class OnnxRuntimePeer(Peer):
    """Inference graphs built with the onnx package (so both must be installed)."""
    name = module = "onnxruntime"

    def __init__(self):
        self.threads = None

    def status(self) -> str:
        if importlib.util.find_spec("onnxruntime") is None:
            return "skipped (not installed)"
        if importlib.util.find_spec("onnx") is None:
            return "skipped (onnx, which builds the models, is not installed)"
        return "ok"

    def config(self) -> dict:
        import onnxruntime as ort
        return {"version": ort.__version__, "providers": ort.get_available_providers(),
                "intra_op_num_threads": self.threads, "graph_optimization": "ORT_ENABLE_ALL",
                "allow_spinning": 0}

    def set_threads(self, n: int) -> str:
        self.threads = n
        return f"SessionOptions.intra_op_num_threads={n}"

    def systems(self, case) -> list:
        import onnxruntime as ort
        model = _onnx_model(case)
        if model is None:
            return []
        start = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or 0
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ort's pool spins after each run by default, taking the cores from whichever
        # system the interleaved measurement times next (graphc alone ran W8 at 2 threads
        # in 16.6 ms, beside a spinning ort in 17-45 ms)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        feeds = {k: case.arrays[k] for k in model_inputs(model) if k in case.arrays}
        every = case.workload == "onnx"  # a model file: all its outputs, as graphc fetches

        def call():
            outputs = sess.run(None, feeds)
            return outputs if every and len(outputs) > 1 else outputs[0]
        call()
        return [System("onnxruntime", "onnxruntime", call, "fresh",
                       time.perf_counter() - start)]


def model_inputs(model) -> list:
    return [i.name for i in model.graph.input]


def _onnx_model(case):
    """An ONNX model of the case (opset 17), or None where there is none."""
    from onnx import helper, numpy_helper

    w, arrays = case.workload, case.arrays
    if w == "onnx":  # graphc bench MODEL.onnx: the file itself (its inputs that are
        return case.params["model"]  # initializers too are not fed)
    if w == "W8":
        from graphc.bench.cnn import resnet_onnx
        return resnet_onnx(arrays)
    if w == "W6":
        from graphc.bench.transformer import transformer_onnx
        return transformer_onnx(arrays)
    if w == "W1":
        consts = {"a": arrays["a"], "b": arrays["b"]}
        consts.update({k: arrays["x"].dtype.type(v) for k, v in
                       (("k", GELU_K), ("c", GELU_C), ("one", 1.0), ("half", 0.5))})
        chain = [("Mul", "x", "a", "xa"), ("Add", "xa", "b", "z"), ("Mul", "z", "z", "z2"),
                 ("Mul", "z2", "z", "z3"), ("Mul", "z3", "k", "t1"), ("Add", "z", "t1", "t2"),
                 ("Mul", "t2", "c", "t3"), ("Tanh", "t3", None, "t4"),
                 ("Add", "t4", "one", "t5"), ("Mul", "z", "t5", "t6"),
                 ("Mul", "t6", "half", "y")]
        nodes = [helper.make_node(op, [i for i in (p, q) if i], [r]) for op, p, q, r in chain]
        inputs = ["x"]
    elif w == "W2":
        consts, inputs = {}, ["x"]
        nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=1)]
    elif w in ("W3", "matmul", "W7"):
        consts, inputs = {}, (["a", "b"] if w != "W7" else ["x", "y"])
        nodes = [helper.make_node("MatMul" if w != "W7" else "Add", inputs, ["out"])]
    else:
        return None
    elem = helper.np_dtype_to_tensor_dtype(arrays[inputs[0]].dtype)
    graph = helper.make_graph(
        nodes, f"graphc_bench_{w}",
        [helper.make_tensor_value_info(k, elem, arrays[k].shape) for k in inputs],
        [helper.make_tensor_value_info(nodes[-1].output[0], elem, None)],
        [numpy_helper.from_array(np.asarray(v), k)
         for k, v in consts.items()])
    # IR version 8 is the one of opset 17; onnx may default to a newer one than ort reads
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def all_peers() -> dict:
    """Every known peer adapter by name."""
    return {p.name: p for p in (NumpyPeer(), TorchPeer(), JaxPeer(), OnnxRuntimePeer())}
