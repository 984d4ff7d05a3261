"""Control flow in the compile driver: a `while` or `cond` node becomes a Loop or Branch of
the program, its regions compiled into the same slot table, kernel list and arena.

A while node's loop vars live in its result slots for the whole loop: copies put the
initial values there, the cond and body regions read them as their params (a param's slot
is the slot it stands for, so nothing is bound at run time), and copies at the end of the
body put the next values there. A body result that is another loop var's param goes
through a temporary first (a loop that swaps two vars). A cond node's branches each end
with copies of their results into the node's result slots.

The memory plan sees the kernels in program order, as if every region ran once; what lives
across a loop's iterations (its loop vars, everything it reads from outside, its predicate)
is kept alive to the loop's last kernel (`live_until`), so no buffer of an iteration lands
on a value the next iteration reads.
"""

from __future__ import annotations

from graphc.compiler.kernels import lone_gemm, merge_buffers, param_names, same_element_pairs
from graphc.compiler.kernels import written as kernels_written
from graphc.compiler.plan import Branch, Loop, program_kernels
from graphc.ir import kernel as K
from graphc.ir.ops.control import loop_count
from graphc.passes.lower import dt, put_row_in_place, size_of


def copy_kernel(src: str, dst: str, node) -> K.Kernel:
    """dst[i] = src[i] over a value of `node`'s dtype and shape."""
    n, t = size_of(node.shape), dt(node)
    body = K.nest(["i"], [n], [K.Store(dst, K.Var("i"), K.Load(src, K.Var("i"), t))])
    return K.Kernel("copy", (K.Buffer(src, t, K.Const(n)), K.Buffer(dst, t, K.Const(n))), (),
                    tuple(body), (), {"node": node, "copy": True})


