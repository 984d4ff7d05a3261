"""L2: the kernel IR, loop level and backend-neutral.

A Kernel reads and writes flat buffers (its parameters, plus local scratch) through nested
loops. Every loop has a kind that a schedule chooses and a backend maps: "serial", "vector"
(innermost, contiguous, remainder included), "unroll", "parallel" (split across CPU threads),
"gpu_block" and "gpu_thread". Bounds and indices are integer expressions over loop variables
and size parameters, so a size may be known only at run time. Values are scalar expressions:
loads, constants, unary and binary ops from one table (OPS), selects and casts.

Two statements reach beyond loops: `Check` (stop the kernel with an error code when a run-time
condition fails, e.g. an index out of range) and `Intrinsic` (a named library routine such as
GEMM over buffer views, which each backend implements its own best way; a gemm may carry an
elementwise epilogue over its output, which a backend may run on each block as it completes).

Nodes are frozen dataclasses: equal structure is equal value, and passes rebuild rather than
mutate. `INDEX` (int64) is the type of every index expression.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Tuple, Union

INDEX = "i64"
DTYPES = ("f16", "f32", "f64", "i8", "u8", "i16", "u16", "i32", "i64", "bool")
WIDTH = {"f16": 16, "f32": 32, "f64": 64, "i8": 8, "u8": 8, "i16": 16, "u16": 16, "i32": 32,
         "i64": 64, "bool": 1}  # bits
SMALL_INTS = ("i8", "u8", "i16", "u16")  # narrow integers: wrap at their width
INTS = SMALL_INTS + ("i32", "i64")
LOOP_KINDS = ("serial", "vector", "unroll", "parallel", "gpu_block", "gpu_thread")

# Scalar operators: name -> (arity, result: "same" as operands, a dtype, or "width": any
# dtype of the operand's width, the expression's own; bitcast reads the operand's bits as it).
OPS = {
    "bitcast": (1, "width"),
    **{name: (1, "same") for name in (
        "neg", "abs", "sign", "sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh",
        "sigmoid", "erf", "floor", "ceil", "round", "not", "bit_not")},
    **{name: (1, "bool") for name in ("is_nan", "is_inf", "is_finite")},
    **{name: (2, "same") for name in (
        "add", "sub", "mul", "div", "floordiv", "mod", "pow", "max", "min", "atan2", "and",
        "or", "xor", "bit_and", "bit_or", "bit_xor", "shl", "shr")},
    **{name: (2, "bool") for name in ("lt", "le", "gt", "ge", "eq", "ne")},
}


# --- expressions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    value: Union[int, float, bool]
    dtype: str = INDEX


@dataclass(frozen=True)
class Var:
    """A loop variable or a size parameter (always INDEX)."""
    name: str
    dtype: str = INDEX


@dataclass(frozen=True)
class Ref:
    """The current value of a scalar local (declared by `Local`)."""
    name: str
    dtype: str


@dataclass(frozen=True)
class Load:
    buffer: str
    index: "Expr"
    dtype: str


@dataclass(frozen=True)
class Unary:
    op: str
    a: "Expr"
    dtype: str


@dataclass(frozen=True)
class Binary:
    op: str
    a: "Expr"
    b: "Expr"
    dtype: str


@dataclass(frozen=True)
class Select:
    cond: "Expr"
    a: "Expr"
    b: "Expr"
    dtype: str


@dataclass(frozen=True)
class Cast:
    a: "Expr"
    dtype: str


Expr = Union[Const, Var, Ref, Load, Unary, Binary, Select, Cast]


# --- statements -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Store:
    buffer: str
    index: Expr
    value: Expr


@dataclass(frozen=True)
class Local:
    """Declare a scalar local initialized to `init` (an accumulator, a running max...)."""
    name: str
    dtype: str
    init: Expr


@dataclass(frozen=True)
class Assign:
    name: str
    value: Expr


@dataclass(frozen=True)
class Loop:
    """`for var in start..stop`. `width` is a vector loop's lanes and an unrolled loop's
    factor (1 for the other kinds): a schedule's hint, which the backend maps."""
    var: str
    start: Expr
    stop: Expr
    body: Tuple["Stmt", ...]
    kind: str = "serial"
    width: int = 1


@dataclass(frozen=True)
class Check:
    """Stop the kernel with error `code` (an index into Kernel.messages) unless `cond`."""
    cond: Expr
    code: int


@dataclass(frozen=True)
class Barrier:
    """All threads of a GPU block wait here (no-op on the CPU)."""


# The variables a Pack's value reads: A[PACK_ROW, PACK_SEG * lanes + PACK_LANE] or
# B[PACK_SEG * lanes + PACK_LANE, PACK_COL]
PACK_ROW, PACK_SEG, PACK_LANE, PACK_COL = "pk_i", "pk_s", "pk_l", "pk_j"


