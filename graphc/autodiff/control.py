"""VJPs of control flow: the gradient of a cond is a cond of the branches' gradients; the
gradient of a while loop is a loop running the body's VJP backwards over the loop vars
that a copy of the forward loop saved, one row per iteration.

    cond(p, caps; T, E), cotangents g:  d caps = cond(p, caps, g; dT, dE)
        where dT(caps, g) = VJP of T at caps applied to g (and dE likewise).
    while(s0, caps; C, F) run n times, s_{k+1} = F(s_k, caps), cotangent g_n of s_n:
        forward copy: also k and stacks S_x, S_x[k] = x at iteration k (maximum_iterations
                      rows), for the values x of the body the backward loop reads
        backward:     for k = n-1 .. 0:  (g_k, dcaps_k) = VJP of F at (S[k], caps) on g_{k+1}
        d s0 = g_0,  d caps = sum_k dcaps_k
The forward copy saves only what the backward loop reads: loop vars, the body's matmul and
convolution results (rather than computing them again) and its random draws (which must be
the same draws); the rest of the body's forward is computed again from those inside the
backward loop. The forward copy carries attrs["saves"] = the original loop's loop_id: the
compile driver and the reference target let it compute the original's results too
(regions.share_saving_loops), so the forward loop runs once.
"""

from __future__ import annotations

import itertools

import numpy as np

from graphc.autodiff import build as B
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import make_node, topo_sort
from graphc.ir.ops.control import loop_count, regions
from graphc.ir.regions import close_regions, new_param, substitute, without_prints
from graphc.ir.values import node_value

_SAVING_IDS = itertools.count(1 << 40)  # loop ids of the forward copies (apart from the API's)


def control_vjp(node, gs: list, builder: B.Builder, describe, gradients) -> list:
    """Per input of a control node, the Value of its gradient or None; gs: per result of
    the node, its cotangent Value or None (no gradient reaches it). `gradients` is
    reverse.gradients, which differentiates the regions."""
    walk = _Walk(gradients)
    if node.op.name == "cond":
        return _cond_vjp(node, gs, builder, walk)
    return _while_vjp(node, gs, builder, describe, walk)


def _item(builder, node, index: int) -> B.Value:
    return builder.make("item", (builder.wrap(node),), {"index": index})


class _Walk:
    """d(sum ys * gs)/d(each target) as nodes or None, by the reverse walk given. The walk
    stops at the targets: what lies beyond them (a loop's saved values, its captured
    inputs) is differentiated by the walk around the control node, not inside it."""

    def __init__(self, gradients):
        self.gradients = gradients

    def __call__(self, ys, gs, targets) -> list:
        return self.gradients(ys, gs, [[t] for t in targets], stops=frozenset(targets))


def _zeros_or(grad, like) -> object:
    """The gradient node, or zeros shaped like `like` (a node) where none flows."""
    if grad is not None:
        return grad
    return B.zeros_like(B.Builder().wrap(like)).node


def _all_nodes(result_lists) -> frozenset:
    return frozenset(n for results in result_lists for n in topo_sort(list(results)))


# --- cond ------------------------------------------------------------------------------------
def _cond_vjp(node, gs, builder, _gradients) -> list:
    caps = node.inputs[1:]
    wanted = [j for j, x in enumerate(caps) if x.dtype.kind == "f"]
    outs = [i for i, g in enumerate(gs) if g is not None]
    if not wanted or not outs:
        return [None] * len(node.inputs)
    cap_params = [new_param(x.dtype, x.shape) for x in caps]
    g_params = [new_param(gs[i].dtype, gs[i].shape) for i in outs]
    result_lists = []
    for region in (node.attrs["then"], node.attrs["else"]):
        ys = substitute(region.results, dict(zip(region.params, cap_params)))
        grads = _gradients([ys[i] for i in outs], g_params, [cap_params[j] for j in wanted])
        result_lists.append(without_prints([_zeros_or(g, cap_params[j])
                                            for g, j in zip(grads, wanted)]))
    # everything a gradient branch computes stays in it: only the taken branch runs
    (then, other), extra, after = close_regions(cap_params + g_params, result_lists,
                                                _all_nodes(result_lists))
    inputs = [node.inputs[0], *caps, *(gs[i].node for i in outs), *extra]
    grad = make_node(prims.get("cond"), inputs, {"then": then, "else": other},
                     builder.deps + tuple(after))
    out = [None] * len(node.inputs)
    for k, j in enumerate(wanted):
        out[1 + j] = _item(builder, grad, k)
    return out


