"""render: L2 kernels -> one LLVM module (llvmlite.ir) with one entry function.

    i32 graphc_run(ptr table)

`table` holds one pointer per plan buffer slot; each kernel is a function taking its buffers
as noalias pointers and returning 0 or 1 + the code of the Check that failed; the entry calls
them in order and returns 0, or (kernel index << 16) | (1 + code) at the first failure.
Scalar code only: loops are plain counted loops that LLVM's loop vectorizer widens at O3,
at the width a "vector" loop asks for (loop metadata); transcendentals are inlined from
vecmath so they vectorize too.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen_llvm.gemm import vector_width
from graphc.codegen_llvm.irutil import counted_loop
from graphc.codegen_llvm.vecmath import math_function
from graphc.compiler.plan import Branch, Loop
from graphc.ir import kernel as K
from graphc.passes.gpu_loops import linear_form, loads

I1, I8, I16 = ir.IntType(1), ir.IntType(8), ir.IntType(16)
I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
# u8 and u16 are LLVM's i8 and i16: signedness lives in the instructions (udiv, icmp ult,
# zext, uitofp), chosen by is_unsigned
TYPES = {"f16": ir.HalfType(), "f32": ir.FloatType(), "f64": ir.DoubleType(), "i8": I8,
         "u8": I8, "i16": I16, "u16": I16, "i32": I32, "i64": I64, "bool": I1}
STORAGE = {**TYPES, "bool": I8}  # bools live in memory as bytes, as numpy keeps them
STORAGE_BYTES = {t: max(K.WIDTH[t] // 8, 1) for t in STORAGE}
_FCMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_VECMATH = ("exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "erf")


def is_float(t: str) -> bool:
    return t.startswith("f")


def is_unsigned(t: str) -> bool:
    return t.startswith("u")


def _icmp(b: ir.IRBuilder, t: str, op: str, x, y):
    """An integer comparison (op as "<", ...) with t's signedness."""
    return (b.icmp_unsigned if is_unsigned(t) else b.icmp_signed)(op, x, y)


