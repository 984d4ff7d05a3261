"""Loop-building helpers of the GPU schedules (schedule_gpu, schedule_gpu_tiles).

A launch is `for gbx in 0..G [gpu_block]: for gtx in 0..T [gpu_thread]: body`. L2 has no `if`
and no loop step, so a guard is a loop of at most one trip, `for t in e..min(e+1, n)`, and a
grid-stride walk is an outer loop over strides around such a guard. Index expressions are
rewritten by substitution (loop variables -> expressions), and an affine index reads as a
linear form {variable: coefficient}.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from graphc.ir import kernel as K

BLOCK, THREAD = "gbx", "gtx"  # names of the launch's loop variables


@dataclass(frozen=True)
class GPUCaps:
    """What a GPU offers the schedule (defaults: an sm_90 part such as the H200)."""
    threads_per_block: int = 256  # threads of an elementwise or row launch
    warp: int = 32
    shared_bytes: int = 48 * 1024  # static shared memory per block
    max_blocks: int = 1 << 16  # a grid-stride loop covers what does not fit
    min_row: int = 16  # a row shorter than this is reduced by one thread


def launch(walked, threads: int) -> K.Loop:
    """`for gbx in 0..blocks [gpu_block]: for gtx in 0..threads [gpu_thread]: body`, from
    walked = (blocks, body) as a grid walk returns it."""
    blocks, body = walked
    inner = K.Loop(THREAD, K.Const(0), K.Const(threads), tuple(body), "gpu_thread")
    return K.Loop(BLOCK, K.Const(0), K.Const(blocks), (inner,), "gpu_block")


def grid_walk(total: int, threads: int, caps: GPUCaps, name: str):
    """(walk, index): walk(stmts) -> (blocks, statements running `stmts` once for each
    index in 0..total, spread over blocks x threads with a grid-stride loop)."""
    blocks = max(1, min(-(-total // threads), caps.max_blocks))
    strides = max(1, -(-total // (blocks * threads)))
    base = K.add(K.mul(K.Var(BLOCK), threads), K.Var(THREAD)) if threads > 1 else K.Var(BLOCK)
    if strides > 1:
        base = K.add(K.mul(K.Var(f"{name}s"), blocks * threads), base)

    def walk(stmts):
        loop = guard(name, base, total, stmts)
        if strides > 1:
            loop = K.Loop(f"{name}s", K.Const(0), K.Const(strides), (loop,))
        return blocks, (loop,)
    return walk, K.Var(name)


def guard(name: str, first, limit, stmts) -> K.Loop:
    """`for name in first..min(first+1, limit)`: stmts once, with name = first, if in range."""
    stop = K.Binary("min", K.add(first, 1), K.idx(limit), K.INDEX)
    return K.Loop(name, first, stop, tuple(stmts))


def threads_for(n: int, caps: GPUCaps) -> int:
    """A power of two of at least a warp and at most a block, covering n if it can."""
    return min(caps.threads_per_block, max(caps.warp, 1 << max(n - 1, 0).bit_length()))


def unflatten(flat, variables, extents) -> dict:
    """Each loop variable of a row-major nest as a function of the flat index."""
    mapping, step = {}, 1
    for v, n in reversed(list(zip(variables, extents))):
        value = flat if step == 1 else K.Binary("floordiv", flat, K.Const(step), K.INDEX)
        if v != variables[0]:
            value = K.Binary("mod", value, K.Const(n), K.INDEX)
        mapping[v], step = value, step * n
    return mapping


def substitute(stmts, mapping: dict, whole=None) -> tuple:
    """`stmts` with loop variables replaced by expressions (mapping: name -> Expr), and
    expressions in `whole` (Expr -> Expr) replaced as a whole first."""
    whole = whole or {}

    def expr(e):
        if e in whole:
            return whole[e]
        if isinstance(e, K.Var):
            return mapping.get(e.name, e)
        if isinstance(e, K.Load):
            return K.Load(e.buffer, expr(e.index), e.dtype)
        if isinstance(e, K.Unary):
            return K.Unary(e.op, expr(e.a), e.dtype)
        if isinstance(e, K.Binary):
            return K.Binary(e.op, expr(e.a), expr(e.b), e.dtype)
        if isinstance(e, K.Select):
            return K.Select(expr(e.cond), expr(e.a), expr(e.b), e.dtype)
        if isinstance(e, K.Cast):
            return K.Cast(expr(e.a), e.dtype)
        return e

    def stmt(s):
        if isinstance(s, K.Store):
            return K.Store(s.buffer, expr(s.index), expr(s.value))
        if isinstance(s, K.Local):
            return K.Local(s.name, s.dtype, expr(s.init))
        if isinstance(s, K.Assign):
            return K.Assign(s.name, expr(s.value))
        if isinstance(s, K.Loop):
            return replace(s, start=expr(s.start), stop=expr(s.stop),
                           body=tuple(stmt(c) for c in s.body))
        if isinstance(s, K.Check):
            return K.Check(expr(s.cond), s.code)
        if isinstance(s, K.Intrinsic):
            return replace(s, args=tuple(expr(a) for a in s.args),
                           epilogue=tuple(stmt(c) for c in s.epilogue),
                           packs=tuple(p and replace(p, value=expr(p.value)) for p in s.packs))
        return s
    return tuple(stmt(s) for s in stmts)


def linear_form(e):
    """{variable: coefficient} (None: the constant term, left out when 0) of an index that
    is a sum of variables times constants; None when it is not."""
    if isinstance(e, K.Const):
        return {None: int(e.value)} if e.value else {}
    if isinstance(e, K.Var):
        return {e.name: 1}
    if not isinstance(e, K.Binary) or e.op not in ("add", "mul"):
        return None
    a, b = linear_form(e.a), linear_form(e.b)
    if a is None or b is None:
        return None
    if e.op == "add":
        return {v: a.get(v, 0) + b.get(v, 0) for v in a.keys() | b.keys()
                if a.get(v, 0) + b.get(v, 0)}
    for x, y in ((a, b), (b, a)):
        if set(x) <= {None}:  # a constant times a sum
            c = x.get(None, 0)
            return {v: k * c for v, k in y.items() if k * c}
    return None


def loads(e) -> list:
    return ([e] if isinstance(e, K.Load) else []) + \
        [x for c in K.expr_children(e) for x in loads(c)]
