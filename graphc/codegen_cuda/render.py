"""render: GPU-scheduled L2 kernels (passes/schedule_gpu) -> one CUDA C translation unit.

    extern "C" __global__ void <fn>(T0* p0, ..., int* gc_err, int gc_kernel)

Every phase of every kernel (a top-level gpu_block loop) becomes one such function over the
kernel's parameters, canonically named; equal phases share one function. A `Launch` records
which function to call for which plan kernel, with its grid and block. A failed Check
records (kernel << 16) | (1 + code) in the error word `gc_err` (the first one wins: the
encoding of the LLVM target's graphc_run status) and ends its thread.

Thin and table-driven like the LLVM renderer: C types, an operator table (C operators, or
`gc_<op>` helpers from prelude.cuh overloaded per type), loops by kind, and intrinsic hooks.
Half precision is storage only: f16 operands are computed in float and rounded once. C
computes 8- and 16-bit integers in int: each result is narrowed back (wrapping) at once.

A vector loop of 4 lanes storing one f32 value contiguously (a flat phase's, see
schedule_gpu) becomes float4 accesses: one 16-byte load per operand contiguous in the lane
variable, the value computed per lane, one 16-byte store. The renderer proves what it relies
on (unit stride in the lane, a first index that is a multiple of 4) or renders the plain loop;
the pointers' own alignment is checked once at entry (`gc_vec4`, the same for every thread),
the plain loop running instead when a pointer is not 16-byte aligned.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace

import numpy as np

from graphc.ir import kernel as K
from graphc.passes.gpu_loops import BLOCK, THREAD
from graphc.passes.schedule_gpu import atomic_add

CTYPES = {"f16": "__half", "f32": "float", "f64": "double", "i8": "int8_t", "u8": "uint8_t",
          "i16": "int16_t", "u16": "uint16_t", "i32": "int", "i64": "i64", "bool": "bool"}
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
         "ge": ">=", "eq": "==", "ne": "!=", "and": "&&", "or": "||", "xor": "!=",
         "bit_and": "&", "bit_or": "|", "bit_xor": "^"}
PREFIX = {"neg": "-", "not": "!", "bit_not": "~"}
GEMM_TILE, GEMM_THREADS = 128, 256  # prelude.cuh's gc_gemm: a 128x128 tile per 256 threads
PRELUDE = os.path.join(os.path.dirname(__file__), "prelude.cuh")


@dataclass(frozen=True)
class Launch:
    function: str
    kernel: int  # index of the plan kernel (parameters, Check messages)
    grid: tuple
    block: tuple
    sync: bool  # barriers or shuffles inside: the emulator runs such blocks as fibers


@dataclass
class Program:
    source: str
    launches: list
    signatures: dict = field(default_factory=dict)  # function -> C types of its buffers


def prelude() -> str:
    with open(PRELUDE) as f:
        return f.read()


def render_program(kernels) -> Program:
    """The translation unit and launch list of GPU-scheduled `kernels`, in plan order."""
    parts, launches, signatures, functions = [prelude()], [], {}, {}
    for i, k in enumerate(kernels):
        shape = K.canonical(k)
        for j, phase in enumerate(shape.body):
            single = replace(shape, body=(phase,))
            key = K.exact_key(single)  # 0.0 and -0.0 apart
            name = functions.get(key)
            if name is None:
                name = functions[key] = f"k{len(functions)}_{_ident(k.name)}"
                text, grid, block = PhaseRenderer(single, name).render()
                parts.append(text)
                signatures[name] = tuple(CTYPES[b.dtype] for b in single.params)
            else:
                grid, block = PhaseRenderer(single, name).dims()
            launches.append(Launch(name, i, grid, block, _syncs(phase)))
    return Program("\n".join(parts), launches, signatures)


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)[:40]


def _syncs(stmt) -> bool:
    if isinstance(stmt, (K.Barrier, K.Intrinsic)):
        return True
    return isinstance(stmt, K.Loop) and any(_syncs(s) for s in stmt.body)


class PhaseRenderer:
    """Emits the __global__ function of one phase (a kernel whose body is one launch)."""

    def __init__(self, kernel: K.Kernel, name: str):
        self.kernel, self.name = kernel, name
        self.lines: list = []
        self.depth = 1
        self.vectors: list = []  # buffers accessed as float4, in order of first use
        self.lane = None  # while rendering one lane: (variable, lane, {Load: float4 name})
        top = kernel.body[0]
        if not (isinstance(top, K.Loop) and top.kind == "gpu_block"):
            raise ValueError(f"kernel {kernel.name} is not GPU-scheduled (schedule_gpu)")
        self.top = top

    def dims(self):
        """(grid, block) of the launch."""
        inner = self.top.body[0]
        blocks = _const(self.top.stop)
        if isinstance(inner, K.Intrinsic):  # gemm: tiles of C on x/y, the batch on z
            m, n = _const(inner.args[0]), _const(inner.args[1])
            return ((-(-n // GEMM_TILE) or 1, -(-m // GEMM_TILE) or 1, blocks),
                    (GEMM_THREADS, 1, 1))
        return (blocks, 1, 1), (_const(inner.stop), 1, 1)

    def render(self):
        grid, block = self.dims()
        params = [f"{CTYPES[b.dtype]}* __restrict__ {b.name}" for b in self.kernel.params]
        params += ["int* __restrict__ gc_err", "int gc_kernel"]
        head = (f'extern "C" __global__ void __launch_bounds__({block[0]}) {self.name}('
                + ", ".join(params) + ") {")
        inner = self.top.body[0]
        if isinstance(inner, K.Intrinsic):
            self.emit(f"const i64 {BLOCK} = blockIdx.z;")
            self.s_Intrinsic(inner)
        else:
            self.emit(f"const i64 {BLOCK} = blockIdx.x;")
            self.emit(f"const i64 {THREAD} = threadIdx.x;")
            for b in self.kernel.buffers:
                if b.scratch and _uses(inner.body, b.name):
                    self.emit(f"__shared__ {CTYPES[b.dtype]} {b.name}[{_const(b.size)}];")
            at = len(self.lines)
            self.stmts(inner.body)
            if self.vectors:  # one uniform test per launch guards every float4 access
                aligned = " && ".join(f"gc_aligned16({b})" for b in self.vectors)
                self.lines.insert(at, "  " * self.depth + f"const bool gc_vec4 = {aligned};")
        return "\n".join([head] + self.lines + ["}\n"]), grid, block

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    # --- statements -------------------------------------------------------------------------
    def stmts(self, stmts) -> None:
        for s in stmts:
            getattr(self, "s_" + type(s).__name__)(s)

    def s_Loop(self, s) -> None:
        if s.kind in ("gpu_block", "gpu_thread"):
            raise ValueError(f"kernel {self.kernel.name}: nested {s.kind} loop {s.var}")
        if s.kind == "vector" and _float4_plan(s) is not None:
            return self.float4(s)
        if s.kind in ("unroll", "vector"):
            self.emit("#pragma unroll")
        self.emit(f"for (i64 {s.var} = {self.expr(s.start)}; {s.var} < {self.expr(s.stop)}; "
                  f"++{s.var}) {{")
        self.depth += 1
        self.stmts(s.body)
        self.depth -= 1
        self.emit("}")

    def float4(self, s) -> None:
        """The vector loop `s` as float4 loads, per-lane arithmetic and a float4 store when
        gc_vec4 holds, else as the plain loop."""
        store, loads = _float4_plan(s)
        for b in [store.buffer] + [e.buffer for e in loads]:
            if b not in self.vectors:
                self.vectors.append(b)
        self.emit("if (gc_vec4) {")
        self.depth += 1
        names = {}
        for e in loads:
            names[e] = f"gc_q{len(names)}"
            self.emit(f"const float4 {names[e]} = gc_load4(&{e.buffer}"
                      f"[{self.expr(_at(e.index, s.var, 0))}]);")
        for lane in range(s.width):
            self.lane = (s.var, lane, names)
            self.emit(f"const float gc_v{lane} = {self.expr(store.value)};")
        self.lane = None
        self.emit(f"gc_store4(&{store.buffer}[{self.expr(_at(store.index, s.var, 0))}], "
                  "make_float4(gc_v0, gc_v1, gc_v2, gc_v3));")
        self.depth -= 1
        self.emit("} else {")
        self.depth += 1
        self.s_Loop(replace(s, kind="unroll"))
        self.depth -= 1
        self.emit("}")

    def s_Store(self, s) -> None:
        if atomic_add(s):  # a scatter-add: threads may add into one element
            t = s.value.dtype
            address = f"&{s.buffer}[{self.expr(s.index)}]"
            value = self.expr(s.value.b)
            if t in K.SMALL_INTS:  # no atomicAdd of 8 or 16 bits: the prelude's CAS loop
                self.emit(f"gc_atomic_add<{CTYPES[t]}>({address}, {value});")
                return
            if t == "i64":  # two's complement: the unsigned add is the signed one
                address, value = f"(unsigned long long*){address}", \
                    f"(unsigned long long)({value})"
            self.emit(f"atomicAdd({address}, {value});")
            return
        self.emit(f"{s.buffer}[{self.expr(s.index)}] = {self.expr(s.value)};")

    def s_Local(self, s) -> None:
        self.emit(f"{CTYPES[s.dtype]} {s.name} = {self.expr(s.init)};")

    def s_Assign(self, s) -> None:
        self.emit(f"{s.name} = {self.expr(s.value)};")

    def s_Check(self, s) -> None:
        self.emit(f"if (!({self.expr(s.cond)})) {{ gc_fail(gc_err, gc_kernel, {s.code}); "
                  "return; }")

    def s_Barrier(self, s) -> None:
        self.emit("__syncthreads();")

    def s_Intrinsic(self, s) -> None:
        if s.prepacked:  # the LLVM GEMM's panel layout (codegen_llvm/prepack.py)
            raise NotImplementedError("cuda: a gemm reading B prepacked for the LLVM GEMM")
        if s.name == "gemm":
            if len(s.args) > 10:  # (compiler/accumulate.py rewrites LLVM plans only)
                raise NotImplementedError("cuda: a gemm accumulating alpha * (A @ B) into C")
            return self.gemm(s)
        op = s.name.removeprefix("block_reduce_")
        self.emit(f"gc_block_reduce<Gc{op.capitalize()}>({s.buffers[0]}, "
                  f"{self.expr(s.args[0])});")

    def gemm(self, s) -> None:
        """gemm(A, B, C; M, N, K, offA, rsA, csA, offB, rsB, csB, offC), see lower._matmul.
        An epilogue (schedule_gpu keeps only straight-line ones) becomes a lambda over the
        row and column of C, which gc_gemm calls after a thread stores that element."""
        a, b, c = s.buffers[:3]
        m, n, k, off_a, rsa, csa, off_b, rsb, csb, off_c = (self.expr(x) for x in s.args)
        t = CTYPES[self.kernel.buffer(c).dtype]
        epilogue = ""
        if s.epilogue:
            rows = s.epilogue[0]
            cols = rows.body[0]
            self.emit(f"auto gc_epilogue = [&](i64 {rows.var}, i64 {cols.var}) {{")
            self.depth += 1
            self.stmts(cols.body)
            self.depth -= 1
            self.emit("};")
            epilogue = ", gc_epilogue"
        if not s.packs:
            self.emit(f"gc_gemm<{t}>({a} + {off_a}, {b} + {off_b}, {c} + {off_c}, {m}, {n}, "
                      f"{k}, {rsa}, {csa}, {rsb}, {csb}{epilogue});")
            return
        # an implicit GEMM: each operand read through a loader, its Pack's value or strides
        pack_a, pack_b = s.packs
        for what, pack, (row, col), (buf, off, rs, cs) in (
                ("a", pack_a, (K.PACK_ROW, "gc_k"), (a, off_a, rsa, csa)),
                ("b", pack_b, ("gc_k", K.PACK_COL), (b, off_b, rsb, csb))):
            self.emit(f"auto gc_load_{what} = [&](i64 {row}, i64 {col}) -> {t} {{")
            self.depth += 1
            if pack is None:
                self.emit(f"return {buf}[{off} + {row} * {rs} + {col} * {cs}];")
            else:
                self.emit(f"const i64 {K.PACK_SEG} = gc_k / {pack.lanes}, "
                          f"{K.PACK_LANE} = gc_k % {pack.lanes};")
                self.emit(f"return {self.expr(pack.value)};")
            self.depth -= 1
            self.emit("};")
        self.emit(f"gc_gemm_by<{t}>(gc_load_a, gc_load_b, {c} + {off_c}, {m}, {n}, {k}"
                  f"{epilogue});")

    # --- expressions ------------------------------------------------------------------------
    def expr(self, e) -> str:
        """C text of `e`, in its dtype's C type."""
        return getattr(self, "e_" + type(e).__name__)(e)

    def arithmetic(self, e) -> str:
        """C text of `e` as a value to compute with (f16 widened to float)."""
        text = self.expr(e)
        return f"__half2float({text})" if e.dtype == "f16" else text

    def e_Const(self, e) -> str:
        return constant(e.value, e.dtype)

    def e_Var(self, e) -> str:
        if self.lane is not None and e.name == self.lane[0]:
            return str(self.lane[1])
        return e.name

    def e_Ref(self, e) -> str:
        return e.name

    def e_Load(self, e) -> str:
        if self.lane is not None and e in self.lane[2]:
            return f"{self.lane[2][e]}.{'xyzw'[self.lane[1]]}"
        return f"{e.buffer}[{self.expr(e.index)}]"

    def e_Select(self, e) -> str:
        text = f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"
        # an int literal arm would make an 8- or 16-bit select an int: keep its C type
        return f"(({CTYPES[e.dtype]}){text})" if e.dtype in K.SMALL_INTS else text

    def e_Unary(self, e) -> str:
        if e.op == "bitcast":  # the stored bits (a half's too, not widened)
            return f"gc_bitcast<{CTYPES[e.dtype]}, {CTYPES[e.a.dtype]}>({self.expr(e.a)})"
        a = self.arithmetic(e.a)
        text = f"({PREFIX[e.op]}{a})" if e.op in PREFIX else f"{_helper(e.op, e.a.dtype)}({a})"
        return _narrow(text, e.dtype)

    def e_Binary(self, e) -> str:
        a, b = self.arithmetic(e.a), self.arithmetic(e.b)
        if e.op == "mul" and e.dtype == "u16":  # in int, 65535 * 65535 would overflow
            a = f"((unsigned){a})"
        text = f"({a} {INFIX[e.op]} {b})" if e.op in INFIX else \
            f"{_helper(e.op, e.a.dtype)}({a}, {b})"
        return _narrow(text, e.dtype)

    def e_Cast(self, e) -> str:
        return cast(self.arithmetic(e.a), "f32" if e.a.dtype == "f16" else e.a.dtype, e.dtype)