class ControlLowering:
    """Lowers control nodes into `kernels` (shared with the driver), through `block`:
    block(roots, preset) lowers a region's graph whose params have the slots in `preset`
    ({param: slot}) and returns its program entries."""

    def __init__(self, buffers, kernels: list, block, origin: dict):
        self.buffers, self.kernels, self.block, self.origin = buffers, kernels, block, origin
        self.live_until: dict = {}  # slot -> index of the last kernel it must live through

    def lower(self, node) -> list:
        if node.op.name == "while":
            return self._while(node)
        return [self._cond(node)]

    def _copy(self, src: int, dst: int, node) -> int:
        kernel = copy_kernel(f"s{src}", f"s{dst}", node)
        kernel.notes["origin"] = self.origin.get(node, node)
        self.kernels.append(kernel)
        return len(self.kernels) - 1

    def _while(self, node) -> list:
        n, slot_of = loop_count(node), self.buffers.slot_of
        cond, body = node.attrs["cond"], node.attrs["body"]
        state = [slot_of[("result", node, i)] for i in range(n)]
        inits = [self._copy(slot_of[x], s, p) for x, s, p in
                 zip(node.inputs[:n], state, body.params)]
        unread = set(node.attrs.get("unread_inits", ()))
        for j, i in enumerate(inits):  # (compiler/loop_inits.py may compute the value in
            self.kernels[i].notes["loop_init"] = True  # place, or drop an unread one)
            if j in unread:
                self.kernels[i].notes["unread"] = True
        preset = {}
        for params in (cond.params, body.params):
            preset.update(zip(params, state))
            preset.update((p, slot_of[x]) for p, x in zip(params[n:], node.inputs[n:]))
        first = len(self.kernels)
        with self.buffers.scope():
            cond_entries = self.block(cond.results, preset)
            pred = slot_of[cond.results[0]]
        with self.buffers.scope():
            start = len(self.kernels)
            body_entries = self.block(body.results, preset)
            self._rows_in_place(body, state, start)
            self._vars_in_place(body, state, start)
            body_entries += self._next_state(body, state)
        loop = Loop(tuple(cond_entries), pred, tuple(body_entries))
        self._keep_alive(first, loop, set(preset.values()) | {pred})
        return inits + [loop]

    def _rows_in_place(self, body, state: list, start: int) -> None:
        """A loop var the body updates as put_row(var, i, row) (a TensorArray write, a saved
        value pushed) gets the row written into its own slot: the put_row kernel loses its
        copy of the whole buffer and the loop its copy back, when no later kernel of the
        body reads the var's old value and no other var takes it as its next value."""
        slot_of = self.buffers.slot_of
        for j, (r, p) in enumerate(zip(body.results, body.params)):
            if r.op.name != "put_row" or r.inputs[0] is not p or slot_of[r] == state[j] \
                    or _passed_on(body, slot_of, state, j):
                continue
            at = [k for k in range(start, len(self.kernels))
                  if self.kernels[k].notes.get("node") is r]
            if len(at) == 1 and not self._read_after(at[0], state[j]):
                self.kernels[at[0]] = put_row_in_place(self.kernels[at[0]])
                self._write_in_place(at[0], r, state[j])

    def _vars_in_place(self, body, state: list, start: int) -> None:
        """A loop var the body updates element by element from its own value (acc + g, a
        GEMM's epilogue adding into an accumulator) is written in its own slot, when no
        later kernel of the body reads its old value and no other var takes it as its next
        value: no copy back."""
        slot_of = self.buffers.slot_of
        for j, r in enumerate(body.results):
            new = f"s{slot_of[r]}"
            if slot_of[r] in state or _passed_on(body, slot_of, state, j):
                continue
            at = [k for k in range(start, len(self.kernels))
                  if new in kernels_written(self.kernels[k])]
            if len(at) == 1 and (slot_of[r], state[j]) in _element_pairs(
                    self.kernels[at[0]]) and not self._read_after(at[0], state[j]):
                self._write_in_place(at[0], r, state[j])

    def _read_after(self, k: int, slot: int) -> bool:
        """Whether a kernel after kernel k reads `slot`."""
        return any(f"s{slot}" in param_names(kernel) for kernel in self.kernels[k + 1:])

    def _write_in_place(self, k: int, result, slot: int) -> None:
        """Kernel k and the kernels after it write and read the body result `result` in
        `slot` (its loop var's own) instead of the result's slot."""
        new, old = f"s{self.buffers.slot_of[result]}", f"s{slot}"
        for i in range(k, len(self.kernels)):
            if new in param_names(self.kernels[i]):
                self.kernels[i] = merge_buffers(self.kernels[i], new, old)
        self.buffers.slot_of[result] = slot

    def _next_state(self, body, state: list) -> list:
        """Copies of the body's results into the loop vars' slots; results that are loop
        vars themselves are copied out first, so no copy reads a var already replaced."""
        slot_of, entries, moves = self.buffers.slot_of, [], []
        for i, (r, p) in enumerate(zip(body.results, body.params)):
            src = slot_of[r]
            if src == state[i]:
                continue
            if src in state:  # another loop var's current value: save it first
                temp = self.buffers.temporary(p)
                entries.append(self._copy(src, temp, p))
                src = temp
            moves.append((src, state[i], p))
        return entries + [self._copy(src, dst, p) for src, dst, p in moves]

    def _cond(self, node) -> Branch:
        slot_of = self.buffers.slot_of
        then, other = node.attrs["then"], node.attrs["else"]
        outs = [slot_of[("result", node, i)] for i in range(len(then.results))]
        branches = []
        for region in (then, other):
            preset = {p: slot_of[x] for p, x in zip(region.params, node.inputs[1:])}
            with self.buffers.scope():
                entries = self.block(region.results, preset)
                copies = [self._copy(slot_of[r], o, r) for r, o in zip(region.results, outs)
                          if slot_of[r] != o]
            branches.append(tuple(entries + copies))
        pred = slot_of[node.inputs[0]]
        if self.kernels:  # read when the branch starts: kernels before it must not reuse it
            self.live_until[pred] = max(self.live_until.get(pred, 0), len(self.kernels) - 1)
        return Branch(pred, *branches)

    def _keep_alive(self, first: int, loop: Loop, carried: set) -> None:
        """Every slot the loop reads before writing it (from outside, or carried across
        iterations) lives to the loop's last kernel."""
        indices = program_kernels([loop])
        if not indices:  # (cond a loop var, body its vars back): they are read as the loop
            before = len(self.kernels) - 1  # starts, after the kernels before it
            for slot in carried if before >= 0 else ():
                self.live_until[slot] = max(self.live_until.get(slot, before), before)
            return
        last, written = max(indices), set()
        for kernel in self.kernels[first:last + 1]:
            outs = {int(b[1:]) for b in kernels_written(kernel)}
            carried |= {int(b.name[1:]) for b in kernel.params} - outs - written
            written |= outs
        for slot in carried:
            self.live_until[slot] = max(self.live_until.get(slot, last), last)


def _passed_on(body, slot_of, state: list, j: int) -> bool:
    """Whether loop var j's current value is another var's next value (a loop that swaps
    or shifts its vars): the copies at the end of the body read it after every kernel, so
    it must not be overwritten in place."""
    return any(slot_of[r] == state[j] for i, r in enumerate(body.results) if i != j)


def _element_pairs(kernel) -> list:
    """(output, input) slots where the kernel writes each output element only after reading
    the input's element at the same index (a GEMM: in its epilogue)."""
    gemm = lone_gemm(kernel.body)
    return same_element_pairs(gemm.epilogue if gemm is not None else kernel.body)
