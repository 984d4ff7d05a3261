"""GEMM operands packed once, not on every call: constants when a plan is built, weights
held in variables when their value changes.

The LLVM GEMM copies each block of B into its packed panels as it runs (gemm/__init__.py).
When B is a constant of the plan (a convolution's filter, a dense layer's weights in an
inference graph), that copy gives the same panels on every call: prepack_constants packs
it once, with numpy, into a constant slot of its own (gemm.prepack_b's layout, for the
blocking the renderer will choose), and the GEMM reads those panels where they are
(Intrinsic.prepacked). The product is the same bit for bit: the same numbers reach the
micro-kernel in the same order. What it saves is the copy of B, which a GEMM of few rows
(a 7 x 7 feature map, a batch of one) pays for every call, and each thread's own copy when
threads split the rows.

A constant slot that no kernel, fetch or commit reads any longer becomes "unused", so a
plan keeps one copy of such weights, not two.

A B read from a variable the plan does not assign (the weights of an inference plan, or
of the forward pass a training step is not part of) gets a "packed" slot instead: memory
of the plan's own, which the executor fills with fill_packed before a run whenever the
variable's version (runtime/state.py's VariableStore) differs from the one it was packed
from. So an inference loop packs its weights once, and again only after they change (a
training step, a restore, a load); a plan that assigns the variable packs as it runs.

The same goes for where the indirect GEMM finds A (intrinsics.in_place_a: an implicit
GEMM whose rows are read where they lie, segment by segment). The offset of each row's
segment in its buffer, or -1 for padding, depends on the shapes only, yet computing it
takes a few divisions and clamps per segment on every call (a tenth of a 3 x 3
convolution over 64 channels). index_table evaluates it once, with numpy, into a
constant table of its own, and the pack then reads its offsets from the table: the same
elements, so the same product.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from graphc.codegen_llvm.gemm import aligned_empty, prepack_b, prepacked_width
from graphc.compiler.plan import Branch, Loop, Slot
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import _BINARY

_DTYPES = {"f32": np.float32, "f64": np.float64}


def blocking_for(cpu: str = "native"):
    """blocking_for(dtype, n): the GemmBlocking render_gemm uses on `cpu` for n columns."""
    from graphc.codegen_llvm.gemm import vector_width
    from graphc.codegen_llvm.intrinsics import gemm_blocking
    return lambda t, n: gemm_blocking(t, vector_width(t, cpu), n)


def in_place_for(cpu: str = "native"):
    """in_place_for(gemm, dtype): intrinsics.in_place_a on `cpu`."""
    from graphc.codegen_llvm.intrinsics import in_place_a
    return lambda s, t: in_place_a(s, t, cpu)


def prepack_constants(plan, kernels: list, blocking_for, in_place=None,
                      packable=None) -> list:
    """`kernels` (a plan's, scheduled) with every GEMM whose B is a strided view of a
    constant slot, or of a variable's for which packable(variable node) holds and that no
    kernel assigns, reading a prepacked copy (a constant or a "packed" slot added to
    plan.slots); plan.kernels likewise. blocking_for(dtype, n) is the GemmBlocking the
    renderer uses for a GEMM of n columns. With in_place(gemm, dtype) (in_place_for),
    each GEMM that reads A in place finds its segments' offsets in a table (index_table).
    packable None: no variable is packed ahead."""
    packed: dict = {}  # (slot, offset, strides, shape, blocking) -> slot of the packed copy
    tables: dict = {}  # the exact key of (offsets, inside, M, segments) -> table's slot
    rules = (blocking_for, in_place, packable)
    out = [_rewrite(k, plan, packed, tables, rules) for k in kernels]
    plan.kernels = [_rewrite(k, plan, packed, tables, rules) for k in plan.kernels]
    constants = {key[0] for key in packed if plan.slots[key[0]].kind == "constant"}
    if constants:
        _drop_unread(plan, out, constants)
    return out


def _rewrite(kernel: K.Kernel, plan, packed: dict, tables: dict, rules) -> K.Kernel:
    added: dict = {}  # buffer name -> (dtype, elements)
    blocking_for, in_place, packable = rules

    def visit(stmts):
        result = []
        for s in stmts:
            if isinstance(s, K.Loop):
                s = replace(s, body=tuple(visit(s.body)))
            elif isinstance(s, K.Intrinsic) and s.name == "gemm":
                if not s.prepacked:
                    s = _prepacked(s, kernel, plan, packed, (blocking_for, packable), added)
                if in_place is not None:
                    s = index_table(s, kernel, plan, tables, in_place, added)
            result.append(s)
        return tuple(result)

    body = visit(kernel.body)
    if not added:
        return kernel
    read = K.buffer_names(body)
    names = {b.name for b in kernel.buffers}
    params = [b for b in kernel.params if b.name in read]
    params += [K.Buffer(name, t, K.Const(size))
               for name, (t, size) in added.items() if name not in names]
    scratch = [b for b in kernel.buffers if b.scratch]
    return replace(kernel, buffers=tuple(params + scratch), body=body)


def _prepacked(s: K.Intrinsic, kernel: K.Kernel, plan, packed: dict, rules,
               added: dict) -> K.Intrinsic:
    """The gemm reading its B prepacked, or `s` itself where B is not a view of a constant
    or of a variable the plan does not assign."""
    name_b = s.buffers[1]
    if not name_b or (s.packs and s.packs[1] is not None):
        return s
    values = [x.value if isinstance(x, K.Const) else None for x in s.args[:10]]
    m, n, k, _, _, _, off_b, rsb, csb, _ = values
    index = int(name_b[1:])
    slot = plan.slots[index]
    t = kernel.buffer(s.buffers[2]).dtype
    if None in (n, k, off_b, rsb, csb) or t not in _DTYPES or \
            kernel.buffer(name_b).dtype != t or n <= 0 or k <= 0:
        return s
    blocking_for, packable = rules
    size = _source_size(slot, plan, _DTYPES[t], packable)
    corners = [off_b + i * (k - 1) * rsb + j * (n - 1) * csb for i in (0, 1) for j in (0, 1)]
    if size is None or min(corners) < 0 or max(corners) >= size:
        return s
    blocking = blocking_for(t, n)
    key = (index, off_b, rsb, csb, k, n, blocking)
    if key not in packed:
        pack = (off_b, rsb, csb, k, n, blocking)
        packed[key] = len(plan.slots)
        if slot.kind == "constant":
            plan.slots.append(Slot("constant", array=fill_packed(pack, slot.array)))
        else:  # packed from the variable's value before a run that finds it changed
            width = prepacked_width(n, blocking)
            plan.slots.append(Slot("packed", node=slot.node, pack=pack,
                                   array=aligned_empty(k * width, _DTYPES[t])))
    new = f"s{packed[key]}"
    added[new] = (t, k * prepacked_width(n, blocking))
    args = list(s.args)
    args[6], args[7], args[8] = K.Const(0), K.Const(prepacked_width(n, blocking)), K.Const(1)
    buffers = (s.buffers[0], new, *s.buffers[2:])
    return replace(s, buffers=buffers, args=tuple(args), prepacked=True)


def _source_size(slot, plan, dtype, packable):
    """The elements of a constant, or of a packable variable of fixed shape and `dtype`
    that no kernel of the plan assigns (its value cannot change during a run), else None."""
    if slot.kind == "constant":
        return slot.array.size if slot.array.dtype == dtype else None
    if slot.kind != "variable" or packable is None or not packable(slot.node) or \
            slot.node.dtype.np != dtype or \
            any(var is slot.node for var, _, _ in plan.commits):
        return None
    shape = slot.node.shape
    if shape is None or any(not isinstance(d, int) or d < 0 for d in shape):
        return None
    return math.prod(shape)


def fill_packed(pack: tuple, value: np.ndarray, out: np.ndarray = None) -> np.ndarray:
    """B = the (K, N) view `pack` = (offset, row stride, column stride, K, N, blocking)
    describes in the flat `value`, prepacked (gemm.prepack_b) into `out` or a new array."""
    off_b, rsb, csb, k, n, blocking = pack
    flat = np.ascontiguousarray(value).reshape(-1)
    size = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat[off_b:], (k, n), (rsb * size, csb * size),
                                           writeable=False)
    return prepack_b(view, blocking, out)


def index_table(s: K.Intrinsic, kernel: K.Kernel, plan, tables: dict, in_place,
                added: dict) -> K.Intrinsic:
    """The gemm with its in-place A's segment offsets read from a table, a constant slot of
    M x segments offsets (int32 where they fit), -1 for a segment of zeros; or `s` itself
    where A is not read in place or its offsets are not index arithmetic of the row and
    segment alone (evaluate_index)."""
    t = kernel.buffer(s.buffers[2]).dtype
    found = in_place(s, t)
    if found is None:
        return s
    buffer, start, inside = found
    pack = s.packs[0]
    m, k = int(s.args[0].value), int(s.args[2].value)
    segments = k // pack.lanes
    env = {K.PACK_ROW: np.arange(m, dtype=np.int64)[:, None],
           K.PACK_SEG: np.arange(segments, dtype=np.int64)[None, :]}
    starts, insides = evaluate_index(start, env), evaluate_index(inside, env)
    if starts is None or insides is None:
        return s
    offsets = np.broadcast_to(np.where(insides, starts, -1), (m, segments))
    if offsets.size and (offsets.min() < -1):
        return s
    size = kernel.buffer(buffer).size
    if offsets.size and isinstance(size, K.Const) and offsets.max() + pack.lanes > size.value:
        raise RuntimeError(f"index_table: a segment of {pack.lanes} from offset "
                           f"{offsets.max()} runs past the {size.value} elements of {buffer} "
                           "(a lowering error)")
    key = K.exact_key((start, inside, m, segments))
    if key not in tables:
        small = not offsets.size or offsets.max() < 2 ** 31 - 1
        tables[key] = len(plan.slots)
        plan.slots.append(Slot("constant", array=np.ascontiguousarray(
            offsets, np.int32 if small else np.int64).ravel()))
    index = tables[key]
    array = plan.slots[index].array
    name, dtype = f"s{index}", "i32" if array.dtype == np.int32 else "i64"
    added[name] = (dtype, array.size)
    entry = K.Load(name, K.add(K.mul(K.Var(K.PACK_ROW), segments), K.Var(K.PACK_SEG)), dtype)
    offset = entry if dtype == K.INDEX else K.Cast(entry, K.INDEX)
    # clamped, so that the element is defined (every load in bounds) where it is a zero
    first = K.Binary("max", offset, K.Const(0), K.INDEX)
    value = K.Select(K.Binary("ge", offset, K.Const(0), "bool"),
                     K.Load(buffer, K.add(first, K.Var(K.PACK_LANE)), t), K.Const(0.0, t), t)
    return replace(s, packs=(replace(pack, value=value), *s.packs[1:]))


def evaluate_index(e, env: dict):
    """The integer or boolean expression e evaluated with numpy over the arrays of `env`
    (variable name -> array; they broadcast), as the backends compute it (int64 arithmetic,
    floor division); None where e reads memory, another variable or divides by zero."""
    if isinstance(e, K.Const):
        return None if isinstance(e.value, float) else np.int64(e.value) \
            if e.dtype == K.INDEX else np.bool_(e.value) if e.dtype == "bool" else None
    if isinstance(e, K.Var):
        return env.get(e.name)
    if isinstance(e, K.Select):
        parts = [evaluate_index(x, env) for x in (e.cond, e.a, e.b)]
        return None if any(p is None for p in parts) else np.where(*parts)
    if not isinstance(e, K.Binary) or e.dtype not in (K.INDEX, "bool") \
            or e.op not in _INDEX_OPS:
        return None
    a, b = evaluate_index(e.a, env), evaluate_index(e.b, env)
    if a is None or b is None or (e.op in ("floordiv", "mod") and np.any(b == 0)):
        return None
    return _BINARY[e.op](a, b)


_INDEX_OPS = ("add", "sub", "mul", "floordiv", "mod", "max", "min", "and", "or", "lt", "le",
              "gt", "ge", "eq", "ne")


def _drop_unread(plan, kernels: list, sources: set) -> None:
    """The constant slots of `sources` (those GEMMs read prepacked now) that nothing else
    reads, no kernel, fetch, commit or branch or loop of the program, become "unused"."""
    read = set()
    for k in list(kernels) + list(plan.kernels):
        read.update(int(b.name[1:]) for b in k.params)
    read.update(f[0] for f in plan.fetch_slots if f is not None)
    read.update(c[1] for c in plan.commits)
    read.update(_predicates(plan.program or ()))
    for i in sources - read:
        plan.slots[i] = Slot("unused")


def _predicates(program) -> set:
    """The slots the program's branches and loops test."""
    found = set()
    for entry in program:
        if isinstance(entry, Loop):
            found.add(entry.pred)
            found |= _predicates(entry.cond) | _predicates(entry.body)
        elif isinstance(entry, Branch):
            found.add(entry.pred)
            found |= _predicates(entry.then) | _predicates(entry.other)
    return found
