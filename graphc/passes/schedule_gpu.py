"""schedule_gpu: L2 kernels -> GPU launches, steered by a GPU capability record (GPUCaps).

Expects a kernel as lowering (and the shared schedule at one thread) leaves it: top-level
loop nests starting at 0 over constant extents. Guarantees the same computation as a
sequence of *phases*, one per top-level statement, each of the form

    for gbx in 0..G [gpu_block]:         # blockIdx.x (a gemm phase: blockIdx.z = batch)
      for gtx in 0..T [gpu_thread]:      # threadIdx.x
        ...

A renderer launches each phase as one grid, in order: a launch boundary is a grid-wide
barrier, so a kernel that fills a buffer and then scatters into it stays correct. L2 has no
`if` and no loop step, so a guard is a loop of at most one trip, `for t in e..min(e+1, n)`,
and a strided walk is an outer loop over strides around such a guard. Mappings:

flat: a perfect loop nest whose iterations are independent is flattened to one index space
  walked by a grid-stride loop; the innermost (contiguous) loop varies fastest along
  threadIdx.x, so neighbouring threads touch neighbouring elements (coalesced). Each thread
  runs the nest's innermost body as it is (a reduction over a non-last axis stays serial).
  Vectorized: when the body is one f32 Store contiguous in the innermost variable w, every
  Load in its value is contiguous in w (f32) or invariant in it (a broadcast, any dtype),
  those contiguous indices have every other coefficient and their constant a multiple of 4,
  and w's extent is a multiple of 4, each thread takes 4 consecutive elements:
  `for gv in 0..4 [vector x4]` with w = w0 + gv, w0 (and so every contiguous index at
  gv = 0) a multiple of 4. The CUDA renderer maps that loop to float4 accesses.
rows: a nest whose body reduces along a row (Locals accumulated by inner loops: row groups
  from lower_rows, reductions over trailing axes, softmax, layer norm) runs one block per
  row: each thread accumulates a strided share, `block_reduce_<op>(scratch; T)` (an
  Intrinsic: warp shuffles, then shared memory across warps; afterwards scratch[0] holds the
  result) combines the shares, and loops storing along the row are strided over threads.
gemm: a (batched) `gemm` Intrinsic becomes one launch of output tiles, batch on blockIdx.z.
  Its epilogue, if any, stays in the Intrinsic (batch variables substituted like its
  arguments): the renderer runs the epilogue's innermost body, with i and j the element's
  row and column, where each thread writes an element of C (after storing C itself). An
  epilogue that is not straight-line code becomes the next phase (mapped like any nest).
transpose: a nest storing, contiguously, a value that reads its input contiguously along
  the next-to-last loop and strided along the last (a transpose of the last two axes, any
  leading axes a batch) moves 32x32 tiles through shared memory (rows padded to 33 against
  bank conflicts), one tile per block: coalesced reads into the tile, a Barrier, coalesced
  writes out of it.
columns: a reduction keeping the last axis, which lowering blocks for CPU caches, becomes
  one loop over the output's columns first (each thread initializes its element and walks
  its rows), then maps flat.
serial: anything else (an argmax's select chain at top level, a scatter-add of f16) runs
  on one thread: correct, not fast. A scatter-add `b[i] = b[i] + v` of f32, f64 or an
  integer type is independent all the same: it is rendered as an atomic add (`atomic_add`).

The numpy interpreter runs flat, gemm (with an epilogue) and serial phases (GPU loops run
in order); rows and transpose phases need barriers, which the cuda-emulated target provides.
"""

from __future__ import annotations

import math
from dataclasses import replace

from graphc.ir import kernel as K
from graphc.passes.gpu_loops import (
    BLOCK,
    THREAD,
    GPUCaps,
    grid_walk,
    guard,
    launch,
    linear_form,
    loads,
    substitute,
    threads_for,
    unflatten,
)
from graphc.passes.lower import COLUMN_BLOCK_VAR
from graphc.passes.schedule_gpu_tiles import transpose_tiles

LANE, LANES = "gv", 4  # a flat phase's vector loop: 4 f32 lanes, one float4


REDUCING = ("add", "mul", "max", "min", "or", "and")
ATOMIC_ADD_DTYPES = ("f32", "f64", "i32", "i64") + K.SMALL_INTS  # see atomic_add


