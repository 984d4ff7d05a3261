"""pack_ahead: a GEMM in a loop whose B the loop never writes reads B packed once, before
the loop, instead of packing it again on every iteration.

The LLVM GEMM copies B into its packed panels as it runs (codegen_llvm/gemm). An RNN's
step multiplies by the same weights on every iteration: W9's LSTM packs its 320 x 1024
kernel 64 times forward and its transpose 64 times backward, a third of each GEMM's time at
32 rows. A constant B, or a variable the plan never assigns, is already packed ahead, once
per value (codegen_llvm/prepack.py); this pass covers the rest inside loops: a value
computed before the loop, a feed, a variable the plan updates after the loop.

For each loop of the top-level program and each gemm of its kernels (not in a batch loop:
constant offsets and strides) whose B slot no kernel of the loop writes, a kernel `k_pack`
added just before the loop copies B into a new arena slot in the packed layout
(gemm.prepack_b's, for the blocking the renderer will choose: `blocking_for(dtype, n)`),
and the gemm reads that slot with `prepacked` set. The micro-kernels get the same numbers
in the same order, so the product is the same bit for bit. The packed slot lives to the
loop's last kernel. Kernels are renumbered (the program's entries and live_until with
them) so that their order stays the run order.

Expects the kernels in run order, after write_directly and accumulate_products (their
writes are final) and before make_views and place_in_arena (which see the new slot).
"""

from __future__ import annotations

from dataclasses import replace

from graphc.compiler.kernels import written
from graphc.compiler.plan import Branch, Loop, Slot, program_kernels
from graphc.ir import kernel as K

_GEMM_DTYPES = ("f32", "f64")


def pack_ahead(kernels: list, slots: list, nbytes: dict, program, live_until: dict,
               commits, blocking_for):
    """(kernels, program, live_until) with the loops' invariant B operands packed ahead as
    above; slots and nbytes gain the packed slots. blocking_for None: unchanged."""
    if blocking_for is None or program_kernels(program) != list(range(len(kernels))):
        return kernels, program, live_until
    assigned = {id(var) for var, _, _ in commits}
    inserted: dict = {}  # kernel index -> the pack kernels that run just before it
    kernels = list(kernels)
    for entry in program:
        if not isinstance(entry, Loop):
            continue
        inside = program_kernels([entry])
        writes = {int(name[1:]) for i in inside for name in written(kernels[i])}
        packed: dict = {}  # (B slot, offset, strides, K, N, blocking) -> packed slot
        packs: list = []
        for i in inside:
            kernels[i] = _rewrite(kernels[i], slots, nbytes, writes, assigned, blocking_for,
                                  packed, packs)
        if packs:
            inserted[min(inside)] = packs
    if not inserted:
        return kernels, program, live_until
    # renumber: each old kernel moves up by the pack kernels inserted at or before it
    shift, moved, out = 0, {}, []
    for i, kernel in enumerate(kernels):
        for pack in inserted.get(i, ()):
            out.append(pack)
            shift += 1
        moved[i] = i + shift
        out.append(kernel)
    program = _renumbered(program, moved, inserted)
    live_until = {slot: moved[k] for slot, k in live_until.items()}
    for first, packs in inserted.items():
        loop = next(e for e in program if isinstance(e, Loop)
                    and program_kernels([e])[:1] == [moved[first]])
        last = max(program_kernels([loop]))
        for pack in packs:
            slot = int(pack.buffers[1].name[1:])
            live_until[slot] = max(live_until.get(slot, last), last)
    return out, program, live_until


def _renumbered(program, moved: dict, inserted: dict) -> tuple:
    """The top-level program with kernel indices moved and the pack kernels' indices
    before the loops they serve."""
    out = []
    for entry in program:
        indices = program_kernels([entry]) if isinstance(entry, Loop) else ()
        if indices:  # (a loop of no kernels: a param for its predicate and its vars)
            count = len(inserted.get(indices[0], ()))
            out += range(moved[indices[0]] - count, moved[indices[0]])
        out.append(_moved(entry, moved))
    return tuple(out)


def _moved(entry, moved: dict):
    if isinstance(entry, Loop):
        return Loop(_moved(entry.cond, moved), entry.pred, _moved(entry.body, moved))
    if isinstance(entry, Branch):
        return Branch(entry.pred, _moved(entry.then, moved), _moved(entry.other, moved))
    if isinstance(entry, tuple):
        return tuple(_moved(e, moved) for e in entry)
    return moved[entry]


def _rewrite(kernel: K.Kernel, slots, nbytes, writes, assigned, blocking_for, packed: dict,
             packs: list) -> K.Kernel:
    """The kernel with each top-level gemm whose B qualifies reading its packed copy (a pack
    kernel appended to `packs` for each new copy)."""
    body, added = [], {}
    for s in kernel.body:
        if isinstance(s, K.Intrinsic) and s.name == "gemm":
            s = _packed_gemm(s, kernel, slots, nbytes, writes, assigned, blocking_for,
                             packed, packs, added)
        body.append(s)
    if not added:
        return kernel
    body = tuple(body)
    read = K.buffer_names(body)
    params = [b for b in kernel.params if b.name in read]
    params += [b for b in added.values() if b.name not in {p.name for p in params}]
    scratch = [b for b in kernel.buffers if b.scratch]
    return replace(kernel, buffers=tuple(params + scratch), body=body)