def _helper(op: str, dtype: str) -> str:
    """The prelude's helper for `op`: float overloads, or the integer template made explicit
    (so that an i64 index and an int literal meet in one type)."""
    return f"gc_{op}" if dtype.startswith("f") else f"gc_{op}<{CTYPES[dtype]}>"


def _narrow(text: str, dtype: str) -> str:
    """A computed value back in its dtype: f16 rounded once; C computes 8- and 16-bit
    integers in int, so their results wrap here, before any further use reads them."""
    if dtype == "f16":
        return f"__float2half({text})"
    return f"(({CTYPES[dtype]}){text})" if dtype in K.SMALL_INTS else text


def cast(text: str, src: str, dst: str) -> str:
    """C text converting `text` (of dtype src, never f16) to dst."""
    if src == dst:
        return text
    if dst == "f16":
        return f"__float2half({cast(text, src, 'f32')})"
    if dst == "bool":
        return f"({text} != 0)"
    if src.startswith("f") and not dst.startswith("f"):
        return f"gc_f2i<{CTYPES[dst]}, {CTYPES[src]}>({text})"
    return f"(({CTYPES[dst]})({text}))"


def constant(value, dtype: str) -> str:
    """A C literal of `value` as dtype (floats rounded to f32 as the LLVM target does)."""
    if dtype == "bool":
        return "true" if value else "false"
    if dtype.startswith("f"):
        v = float(value)
        bits = "F32" if dtype in ("f16", "f32") else "F64"
        if math.isnan(v):
            text = f"GC_NAN_{bits}"
        elif math.isinf(v):
            text = f"({'-' if v < 0 else ''}GC_INF_{bits})"
        elif bits == "F32":
            f = float(np.float32(v))
            text = (repr(f) if float(repr(f)) == f and "e" not in repr(f) else f.hex()) + "f"
        else:
            text = repr(v)
        return f"__float2half({text})" if dtype == "f16" else text
    v = int(value)
    if dtype in K.SMALL_INTS:  # in range (wrapped as the dtype holds it), an int literal
        bits = 8 if dtype in ("i8", "u8") else 16
        v &= (1 << bits) - 1
        return str(v - (1 << bits) if dtype.startswith("i") and v >> (bits - 1) else v)
    bits = 32 if dtype == "i32" else 64
    if v == -(1 << (bits - 1)):
        return f"({v + 1}{'LL' if bits == 64 else ''} - 1)"
    return f"{v}LL" if bits == 64 and abs(v) >= 1 << 31 else str(v)