def schedule_gpu(kernel: K.Kernel, caps: GPUCaps = GPUCaps()) -> K.Kernel:
    """The kernel as GPU phases (see the module docstring)."""
    if kernel.sizes:
        raise NotImplementedError(f"kernel {kernel.name}: symbolic sizes on the GPU")
    scratch: dict = {}
    body = [part for s in kernel.body for part in _split_epilogue(_column_per_thread(s))]
    if _is_gemm((), body[:1]) and all(isinstance(s, K.Loop) for s in body[1:]):
        phases = [_gemm([], [], body[0])] + [_phase(s, caps, scratch) for s in body[1:]]
    elif any(not isinstance(s, K.Loop) for s in body):
        # top-level locals belong to one thread of work: one block reduces it, or one thread
        phases = [_rows([], [], list(body), caps, scratch) or _serial(body)]
    else:
        phases = [_phase(s, caps, scratch) for s in body]
    buffers = kernel.buffers + tuple(scratch.values())
    return replace(kernel, buffers=buffers, body=tuple(phases))


def _phase(s: K.Loop, caps: GPUCaps, scratch: dict) -> K.Loop:
    variables, extents, body = _perfect_nest(s)
    if extents is None or not _independent([s]):
        if _is_gemm(variables, body):
            return _gemm(variables, extents, body[0])
        return _serial((s,))
    if not K.has_check(body):
        for depth in range(len(variables), -1, -1):  # the deepest split that reads as rows
            inner = body if depth == len(variables) else _nest_stmts(
                variables[depth:], extents[depth:], body)
            rows = _rows(variables[:depth], extents[:depth], inner, caps, scratch)
            if rows is not None:
                return rows
    tiles = transpose_tiles(variables, extents, body, caps, scratch)
    return tiles if tiles is not None else _flat(variables, extents, body, caps)


# --- mappings -------------------------------------------------------------------------------
def _flat(variables, extents, body, caps: GPUCaps) -> K.Loop:
    lanes = LANES if _vectorizable(variables, extents, body) else 1
    total = math.prod(extents) // lanes
    threads = threads_for(total, caps)
    walk, index = grid_walk(total, threads, caps, "gt")
    first = K.mul(index, lanes)  # the flat index of the thread's first element
    mapping = unflatten(first, variables, extents)
    lane = K.Var(LANE) if lanes > 1 else K.Const(0)
    mapping[variables[-1]] = K.add(mapping[variables[-1]], lane)
    # the row-major offset of the whole nest is the flat index itself (no div / mod)
    whole = {K.linear([K.Var(v) for v in variables], K.row_major_strides(extents)):
             K.add(first, lane)}
    body = substitute(body, mapping, whole)
    if lanes > 1:
        body = (K.Loop(LANE, K.Const(0), K.Const(lanes), body, "vector", lanes),)
    return launch(walk(body), threads)


def _vectorizable(variables, extents, body) -> bool:
    """The conditions for 4 lanes per thread (module doc): each contiguous access then
    starts at a multiple of 4 elements, 16 bytes, and its lanes stay within w's row."""
    if len(body) != 1 or not isinstance(body[0], K.Store) or extents[-1] % LANES or \
            body[0].value.dtype != "f32" or atomic_add(body[0]):
        return False
    w, store = variables[-1], body[0]
    accesses = [(store.index, "f32")] + [(e.index, e.dtype) for e in loads(store.value)]
    for n, (index, dtype) in enumerate(accesses):
        form = linear_form(index)
        if form is None or form.get(w, 0) not in ((1,) if n == 0 else (0, 1)):
            return False  # not affine, strided, or a store invariant in w
        if form.get(w) == 1 and (dtype != "f32" or any(
                k % LANES for v, k in form.items() if v != w)):
            return False
    return True


def _rows(variables, extents, body, caps: GPUCaps, scratch: dict):
    """One block per row, or None when `body` does not read as a row (see module doc)."""
    threads = _row_plan(body, caps)
    if threads is None:
        return None
    walk, row = grid_walk(math.prod(extents), 1, caps, "grow")
    tx = K.Var(THREAD)
    stmts = []
    for s in body:
        stmts += _row_stmt(s, tx, threads, caps, scratch, body)
    # rows walk the grid by blocks: every thread of a block takes the same row
    stmts = substitute(tuple(stmts), unflatten(row, variables, extents))
    return launch(walk(stmts), threads)


def _gemm(variables, extents, call: K.Intrinsic) -> K.Loop:
    z = K.Var(BLOCK)
    mapping = unflatten(z, variables, extents)
    call = substitute((call,), mapping)[0]
    return K.Loop(BLOCK, K.Const(0), K.Const(max(math.prod(extents), 1)), (call,), "gpu_block")


