"""L2 printer, verifier and numpy interpreter.

The interpreter runs a kernel element by element in Python with numpy scalars of the exact
dtypes, so it checks lowering without any backend (slow: for small test shapes only). GPU
loop kinds run sequentially, which is what their semantics allow for kernels without
barrier-separated phases.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import InvalidArgumentError, VerifyError
from graphc.ir.kernel import (
    DTYPES,
    INDEX,
    INTS,
    LOOP_KINDS,
    OPS,
    PACK_COL,
    PACK_LANE,
    PACK_ROW,
    PACK_SEG,
    WIDTH,
    Assign,
    Barrier,
    Binary,
    Cast,
    Check,
    Const,
    Intrinsic,
    Kernel,
    Load,
    Local,
    Loop,
    Pack,
    Ref,
    Select,
    Store,
    Unary,
    Var,
    expr_children,
    stmt_exprs,
)

NUMPY = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i8": np.int8,
         "u8": np.uint8, "i16": np.int16, "u16": np.uint16, "i32": np.int32,
         "i64": np.int64, "bool": np.bool_}


# --- printer --------------------------------------------------------------------------------
def format_expr(e) -> str:
    if isinstance(e, Const):
        return repr(e.value) if e.dtype in (INDEX, "bool") else f"{e.value!r}:{e.dtype}"
    if isinstance(e, (Var, Ref)):
        return e.name
    if isinstance(e, Load):
        return f"{e.buffer}[{format_expr(e.index)}]"
    if isinstance(e, Unary):
        return f"{e.op}({format_expr(e.a)})"
    if isinstance(e, Binary):
        return f"{e.op}({format_expr(e.a)}, {format_expr(e.b)})"
    if isinstance(e, Select):
        return f"select({format_expr(e.cond)}, {format_expr(e.a)}, {format_expr(e.b)})"
    if isinstance(e, Cast):
        return f"{e.dtype}({format_expr(e.a)})"
    raise TypeError(f"not an L2 expression: {e!r}")


def _format_stmts(stmts, depth) -> list:
    pad = "  " * depth
    lines = []
    for s in stmts:
        if isinstance(s, Loop):
            lines.append(f"{pad}for {s.var} in {format_expr(s.start)}..{format_expr(s.stop)}"
                         f" [{s.kind}{f' x{s.width}' if s.width != 1 else ''}]:")
            lines += _format_stmts(s.body, depth + 1)
        elif isinstance(s, Store):
            lines.append(f"{pad}{s.buffer}[{format_expr(s.index)}] = {format_expr(s.value)}")
        elif isinstance(s, Local):
            lines.append(f"{pad}{s.dtype} {s.name} = {format_expr(s.init)}")
        elif isinstance(s, Assign):
            lines.append(f"{pad}{s.name} = {format_expr(s.value)}")
        elif isinstance(s, Check):
            lines.append(f"{pad}check {format_expr(s.cond)} else error {s.code}")
        elif isinstance(s, Barrier):
            lines.append(f"{pad}barrier")
        elif isinstance(s, Intrinsic):
            args = ", ".join(list(s.buffers) + [format_expr(a) for a in s.args])
            lines.append(f"{pad}{s.name}({args})" + (" then, per block of C:" if s.epilogue
                                                      else ""))
            for what, p in zip(("A", "B"), s.packs):
                if p is not None:
                    at = (f"[{PACK_ROW}, {PACK_SEG}*{p.lanes}+{PACK_LANE}]" if what == "A"
                          else f"[{PACK_SEG}*{p.lanes}+{PACK_LANE}, {PACK_COL}]")
                    lines.append(f"{pad}  where {what}{at} = {format_expr(p.value)}")
            lines += _format_stmts(s.epilogue, depth + 1)
    return lines


def format_kernel(k: Kernel) -> str:
    params = ", ".join(f"{b.name}: {b.dtype}[{format_expr(b.size)}]" for b in k.params)
    lines = [f"kernel {k.name}({params})" + (f" sizes {', '.join(k.sizes)}" if k.sizes else "")]
    for b in k.buffers:
        if b.scratch:
            lines.append(f"  scratch {b.name}: {b.dtype}[{format_expr(b.size)}]")
    return "\n".join(lines + _format_stmts(k.body, 1))


# --- verifier -------------------------------------------------------------------------------
def verify_kernel(k: Kernel) -> None:
    """Raise VerifyError unless every name is bound, types agree and loop kinds are known."""
    buffers = {b.name: b for b in k.buffers}
    if len(buffers) != len(k.buffers):
        raise VerifyError(f"kernel {k.name}: duplicate buffer names")
    scope = {name: INDEX for name in k.sizes}

    def fail(msg):
        raise VerifyError(f"kernel {k.name}: {msg}")

    def check_expr(e):
        for c in expr_children(e):
            check_expr(c)
        if e.dtype not in DTYPES:
            fail(f"{format_expr(e)} has unknown dtype {e.dtype}")
        if isinstance(e, (Var, Ref)) and scope.get(e.name) != e.dtype:
            fail(f"{e.name} is not bound as a {e.dtype} here")
        if isinstance(e, Load):
            if e.buffer not in buffers or buffers[e.buffer].dtype != e.dtype:
                fail(f"load from {e.buffer} as {e.dtype}: no such buffer of that dtype")
            if e.index.dtype != INDEX:
                fail(f"index {format_expr(e.index)} is not {INDEX}")
        if isinstance(e, (Unary, Binary)):
            if e.op not in OPS:
                fail(f"unknown operator {e.op}")
            result = OPS[e.op][1]
            operands = expr_children(e)
            if any(o.dtype != operands[0].dtype for o in operands):
                fail(f"{format_expr(e)}: operands of different dtypes")
            want = operands[0].dtype if result == "same" else result
            if result == "width":
                if "bool" in (e.dtype, operands[0].dtype) or \
                        WIDTH[e.dtype] != WIDTH[operands[0].dtype]:
                    fail(f"{format_expr(e)}: {e.dtype} is not of {operands[0].dtype}'s width")
            elif e.dtype != want:
                fail(f"{format_expr(e)} should be {want}, is {e.dtype}")
        if isinstance(e, Select) and (e.cond.dtype != "bool" or e.a.dtype != e.dtype
                                      or e.b.dtype != e.dtype):
            fail(f"{format_expr(e)}: bad select types")

    def check_stmts(stmts):
        for s in stmts:
            packs = isinstance(s, Intrinsic) and bool(s.packs)
            bound = (PACK_ROW, PACK_SEG, PACK_LANE, PACK_COL) if packs else ()
            if any(v in scope for v in bound):
                fail(f"a pack variable of intrinsic {s.name} shadows a name in scope")
            scope.update(dict.fromkeys(bound, INDEX))
            for e in stmt_exprs(s):
                check_expr(e)
            for v in bound:
                del scope[v]
            if isinstance(s, Store):
                if s.buffer not in buffers or buffers[s.buffer].dtype != s.value.dtype:
                    fail(f"store of {s.value.dtype} into {s.buffer}")
            elif isinstance(s, Local):
                if s.init.dtype != s.dtype:
                    fail(f"local {s.name} of {s.dtype} initialized with {s.init.dtype}")
                scope[s.name] = s.dtype
            elif isinstance(s, Assign):
                if scope.get(s.name) != s.value.dtype:
                    fail(f"assignment of {s.value.dtype} to {s.name}")
            elif isinstance(s, Loop):
                if s.kind not in LOOP_KINDS:
                    fail(f"unknown loop kind {s.kind}")
                if s.width < 1 or (s.width != 1 and s.kind not in ("vector", "unroll")):
                    fail(f"loop {s.var} of kind {s.kind} has width {s.width}")
                if s.kind == "vector" and any(not isinstance(c, (Store, Local, Assign))
                                              for c in s.body):
                    fail(f"vector loop {s.var} holds more than stores and locals")
                if s.var in scope:
                    fail(f"loop variable {s.var} shadows a name in scope")
                scope[s.var] = INDEX
                check_stmts(s.body)
                del scope[s.var]
            elif isinstance(s, Check) and not 0 <= s.code < len(k.messages):
                fail(f"check code {s.code} has no message")
            elif isinstance(s, Intrinsic):
                packed = [pos for pos, p in enumerate(s.packs) if p is not None]
                if any(b not in buffers and not (b == "" and pos in packed)
                       for pos, b in enumerate(s.buffers)):
                    fail(f"intrinsic {s.name} uses unknown buffers {s.buffers}")
                if s.epilogue:
                    _check_epilogue(s, fail)
                    check_stmts(s.epilogue)
                if s.packs and (s.name != "gemm" or len(s.packs) != 2 or any(
                        p is not None and (not isinstance(p, Pack) or p.lanes < 1)
                        for p in s.packs)):
                    fail(f"intrinsic {s.name}: packs must be (A, B) of a gemm, each a Pack "
                         "with lanes >= 1 or None")
                if s.prepacked and (s.name != "gemm" or not s.buffers[1] or (
                        s.packs and s.packs[1] is not None)):
                    fail(f"intrinsic {s.name}: only a gemm's B buffer can be prepacked")

    check_stmts(k.body)


def _check_epilogue(s: Intrinsic, fail) -> None:
    """An epilogue's shape (see Intrinsic): a gemm's, one row loop around one column loop."""
    rows = s.epilogue[0] if len(s.epilogue) == 1 else None
    if s.name != "gemm" or not isinstance(rows, Loop) or len(rows.body) != 1 \
            or not isinstance(rows.body[0], Loop):
        fail(f"intrinsic {s.name}: an epilogue must be one row loop around one column loop "
             "of a gemm")


# --- interpreter ----------------------------------------------------------------------------
class KernelError(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _round_half_even(x):
    return np.round(x)


_UNARY = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "sqrt": np.sqrt, "exp": np.exp,
    "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "round": _round_half_even,
    "not": np.logical_not, "bit_not": np.invert, "is_nan": np.isnan, "is_inf": np.isinf,
    "is_finite": np.isfinite,
    "sigmoid": lambda x: type(x)(1 / (1 + math.exp(-float(x))) if x >= 0
                                 else math.exp(float(x)) / (1 + math.exp(float(x)))),
    "erf": lambda x: type(x)(math.erf(float(x))),
}


def _shifted(x, y, left: bool):
    """The reference's shift (numpy's answer for amounts outside [0, bits)) on scalars."""
    from graphc.ir.ops.elementwise import shift
    return shift(np.asarray(x), np.asarray(y), left)[()]


_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power, "max": np.maximum,
    "min": np.minimum, "atan2": np.arctan2, "and": np.logical_and, "or": np.logical_or,
    "xor": np.logical_xor, "bit_and": np.bitwise_and, "bit_or": np.bitwise_or,
    "bit_xor": np.bitwise_xor, "shl": lambda x, y: _shifted(x, y, True),
    "shr": lambda x, y: _shifted(x, y, False), "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}


def interpret(k: Kernel, buffers: dict, sizes: dict | None = None, intrinsics=None) -> None:
    """Run kernel `k` on flat numpy arrays `buffers` (name -> array, written in place).

    Raises InvalidArgumentError with the kernel's message when a Check fails. `intrinsics`
    maps an Intrinsic name to a Python implementation (bufs, args) -> None.
    """
    env = dict(sizes or {})
    mem = dict(buffers)
    for b in k.buffers:
        if b.scratch:
            mem[b.name] = np.zeros(int(_eval(b.size, env, mem)), dtype=NUMPY[b.dtype])
    try:
        with np.errstate(all="ignore"):
            _run(k.body, env, mem, intrinsics or {})
    except KernelError as e:
        raise InvalidArgumentError(k.messages[e.code]) from None


def _eval(e, env, mem):
    if isinstance(e, Const):
        return NUMPY[e.dtype](e.value)
    if isinstance(e, (Var, Ref)):
        return env[e.name]
    if isinstance(e, Load):
        return mem[e.buffer][int(_eval(e.index, env, mem))]
    if isinstance(e, Unary) and e.op == "bitcast":
        return NUMPY[e.a.dtype](_eval(e.a, env, mem)).view(NUMPY[e.dtype])
    if isinstance(e, Unary):
        return NUMPY[e.dtype](_UNARY[e.op](_eval(e.a, env, mem)))
    if isinstance(e, Binary):
        a, b = _eval(e.a, env, mem), _eval(e.b, env, mem)
        if e.op in ("floordiv", "mod") and e.a.dtype in INTS and b == 0:
            return NUMPY[e.dtype](0)  # integer division by zero gives 0, as the reference
        return NUMPY[e.dtype](_BINARY[e.op](a, b))
    if isinstance(e, Select):
        return _eval(e.a, env, mem) if _eval(e.cond, env, mem) else _eval(e.b, env, mem)
    if isinstance(e, Cast):
        return NUMPY[e.dtype](_eval(e.a, env, mem))
    raise TypeError(f"not an L2 expression: {e!r}")


def _run(stmts, env, mem, intrinsics):
    for s in stmts:
        if isinstance(s, Loop):
            start, stop = int(_eval(s.start, env, mem)), int(_eval(s.stop, env, mem))
            for i in range(start, stop):
                env[s.var] = np.int64(i)
                _run(s.body, env, mem, intrinsics)
            env.pop(s.var, None)
        elif isinstance(s, Store):
            mem[s.buffer][int(_eval(s.index, env, mem))] = _eval(s.value, env, mem)
        elif isinstance(s, (Local, Assign)):
            env[s.name] = _eval(s.init if isinstance(s, Local) else s.value, env, mem)
        elif isinstance(s, Check):
            if not _eval(s.cond, env, mem):
                raise KernelError(s.code)
        elif isinstance(s, Intrinsic):
            if s.prepacked:  # a layout of the LLVM GEMM's (codegen_llvm/prepack.py)
                raise NotImplementedError("interpret: a gemm reading B prepacked")
            alpha = _eval(s.args[10], env, mem) if s.name == "gemm" and len(s.args) > 10 \
                else None
            args = [int(_eval(a, env, mem)) for a in s.args[:10 if alpha is not None else None]]
            bufs = [mem.get(b) for b in s.buffers]
            if s.packs:  # operands given by element become strided matrices here
                m, n, k = args[:3]
                for pos, pack in enumerate(s.packs):
                    if pack is not None:
                        bufs[pos] = _packed_operand(pack, pos, (m, n, k), env, mem)
                        args[3 + 3 * pos: 6 + 3 * pos] = [0, k, 1] if pos == 0 else [0, n, 1]
            if alpha is None:
                intrinsics[s.name](bufs, args)
            else:  # C += alpha * (A @ B): the product into a copy, rounded, then added
                c, (m, n), off = bufs[2], args[:2], args[9]
                bufs[2] = np.zeros_like(c)
                intrinsics[s.name](bufs, args)
                block = slice(off, off + m * n)
                c[block] = c[block] + (alpha * bufs[2][block]).astype(c.dtype)
            _run(s.epilogue, env, mem, intrinsics)


def _packed_operand(pack, pos: int, sizes, env, mem) -> np.ndarray:
    """The gemm operand `pack` gives (A if pos is 0, else B), row-major and flat."""
    m, n, k = sizes
    rows, cols = (m, k) if pos == 0 else (k, n)
    out = np.empty(rows * cols, dtype=NUMPY[pack.value.dtype])
    inner = dict(env)
    for r in range(rows):
        for c in range(cols):
            depth = c if pos == 0 else r  # the element's index along the gemm's K
            inner[PACK_ROW if pos == 0 else PACK_COL] = np.int64(r if pos == 0 else c)
            inner[PACK_SEG] = np.int64(depth // pack.lanes)
            inner[PACK_LANE] = np.int64(depth % pack.lanes)
            out[r * cols + c] = _eval(pack.value, inner, mem)
    return out