def _const(e) -> int:
    if not isinstance(e, K.Const):
        raise ValueError(f"launch dimension {e!r} is not a constant")
    return int(e.value)


def _uses(stmts, name: str) -> bool:
    for s in stmts:
        if isinstance(s, K.Intrinsic) and name in s.buffers:
            return True
        if isinstance(s, K.Store) and s.buffer == name:
            return True
        if isinstance(s, K.Loop) and _uses(s.body, name):
            return True
        if any(_loads(e, name) for e in K.stmt_exprs(s)):
            return True
    return False


def _loads(e, name: str) -> bool:
    return (isinstance(e, K.Load) and e.buffer == name) or \
        any(_loads(c, name) for c in K.expr_children(e))


# --- float4 -------------------------------------------------------------------------------
def _float4_plan(s: K.Loop):
    """(store, loads read as float4) of a vector loop that float4 accesses compute exactly,
    or None: 4 lanes from 0, one f32 Store, the store and every load that varies with the
    lane f32, of unit stride in it and starting at a multiple of 4 elements (so 16-byte
    aligned on an aligned pointer, and never across the end of the row it belongs to)."""
    if s.width != 4 or s.start != K.Const(0) or s.stop != K.Const(4) or len(s.body) != 1:
        return None
    store = s.body[0]
    if not isinstance(store, K.Store) or store.value.dtype != "f32" or atomic_add(store):
        return None
    loads = []
    for e in [store] + _all_loads(store.value):
        if isinstance(e, K.Load) and (e in loads or not _mentions(e, s.var)):
            continue
        dtype = e.value.dtype if isinstance(e, K.Store) else e.dtype
        if dtype != "f32" or _stride(e.index, s.var) != 1 or \
                not _multiple(_at(e.index, s.var, 0), 4):
            return None
        if isinstance(e, K.Load):
            loads.append(e)
    return store, loads