@dataclass(frozen=True)
class Pack:
    """A gemm operand given element by element instead of as a strided matrix: an implicit
    GEMM, whose A holds a convolution's input patches without their ever being written out.

    The operand's K index is cut into segments of `lanes` consecutive elements (a kernel
    offset's input channels, say): `value` is A's element at row PACK_ROW and K index
    PACK_SEG * lanes + PACK_LANE (or B's at that K index and column PACK_COL), an
    expression over those variables and the loop variables in scope. It must be defined
    (masked, every load in bounds) for every row, column and K index of the gemm. A backend
    copies the operand into its packed panels segment by segment, so the row (or column)
    and segment parts of the value are computed once per segment, not per element.
    """
    value: Expr
    lanes: int


@dataclass(frozen=True)
class Intrinsic:
    """A library routine over buffers: name, buffer names, integer arguments.

    `epilogue` (gemm only) runs after the routine: one loop over the rows of the routine's
    output C around one loop over its columns, reading C only at its own element and writing
    no buffer the routine reads. So a backend may run it on each block of C as the routine
    completes it, while the block is still in cache; running it after is the same.

    `packs` (gemm only) is () or (A, B), each a Pack or None: an operand given as a Pack
    is read through its value; its name in `buffers` is "" and its offset and strides in
    `args` are unused.

    `prepacked` (gemm only, LLVM only): B's buffer holds B already in the LLVM GEMM's
    packed layout (codegen_llvm/prepack.py), at offset 0 with its padded width as rsB.

    A gemm's args are (M, N, K, offA, rsA, csA, offB, rsB, csB, offC), integers, and
    optionally an eleventh, alpha, a scalar of C's dtype (LLVM only,
    compiler/accumulate.py): C is then read too, C += alpha * (A @ B), the product rounded
    before it is added.
    """
    name: str
    buffers: Tuple[str, ...]
    args: Tuple[Expr, ...]
    epilogue: Tuple["Stmt", ...] = ()
    packs: Tuple = ()
    prepacked: bool = False


# host_call(callback, values...; uid, code): call the host function whose address the first
# buffer holds with `uid` and the values' addresses; a failure stops the kernel with `code`
# (runtime/host_calls.py). A kernel holding one is nothing else (`host_call`).
HOST_CALL = "host_call"

Stmt = Union[Store, Local, Assign, Loop, Check, Barrier, Intrinsic]


@dataclass(frozen=True)
class Buffer:
    name: str
    dtype: str
    size: Expr  # number of elements
    scratch: bool = False  # local to the kernel, not a parameter


@dataclass(frozen=True)
class Kernel:
    name: str
    buffers: Tuple[Buffer, ...]  # parameters first, then scratch
    sizes: Tuple[str, ...]  # size parameters, bound at run time
    body: Tuple[Stmt, ...]
    messages: Tuple[str, ...] = ()  # Check codes -> what went wrong
    notes: dict = field(default_factory=dict, compare=False, hash=False)  # e.g. source nodes

    @property
    def params(self) -> Tuple[Buffer, ...]:
        return tuple(b for b in self.buffers if not b.scratch)

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(f"kernel {self.name} has no buffer {name!r}")


# --- building helpers -----------------------------------------------------------------------
def idx(value) -> Expr:
    """An INDEX expression from an int or an expression."""
    return Const(int(value)) if isinstance(value, int) else value


def add(a, b) -> Expr:
    a, b = idx(a), idx(b)
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value + b.value)
    return Binary("add", a, b, INDEX)


def mul(a, b) -> Expr:
    a, b = idx(a), idx(b)
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Const):
            if x.value == 0:
                return Const(0)
            if x.value == 1:
                return y
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value * b.value)
    return Binary("mul", a, b, INDEX)


def linear(indices, strides) -> Expr:
    """sum(i * s): the flat offset of a multi-index (strides 0 for broadcast axes)."""
    out: Expr = Const(0)
    for i, s in zip(indices, strides):
        out = add(out, mul(i, s))
    return out


def flat_index(idx, shape) -> Expr:
    """The row-major flat index of multi-index idx into `shape`, without the terms of its
    size-1 axes (their index is 0): how lowering spells every load of a buffer's element, so
    that equal indices are equal expressions."""
    strides = row_major_strides(shape)
    terms = [(i, 0 if d == 1 else s) for i, d, s in zip(idx, shape, strides)]
    return linear(*zip(*terms)) if terms else Const(0)


def row_major_strides(shape) -> tuple:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def nest(variables, extents, body, kind="serial") -> tuple:
    """Loops over `variables` with the given extents around `body` (outermost first)."""
    stmts = tuple(body)
    for v, n in reversed(list(zip(variables, extents))):
        stmts = (Loop(v, Const(0), idx(n), stmts, kind),)
    return stmts


def expr_children(e) -> tuple:
    if isinstance(e, Load):
        return (e.index,)
    if isinstance(e, Unary) or isinstance(e, Cast):
        return (e.a,)
    if isinstance(e, Binary):
        return (e.a, e.b)
    if isinstance(e, Select):
        return (e.cond, e.a, e.b)
    return ()


