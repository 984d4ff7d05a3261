"""L2 schedules, steered by a target's capability record (Caps), run in this order:

tile: a transposing loop nest (a perfect nest of constant-trip loops around one store,
  contiguous in the innermost variable u, that loads an element at a stride of a cache line
  or more in u and contiguously in an outer variable v) is tiled `Caps.tile` x `Caps.tile`
  over (v, u): the blocks of v and of u run where v's loop stood, the loops between them
  inside, and the tile's two loops innermost. Untiled, every element of the innermost loop
  reads another cache line (and, past a few of them, another page), which is evicted before
  the next iteration of v comes back for its neighbour: N x H x W x C to C x H x W x N
  moved 1.6 million f32 in 9.8 ms, tiled in 1.2 ms. With both blocks outside, a sweep over
  the loops between reads `tile` streams and writes `tile` (u's blocks just outside the
  tile read all of u's: W5's 64 x 14 x 14 x 32 transposed in 775 us, this way in 430 us,
  from memory). Indices are unchanged (the tile's loops run over the same variables).
split: strip-mines a lone top-level loop (no loop inside) that will run on several threads
  into blocks of `Caps.block` iterations, `for b: for i in b*B..min(b*B+B, n)`, so that the
  blocks go to threads and the inner loop stays contiguous for vectorizing. The last block is
  the remainder; indices are unchanged (the inner loop runs over the same i).
parallelize: marks top-level loops "parallel" when they carry enough work for the threads
  and their iterations are independent: no Check (a failure must stop the kernel in order),
  no Intrinsic, no update of a local declared outside the loop (a whole-tensor reduction's
  accumulator), and no buffer both loaded and stored in the loop (a scatter-add's
  read-modify-write) unless only ever at the element being stored (an elementwise kernel
  writing in place). Expects loops starting at 0, as lowering makes them.
unroll: marks innermost loops with a small constant trip count "unroll" (factor = trips).
  This and vectorize also reach the loops of a gemm's epilogue (which runs on one thread, on
  the blocks of C the routine's own thread finishes).
vectorize: marks innermost loops "vector" with `Caps.vector_bits` worth of lanes of their
  widest type, when every store is contiguous in the loop variable, every load contiguous or
  invariant, and every accumulator update a reduction the backend may reassociate (sum,
  product, max, min). Remainder iterations are the backend's to handle (LLVM's vectorizer
  adds an epilogue loop; a GPU maps lanes to threads).

Every pass is a pure function Kernel -> Kernel; kinds are hints with one meaning on every
backend, so the numpy interpreter runs every kind as a serial loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from graphc.ir import kernel as K
from graphc.passes.fuse import COSTLY


@dataclass(frozen=True)
class Caps:
    """What a target offers the schedules."""
    threads: int = 1
    min_parallel_work: int = 1 << 15  # loop-nest iterations below which threads cost more
    vector_bits: int = 0  # register width to vectorize for; 0 leaves it to the backend
    block: int = 4096  # iterations per block when a lone loop is split for threads
    max_unroll: int = 8  # constant trip counts up to this are unrolled fully
    tile: int = 0  # a transposing nest's tile edge, in iterations; 0 leaves it


def schedule(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    """The shared schedule: tile, split, parallelize, unroll, vectorize."""
    kernel = parallelize(split(tile(kernel, caps), caps), caps)
    return vectorize(unroll(kernel, caps), caps)


# --- tile -----------------------------------------------------------------------------------
_LINE_BYTES = 64


def tile(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    if not caps.tile:
        return kernel
    buffers = {b.name: b.dtype for b in kernel.buffers}
    body = tuple(_tiled(s, caps.tile, buffers) if isinstance(s, K.Loop) else s
                 for s in kernel.body)
    return replace(kernel, body=body) if body != kernel.body else kernel


def _tiled(s: K.Loop, size: int, buffers: dict) -> K.Loop:
    loops = []
    while isinstance(s, K.Loop) and s.kind == "serial" and s.start == K.Const(0) \
            and isinstance(s.stop, K.Const) and len(s.body) == 1:
        loops.append(s)
        s = s.body[0]
    if not isinstance(s, K.Store) or len(loops) < 2:
        return loops[0] if loops else s
    u = loops[-1].var
    if _stride(s.index, u) != 1:
        return loops[0]
    line = _LINE_BYTES * 8 // _BITS.get(buffers.get(s.buffer), 32)
    loads: dict = {}
    _collect_loads(s.value, loads)
    across = [i for indices in loads.values() for i in indices
              if _stride(i, u, clamps=True) is None or abs(_stride(i, u, clamps=True)) >= line]
    if len(across) != 1:  # one transposed read
        return loops[0]
    outer = [j for j, lp in enumerate(loops[:-1]) if _stride(across[0], lp.var, clamps=True) == 1
             and (_stride(s.index, lp.var) or 0) >= line]
    if not outer or loops[outer[-1]].stop.value < 2 * size or loops[-1].stop.value < 4:
        return loops[0]
    v = outer[-1]
    order = loops[:v] + [_blocks(loops[v], size), _blocks(loops[-1], size)] + \
        loops[v + 1:-1] + [_block_of(loops[v], size), _block_of(loops[-1], size)]
    nest = (s,)
    for lp in reversed(order):
        nest = (replace(lp, body=nest),)
    return nest[0]


def _blocks(s: K.Loop, size: int) -> K.Loop:
    return K.Loop(f"{s.var}_tile", K.Const(0), K.Const(-(-s.stop.value // size)), ())


def _block_of(s: K.Loop, size: int) -> K.Loop:
    """The loop over one block of s; without a min where blocks divide it evenly, so that
    its trip count is the constant `size` (which the backend unrolls and vectorizes)."""
    first = K.Binary("mul", K.Var(f"{s.var}_tile"), K.Const(size), K.INDEX)
    end = K.Binary("add", first, K.Const(size), K.INDEX)
    if s.stop.value % size:
        end = K.Binary("min", end, s.stop, K.INDEX)
    return replace(s, start=first, stop=end, body=())


# --- split ----------------------------------------------------------------------------------
def split(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    if caps.threads <= 1:
        return kernel
    body = tuple(_split_loop(s, caps.block) if _worth_it(s, caps) and _innermost(s)
                 and s.stop.value > caps.block else s for s in kernel.body)
    return replace(kernel, body=body) if body != kernel.body else kernel


def _split_loop(s: K.Loop, size: int) -> K.Loop:
    n, blocks = s.stop.value, -(-s.stop.value // size)
    block = K.Var(f"{s.var}_blk")
    first = K.Binary("mul", block, K.Const(size), K.INDEX)
    last = K.Binary("min", K.Binary("add", first, K.Const(size), K.INDEX), K.Const(n), K.INDEX)
    return K.Loop(block.name, K.Const(0), K.Const(blocks), (replace(s, start=first, stop=last),))


# --- parallelize ----------------------------------------------------------------------------
def parallelize(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    if caps.threads <= 1:
        return kernel
    body = tuple(replace(s, kind="parallel") if _worth_it(s, caps) else s
                 for s in _without_unit_loops(kernel.body))
    return replace(kernel, body=body) if body != kernel.body else kernel


def _without_unit_loops(stmts) -> tuple:
    """Top-level loops of one iteration around a single loop (a batch of one) replaced by
    that loop, their variable by 0: the loop inside, which carries the work, is then the
    one the threads split."""
    from graphc.passes.gpu_loops import substitute
    out = []
    for s in stmts:
        while isinstance(s, K.Loop) and s.kind == "serial" and s.start == K.Const(0) \
                and s.stop == K.Const(1) and len(s.body) == 1 and isinstance(s.body[0], K.Loop):
            (s,) = substitute(s.body, {s.var: K.Const(0)})
        out.append(s)
    return tuple(out)


def _worth_it(s, caps: Caps) -> bool:
    if not isinstance(s, K.Loop) or s.kind != "serial" or s.start != K.Const(0):
        return False
    if not isinstance(s.stop, K.Const) or s.stop.value < 2 or \
            _work(s) * (1 + COSTLY_WEIGHT * _costly(s.body)) < caps.min_parallel_work:
        return False
    loads, stores = {}, {}
    if not _independent(s.body, loads, stores):
        return False
    # a buffer both read and written: iterations stay independent only when every access is
    # to the element being written (an elementwise kernel writing over its input)
    return all(len(stores[b]) == 1 and loads[b] == stores[b] for b in loads.keys() & stores)


# A transcendental function (passes/fuse.py COSTLY: exp, tanh, sigmoid...) counts as this
# many iterations of an ordinary loop: an LSTM cell's 32 x 256 elements with five of them
# (about 20 us on one core) are worth two threads, where a copy of as many elements is not
COSTLY_WEIGHT = 4


def _costly(stmts) -> int:
    """Transcendental functions the statements evaluate per iteration of their loops (a
    value an expression reads twice counts twice)."""
    count, exprs = 0, [e for st in _all_statements(stmts) for e in K.stmt_exprs(st)]
    while exprs:
        e = exprs.pop()
        count += isinstance(e, (K.Unary, K.Binary)) and e.op in COSTLY  # (fuse's names)
        exprs.extend(K.expr_children(e))
    return count


def _all_statements(stmts) -> list:
    out = []
    for st in stmts:
        out.append(st)
        out += _all_statements(K.substatements(st))
    return out


def _work(s) -> int:
    """Iterations of the loop nest (at most; unknown trip counts count as 1)."""
    inner = max((_work(c) for c in s.body if isinstance(c, K.Loop)), default=1)
    trips = _trips(s)
    if trips is None and isinstance(s.stop, K.Binary) and s.stop.op == "min" \
            and s.stop.a == K.Binary("add", s.start, s.stop.a.b, K.INDEX) \
            and isinstance(s.stop.a.b, K.Const):
        trips = s.stop.a.b.value  # a block of a split loop: start..min(start + B, n)
    return (trips or 1) * inner


def _trips(s: K.Loop):
    """The constant trip count of a loop, or None."""
    if isinstance(s.stop, K.Const) and isinstance(s.start, K.Const):
        return max(s.stop.value - s.start.value, 0)
    return None


def _independent(stmts, loads: dict, stores: dict, declared=None) -> bool:
    """False if the statements hold a Check, Intrinsic or Barrier, or update a local declared
    outside them (an accumulator carried from one iteration to the next); else collects the
    index expressions each buffer is loaded and stored at."""
    declared = set() if declared is None else declared
    for s in stmts:
        if isinstance(s, (K.Check, K.Intrinsic, K.Barrier)):
            return False
        if isinstance(s, K.Local):
            declared.add(s.name)
        if isinstance(s, K.Assign) and s.name not in declared:
            return False
        if isinstance(s, K.Store):
            stores.setdefault(s.buffer, set()).add(s.index)
        if isinstance(s, K.Loop) and not _independent(s.body, loads, stores, declared):
            return False
        for e in K.stmt_exprs(s):
            _collect_loads(e, loads)
    return True


def _collect_loads(e, loads: dict) -> None:
    if isinstance(e, K.Load):
        loads.setdefault(e.buffer, set()).add(e.index)
    for c in K.expr_children(e):
        _collect_loads(c, loads)


# --- unroll and vectorize -------------------------------------------------------------------
def unroll(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    def mark(s: K.Loop) -> K.Loop:
        trips = _trips(s)
        if s.kind == "serial" and trips is not None and 2 <= trips <= caps.max_unroll:
            return replace(s, kind="unroll", width=trips)
        return s
    return _map_innermost(kernel, mark)


def vectorize(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    if not caps.vector_bits:
        return kernel
    buffers = {b.name: b.dtype for b in kernel.buffers}

    def mark(s: K.Loop) -> K.Loop:
        if s.kind != "serial" or not _vectorizable(s, buffers):
            return s
        lanes = caps.vector_bits // max(32, _widest(s, buffers))
        trips = _trips(s)
        if lanes < 2 or (trips is not None and trips < lanes):
            return s
        return replace(s, kind="vector", width=lanes)
    return _map_innermost(kernel, mark)


def _map_innermost(kernel: K.Kernel, fn) -> K.Kernel:
    def walk(stmts):
        out = []
        for s in stmts:
            if isinstance(s, K.Loop):
                s = fn(s) if _innermost(s) else replace(s, body=walk(s.body))
            elif isinstance(s, K.Intrinsic) and s.epilogue:
                s = replace(s, epilogue=walk(s.epilogue))
            out.append(s)
        return tuple(out)
    body = walk(kernel.body)
    return replace(kernel, body=body) if body != kernel.body else kernel


def _innermost(s: K.Loop) -> bool:
    return not any(isinstance(c, K.Loop) for c in s.body)


_REDUCING = ("add", "mul", "max", "min")


def _vectorizable(s: K.Loop, buffers: dict) -> bool:
    locals_ = {c.name for c in s.body if isinstance(c, K.Local)}
    for c in s.body:
        if isinstance(c, K.Store):
            if _stride(c.index, s.var) != 1 or not _loads_fit(c.value, s.var) \
                    or not _loads_fit(c.index, s.var):
                return False
        elif isinstance(c, K.Assign):
            v = c.value
            reduction = isinstance(v, K.Binary) and v.op in _REDUCING and \
                v.a == K.Ref(c.name, v.dtype) and c.name not in locals_
            if not reduction or not _loads_fit(v.b, s.var) or _refers(v.b, c.name):
                return False
        elif not isinstance(c, K.Local) or not _loads_fit(c.init, s.var):
            return False
    return True


def _loads_fit(e, var: str) -> bool:
    """Every load in `e` reads contiguously in `var`, or the same element every time."""
    if isinstance(e, K.Load) and _stride(e.index, var) not in (0, 1):
        return False
    return all(_loads_fit(c, var) for c in K.expr_children(e))


def _refers(e, name: str) -> bool:
    return e == K.Ref(name, getattr(e, "dtype", None)) or \
        any(_refers(c, name) for c in K.expr_children(e))


def _stride(e, var: str, clamps: bool = False):
    """How far an index expression moves per step of `var`: an int when the expression is
    affine in var with a constant coefficient, else None. With `clamps`, min and max with a
    constant are left out (a pad's reads, clamped at the edges to stay in bounds, move like
    the unclamped index everywhere else: what tile asks)."""
    while clamps and isinstance(e, K.Binary) and e.op in ("min", "max") \
            and isinstance(e.b, K.Const):
        e = e.a
    if isinstance(e, K.Var):
        return 1 if e.name == var else 0
    if isinstance(e, K.Const):
        return 0
    if isinstance(e, K.Binary) and e.op in ("add", "sub", "mul"):
        a, b = _stride(e.a, var, clamps), _stride(e.b, var, clamps)
        if a is None or b is None:
            return None
        if e.op == "add":
            return a + b
        if e.op == "sub":
            return a - b
        if a == 0 and b == 0:
            return 0
        if isinstance(e.b, K.Const) and b == 0:
            return a * e.b.value
        if isinstance(e.a, K.Const) and a == 0:
            return b * e.a.value
        return None
    return 0 if not _mentions(e, var) else None


def _mentions(e, var: str) -> bool:
    return e == K.Var(var) or any(_mentions(c, var) for c in K.expr_children(e))


_BITS = {"f16": 16, "f32": 32, "f64": 64, "i8": 8, "u8": 8, "i16": 16, "u16": 16, "i32": 32,
         "i64": 64, "bool": 8}


def _widest(s: K.Loop, buffers: dict) -> int:
    """Bits of the widest value the loop loads, stores or accumulates (indices aside)."""
    widest = 8
    for c in s.body:
        if isinstance(c, K.Store):
            widest = max(widest, _BITS[buffers[c.buffer]], _value_bits(c.value))
        elif isinstance(c, K.Assign):
            widest = max(widest, _value_bits(c.value))
    return widest


def _value_bits(e) -> int:
    own = _BITS.get(e.dtype, 8) if not isinstance(e, (K.Var,)) and e.dtype != K.INDEX else 8
    return max([own] + [_value_bits(c) for c in K.expr_children(e)
                        if not isinstance(e, K.Load)])
