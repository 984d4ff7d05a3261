"""fuse (first step): elementwise producers computed inside the kernel that consumes them.

Expects specialized nodes in topological order and the fetched ones. Chooses which
elementwise nodes need no buffer of their own: a node is inlined when every node that reads
it ends up in the same kernel and reads it over its own index space (an elementwise consumer
of the same shape, the input of a reduction, the value of an assignment). Working from the
outputs back, chains and trees of elementwise ops, and the elementwise producers of a
reduction, collapse into one kernel each. A node read by several kernels keeps its buffer,
unless its expression is small enough to recompute in each (up to MAX_COPIES kernels).
Fetched nodes always keep theirs. Lowering consumes the set: it builds inlined nodes as
expressions (LLVM's GVN then shares what a kernel computes twice).

gemm_epilogues (third step, after fuse_rows) gives a float matmul's (or implicit-GEMM
convolution's, conv.as_gemm) first reading kernel,
when that is an elementwise kernel or an assignment of the matmul's shape and dtype (bias
plus activation, a ReLU's gradient, an SGD update from a weight gradient), to the GEMM as
its epilogue: one kernel, run in the consumer's place,
which applies the consumer to each block of the product while it is still in cache.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from graphc.ir.node import Node
from graphc.ir.ops.array import contiguous_slice_offset
from graphc.ir.ops.conv import as_gemm
from graphc.passes.lower import ELEMENTWISE, VIEW_OPS, expanded_inputs

REDUCTIONS = ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min", "reduce_any",
              "reduce_all")


MAX_COPIES = 3  # kernels that may each recompute one small elementwise expression
MAX_COPIED_OPS = 3  # ops in an expression worth recomputing rather than storing
# Ops that take tens of cycles a vector (vecmath's polynomials, a division each): each
# counts as this many ops where the expression's readers are all elementwise kernels, so
# such a value read by two of them is stored once rather than computed in both. (An LSTM
# cell's backward pass recomputed each gate's sigmoid in three kernels: W9 computed 12
# transcendentals an element where 5 do.) A reduction's input is still recomputed (the
# row kernels of fuse_rows read it in two passes: softmax's exp(x - max)).
COSTLY = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "erf",
                    "pow", "atan2"})
COSTLY_OPS = MAX_COPIED_OPS + 1


def inline_elementwise(order, fetches) -> frozenset:
    readers = defaultdict(set)
    for node in order:
        for x in node.inputs:
            readers[x].add(node)
    fetched = set(fetches)
    cost = expression_cost(order, readers, fetched)
    weighted = expression_cost(order, readers, fetched, COSTLY_OPS)
    kernels_of: dict = {}  # node -> the nodes whose kernels compute it
    inlined = set()
    for node in reversed(order):
        kernels_of[node] = {node}
        if node in fetched or node.op.name not in ELEMENTWISE or not readers[node]:
            continue
        if not all(_reads_in_place(r, node) for r in readers[node]):
            continue
        kernels = set().union(*(kernels_of[r] for r in readers[node]))
        # one reading kernel: no cost at all; a few: recompute a small expression in each
        # rather than write it to memory and read it back (softmax's exp(x - max))
        if len(kernels) == 1 or (len(kernels) <= MAX_COPIES and recompute_cost(
                node, cost, weighted, readers) <= MAX_COPIED_OPS):
            kernels_of[node] = kernels
            inlined.add(node)
    inlined = _limit_expressions(order, inlined)
    inlined |= _transposes_read_by_gemm(order, fetched, readers)
    inlined |= _transposes_read_by_pad(order, fetched, readers)
    inlined |= _pads_read_by_pool(order, fetched, readers)
    inlined |= _slices_read_elementwise(order, fetched, readers, inlined)
    return frozenset(inlined)


def expression_cost(order, readers, fetched, costly: int = 1) -> dict:
    """Ops a node's expression surely carries: itself and its single-reader elementwise
    producers (which fusion always inlines into it); a COSTLY op counts `costly` times."""
    cost: dict = {}
    for node in order:
        cost[node] = (costly if node.op.name in COSTLY else 1) + sum(
            cost[x] for x in node.inputs
            if x.op.name in ELEMENTWISE and len(readers[x]) == 1 and x not in fetched)
    return cost


def recompute_cost(node, cost: dict, weighted: dict, readers) -> int:
    """What recomputing node's expression in each reading kernel costs, in ops: its COSTLY
    ops weighted unless a reduction reads it (see COSTLY)."""
    if any(r.op.name in REDUCTIONS for r in readers[node]):
        return cost[node]
    return weighted[node]


def _transposes_read_by_gemm(order, fetched, readers) -> set:
    """Transposes of float matrices read only by matmuls: GEMM reads them by strides."""
    out = set()
    for node in order:
        if node.op.name != "transpose" or node in fetched or len(node.shape) != 2 \
                or node.dtype.name not in ("float32", "float64") or not readers[node]:
            continue
        if all(r.op.name == "matmul" and len(r.shape) == 2 for r in readers[node]):
            out.add(node)
    return out


def _transposes_read_by_pad(order, fetched, readers) -> set:
    """Transposes read only by pads, which read them through the permuted index (Lowering.at):
    an NCHW image padded for a channels-last convolution (simplify's pad_few_channels) in
    one pass instead of two."""
    return {node for node in order
            if node.op.name == "transpose" and node not in fetched and readers[node]
            and all(r.op.name == "pad" for r in readers[node])}


def _pads_read_by_pool(order, fetched, readers) -> set:
    """Pads read only by pooling, which reads them through the padded index (Lowering.at):
    the zeros (or reflections) are read where the pool reads them, without a padded copy
    written and read back (a ResNet's zero padding before its VALID 3x3/2 max pool, as
    Keras writes it: ResNet-18's 112 x 112 x 64, 0.30 -> 0 ms, its pool 0.11 -> 0.13 ms)."""
    return {node for node in order
            if node.op.name == "pad" and node not in fetched and readers[node]
            and all(r.op.name == "pool" for r in readers[node])}


def _slices_read_elementwise(order, fetched, readers, inlined) -> set:
    """Slices read only by elementwise kernels of their shape, which read the slice's input
    at the sliced index (Lowering.load): an LSTM's four gates cut from one product are read
    where they lie, not copied out first (W9: eight 32 x 256 copies an iteration). Not a
    slice of contiguous elements, which is a range of its input's buffer instead
    (compiler/views.py)."""
    return {node for node in order
            if node.op.name == "slice" and node not in fetched and readers[node]
            and node.inputs[0] not in inlined and contiguous_slice_offset(node) is None
            and all(r.op.name in ELEMENTWISE and r.shape == node.shape
                    for r in readers[node])}


MAX_DEPTH = 48  # deeper expressions are cut into kernels: recursion and compile time
# ops in one expression once every read of an inlined node is written out (a kernel's
# expressions are trees: y = f(x) * x holds x's expression twice, so a chain of n such
# nodes would hold 2**n ops and lowering, rendering and LLVM would take as long)
MAX_OPS = 256


def _limit_expressions(order, inlined: set) -> set:
    """Keep every fused expression at most MAX_DEPTH inlined nodes deep and MAX_OPS ops
    large. A node deeper than that is materialized (its readers then load it, as for any
    kernel); an expression larger than that materializes its largest inlined input, which
    is then computed once, in a kernel of its own, wherever it was written out."""
    position = {n: i for i, n in enumerate(order)}
    depth: dict = {}
    ops: dict = {}  # expression_ops' memo: in order, so inputs are counted before readers
    for node in order:
        d = 1 + max((depth.get(x, 0) for x in node.inputs if x in inlined), default=0)
        if node in inlined and d > MAX_DEPTH:
            inlined.discard(node)
        depth[node] = d if node in inlined else 0
        while expression_ops(node, inlined, ops) > MAX_OPS and \
                any(x in inlined for x in node.inputs):  # (a concat of 300 loads is as is)
            largest = _largest_part(node, inlined, ops, position)
            inlined.discard(largest)
            for later in order[position[largest]:position[node] + 1]:
                ops.pop(later, None)  # counted with `largest` written out
    return inlined


def _largest_part(node, inlined, ops, position):
    """The inlined node whose copies carry the most of `node`'s expression (ops times
    copies: a value read twice counts twice)."""
    copies = {node: 1}
    parts = sorted(_inlined_inputs(node, inlined), key=position.__getitem__, reverse=True)
    for reader in [node] + parts:
        for x in expanded_inputs(reader):
            if x in inlined:
                copies[x] = copies.get(x, 0) + copies[reader]
    return max(parts, key=lambda x: copies[x] * ops[x])


def _inlined_inputs(node, inlined) -> set:
    """The inlined nodes `node`'s expression writes out."""
    seen: set = set()
    stack = [node]
    while stack:
        for x in stack.pop().inputs:
            if x in inlined and x not in seen:
                seen.add(x)
                stack.append(x)
    return seen


def expression_ops(node, inlined, ops: dict = None) -> int:
    """Ops in `node`'s expression written out as lowering writes it: itself, and each
    inlined input once per copy (loads count one). `ops` memoizes (node -> count)."""
    ops = {} if ops is None else ops
    if node not in ops:
        ops[node] = 1 + sum(expression_ops(x, inlined, ops) if x in inlined else 1
                            for x in expanded_inputs(node))
    return ops[node]


def _reads_in_place(reader, node) -> bool:
    """Whether `reader`'s kernel reads `node` at its own indices, one element per element."""
    name = reader.op.name
    if name in ELEMENTWISE:
        return reader.shape == node.shape
    if name in REDUCTIONS:
        return reader.inputs[0] is node
    if name == "assign":
        return reader.inputs[1] is node and reader.shape == node.shape
    return False


# --- gemm epilogues -------------------------------------------------------------------------
NO_KERNEL = ("placeholder", "constant", "variable", "read", "random", "no_op")
GEMM_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class GemmEpilogue:
    """A matmul and the elementwise consumer that runs as its GEMM's epilogue."""
    matmul: Node
    consumer: Node


def gemm_epilogues(order, inlined, groups) -> list:
    """The (matmul, consumer) pairs to lower as one kernel (see the module docstring).

    The consumer must be a kernel of its own (not inlined, not in a row group) computing an
    elementwise expression (or assigning one to a variable) of the matmul's shape and dtype,
    reading the matmul directly.
    It must be the first kernel to read the matmul's value, directly or through a view: the
    pair then runs in the consumer's place, where every other input of the consumer is
    ready and no kernel has needed the product yet.
    """
    group_of = {m: g for g in groups for m in g.members}
    position = {n: i for i, n in enumerate(order)}

    def unit_position(node):
        return position[group_of[node].members[-1]] if node in group_of else position[node]
    first_reader: dict = {}  # a materialized value -> (position, node) of its first reader
    direct: dict = {}  # a kernel's node -> the values its expression reads directly
    for node in order:
        if node in inlined or node.op.name in VIEW_OPS + NO_KERNEL:
            continue
        direct[node] = _leaves(node, inlined, through_views=False)
        pos = unit_position(node)
        for leaf in _leaves(node, inlined, through_views=True):
            if leaf not in first_reader or pos < first_reader[leaf][0]:
                first_reader[leaf] = (pos, node)
    out, taken = [], set()
    for node in order:
        gemm = node.op.name == "matmul" or (node.op.name == "conv" and as_gemm(node))
        if not gemm or node.dtype.name not in GEMM_DTYPES or node not in first_reader:
            continue
        consumer = first_reader[node][1]
        # one GEMM per kernel: a consumer reading two products (x@W + h@U) takes the first
        # as its epilogue; the second is computed in its own place, before the consumer
        if consumer in taken:
            continue
        # a view of C that an elementwise consumer of C's shape also reads has C's elements in
        # C's order, so it reads the element the epilogue is given: views need no check
        if (consumer.op.name in ELEMENTWISE or consumer.op.name == "assign") \
                and consumer not in group_of \
                and consumer.shape == node.shape and consumer.dtype == node.dtype \
                and node in direct[consumer] and node not in _read_elsewhere(consumer, inlined):
            out.append(GemmEpilogue(node, consumer))
            taken.add(consumer)
    return out


def _read_elsewhere(node, inlined) -> set:
    """The values node's kernel reads through an inlined slice, transpose or pad: at other
    indices than its own (a GEMM's epilogue, given one block of C, must not read another:
    tanh(reverse(x @ w)) read rows of C not computed yet)."""
    out, stack, seen = set(), [(x, False) for x in node.inputs], set()
    while stack:
        x, moved = stack.pop()
        if (x, moved) in seen:
            continue
        seen.add((x, moved))
        if x in inlined:
            stack.extend((y, moved or x.op.name not in ELEMENTWISE) for y in x.inputs)
        elif moved:
            out.add(x)
    return out


def _leaves(node, inlined, through_views: bool) -> set:
    """The materialized values node's kernel reads: its inputs, through inlined producers
    (and, with through_views, through views to the buffer's owner)."""
    out, stack, seen = set(), list(node.inputs), set()
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if x in inlined:
            stack.extend(x.inputs)
        elif through_views and x.op.name in VIEW_OPS and x.op.name != "read":
            out.add(x)
            stack.append(x.inputs[0])
        else:
            out.add(x)
    return out