# --- while -----------------------------------------------------------------------------------
def _while_vjp(node, gs, builder, describe, walk) -> list:
    n, bound = loop_count(node), node.attrs["bound"]
    inits, caps = node.inputs[:n], node.inputs[n:]
    floats = [j for j in range(n) if inits[j].dtype.kind == "f"]
    wanted = [j for j, x in enumerate(caps) if x.dtype.kind == "f"]
    if not any(gs[j] is not None for j in floats):
        return [None] * len(node.inputs)
    if bound < 0:
        raise LookupError(
            f"No gradient for {describe(node)}: a while_loop is differentiated only with a "
            "constant maximum_iterations (graphc saves each iteration's loop vars in a "
            "buffer of that many rows); pass maximum_iterations=")
    nested = _nested_draw(node.attrs["body"])
    if nested is not None:
        raise LookupError(
            f"No gradient for {describe(node)}: the random op {describe(nested)} is inside a "
            "loop or branch within its body, and the backward pass would draw it again "
            "(gradients through such draws are not supported yet); draw it in the loop "
            "body itself")
    back = _Backward(node, floats, wanted, gs, walk, describe,
                     bound if _runs_to_bound(node) else 0)
    saving = _saving_loop(node, bound, builder, back.needed)
    trips = _item(builder, saving, n)
    stacks = {x: _item(builder, saving, n + 1 + i).node for i, x in enumerate(back.needed)}
    finals = [_item(builder, saving, j) for j in range(n)]
    g_init = [gs[j] if gs[j] is not None else B.zeros_like(finals[j]) for j in floats]
    c_init = [B.zeros_like(builder.wrap(caps[j])) for j in wanted]
    loop, cap_grads = back.loop(trips, g_init, c_init, stacks, builder, bound)
    out = [None] * len(node.inputs)
    for k, j in enumerate(floats):
        out[j] = _item(builder, loop, 1 + k)
    for k, j in enumerate(wanted):
        out[n + j] = cap_grads[k]
    return out


# the most bytes the two stacks of a stacked product may take (_Backward)
STACKED_PRODUCT_BYTES = 64 << 20


def _runs_to_bound(node) -> bool:
    """Whether the while loop always runs its bound's number of times (at least once): its
    condition is `i < L` over counters, and-ed (a counter: a loop var starting at a constant
    and stepping by 1 in the body; L a constant at least `bound` steps from the start).
    dynamic_rnn's, scan's and map_fn's loops over a static length are such loops."""
    n, bound = loop_count(node), node.attrs["bound"]
    cond, body = node.attrs["cond"], node.attrs["body"]
    if bound < 1:
        return False
    terms, found = [cond.results[0]], False
    while terms:
        term = terms.pop()
        if term.op.name == "logical_and":
            terms.extend(term.inputs)
            continue
        if term.op.name != "less" or term.inputs[0] not in cond.params[:n]:
            return False
        j = cond.params.index(term.inputs[0])
        start, limit = _int_constant(node.inputs[j]), _int_constant(
            _outside(node, cond, term.inputs[1]))
        step = body.results[j]
        if start is None or limit is None or step.op.name != "add" or \
                body.params[j] not in step.inputs or \
                _int_constant(_outside(node, body, _other(step.inputs, body.params[j]))) != 1 \
                or limit - start < bound:
            return False
        found = True
    return found


def _other(pair, one):
    """The input of a two-input node that is not `one`."""
    return pair[1] if pair[0] is one else pair[0]


