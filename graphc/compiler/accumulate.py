"""accumulate_products: a gradient step's GEMM adds its product into the variable itself.

`W -= lr * (X^T @ G)`, the SGD update of a dense layer's weights, lowers to one kernel: a
gemm writing the product to a buffer C, and an epilogue reading C and W and writing W. So the
product goes through memory on its way into W: C is written and read back while in cache,
but each of its lines is written back to memory later (W5's 3136 x 1024 layer: 12.8 MB
besides the 25.6 MB of reading and writing W). Where the backend's GEMM computes C += alpha *
(A @ B) with the product rounded whole before it is scaled and added (the LLVM GEMM, for a
K of at most its KC: codegen_llvm/intrinsics.render_gemm), the kernel becomes that gemm
writing W, alpha = -lr, and C is gone. The bits are the epilogue's: W - lr * C is W +
(-lr) * C exactly, as W + 1 * C is W + C and W - 1 * C is W - C.

Expects the kernels after write_directly (the epilogue stores into the variable's own slot),
the slots, the slots that must keep their own memory (`keep`: fetched, committed and
loop-kept ones) and `accumulates(dtype, k)`, whether the backend's gemm rounds the product
of a K this deep whole. Rewrites a kernel only where its body is one gemm (no batch loops)
whose epilogue is D[i, j] = D[i, j] +- s * C[i, j] (s a constant, or a scalar buffer
other than C and D, or absent: 1), D is neither operand nor read by one, and C is an arena
slot no other kernel names; C's slot becomes unused.
"""

from __future__ import annotations

from dataclasses import replace

from graphc.compiler.plan import Slot
from graphc.ir import kernel as K
from graphc.passes.gpu_loops import loads


def accumulate_products(kernels: list, slots: list, keep: set, accumulates) -> list:
    """The kernels with each gemm-and-update above rewritten (slots updated in place)."""
    named: dict = {}
    for k, kernel in enumerate(kernels):
        for b in kernel.buffers:
            named.setdefault(b.name, set()).add(k)
    out = list(kernels)
    for k, kernel in enumerate(kernels):
        rewritten = _accumulating(kernel, accumulates)
        if rewritten is None:
            continue
        new, c = rewritten
        slot = int(c[1:])
        if slots[slot].kind != "arena" or slot in keep or named.get(c) != {k}:
            continue
        out[k] = new
        slots[slot] = Slot("unused")
    return out


def _accumulating(kernel: K.Kernel, accumulates):
    """(the kernel as a gemm accumulating into the epilogue's output, C's buffer name), or
    None where its shape is not the one above."""
    if len(kernel.body) != 1 or not isinstance(kernel.body[0], K.Intrinsic):
        return None
    s = kernel.body[0]
    if s.name != "gemm" or len(s.args) != 10 or len(s.epilogue) != 1 \
            or not all(isinstance(x, K.Const) for x in s.args):
        return None
    m, n, k = (int(x.value) for x in s.args[:3])
    a, b, c = s.buffers[:3]
    t = kernel.buffer(c).dtype
    if s.args[9] != K.Const(0) or t not in ("f32", "f64") or not accumulates(t, k):
        return None
    rows = s.epilogue[0]
    cols = rows.body[0] if len(rows.body) == 1 else None
    if not isinstance(cols, K.Loop) or len(cols.body) != 1 \
            or (rows.start, rows.stop, cols.start, cols.stop) != (
                K.Const(0), K.Const(m), K.Const(0), K.Const(n)):
        return None
    store = cols.body[0]
    at = K.flat_index([K.Var(rows.var), K.Var(cols.var)], (m, n))
    if not isinstance(store, K.Store) or store.index != at:
        return None
    d = store.buffer
    alpha = _alpha(store.value, d, c, at, t)
    if alpha is None or d in (a, b, c) or kernel.buffer(d).dtype != t \
            or any(x.buffer in (c, d) for p in s.packs if p is not None
                   for x in loads(p.value)):
        return None
    gemm = replace(s, buffers=(a, b, d) + s.buffers[3:], args=s.args + (alpha,), epilogue=())
    buffers = tuple(x for x in kernel.buffers if x.name != c)
    return replace(kernel, buffers=buffers, body=(gemm,)), c


def _alpha(value, d: str, c: str, at, t: str):
    """alpha where value = D[at] +- s * C[at] (s * C, C * s, or C alone), else None."""
    if not isinstance(value, K.Binary) or value.op not in ("add", "sub") \
            or value.a != K.Load(d, at, t):
        return None
    product, scale = value.b, K.Const(1.0, t)
    if isinstance(product, K.Binary) and product.op == "mul":
        here = K.Load(c, at, t)
        if product.a == here:
            scale = product.b
        elif product.b == here:
            scale = product.a
        else:
            return None
        if not (isinstance(scale, K.Const) or (
                isinstance(scale, K.Load) and scale.index == K.Const(0)
                and scale.buffer not in (c, d))) or scale.dtype != t:
            return None
    elif product != K.Load(c, at, t):
        return None
    return scale if value.op == "add" else K.Unary("neg", scale, t)
