"""loop_inits: a loop var's initial value is computed in the loop var's own slot.

A while loop's vars live in slots of their own for the whole loop, and copies put the
initial values there before it starts (compiler/control.py). Most initial values are
computed just for the loop: a zero-filled TensorArray or saved-value stack, a zero state.
W9's LSTM step filled 17 MB of stacks with zeros and then copied them into its loop vars,
10 copy kernels (and as many functions for LLVM to compile) for nothing.

For each such copy (src -> var slot) in a program list, where src is an arena slot that one
kernel W of the same list, before the copy, writes, and nothing between W and the copy
touches the var slot:
- when no other kernel reads src (and nothing after the run does: not fetched, not
  committed, not kept alive by a loop), W writes the var slot instead and the copy goes;
- otherwise, when W computes from constants alone (a fill: zeros shared by several loop
  vars), the copy becomes a copy of W writing the var slot.
A copy into a var whose initial value the loop never reads (attrs["unread_inits"]: the
stacks a loop saves rows in for its gradient, which it writes before anything reads them)
is dropped whatever its source, and the source's writer with it when that is a fill nothing
else reads: W9's forward and backward loops zero-filled 14 MB of stacks for nothing.

Expects the kernels in run order, before accumulate_products and pack_ahead (which renumber
kernels too) and before make_views and place_in_arena (which see the renamed slots).
"""

from __future__ import annotations

from dataclasses import replace

from graphc.compiler.kernels import param_names, written
from graphc.compiler.plan import Branch, Loop, program_kernels, program_lists, without_kernels
from graphc.ir import kernel as K


def init_in_place(kernels: list, slots: list, program, live_until: dict, keep: set):
    """(kernels, program, live_until) with loop vars' initial values written in place as
    above. `keep`: slots read after the run or by a loop after their writer's list."""
    if program_kernels(program) != list(range(len(kernels))):
        return kernels, program, live_until
    kernels = list(kernels)
    preds = _preds(program)
    removed: set = set()
    for entries in program_lists(program):
        for at, entry in enumerate(entries):
            if not isinstance(entry, int) or not kernels[entry].notes.get("loop_init"):
                continue
            if kernels[entry].notes.get("unread"):
                _leave_unfilled(kernels, slots, entry, keep | preds, removed)
            else:
                _place(kernels, slots, entries[:at], entry, keep | preds, removed)
    if not removed:
        return kernels, program, live_until
    return without_kernels(kernels, program, live_until, removed, later=False)


def _place(kernels: list, slots: list, earlier, copy: int, keep: set, removed: set) -> None:
    """Init copy `copy` (src -> var) written in place, when `earlier` (the entries before
    it in its list) holds its source's one writer as above."""
    kernel = kernels[copy]
    src, var = (b.name for b in kernel.params)
    source = int(src[1:])
    if slots[source].kind != "arena" or source in keep:
        return
    writers = [i for i, k in enumerate(kernels) if src in written(k) and i not in removed]
    if len(writers) != 1 or writers[0] not in earlier:
        return
    writer = writers[0]
    if any(var in param_names(kernels[i]) for i in range(writer + 1, copy) if i not in removed):
        return
    readers = [i for i, k in enumerate(kernels) if i not in (writer, copy)
               and i not in removed and src in param_names(k)]
    if not readers:
        kernels[writer] = _renamed(kernels[writer], src, var)
        removed.add(copy)
    elif _fill(kernels[writer], slots):
        fill = _renamed(kernels[writer], src, var)
        fill.notes.update(origin=kernel.notes.get("origin"), node=kernel.notes.get("node"))
        fill.notes.pop("input_slots", None)
        kernels[copy] = fill


def _leave_unfilled(kernels: list, slots: list, copy: int, keep: set, removed: set) -> None:
    """Init copy `copy` (src -> var) of a value the loop never reads (attrs["unread_inits"]:
    a stack of saved rows): it becomes an empty kernel that only reserves the var's slot
    (notes["reserves"]: the memory plan keeps the slot from there, as from the copy's
    write, so no buffer of an iteration takes its place), and src's writer goes too when
    it is a fill that nothing else reads."""
    kernel = kernels[copy]
    src, var = (b.name for b in kernel.params)
    kernels[copy] = replace(kernel, buffers=(), body=(),
                            notes={**kernel.notes, "reserves": int(var[1:])})
    source = int(src[1:])
    if slots[source].kind != "arena" or source in keep:
        return
    writers = [i for i, k in enumerate(kernels) if src in written(k) and i not in removed]
    if len(writers) != 1 or written(kernels[writers[0]]) != {src} or \
            not _fill(kernels[writers[0]], slots):
        return
    if not any(src in param_names(k) for i, k in enumerate(kernels)
               if i != writers[0] and i not in removed):
        removed.add(writers[0])


def _fill(kernel: K.Kernel, slots: list) -> bool:
    """Whether the kernel computes its output from constants alone, with no GEMM: zeros,
    a constant broadcast, a range (as cheap to repeat as to copy)."""
    reads = param_names(kernel) - written(kernel)
    return all(slots[int(name[1:])].kind == "constant" for name in reads) and \
        not _has_intrinsic(kernel.body)


def _has_intrinsic(stmts) -> bool:
    return any(isinstance(s, K.Intrinsic) or _has_intrinsic(K.substatements(s))
               for s in stmts)


def _renamed(kernel: K.Kernel, old: str, new: str) -> K.Kernel:
    """The kernel with buffer `old` named `new`, its notes a copy (input_slots renamed)."""
    notes = dict(kernel.notes)
    if "input_slots" in notes:
        notes["input_slots"] = [int(new[1:]) if s == int(old[1:]) else s
                                for s in notes["input_slots"]]
    return replace(K.rename_buffers(kernel, {old: new}), notes=notes)


def _preds(program) -> set:
    """The slots loops and branches test."""
    out = set()
    for entries in program_lists(program):
        out |= {e.pred for e in entries if isinstance(e, (Loop, Branch))}
    return out