def _outside(node, region, x):
    """x, or the value outside the control node that x, a captured param, stands for."""
    if x in region.params[loop_count(node):]:  # (a region's params: loop vars, captures)
        return node.inputs[region.params.index(x)]
    return x


def _int_constant(x):
    """The value of a scalar integer node known when the graph is built, or None."""
    if x.dtype is None or x.dtype.kind not in "iu":
        return None
    value = node_value(x)
    return int(value) if value is not None and np.ndim(value) == 0 else None


def _nested_draw(body):
    """A random node inside a control node (at any depth) of `body`, or None: the backward
    pass saves the draws made directly in the body, not those of nested loops and branches,
    which it would compute again with fresh draws."""
    for m in topo_sort(list(body.results), stop=frozenset(body.params)):
        for region in regions(m):
            found = _any_draw(region)
            if found is not None:
                return found
    return None


def _any_draw(region):
    """A random node in `region` or in any region nested in it, or None."""
    for x in topo_sort(list(region.results), stop=frozenset(region.params)):
        if x.op.name == "random":
            return x
        for inner in regions(x):
            found = _any_draw(inner)
            if found is not None:
                return found
    return None


def _saving_loop(node, bound: int, builder, needed: list):
    """The forward loop again, also counting its iterations and saving each iteration's
    value of the body nodes in `needed` (loop var params and intermediates the body's VJP
    reads): results (s_n..., n, one stack per needed node)."""
    n = loop_count(node)
    cond, body = node.attrs["cond"], node.attrs["body"]
    inits, caps = node.inputs[:n], node.inputs[n:]
    b = B.Builder()
    state = [new_param(p.dtype, p.shape) for p in body.params[:n]]
    k = new_param(dtypes.int32, ())
    stacks = [new_param(x.dtype, (bound,) + tuple(x.shape) if x.shape is not None else None)
              for x in needed]
    pred = substitute(cond.results, dict(zip(cond.params, state + list(caps))))
    here = dict(zip(body.params, state + list(caps)))
    rebuilt: dict = {}
    nexts = substitute(body.results, here, rebuilt)
    here.update(rebuilt)
    pushed = [B.put_row(b.wrap(stack), b.wrap(k), b.wrap(here.get(x, x))).node
              for x, stack in zip(needed, stacks)]
    loop_vars = state + [k] + stacks
    results = nexts + [(b.wrap(k) + 1).node] + pushed
    # the body's random draws stay in it (drawn each iteration), as in the loop it copies
    draws = frozenset(x for x in topo_sort(results, stop=frozenset(loop_vars))
                      if x.op.name == "random")
    (c, f), extra, after = close_regions(loop_vars, [pred, results], draws)
    first = dict(zip(body.params, inits))
    zero_stacks = [_zero_stack(builder, first[x], bound) if x in first else
                   B.broadcast_to(builder.constant(0, x.dtype), (bound,) + tuple(x.shape)).node
                   for x in needed]
    start = [*inits, builder.constant(0, dtypes.int32).node, *zero_stacks]
    # nothing reads a stack's rows before the loop writes them (the backward loop reads
    # rows below the trip count), so its zeros need not be written
    unread = tuple(range(n + 1, n + 1 + len(needed)))
    return make_node(prims.get("while"), start + extra,
                     {"cond": c, "body": f, "loop_id": next(_SAVING_IDS), "bound": bound,
                      "saves": node.attrs["loop_id"], "unread_inits": unread},
                     builder.deps + tuple(after))


def _accumulate(b, acc, d):
    """acc + d; where d is a row scattered into zeros (the VJP of reading row i of a
    captured buffer, a TensorArray's input), acc with only that row added to, which a loop
    does in place (put_row)."""
    if d is None:
        return acc
    if d.op.name == "scatter_add" and d.attrs["axis"] == 0 and d.inputs[1].shape == ():
        row, index = b.wrap(d.inputs[0]), b.wrap(d.inputs[1])
        return B.put_row(b.wrap(acc), index, B.gather(b.wrap(acc), index, 0) + row).node
    return (b.wrap(acc) + b.wrap(d)).node