class KernelRenderer:
    """Emits one kernel function."""

    def __init__(self, module: ir.Module, kernel: K.Kernel, index: int, intrinsics,
                 threads: int = 1, linkage: str = "internal", scalef: bool = False,
                 fast_math: bool = False):
        self.module, self.kernel, self.intrinsics = module, kernel, intrinsics
        self.threads = threads
        self.scalef = scalef  # the target has AVX-512F: vecmath's ldexp is vscalef
        self.fast_math = fast_math  # Options.fast_math: float32 tanh is vecmath's tanh_fast
        params = kernel.params
        fnty = ir.FunctionType(I32, [PTR] * len(params))
        self.fn = ir.Function(module, fnty, name=f"kernel{index}_{kernel.name}")
        self.fn.linkage = linkage
        # optimized on its own, as it is when a plan is compiled in parts (render_modules),
        # so a plan's code does not depend on whether it was split (graphc_run only calls)
        self.fn.attributes.add("noinline")
        for arg, b in zip(self.fn.args, params):
            arg.name = b.name
            arg.add_attribute("noalias")
        self.buffers = {b.name: arg for b, arg in zip(params, self.fn.args)}
        self.builder = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.vars: dict = {}
        self.locals: dict = {}
        self.outlined = 0
        self.reassoc = False  # set while rendering a reduction's accumulator update
        self.nan_tracked: set = set()  # float max/min accumulators with a NaN flag (s_Assign)
        # vector loops over large buffers prefetch them (_streams); not a gemm's callbacks
        self.prefetch = True
        # within one statement: expression key -> its value, and exact_key's memo
        self.values: dict = {}
        self.keys: dict = {}

    def outline(self, suffix: str, fnty=None, arguments=("begin", "end"), ctx=None):
        """A function of type `fnty` (default `void (ptr ctx, i64 begin, i64 end)`, for
        graphc_parallel_for) whose first argument, ctx, passes it this kernel's buffers,
        the loop variables in scope and the scalar locals declared so far (an array of
        pointers, then integers, then the locals' slots, which the body reads: a row's
        norm computed before a parallel loop over the row); its other
        arguments are bound to the names `arguments`. Returns (function, renderer positioned
        in its body with those names bound, ctx pointer in the kernel). A `ctx` that an
        earlier outline made here, with the same names in scope, is reused: not filled again.

        The function only unpacks ctx and calls an always-inlined body that takes the
        buffers as noalias parameters, as the kernel itself does: pointers loaded from
        memory carry no aliasing facts, and without them LLVM keeps loop-invariant loads
        (a broadcast scalar operand) and everything computed from them inside the loop,
        where LLVM 20's loop vectorizer checks a deep invariant expression for uniformity
        in time exponential in its depth (a fused epilogue of nested exp/log hung -O3)."""
        names, variables, scalars = list(self.buffers), list(self.vars), list(self.locals)
        count = len(names) + len(variables)
        b = self.builder
        if ctx is None:
            with b.goto_entry_block():
                ctx = b.alloca(PTR, size=ir.Constant(I32, max(count + len(scalars), 1)),
                               name=f"ctx.{suffix}")
            for j, name in enumerate(names):
                b.store(self.buffers[name],
                        b.gep(ctx, [ir.Constant(I64, j)], source_etype=PTR))
            for j, name in enumerate(variables, len(names)):
                b.store(b.inttoptr(self.vars[name], PTR),
                        b.gep(ctx, [ir.Constant(I64, j)], source_etype=PTR))
            for j, name in enumerate(scalars, count):
                b.store(self.locals[name], b.gep(ctx, [ir.Constant(I64, j)], source_etype=PTR))
        fnty = fnty or ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
        fn = ir.Function(self.module, fnty, name=f"{self.fn.name}.{suffix}")
        fn.linkage = "internal"
        extra = list(fnty.args[1:])
        assert len(extra) == len(arguments), (suffix, arguments)
        body = ir.Function(self.module, ir.FunctionType(
            ir.VoidType(), [PTR] * len(names) + [I64] * len(variables) + [PTR] * len(scalars)
            + extra), name=f"{fn.name}.body")
        body.linkage = "internal"
        body.attributes.add("alwaysinline")
        for arg in body.args[:len(names)]:
            arg.add_attribute("noalias")

        wb = ir.IRBuilder(fn.append_basic_block("entry"))

        def slot(j):
            return wb.load(wb.gep(fn.args[0], [ir.Constant(I64, j)], source_etype=PTR), typ=PTR)
        wb.call(body, [slot(j) for j in range(len(names))]
                + [wb.ptrtoint(slot(j), I64) for j in range(len(names), count)]
                + [slot(j) for j in range(count, count + len(scalars))]
                + list(fn.args[1:]))
        wb.ret_void()

        inner = object.__new__(KernelRenderer)
        inner.module, inner.kernel, inner.intrinsics = self.module, self.kernel, self.intrinsics
        inner.threads, inner.fn, inner.outlined = 1, body, 0
        inner.scalef, inner.fast_math, inner.prefetch = self.scalef, self.fast_math, \
            self.prefetch
        inner.builder = ir.IRBuilder(body.append_basic_block("entry"))
        inner.reassoc, inner.values, inner.keys = False, {}, {}
        inner.nan_tracked = set(self.nan_tracked)
        inner.buffers = dict(zip(names, body.args[:len(names)]))
        inner.vars = dict(zip(variables, body.args[len(names):count]))
        inner.locals = dict(zip(scalars, body.args[count:count + len(scalars)]))
        inner.vars.update(zip(arguments, body.args[count + len(scalars):]))
        return fn, inner, ctx

    def parallel_for(self, fn, ctx, n, threads: int) -> None:
        runtime = self.module.globals.get("graphc_parallel_for")
        if runtime is None:
            runtime = ir.Function(self.module, ir.FunctionType(
                ir.VoidType(), [PTR, PTR, I64, I32]), name="graphc_parallel_for")
        self.builder.call(runtime, [fn, ctx, n, ir.Constant(I32, threads)])

    def render(self) -> ir.Function:
        self.stmts(self.kernel.body)
        self.builder.ret(ir.Constant(I32, 0))
        return self.fn

    # --- statements -------------------------------------------------------------------------
    def stmts(self, stmts):
        for s in stmts:
            self.values, self.keys = {}, {}
            getattr(self, "s_" + type(s).__name__)(s)

    def s_Store(self, s):
        t = self.kernel.buffer(s.buffer).dtype
        value = self.expr(s.value)
        if t == "bool":
            value = self.builder.zext(value, I8)
        self.builder.store(value, self.address(s.buffer, s.index, t))

    def s_Local(self, s):
        with self.builder.goto_entry_block():
            slot = self.builder.alloca(TYPES[s.dtype], name=s.name)
            flag = self.builder.alloca(I1, name=f"{s.name}.nan") if is_float(s.dtype) \
                else None
        self.locals[s.name] = slot
        self.builder.store(self.expr(s.init), slot)
        self.nan_tracked.discard(s.name)  # a new local: tracked from its first max/min update
        self.locals.pop(f"{s.name}.nan", None)
        if flag is not None:  # (unused, and removed by LLVM, unless s_Assign needs it)
            self.locals[f"{s.name}.nan"] = flag
            self.builder.store(ir.Constant(I1, 0), flag)

    def s_Assign(self, s):
        # acc = acc (+ * max min) v is a reduction: let LLVM reassociate it, which is what
        # lets the loop vectorizer split it into lanes (a different, not worse, summation
        # order than numpy's pairwise one)
        v = s.value
        self.reassoc = isinstance(v, K.Binary) and v.op in ("add", "mul", "max", "min") \
            and v.a == K.Ref(s.name, v.dtype) and is_float(v.dtype)
        try:
            if self.reassoc and v.op in ("max", "min") and f"{s.name}.nan" in self.locals:
                self._extremum_update(s.name, v)
                return
            self.builder.store(self.expr(s.value), self.locals[s.name])
        finally:
            self.reassoc = False

    def _extremum_update(self, name: str, v) -> None:
        """acc = max(acc, x) (or min) of a float reduction, NaN-propagating as numpy is, in
        two parts LLVM vectorizes to two instructions a vector: acc = maxnum(acc, x) with no
        NaN to care about, and a flag that some x was NaN; reads of acc after the update
        give NaN where the flag is set (e_Ref). With nnan, acc may be poison once some x
        was NaN; the flag is then set, so reads never see it. (llvm.maximum, NaN-propagating
        in one intrinsic, takes six instructions a vector on x86: about 1 ms of W2's 18.)"""
        b, ty = self.builder, TYPES[v.dtype]
        x = self.expr(v.b)
        old = b.load(self.locals[name], typ=ty)
        new = self.intrinsic(f"llvm.{v.op}num", ty, old, x,
                             fastmath=("reassoc", "nnan", "nsz"))
        b.store(new, self.locals[name])
        flag = self.locals[f"{name}.nan"]
        b.store(b.or_(b.load(flag, typ=I1), b.fcmp_unordered("uno", x, x)), flag)
        self.nan_tracked.add(name)

    def s_Loop(self, s):
        if s.kind == "parallel" and self.threads > 1:
            return self.s_parallel_loop(s)
        loop_id = None
        if s.kind in ("vector", "unroll"):
            interleave = INTERLEAVE if s.kind == "vector" and _calls_vecmath(s.body) else 0
            strips = _strip_sums(s.body) if interleave and self.prefetch else None
            if strips is not None and strips[1] and not self.scalef:
                interleave = 1  # (SUM_INTERLEAVE_256)
            loop_id = loop_hints(self.module, s.kind, s.width, interleave)
            streams = self._streams(s) if strips is not None else []
            if streams:
                return self._prefetching_loop(s, loop_id, streams, *strips,
                                              interleave=interleave)
        elif _has_loop(s.body) and not _short(s):
            # an outer loop of many iterations is not unrolled: O3 unrolled W9's 32 x 1024
            # fill of a broadcast value (its vector loop inside) into straight-line code,
            # 1.9 s to compile. Short ones (a convolution's window) are: W5 took 1.8x as
            # long with its window loops kept rolled
            loop_id = loop_hints(self.module, "no_unroll", 0)
        with counted_loop(self.builder, self.expr(s.start), self.expr(s.stop), s.var,
                          loop_id=loop_id) as i:
            self.vars[s.var] = i
            self.stmts(s.body)
        del self.vars[s.var]

    def _streams(self, s) -> list:
        """(buffer, index, write) of the unit-stride loads and stores of vector loop `s` over
        buffers of at least PREFETCH_MIN_BYTES (ones that stream from memory); an element
        both loaded and stored is a write."""
        found: dict = {}
        for st in s.body:
            accesses = [(e.buffer, e.index, False) for x in K.stmt_exprs(st) for e in loads(x)]
            if isinstance(st, K.Store):
                accesses.append((st.buffer, st.index, True))
            for name, index, write in accesses:
                buffer = self.kernel.buffer(name)
                form = linear_form(index)
                if form is not None and form.get(s.var) == 1 and \
                        isinstance(buffer.size, K.Const) and \
                        buffer.size.value * STORAGE_BYTES[buffer.dtype] >= PREFETCH_MIN_BYTES:
                    found[name, index] = found.get((name, index), False) or write
        return [(name, index, write) for (name, index), write in found.items()]

    def _prefetching_loop(self, s, loop_id, streams, body, totals, interleave: int) -> None:
        """Vector loop `s` cut into strips of PREFETCH_STRIP bytes of its widest stream, each
        strip first prefetching its streams' lines PREFETCH_AHEAD bytes ahead (for writing
        where it stores) and running `body` (with `totals`: _strip_sums of s.body), then the
        rest after the last whole strip. A loop whose arithmetic
        is long (a transcendental) otherwise leaves memory idle while it computes: the
        hardware prefetcher alone did not keep up with a row-broadcast operand beside the
        stream (W1), nor with the next row of a row kernel (W2). (LLVM's vectorizer gives
        up on a loop holding a prefetch, hence the strips.)"""
        b = self.builder
        widest = max(STORAGE_BYTES[self.kernel.buffer(name).dtype] for name, _, _ in streams)
        strip = max(PREFETCH_STRIP // widest, 1)
        start, stop = self.expr(s.start), self.expr(s.stop)
        whole = b.add(start, b.mul(b.sdiv(b.sub(stop, start), ir.Constant(I64, strip)),
                                   ir.Constant(I64, strip)))
        fn = self.module.declare_intrinsic("llvm.prefetch", [PTR], ir.FunctionType(
            ir.VoidType(), [PTR, I32, I32, I32]))
        with counted_loop(b, start, whole, f"{s.var}.strip", step=strip,
                          loop_id=loop_hints(self.module, "no_unroll", 0)) as first:
            for name, index, write in streams:
                dtype = self.kernel.buffer(name).dtype
                self.values, self.keys = {}, {}
                self.vars[s.var] = b.add(first, ir.Constant(
                    I64, PREFETCH_AHEAD // STORAGE_BYTES[dtype]))
                ahead = b.gep(self.buffers[name], [self.expr(index)], source_etype=STORAGE[dtype])
                for line in range(0, strip * STORAGE_BYTES[dtype], 64):
                    b.call(fn, [b.gep(ahead, [ir.Constant(I64, line)], source_etype=I8),
                                ir.Constant(I32, int(write)), ir.Constant(I32, 3),
                                ir.Constant(I32, 1)])
            # a sum starts afresh in each strip: a vector reduction begun from the running
            # sum would wait for the last strip's horizontal add (row sums took 3x as long)
            self.stmts([K.Local(f"{name}.strip", dtype, K.Const(0 if dtype in K.INTS else
                                                                    -0.0, dtype))
                        for name, dtype in totals])
            with counted_loop(b, first, b.add(first, ir.Constant(I64, strip)), s.var,
                              loop_id=loop_id) as i:
                self.vars[s.var] = i
                self.stmts(body)
            self.stmts([K.Assign(name, K.Binary("add", K.Ref(name, dtype),
                                                K.Ref(f"{name}.strip", dtype), dtype))
                        for name, dtype in totals])
        with counted_loop(b, whole, stop, s.var, loop_id=loop_hints(
                self.module, s.kind, s.width, interleave)) as i:
            self.vars[s.var] = i
            self.stmts(s.body)
        del self.vars[s.var]

    def s_parallel_loop(self, s):
        """Outline the loop body over [begin, end) and let the thread pool run the chunks."""
        self.outlined += 1
        fn, inner, ctx = self.outline(f"par{self.outlined}")
        inner.s_Loop(K.Loop(s.var, K.Var("begin"), K.Var("end"), s.body, "serial"))
        inner.builder.ret_void()
        self.parallel_for(fn, ctx, self.expr(s.stop), self.threads)

    def s_Check(self, s):
        b = self.builder
        ok = b.append_basic_block("check.ok")
        fail = b.append_basic_block("check.fail")
        b.cbranch(self.expr(s.cond), ok, fail)
        b.position_at_end(fail)
        b.ret(ir.Constant(I32, s.code + 1))
        b.position_at_end(ok)

    def s_Barrier(self, s):
        pass  # one CPU thread runs a kernel's loop body in order

    def s_Intrinsic(self, s):
        self.intrinsics[s.name](self, s)

    # --- expressions ------------------------------------------------------------------------
    def address(self, buffer, index, t):
        return self.builder.gep(self.buffers[buffer], [self.expr(index)], inbounds=True,
                                source_etype=STORAGE[t])

    def expr(self, e):
        """e's value, each distinct subexpression of a statement emitted once: fusion writes
        a value read twice out twice (kernel expressions are trees), and LLVM would inline
        each copy's exp or sin before its GVN merged them again. A statement's expressions
        are straight-line code between no stores, so an earlier equal value is the same."""
        key = K.exact_key(e, self.keys)  # 0.0 and -0.0 apart
        value = self.values.get(key)
        if value is None:
            value = self.values[key] = getattr(self, "e_" + type(e).__name__)(e)
        return value

    def e_Const(self, e):
        if e.dtype == "bool":
            return ir.Constant(I1, int(bool(e.value)))
        return ir.Constant(TYPES[e.dtype], float(e.value) if is_float(e.dtype) else int(e.value))

    def e_Var(self, e):
        return self.vars[e.name]

    def e_Ref(self, e):
        value = self.builder.load(self.locals[e.name], typ=TYPES[e.dtype])
        if e.name in self.nan_tracked:  # a max/min accumulator: NaN if some input was
            b = self.builder
            flag = b.load(self.locals[f"{e.name}.nan"], typ=I1)
            value = b.select(flag, ir.Constant(TYPES[e.dtype], float("nan")), value)
        return value

    def e_Load(self, e):
        value = self.builder.load(self.address(e.buffer, e.index, e.dtype),
                                  typ=STORAGE[e.dtype])
        return self.builder.trunc(value, I1) if e.dtype == "bool" else value

    def e_Select(self, e):
        return self.builder.select(self.expr(e.cond), self.expr(e.a), self.expr(e.b))

    def e_Cast(self, e):
        return cast(self.builder, self.expr(e.a), e.a.dtype, e.dtype)

    def e_Unary(self, e):
        if e.op == "bitcast":  # i8 <-> u8 and i16 <-> u16 are one LLVM type
            v = self.expr(e.a)
            return v if TYPES[e.dtype] == TYPES[e.a.dtype] else \
                self.builder.bitcast(v, TYPES[e.dtype])
        return unary(self, e.op, self.expr(e.a), e.a.dtype)

    def e_Binary(self, e):
        return binary(self, e.op, self.expr(e.a), self.expr(e.b), e.a.dtype)

    def intrinsic(self, name, ty, *args, fastmath=()):
        """Call the overloaded intrinsic `name` on operands (and result) of type ty."""
        fnty = ir.FunctionType(ty, [ty] * len(args))
        fn = self.module.declare_intrinsic(name, [ty], fnty)
        return self.builder.call(fn, list(args), fastmath=fastmath)


def host_vector_bits() -> int:
    """The widest vector registers of this CPU (what "vector" loops are scheduled for)."""
    from llvmlite import binding as llvm
    features = llvm.get_host_cpu_features()
    return 512 if features.get("avx512f") else 256 if features.get("avx2") else 128


# Vector loops whose body evaluates a transcendental run two vector iterations side by side:
# the polynomial chains are long and dependent, so one at a time leaves FMA units idle. W1's
# GELU on one thread: 18.7 ms with one, 16.8 with two, 18-22 with four or eight (spills).
INTERLEAVE = 2
# SUM_INTERLEAVE_256: but one at a time where such a loop also sums (softmax's exp and row sum)
# and the target has 16 vector registers (no AVX-512): two vector iterations, their sums and
# exp's constants spilled. W2 on a Zen 3 (AVX2), one thread, A/B in one process: 4-5% faster.
# Such loops over a buffer of at least PREFETCH_MIN_BYTES (more than a core's L2 holds)
# prefetch it PREFETCH_AHEAD bytes ahead, a strip of PREFETCH_STRIP bytes at a time
PREFETCH_MIN_BYTES = 1 << 21
PREFETCH_AHEAD = 16384
PREFETCH_STRIP = 256


def _calls_vecmath(stmts) -> bool:
    def expr(e):
        return (isinstance(e, K.Unary) and e.op in _VECMATH) or \
            (isinstance(e, K.Binary) and e.op in ("pow", "atan2")) or \
            any(expr(c) for c in K.expr_children(e))
    return any(expr(e) for st in stmts for e in K.stmt_exprs(st))


def _strip_sums(body) -> tuple | None:
    """(body, [(name, dtype)]): a vector loop's body with each sum it accumulates
    (`acc = acc + v`, v not reading acc) into `acc.strip` instead, for _prefetching_loop;
    None when the body keeps another running value (a max, a product, a local it reads)."""
    inner = {st.name for st in body if isinstance(st, K.Local)}  # an iteration's own values
    sums = {st.name: st.value.dtype for st in body if isinstance(st, K.Assign) and
            st.name not in inner and isinstance(st.value, K.Binary) and
            st.value.op == "add" and st.value.a == K.Ref(st.name, st.value.dtype)}
    out = []
    for st in body:
        if isinstance(st, K.Assign) and st.name not in sums and st.name not in inner:
            return None
        if isinstance(st, K.Loop):
            return None
        summed = isinstance(st, K.Assign) and st.name in sums
        exprs = (st.value.b,) if summed else K.stmt_exprs(st)
        if any(_reads_local(e, name) for e in exprs for name in sums):
            return None
        if summed:
            dtype = sums[st.name]
            st = K.Assign(f"{st.name}.strip", K.Binary(
                "add", K.Ref(f"{st.name}.strip", dtype), st.value.b, dtype))
        out.append(st)
    return tuple(out), list(sums.items())


def _reads_local(e, name: str) -> bool:
    return (isinstance(e, K.Ref) and e.name == name) or \
        any(_reads_local(c, name) for c in K.expr_children(e))


def _short(loop) -> bool:
    """A loop of a known trip count of at most SHORT_LOOP."""
    return isinstance(loop.start, K.Const) and isinstance(loop.stop, K.Const) and \
        loop.stop.value - loop.start.value <= SHORT_LOOP


SHORT_LOOP = 16


def _has_loop(stmts) -> bool:
    return any(isinstance(s, K.Loop) or _has_loop(K.substatements(s)) for s in stmts)


def loop_hints(module: ir.Module, kind: str, width: int, interleave: int = 0):
    """Loop metadata telling LLVM a schedule's choice: vectorize at `width` lanes (its
    vectorizer adds the remainder loop) and interleave that many vector iterations when
    `interleave` is given, unroll by `width`, or ("no_unroll") do not unroll. Each loop
    gets its own self-referencing node, as LLVM requires of loop IDs."""
    if kind == "vector":
        hints = [("llvm.loop.vectorize.enable", ir.Constant(I1, 1)),
                 ("llvm.loop.vectorize.width", ir.Constant(I32, width))]
        if interleave:
            hints.append(("llvm.loop.interleave.count", ir.Constant(I32, interleave)))
    elif kind == "no_unroll":
        hints = [("llvm.loop.unroll.disable", None)]  # a hint without a value
    else:
        hints = [("llvm.loop.unroll.count", ir.Constant(I32, width))]
    nodes = [module.add_metadata([ir.MetaDataString(module, k)] + ([] if v is None else [v]))
             for k, v in hints]
    loop_id = ir.MDValue(module, [], name=str(len(module.metadata)))  # never shared
    loop_id.operands = (loop_id, *nodes)
    return loop_id


def cast(b: ir.IRBuilder, v, src: str, dst: str):
    if src == dst:
        return v
    st, dt_ = TYPES[src], TYPES[dst]
    if dst == "bool":
        return b.fcmp_unordered("!=", v, ir.Constant(st, 0.0)) if is_float(src) else \
            b.icmp_signed("!=", v, ir.Constant(st, 0))
    if src == "bool":
        return b.uitofp(v, dt_) if is_float(dst) else b.zext(v, dt_)
    if is_float(src) and is_float(dst):
        return b.fpext(v, dt_) if dt_.intrinsic_name > st.intrinsic_name and \
            _width(dst) > _width(src) else b.fptrunc(v, dt_)
    if is_float(src) and src != "f16" and _width(dst) <= 16:
        return _narrow_saturating(b, v, st, dst)
    if is_float(src):  # saturating: defined for nan and out-of-range values
        name = "llvm.fptoui.sat" if is_unsigned(dst) else "llvm.fptosi.sat"
        fn = b.module.declare_intrinsic(name, [dt_, st], ir.FunctionType(dt_, [st]))
        return b.call(fn, [v])
    if is_float(dst):
        return b.uitofp(v, dt_) if is_unsigned(src) else b.sitofp(v, dt_)
    if _width(dst) == _width(src):  # i8 <-> u8, i16 <-> u16: the same bits
        return v
    if _width(dst) < _width(src):  # wraps around, as numpy's astype
        return b.trunc(v, dt_)
    return b.zext(v, dt_) if is_unsigned(src) else b.sext(v, dt_)


_NARROW_RANGE = {"i8": (-128, 127), "u8": (0, 255), "i16": (-32768, 32767), "u16": (0, 65535)}


def _narrow_saturating(b: ir.IRBuilder, v, st, dst: str):
    """llvm.fpto[su]i.sat to 8 and 16 bits as x86 vectorizes it (the intrinsic itself is
    scalarized there, 4x slower a uint8 image): clamp in float (nan -> the low end, then 0
    for signed types), convert to i32 (in range now) and truncate. The same values."""
    low, high = (ir.Constant(st, float(e)) for e in _NARROW_RANGE[dst])
    x = b.select(b.fcmp_ordered(">", v, low), v, low)
    x = b.select(b.fcmp_ordered("<", x, high), x, high)
    if not is_unsigned(dst):
        x = b.select(b.fcmp_ordered("ord", v, v), x, ir.Constant(st, 0.0))
    return b.trunc(b.fptosi(x, ir.IntType(32)), TYPES[dst])


def _width(t: str) -> int:
    return K.WIDTH[t]


def _vecmath(r: KernelRenderer, name: str, t: str, *args):
    """Call the inlinable approximation; half precision computes in float and rounds once."""
    b = r.builder
    if t == "f16":
        wide = [b.fpext(a, TYPES["f32"]) for a in args]
        fn = math_function(r.module, name, TYPES["f32"], r.scalef)
        return b.fptrunc(b.call(fn, wide), TYPES["f16"])
    return b.call(math_function(r.module, name, TYPES[t], r.scalef), list(args))


def unary(r: KernelRenderer, op: str, v, t: str):
    b, ty = r.builder, TYPES[t]
    if op in _VECMATH:
        return _vecmath(r, "tanh_fast" if op == "tanh" and r.fast_math else op, t, v)
    if op == "neg":
        return b.fneg(v) if is_float(t) else b.sub(ir.Constant(ty, 0), v)
    if op == "not":
        return b.xor(v, ir.Constant(I1, 1))
    if op == "bit_not":
        return b.xor(v, ir.Constant(ty, -1))
    if is_float(t):
        if op in ("abs", "sqrt", "floor", "ceil"):
            return r.intrinsic({"abs": "llvm.fabs"}.get(op, f"llvm.{op}"), ty, v)
        if op == "round":
            return r.intrinsic("llvm.roundeven", ty, v)
        if op == "sign":  # -1, 0 or 1; nan and signed zeros pass through
            one = ir.Constant(ty, 1.0)
            pos = b.select(b.fcmp_ordered(">", v, ir.Constant(ty, 0.0)), one, v)
            return b.select(b.fcmp_ordered("<", v, ir.Constant(ty, 0.0)),
                            ir.Constant(ty, -1.0), pos)
        if op == "is_nan":
            return b.fcmp_unordered("uno", v, v)
        magnitude = r.intrinsic("llvm.fabs", ty, v)
        inf = ir.Constant(ty, float("inf"))
        if op == "is_inf":
            return b.fcmp_ordered("==", magnitude, inf)
        if op == "is_finite":
            return b.fcmp_ordered("<", magnitude, inf)
    elif is_unsigned(t):
        if op == "abs":
            return v
        if op == "sign":
            return b.zext(b.icmp_unsigned("!=", v, ir.Constant(ty, 0)), ty)
        if op == "round":
            return v
    else:
        if op == "abs":
            return b.select(b.icmp_signed("<", v, ir.Constant(ty, 0)),
                            b.sub(ir.Constant(ty, 0), v), v)
        if op == "sign":
            pos = b.zext(b.icmp_signed(">", v, ir.Constant(ty, 0)), ty)
            neg = b.zext(b.icmp_signed("<", v, ir.Constant(ty, 0)), ty)
            return b.sub(pos, neg)
        if op == "round":
            return v
    raise NotImplementedError(f"unary {op} on {t}")


def binary(r: KernelRenderer, op: str, x, y, t: str):
    b, ty = r.builder, TYPES[t]
    if op in _FCMP:
        if not is_float(t):
            return _icmp(b, t, _FCMP[op], x, y)
        # numpy: every comparison with nan is false except !=
        return b.fcmp_unordered("!=", x, y) if op == "ne" else b.fcmp_ordered(_FCMP[op], x, y)
    if t == "bool":
        return {"and": b.and_, "or": b.or_, "xor": b.xor}[op](x, y)
    if is_float(t):
        if op in ("add", "sub", "mul", "div"):
            flags = ("reassoc",) if r.reassoc and op in ("add", "mul") else ()
            return {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}[op](
                x, y, flags=flags)
        if op in ("max", "min"):  # nan-propagating, as numpy.maximum/minimum
            return r.intrinsic(f"llvm.{op}imum", ty, x, y,
                               fastmath=("reassoc",) if r.reassoc else ())
        if op in ("pow", "atan2"):
            return _vecmath(r, op, t, x, y)
        if op == "floordiv":
            return r.intrinsic("llvm.floor", ty, b.fdiv(x, y))
        if op == "mod":  # x - floor(x / y) * y, numpy's sign-of-divisor remainder
            rem = b.frem(x, y)
            fix = b.and_(b.fcmp_ordered("!=", rem, ir.Constant(ty, 0.0)),
                         b.xor(b.fcmp_ordered("<", rem, ir.Constant(ty, 0.0)),
                               b.fcmp_ordered("<", y, ir.Constant(ty, 0.0))))
            return b.select(fix, b.fadd(rem, y), rem)
    else:
        if op in ("add", "sub", "mul"):
            return {"add": b.add, "sub": b.sub, "mul": b.mul}[op](x, y)
        if op in ("bit_and", "bit_or", "bit_xor"):
            return {"bit_and": b.and_, "bit_or": b.or_, "bit_xor": b.xor}[op](x, y)
        if op in ("shl", "shr"):
            return _shift(b, op, x, y, ty, is_unsigned(t))
        if op in ("max", "min"):
            pick = _icmp(b, t, ">" if op == "max" else "<", x, y)
            return b.select(pick, x, y)
        if op in ("floordiv", "mod") and is_unsigned(t):
            return _uint_floordiv_mod(b, op, x, y, ty)
        if op in ("floordiv", "mod"):
            return _int_floordiv_mod(b, op, x, y, ty)
        if op == "pow":
            return b.call(_int_pow(r.module, ty, is_unsigned(t)), [x, y])
    raise NotImplementedError(f"binary {op} on {t}")


def _shift(b, op, x, y, ty, unsigned: bool):
    """x << y or x >> y (logical for unsigned x); LLVM's shift by y >= bits is poison, so an
    amount outside [0, bits) (unsigned compare: negatives too) gives numpy's answer: 0, or
    the sign fill for a right shift of a signed x."""
    bits = ir.Constant(ty, ty.width)
    inside = b.icmp_unsigned("<", y, bits)
    amount = b.select(inside, y, ir.Constant(ty, 0))
    if op == "shl":
        return b.select(inside, b.shl(x, amount), ir.Constant(ty, 0))
    if unsigned:
        return b.select(inside, b.lshr(x, amount), ir.Constant(ty, 0))
    return b.ashr(x, b.select(inside, amount, ir.Constant(ty, ty.width - 1)))


def _int_floordiv_mod(b, op, x, y, ty):
    """Python semantics (floor division, remainder with the divisor's sign); a zero divisor
    gives 0 and MIN // -1 wraps, as numpy does, instead of LLVM's undefined behaviour."""
    zero, one, minus_one = ir.Constant(ty, 0), ir.Constant(ty, 1), ir.Constant(ty, -1)
    by_zero = b.icmp_signed("==", y, zero)
    by_minus_one = b.icmp_signed("==", y, minus_one)
    safe = b.select(b.or_(by_zero, by_minus_one), one, y)
    q, rem = b.sdiv(x, safe), b.srem(x, safe)
    fix = b.and_(b.icmp_signed("!=", rem, zero),
                 b.xor(b.icmp_signed("<", rem, zero), b.icmp_signed("<", y, zero)))
    if op == "floordiv":
        q = b.select(fix, b.sub(q, one), q)
        q = b.select(by_minus_one, b.sub(zero, x), q)
        return b.select(by_zero, zero, q)
    rem = b.select(fix, b.add(rem, y), rem)
    return b.select(b.or_(by_zero, by_minus_one), zero, rem)


def _uint_floordiv_mod(b, op, x, y, ty):
    """Unsigned division and remainder; a zero divisor gives 0, as numpy does."""
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    by_zero = b.icmp_unsigned("==", y, zero)
    safe = b.select(by_zero, one, y)
    value = b.udiv(x, safe) if op == "floordiv" else b.urem(x, safe)
    return b.select(by_zero, zero, value)


def _int_pow(module, ty, unsigned: bool = False):
    """x ** y for integers by repeated squaring (y >= 0; a negative y gives 0, which the
    caller rules out beforehand like the reference does). Unsigned: y is never negative."""
    name = f"graphc.ipow.{'u' if unsigned else 'i'}{ty.width}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), name=name)
    fn.linkage = "internal"
    x, y = fn.args
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    acc, base, exp = b.phi(ty), b.phi(ty), b.phi(ty)
    acc.add_incoming(ir.Constant(ty, 1), entry)
    base.add_incoming(x, entry)
    exp.add_incoming(y, entry)
    odd = b.icmp_signed("!=", b.and_(exp, ir.Constant(ty, 1)), ir.Constant(ty, 0))
    acc2 = b.select(odd, b.mul(acc, base), acc)
    exp2 = (b.lshr if unsigned else b.ashr)(exp, ir.Constant(ty, 1))
    base2 = b.mul(base, base)
    acc.add_incoming(acc2, loop)
    base.add_incoming(base2, loop)
    exp.add_incoming(exp2, loop)
    b.cbranch((b.icmp_unsigned if unsigned else b.icmp_signed)(">", exp2, ir.Constant(ty, 0)),
              loop, done)
    b.position_at_end(done)
    if unsigned:
        b.ret(acc2)
        return fn
    negative = b.icmp_signed("<", y, ir.Constant(ty, 0))
    b.ret(b.select(negative, ir.Constant(ty, 0), acc2))
    return fn


def _trace_function(module, clock) -> ir.Function:
    """graphc_trace(counters, at, before) of render_modules, in `module`."""
    fn = ir.Function(module, ir.FunctionType(I64, [PTR, I64, I64]), name="graphc_trace")
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    counters, at, before = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    off, on, first, count = (fn.append_basic_block(n) for n in ("off", "on", "first", "count"))
    b.cbranch(b.icmp_unsigned("==", counters, ir.Constant(PTR, None)), off, on)
    b.position_at_end(off)
    b.ret(ir.Constant(I64, 0))
    b.position_at_end(on)
    now = b.call(clock, [])
    b.cbranch(b.icmp_signed("<", at, ir.Constant(I64, 0)), first, count)
    b.position_at_end(first)
    b.ret(now)
    b.position_at_end(count)
    cycles = b.gep(counters, [at], source_etype=I64)
    b.store(b.add(b.load(cycles, typ=I64), b.sub(now, before)), cycles)
    calls = b.gep(counters, [b.add(at, ir.Constant(I64, 1))], source_etype=I64)
    b.store(b.add(b.load(calls, typ=I64), ir.Constant(I64, 1)), calls)
    b.ret(now)
    return fn


def render_module(kernels, slots_of, intrinsics, name="graphc", threads: int = 1,
                  program=None, cpu: str = "native", fast_math: bool = False,
                  trace_slot: int | None = None) -> ir.Module:
    """One module: the kernels plus `graphc_run(table)` running them: in order, or as
    `program` says (kernel indices, compiler.plan Loops and Branches over bool slots).

    slots_of(kernel) gives, for each of the kernel's parameters, its index in the table;
    cpu: the LLVM CPU name the code is for ('native': this machine); fast_math: the
    plan's Options.fast_math (float32 tanh is then vecmath's tanh_fast).

    trace_slot: a table index whose entry, when not null, points at 2 * len(kernels) + 2
    int64 counters: graphc_run then adds each kernel call's cycles (llvm.readcyclecounter)
    to counters[2i] and 1 to counters[2i + 1], and the whole run's cycles and 1 to the last
    two. With it the module also defines `int64 graphc_cycles(void)`, the counter now (for
    converting cycles to time). The counting is two calls of a small function around each
    kernel (`graphc_trace`, not inlined), which returns at once when the entry is null:
    inlined, its branches made W9's graphc_run (345 calls) take 0.5 s of LLVM's time
    against 0.1 s.
    """
    return render_modules(kernels, slots_of, intrinsics, 1, name, threads, program, cpu,
                          fast_math, trace_slot)[0]


def render_modules(kernels, slots_of, intrinsics, parts: int, name="graphc",
                   threads: int = 1, program=None, cpu: str = "native",
                   fast_math: bool = False, trace_slot: int | None = None) -> list:
    """render_module's code as modules that LLVM can optimize at the same time: with
    parts > 1, a first one holding only `graphc_run`, which declares the kernels, and
    `parts` more holding the kernels (external, named by their index, dealt out in turn);
    loaded and linked, they are the plan. (graphc_run, a plan's control flow and calls, is
    glue code: at O3 LLVM's loop unswitching multiplied the loops of W9's step, and its
    code generation took 2.3 s against 0.24 s at O2.) With parts == 1, the one module of
    render_module."""
    module = ir.Module(name=name)
    pieces = [ir.Module(name=f"{name}_part{i}") for i in range(parts)] if parts > 1 else []
    entry = ir.Function(module, ir.FunctionType(I32, [PTR]), name="graphc_run")
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    table = entry.args[0]
    functions: dict = {}  # canonical kernel -> its function: equal kernels share code
    scalef = vector_width("f32", cpu) == 16   # asked once: LLVM takes 0.2 ms to answer

    def slot(s):
        return b.load(b.gep(table, [ir.Constant(I64, s)], source_etype=PTR), typ=PTR)

    # the trace slot (render_module's docstring): its counters, and graphc_trace(counters,
    # at, before), which returns the cycle counter now, after adding now - before to
    # counters[at] and 1 to counters[at + 1] when at >= 0, or 0 at once when counters is null
    counters = trace = None
    if trace_slot is not None:
        clock = module.declare_intrinsic("llvm.readcyclecounter", [],
                                          ir.FunctionType(I64, []))
        cycles = ir.Function(module, ir.FunctionType(I64, []), name="graphc_cycles")
        cb = ir.IRBuilder(cycles.append_basic_block("entry"))
        cb.ret(cb.call(clock, []))
        trace = _trace_function(module, clock)
        counters = slot(trace_slot)

    def timed(i, run_kernel):
        """run_kernel() (emits kernel i's call, returns its status), with its cycles
        counted when the trace slot holds counters."""
        if counters is None:
            return run_kernel()
        before = b.call(trace, [counters, ir.Constant(I64, -1), ir.Constant(I64, 0)])
        status = run_kernel()
        b.call(trace, [counters, ir.Constant(I64, 2 * i), before])
        return status

    def call(i):
        k = kernels[i]
        shape = K.canonical(k)
        key = K.exact_key(shape)
        fn = functions.get(key)
        if fn is None and not pieces:
            fn = functions[key] = KernelRenderer(module, shape, i, intrinsics, threads,
                                                 scalef=scalef, fast_math=fast_math).render()
        elif fn is None:
            defined = KernelRenderer(pieces[len(functions) % parts], shape, i, intrinsics,
                                     threads, linkage="external", scalef=scalef,
                                     fast_math=fast_math).render()
            fn = functions[key] = ir.Function(module, defined.function_type, defined.name)
        status = timed(i, lambda: b.call(fn, [slot(s) for s in slots_of(k)]))
        failed = b.icmp_signed("!=", status, ir.Constant(I32, 0))
        with b.if_then(failed, likely=False):
            b.ret(b.or_(ir.Constant(I32, i << 16), status))

    def holds(pred_slot):
        byte = b.load(slot(pred_slot), typ=I8)
        return b.icmp_unsigned("!=", byte, ir.Constant(I8, 0))

    def run(entries):
        for e in entries:
            if isinstance(e, Loop):
                head, body, done = (entry.append_basic_block(n) for n in ("loop", "body",
                                                                          "done"))
                b.branch(head)
                b.position_at_end(head)
                run(e.cond)
                b.cbranch(holds(e.pred), body, done)
                b.position_at_end(body)
                run(e.body)
                b.branch(head)
                b.position_at_end(done)
            elif isinstance(e, Branch):
                with b.if_else(holds(e.pred)) as (then, other):
                    with then:
                        run(e.then)
                    with other:
                        run(e.other)
            else:
                call(e)

    start = None if counters is None else \
        b.call(trace, [counters, ir.Constant(I64, -1), ir.Constant(I64, 0)])
    run(range(len(kernels)) if program is None else program)
    if counters is not None:
        b.call(trace, [counters, ir.Constant(I64, 2 * len(kernels)), start])
    b.ret(ir.Constant(I32, 0))
    return [module] + pieces