def _column_per_thread(s):
    """A reduction keeping the last axis, as lowering blocks it for CPU caches
    (Lowering._reduce_columns: `for cblk: [init the block's columns; for r..: for c in
    block: update]`), as one loop over the columns whose iterations each initialize their
    column and walk its rows: the flat mapping then gives each output element a thread, and
    the threads of a warp read neighbouring elements of each input row."""
    if not isinstance(s, K.Loop):
        return s
    if s.var != COLUMN_BLOCK_VAR:
        return replace(s, body=(_column_per_thread(s.body[0]),)) if len(s.body) == 1 else s
    init = s.body[0]
    column = init.var

    def unblock(stmt) -> tuple:  # the reduced loops around the column loop's body
        if isinstance(stmt, K.Loop) and stmt.var == column:
            return stmt.body
        if isinstance(stmt, K.Loop):
            return (replace(stmt, body=tuple(x for c in stmt.body for x in unblock(c))),)
        return (stmt,)
    body = init.body + tuple(x for c in s.body[1:] for x in unblock(c))
    return K.Loop(column, K.Const(0), init.stop.b, body)  # stop: min(first + B, n)


def _split_epilogue(s) -> list:
    """A (batched) gemm whose epilogue is not straight-line code (a Check, a nested loop) ->
    the gemm over every batch element, then its epilogue over every batch element: two
    phases, the launch boundary between them standing for "C is complete". A straight-line
    epilogue stays with its gemm: each thread runs it on the elements of C it writes."""
    if isinstance(s, K.Intrinsic) and s.epilogue and not _fusable_epilogue(s):
        return [replace(s, epilogue=()), *s.epilogue]
    if isinstance(s, K.Loop) and len(s.body) == 1:
        parts = _split_epilogue(s.body[0])
        if len(parts) > 1:
            return [replace(s, body=(part,)) for part in parts]
    return [s]


def _fusable_epilogue(call: K.Intrinsic) -> bool:
    """The epilogue is `for i in 0..M: for j in 0..N: <stores, locals, assignments>` over
    the gemm's own C (M, N its first two arguments), so it can run per element of C."""
    rows = call.epilogue[0]
    cols = rows.body[0]
    m, n = call.args[:2]
    return rows.start == K.Const(0) and rows.stop == m and cols.start == K.Const(0) and \
        cols.stop == n and all(isinstance(c, (K.Store, K.Local, K.Assign)) for c in cols.body)


def _serial(stmts) -> K.Loop:
    return launch((1, tuple(stmts)), 1)


# --- rows -----------------------------------------------------------------------------------
def _row_plan(body, caps: GPUCaps):
    """Threads per block for `body` as a row, or None: every statement is a Local, an
    Assign or a Store, or a loop nest that reduces locals of this row (`v = v (op) x`) or
    stores independent elements; at least one reduces over min_row elements or more."""
    declared = {s.name: s for s in body if isinstance(s, K.Local)}
    widest, reduces = 1, False
    for s in body:
        if isinstance(s, (K.Local, K.Assign, K.Store)):
            continue
        if not isinstance(s, K.Loop):
            return None
        _, extents, inner = _perfect_nest(s)
        if extents is None:
            return None
        kind = _inner_kind(inner, declared)
        if kind is None:
            return None
        n = math.prod(extents)
        widest = max(widest, n)
        reduces = reduces or (kind == "reduce" and n >= caps.min_row)
    return threads_for(widest, caps) if reduces else None


def _inner_kind(inner, declared):
    """'reduce' when the loop folds values into locals declared for the row (identity
    starts, `v = v (op) x`), 'store' when it only stores; either may also hold locals of
    its own and stores of independent elements (a softmax keeping exp(x - max) for later).
    None for anything else."""
    assigned = [c.name for c in inner if isinstance(c, K.Assign)]
    for c in inner:
        if isinstance(c, K.Assign):
            v, local = c.value, declared.get(c.name)
            if local is None or not isinstance(local.init, K.Const) or \
                    not isinstance(v, K.Binary) or v.op not in REDUCING or \
                    v.a != K.Ref(c.name, v.dtype) or _mentions_refs(v.b, assigned):
                return None
        elif not isinstance(c, (K.Local, K.Store)):
            return None
    if not _independent(inner):
        return None
    return "reduce" if assigned else "store"