def substatements(s) -> tuple:
    """The statements nested in `s`: a loop's body, an intrinsic's epilogue."""
    if isinstance(s, Loop):
        return s.body
    if isinstance(s, Intrinsic):
        return s.epilogue
    return ()


def host_call(kernel: "Kernel"):
    """The host_call Intrinsic a kernel consists of, or None."""
    body = kernel.body
    if len(body) == 1 and isinstance(body[0], Intrinsic) and body[0].name == HOST_CALL:
        return body[0]
    return None


def has_check(stmts) -> bool:
    """Whether the statements, or any nested in them, hold a Check."""
    return any(isinstance(s, Check) or has_check(substatements(s)) for s in stmts)


def stmt_exprs(s) -> tuple:
    if isinstance(s, Store):
        return (s.index, s.value)
    if isinstance(s, (Local, Assign)):
        return (s.init if isinstance(s, Local) else s.value,)
    if isinstance(s, Loop):
        return (s.start, s.stop)
    if isinstance(s, Check):
        return (s.cond,)
    if isinstance(s, Intrinsic):
        return s.args + tuple(p.value for p in s.packs if p is not None)
    return ()


def buffer_names(x) -> set:
    """The names of the buffers statements or expressions `x` (one, or a tuple of them)
    load, store or pass to an intrinsic."""
    out: set = set()

    def walk(x):
        if isinstance(x, (Load, Store)):
            out.add(x.buffer)
        elif isinstance(x, Intrinsic):
            out.update(name for name in x.buffers if name)
        if dataclasses.is_dataclass(x):
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name))
        elif isinstance(x, (tuple, list)):
            for item in x:
                walk(item)
    walk(x)
    return out


def rename_buffers(k: Kernel, mapping: dict) -> Kernel:
    """The same kernel with buffers renamed (names not in `mapping` are kept)."""
    from dataclasses import replace

    def expr(e):
        if isinstance(e, Load):
            return Load(mapping.get(e.buffer, e.buffer), expr(e.index), e.dtype)
        if isinstance(e, Unary):
            return Unary(e.op, expr(e.a), e.dtype)
        if isinstance(e, Binary):
            return Binary(e.op, expr(e.a), expr(e.b), e.dtype)
        if isinstance(e, Select):
            return Select(expr(e.cond), expr(e.a), expr(e.b), e.dtype)
        if isinstance(e, Cast):
            return Cast(expr(e.a), e.dtype)
        return e

    def stmt(s):
        if isinstance(s, Store):
            return Store(mapping.get(s.buffer, s.buffer), expr(s.index), expr(s.value))
        if isinstance(s, Local):
            return Local(s.name, s.dtype, expr(s.init))
        if isinstance(s, Assign):
            return Assign(s.name, expr(s.value))
        if isinstance(s, Loop):
            return replace(s, start=expr(s.start), stop=expr(s.stop),
                           body=tuple(stmt(c) for c in s.body))
        if isinstance(s, Check):
            return Check(expr(s.cond), s.code)
        if isinstance(s, Intrinsic):
            return replace(s, buffers=tuple(mapping.get(b, b) for b in s.buffers),
                           args=tuple(expr(a) for a in s.args),
                           epilogue=tuple(stmt(c) for c in s.epilogue),
                           packs=tuple(p and replace(p, value=expr(p.value)) for p in s.packs))
        return s

    buffers = tuple(replace(b, name=mapping.get(b.name, b.name)) for b in k.buffers)
    return replace(k, buffers=buffers, body=tuple(stmt(s) for s in k.body))


def exact_key(x, memo: dict = None):
    """x (a kernel, statement or expression, or a tuple of them) as nested tuples that are
    equal only when the two are the same to the bit. The dataclasses' own equality has
    0.0 == -0.0, and x / 0.0 is not x / -0.0. `memo` (id -> (x, key)) shares the work
    between calls over the same objects."""
    memo = {} if memo is None else memo
    known = memo.get(id(x))
    if known is not None:
        return known[1]
    if isinstance(x, float):
        key = ("float", x.hex())
    elif isinstance(x, (tuple, list)):
        key = tuple(exact_key(item, memo) for item in x)
    else:
        names = _COMPARED.get(type(x))
        if names is None:
            if not dataclasses.is_dataclass(x):
                return x
            names = _COMPARED[type(x)] = tuple(f.name for f in dataclasses.fields(x)
                                               if f.compare)
        key = (type(x).__name__,) + tuple(exact_key(getattr(x, n), memo) for n in names)
    memo[id(x)] = (x, key)  # x held: its id stays its own while the memo lives
    return key


_COMPARED: dict = {}  # dataclass -> the names of the fields its equality compares (exact_key)


def canonical(k: Kernel) -> Kernel:
    """The kernel with buffers named by position (p0, p1, ...): kernels that differ only in
    which buffers they are given become equal, so a module needs one function for them."""
    return rename_buffers(k, {b.name: f"p{i}" for i, b in enumerate(k.buffers)})
