"""place_in_arena: arena offsets for the plan's computed values (passes/memory.py), and
elementwise kernels writing over an input that dies there.

Expects the kernels in run order, the slot table and the slots that outlive the run
(fetched values and staged assignments). Guarantees every arena slot an offset; a kernel
whose output takes its input's place reads and writes one buffer from then on. Not when the
output is fetched: a run may point a fetched slot at the caller's out= array. The output's
element i overwrites the input's element i only when both have the same dtype: a wider one
(float32 over bools) would clobber elements not read yet, and the merged buffer has one
element type (the CUDA renderer reads an int32 input as the float32 buffer it became).
"""

from __future__ import annotations

from graphc.compiler.kernels import in_place_pairs, merge_buffers, reserved, written
from graphc.passes.memory import MemoryPlan, plan_memory


def place_in_arena(kernels: list, slots: list, nbytes: dict, live_out: set, fetched: set,
                   live_until: dict = None, parts: dict = None):
    """(kernels, MemoryPlan): the kernels with in-place outputs merged into their inputs;
    the slots' offsets are set. `live_until` {slot: kernel index}: slots a loop reads across
    its iterations live at least to that kernel. Copy kernels (loop vars) write nothing in
    place. `parts` {slot: (slot it lies in, byte offset)}: compiler/views.py's."""
    arena = {i for i, s in enumerate(slots) if s.kind == "arena"}

    def dtype(i):
        return slots[i].node.dtype
    io, candidates = [], {}
    for k, kernel in enumerate(kernels):
        out = ({int(b[1:]) for b in written(kernel)} | reserved(kernel)) & arena
        read = {int(b.name[1:]) for b in kernel.params} & arena - out
        io.append((sorted(out), sorted(read)))
        candidates[k] = [] if kernel.notes.get("copy") else [
            (o, i) for o, i in in_place_pairs(kernel) if i in arena and o in arena
            and o not in fetched and dtype(o) == dtype(i)]
    memory: MemoryPlan = plan_memory(io, {i: nbytes[i] for i in arena}, live_out, candidates,
                                     {s: k for s, k in (live_until or {}).items() if s in arena},
                                     parts)
    for i in arena:
        slots[i].offset = memory.offsets[i]
    kernels = list(kernels)
    for k, (out, inp) in memory.in_place.items():
        kernels[k] = merge_buffers(kernels[k], f"s{inp}", f"s{out}")
    return kernels, memory