def _row_stmt(s, tx, threads: int, caps, scratch: dict, body) -> list:
    """The block-wide statements of one statement of a row body."""
    if isinstance(s, K.Store):  # one thread writes a row's value
        return [guard("gone", tx, 1, (s,))]
    if not isinstance(s, K.Loop):
        return [s]  # locals and assignments: every thread holds the row's value
    variables, extents, inner = _perfect_nest(s)
    n = math.prod(extents)
    strides = -(-n // threads)
    first = K.add(K.mul(K.Var("gjs"), threads), tx) if strides > 1 else tx
    flat = K.Var("gj")
    whole = {K.linear([K.Var(v) for v in variables], K.row_major_strides(extents)): flat}
    walk = guard("gj", first, n, substitute(inner, unflatten(flat, variables, extents),
                                              whole))
    if strides > 1:
        walk = K.Loop("gjs", K.Const(0), K.Const(strides), (walk,))
    out = [walk]
    stored = {c.buffer for c in inner if isinstance(c, K.Store)}
    if stored & _loaded(body[body.index(s) + 1:]):
        out.append(K.Barrier())  # later loops may read what other threads wrote here
    for c in (c for c in inner if isinstance(c, K.Assign)):  # combine the threads' shares
        dtype = c.value.dtype
        buf = scratch.setdefault(dtype, K.Buffer(f"gsh_{dtype}", dtype, K.Const(
            max(threads, caps.threads_per_block)), scratch=True))
        out += [K.Store(buf.name, tx, K.Ref(c.name, dtype)),
                K.Intrinsic(f"block_reduce_{c.value.op}", (buf.name,), (K.Const(threads),)),
                K.Assign(c.name, K.Load(buf.name, K.Const(0), dtype)),
                K.Barrier()]  # everyone has read scratch[0] before it is reused
    return out


# --- helpers --------------------------------------------------------------------------------
def _perfect_nest(s: K.Loop):
    """(variables, extents, innermost body) of a loop nest that is perfect (each loop's body
    one loop) down to a body that is not a lone loop; extents None unless every loop runs
    from 0 to a constant."""
    variables, extents = [], []
    while True:
        if not (isinstance(s.start, K.Const) and s.start.value == 0 and
                isinstance(s.stop, K.Const)) or s.kind not in ("serial", "unroll"):
            extents = None
        variables.append(s.var)
        if extents is not None:
            extents.append(int(s.stop.value))
        if len(s.body) == 1 and isinstance(s.body[0], K.Loop):
            s = s.body[0]
            continue
        return variables, extents, tuple(s.body)


def _nest_stmts(variables, extents, body) -> tuple:
    return K.nest(variables, extents, body)


def _is_gemm(variables, body) -> bool:
    return len(body) == 1 and isinstance(body[0], K.Intrinsic) and body[0].name == "gemm"


def _independent(stmts) -> bool:
    """No Intrinsic or Barrier, and no buffer both loaded and stored, except at the one
    element being stored, by loop variables alone (an elementwise kernel writing over its
    input, passes/memory)."""
    loads, stores, atomics = {}, {}, set()

    def walk(ss):
        for s in ss:
            if isinstance(s, (K.Intrinsic, K.Barrier)):
                return False
            if atomic_add(s):  # threads may meet at an element: the renderer's atomicAdd
                atomics.add(s.buffer)
                _expr_loads(s.index, loads)
                _expr_loads(s.value.b, loads)
                continue
            if isinstance(s, K.Store):
                stores.setdefault(s.buffer, set()).add(s.index)
            if isinstance(s, K.Loop) and not walk(s.body):
                return False
            for e in K.stmt_exprs(s):
                _expr_loads(e, loads)
        return True
    if not walk(stmts) or atomics & (loads.keys() | stores.keys()):
        return False
    return all(len(stores[b]) == 1 and loads[b] == stores[b] and _affine(next(iter(stores[b])))
               for b in loads.keys() & stores.keys())


def atomic_add(s) -> bool:
    """`b[i] = b[i] + v` (a scatter-add) of a type the GPU adds atomically (atomicAdd, or
    for 8- and 16-bit integers a compare-and-swap loop on the 32-bit word holding the
    element), so threads adding into one element do not race."""
    if not isinstance(s, K.Store) or not isinstance(s.value, K.Binary):
        return False
    v = s.value
    return v.op == "add" and v.dtype in ATOMIC_ADD_DTYPES and \
        v.a == K.Load(s.buffer, s.index, v.dtype) and not _affine(s.index)


def _affine(e) -> bool:
    """An index of loop variables and constants only: distinct iterations, distinct
    elements (an index through a local or a load, like a scatter's, may collide)."""
    if isinstance(e, (K.Ref, K.Load)):
        return False
    return all(_affine(c) for c in K.expr_children(e))


def _expr_loads(e, out: dict) -> dict:
    """Buffer -> the index expressions `e` loads it at (added to `out`)."""
    if isinstance(e, K.Load):
        out.setdefault(e.buffer, set()).add(e.index)
    for c in K.expr_children(e):
        _expr_loads(c, out)
    return out


def _loaded(stmts) -> set:
    out: dict = {}
    for s in stmts:
        for e in K.stmt_exprs(s):
            _expr_loads(e, out)
        if isinstance(s, K.Loop):
            out.update((b, set()) for b in _loaded(s.body))
    return set(out)


def _mentions_refs(e, names) -> bool:
    return (isinstance(e, K.Ref) and e.name in names) or \
        any(_mentions_refs(c, names) for c in K.expr_children(e))