def _all_loads(e) -> list:
    return ([e] if isinstance(e, K.Load) else []) + \
        [x for c in K.expr_children(e) for x in _all_loads(c)]


def _mentions(e, var: str) -> bool:
    return e == K.Var(var) or any(_mentions(c, var) for c in K.expr_children(e))


def _stride(e, var: str):
    """The coefficient of `var` in index `e` when `e` is linear in it, else None."""
    if not _mentions(e, var):
        return 0
    if e == K.Var(var):
        return 1
    if isinstance(e, K.Binary) and e.op in ("add", "mul"):
        a, b = _stride(e.a, var), _stride(e.b, var)
        if a is None or b is None:
            return None
        if e.op == "add":
            return a + b
        for x, k in ((e.a, b), (e.b, a)):
            if isinstance(x, K.Const):
                return int(x.value) * k
    return None


def _multiple(e, n: int) -> bool:
    """Index `e` is a multiple of n for every value of its variables (a proof, or False)."""
    if isinstance(e, K.Const):
        return int(e.value) % n == 0
    if isinstance(e, K.Binary) and e.op == "add":
        return _multiple(e.a, n) and _multiple(e.b, n)
    if isinstance(e, K.Binary) and e.op == "mul":
        return _multiple(e.a, n) or _multiple(e.b, n)
    if isinstance(e, K.Binary) and e.op == "mod":  # a - floor(a / b) * b
        return _multiple(e.a, n) and _multiple(e.b, n)
    return False


def _at(e, var: str, value: int):
    """Index `e` with `var` = value (sums and products folded)."""
    if not _mentions(e, var):
        return e
    if e == K.Var(var):
        return K.Const(value)
    a, b = _at(e.a, var, value), _at(e.b, var, value)
    if e.op in ("add", "mul"):
        return K.add(a, b) if e.op == "add" else K.mul(a, b)
    return K.Binary(e.op, a, b, e.dtype)