def _zero_stack(builder, x, bound: int):
    """Zeros of shape (bound,) + x's shape and x's dtype."""
    value = builder.wrap(x)
    static, dynamic = B.shape_of(value)
    zero = builder.constant(0, x.dtype)
    if dynamic is None:
        return B.broadcast_to(zero, (bound,) + static).node
    whole = builder.make("concat", (builder.constant([bound], dtypes.int32), dynamic),
                         {"axis": 0})
    return B.broadcast_to(zero, (bound,) + tuple(static), whole).node


# values of a loop body the backward loop reads from the forward's saved rows: matmul and
# convolution results (worth saving rather than recomputing), and random draws (which
# must be the same draws)
SAVED_OPS = ("matmul", "conv", "random")
# elementwise ops whose VJP reads their own result (y' = y(1 - y), 1 - y*y, y): the backward
# loop reads that result from its stack instead of computing the function again (an LSTM
# step's three sigmoids and two tanh; the gate product they come from is then not saved)
SAVED_RESULTS = ("sigmoid", "tanh", "exp")


class _Backward:
    """The backward loop's body, built over stand-ins for the loop vars first: then the
    saving loop stacks only what the VJP reads (`needed`: body params and body nodes). A
    TensorArray's buffer, for one, is overwritten by put_row, whose VJP needs only the
    index. A matmul or convolution result of the body that the VJP reads (an LSTM's gates)
    is saved too, if its shape is static, rather than computed again."""

    def __init__(self, node, floats, wanted, gs, walk, describe, stack_rows: int = 0):
        n = loop_count(node)
        body, caps = node.attrs["body"], node.inputs[n:]
        self.node, self.floats, self.wanted = node, floats, wanted
        b = B.Builder()
        self.k = new_param(dtypes.int32, ())
        self.g = [new_param(gs[j].dtype if gs[j] is not None else p.dtype, p.shape)
                  for j, p in ((j, body.params[j]) for j in floats)]
        self.acc = [new_param(caps[j].dtype, caps[j].shape) for j in wanted]
        proxies = [new_param(p.dtype, p.shape) for p in body.params[:n]]
        rebuilt: dict = {}
        ys = substitute(body.results, dict(zip(body.params, proxies + list(caps))), rebuilt)
        grads = walk([ys[j] for j in floats], self.g, [proxies[j] for j in floats] +
                     [caps[j] for j in wanted])
        g_next = [_zeros_or(d, g) for d, g in zip(grads, self.g)]
        acc_next = [_accumulate(b, a, d) for a, d in zip(self.acc, grads[len(floats):])]
        # cap k -> (A, G): its gradient is A^T G at every iteration (a weight's, x @ W),
        # summed after the loop as one product of their stacks (stack_rows rows each)
        self.stacked = {k: pair for k, d in enumerate(grads[len(floats):])
                        if (pair := _outer_product(d, stack_rows)) is not None}
        both = without_prints(g_next + acc_next)
        self.g_next, self.acc_next = both[:len(g_next)], both[len(g_next):]
        reached = set(topo_sort(self.g_next + self.acc_next))
        # body node -> its copy here, for each value the VJP reads that the forward saves
        saved = {p: q for p, q in zip(body.params, proxies) if q in reached}
        for m in topo_sort(list(body.results), stop=frozenset(body.params)):
            here = rebuilt.get(m, m)
            if here not in reached or m.op.name not in SAVED_OPS + SAVED_RESULTS:
                continue
            if m.shape is not None and None not in m.shape:
                saved[m] = here
            elif m.op.name == "random":
                raise LookupError(
                    f"No gradient for {describe(node)}: a random op in its body has a shape "
                    "that is not known when the graph is built, so its draws cannot be "
                    "saved for the backward pass")
        # with those saved, the VJP reads some only through others (an LSTM's gate product
        # only through the sigmoids of its slices): those are not saved
        read = set(topo_sort(self.g_next + self.acc_next, stop=frozenset(saved.values())))
        self.copies = {m: here for m, here in saved.items() if here in read}
        self.needed = list(self.copies)

    def loop(self, trips, g_init, c_init, stacks: dict, builder, bound: int):
        """while k > 0: k -= 1; s = S[k]; (g, dcaps) += VJP of the body at (s, caps) on
        g. It runs as many times as the forward loop, so it has the same bound (second
        derivatives differentiate it in turn). (loop node, each wanted cap's gradient): a
        stacked cap's is computed after the loop, A^T G over the rows its stacks of A and
        G got, one per iteration (the rows stay zeros where the loop did not run)."""
        b = B.Builder()
        before = (b.wrap(self.k) - 1).node
        saved = {self.copies[x]: B.gather(b.wrap(stack), b.wrap(before), 0).node
                 for x, stack in stacks.items()}
        summed = [k for k in range(len(self.acc)) if k not in self.stacked]
        pairs = [x for k in self.stacked for x in self.stacked[k]]
        results = substitute([*self.g_next, *(self.acc_next[k] for k in summed), *pairs],
                             saved)
        rows = [new_param(x.dtype, (bound,) + tuple(x.shape)) for x in pairs]
        cut = len(self.g_next) + len(summed)
        pushed = [B.put_row(b.wrap(r), b.wrap(before), b.wrap(x)).node
                  for r, x in zip(rows, results[cut:])]
        pred = (b.wrap(self.k) > 0).node
        loop_vars = [self.k, *self.g, *(self.acc[k] for k in summed), *rows]
        (c, f), extra, after = close_regions(loop_vars,
                                             [[pred], [before, *results[:cut], *pushed]])
        zero_rows = [B.broadcast_to(builder.constant(0, r.dtype), r.shape).node for r in rows]
        start = [trips.node, *(v.node for v in g_init), *(c_init[k].node for k in summed),
                 *zero_rows]
        # the rows of a stacked product: the loop runs to its bound (_outer_product), so
        # it writes every row before the product reads them
        unread = tuple(range(len(loop_vars) - len(rows), len(loop_vars)))
        loop = make_node(prims.get("while"), start + extra,
                         {"cond": c, "body": f, "loop_id": next(_SAVING_IDS), "bound": bound,
                          "unread_inits": unread}, builder.deps + tuple(after))
        grads, at = [], 1 + len(self.g)
        stacked_at = at + len(summed)
        for k in range(len(self.acc)):
            if k in summed:
                grads.append(_item(builder, loop, at))
                at += 1
                continue
            a_rows, g_rows = (_item(builder, loop, stacked_at + i) for i in (0, 1))
            stacked_at += 2
            (m, ka), n = self.stacked[k][0].shape, self.stacked[k][1].shape[1]
            grads.append(B.matmul(B.reshape(a_rows, (bound * m, ka)),
                                  B.reshape(g_rows, (bound * m, n)), transpose_a=True))
        return loop, grads


def _outer_product(d, rows: int):
    """(A, G) where the gradient `d` is A^T G (matmul's VJP for its right operand), both
    matrices of static shape whose stacks of `rows` rows take at most
    STACKED_PRODUCT_BYTES; else None (and always for rows 0)."""
    if rows < 1 or d is None or d.op.name != "matmul" or d.dtype.kind != "f":
        return None
    t, g = d.inputs
    if t.op.name != "transpose" or tuple(t.attrs["perm"]) != (1, 0):
        return None
    a = t.inputs[0]
    if any(x.shape is None or len(x.shape) != 2 or None in x.shape for x in (a, g)) or \
            a.shape[0] != g.shape[0]:
        return None
    size = rows * a.shape[0] * (a.shape[1] + g.shape[1]) * d.dtype.np.itemsize
    return (a, g) if size <= STACKED_PRODUCT_BYTES else None