def _packed_gemm(s: K.Intrinsic, kernel, slots, nbytes, writes, assigned, blocking_for,
                 packed: dict, packs: list, added: dict) -> K.Intrinsic:
    name_b, name_c = s.buffers[1], s.buffers[2]
    if not name_b or s.prepacked or (s.packs and s.packs[1] is not None) \
            or not all(isinstance(x, K.Const) for x in s.args[:10]):
        return s
    m, n, k, _, _, _, off_b, rsb, csb, _ = (int(x.value) for x in s.args[:10])
    t = kernel.buffer(name_c).dtype
    source = kernel.buffer(name_b)
    b = int(name_b[1:])
    slot = slots[b]
    if t not in _GEMM_DTYPES or source.dtype != t or m <= 0 or n <= 0 or k <= 0 \
            or b in writes or not isinstance(source.size, K.Const):
        return s
    # constants and variables the plan never assigns are packed once per value instead
    if slot.kind not in ("arena", "feed", "host") and not (
            slot.kind == "variable" and id(slot.node) in assigned):
        return s
    corners = [off_b + i * (k - 1) * rsb + j * (n - 1) * csb for i in (0, 1) for j in (0, 1)]
    if min(corners) < 0 or max(corners) >= source.size.value:
        return s
    blocking = blocking_for(t, n)
    width = -(-n // blocking.nr) * blocking.nr
    key = (b, off_b, rsb, csb, k, n, blocking)
    if key not in packed:
        packed[key] = len(slots)
        slots.append(Slot("arena", node=slot.node))
        nbytes[packed[key]] = k * width * K.WIDTH[t] // 8
        packs.append(pack_kernel(source, f"s{packed[key]}", (off_b, rsb, csb, k, n),
                                 blocking, slot.node))
    new = f"s{packed[key]}"
    added[new] = K.Buffer(new, t, K.Const(k * width))
    args = list(s.args)
    args[6], args[7], args[8] = K.Const(0), K.Const(width), K.Const(1)
    buffers = (s.buffers[0], new, *s.buffers[2:])
    return replace(s, buffers=buffers, args=tuple(args), prepacked=True)


def pack_kernel(source: K.Buffer, dst: str, view: tuple, blocking, node) -> K.Kernel:
    """A kernel writing the (K, N) view (offset, row stride, column stride, K, N) of
    `source` into buffer `dst` in gemm.prepack_b's layout for `blocking`: K cut into blocks
    of KC rows, each block's NR-column panels one after the other, each row-major, the
    columns past N zero. Its notes name `node`, the value the source holds, and say
    "pack_ahead" (explain lists it as a packed copy of that value)."""
    off, rsb, csb, k, n = view
    t, nr, kc_full = source.dtype, blocking.nr, blocking.kc
    width = -(-n // nr) * nr
    whole = n // nr  # panels without padding columns
    body = []
    for start, count, kc in _blocks(k, kc_full):
        # block pb (of `count`, each kc rows) starts at row start + pb * kc
        pb, q, r, lane = (K.Var(v) for v in ("pb", "q", "r", "l"))
        row = K.add(K.add(start, K.mul(pb, kc)), r)
        block_at = K.mul(K.add(start, K.mul(pb, kc)), width)

        def dst_index(panel):
            return K.add(K.add(block_at, K.mul(panel, nr * kc)), K.add(K.mul(r, nr), lane))

        def src_index(col):
            return K.add(K.add(off, K.mul(row, rsb)), K.mul(col, csb))
        if whole:
            col = K.add(K.mul(q, nr), lane)
            # (panels outermost: the loop threads split)
            body += K.nest(["q", "pb", "r", "l"], [whole, count, kc, nr], [
                K.Store(dst, dst_index(q), K.Load(source.name, src_index(col), t))])
        if whole * nr < n:  # the last panel, its columns past N zero
            col = K.add(whole * nr, lane)
            inside = K.Binary("lt", col, K.Const(n), "bool")
            clamped = K.Binary("min", col, K.Const(n - 1), K.INDEX)
            value = K.Select(inside, K.Load(source.name, src_index(clamped), t),
                             K.Const(0.0, t), t)
            body += K.nest(["pb", "r", "l"], [count, kc, nr], [
                K.Store(dst, dst_index(K.Const(whole)), value)])
    buffers = (source, K.Buffer(dst, t, K.Const(k * width)))
    return K.Kernel("k_pack", buffers, (), tuple(body),
                    notes={"node": node, "origin": node, "pack_ahead": True})


def _blocks(k: int, kc: int) -> list:
    """(first row, count, rows each) of K's whole KC blocks and of its last, shorter one."""
    out = []
    if k // kc:
        out.append((0, k // kc, kc))
    if k % kc:
        out.append((k - k % kc, 1, k % kc))
    return out
