"""lower: an L1 group (of nodes with concrete shapes) -> one L2 kernel.

Expects nodes from `specialize` (every shape known). A group is lowered to one kernel over
its output's index space: a node, plus the elementwise producers that the fusion pass
(fuse.inline_elementwise) chose to compute inside it, inlined as expressions.
Guarantees a kernel that reads each input buffer and writes its output buffer completely,
with Check statements for what can only fail at run time (indices out of range, failed
asserts). Nodes that need no kernel are the caller's business: views (`VIEW_OPS`), and
sources and state handles (constants, placeholders, variables, random draws, no_op).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from graphc.errors import UnimplementedError
from graphc.ir import kernel as K
from graphc.ir.node import Node
from graphc.passes.lower_conv import WindowLowering

DT = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "uint8": "u8",
      "int16": "i16", "uint16": "u16", "int32": "i32", "int64": "i64", "bool": "bool"}
CALLBACK = ("callback",)  # the key of a plan's callback slot (a plan with host calls has one)
# the ops lowered to a host_call kernel; collectives write their output, (input, output)
HOST_CALL_OPS = ("print", "allreduce", "allgather", "broadcast")
COLLECTIVE_OPS = HOST_CALL_OPS[1:]
# Nodes whose value is another buffer's memory, unchanged (row-major layout makes reshape free).
VIEW_OPS = ("identity", "stop_gradient", "ensure_shape", "custom_gradient", "reshape",
            "expand_dims", "squeeze", "read")

_UNARY = {"neg": "neg", "abs": "abs", "sign": "sign", "sqrt": "sqrt", "exp": "exp", "log": "log",
          "log1p": "log1p", "expm1": "expm1", "sin": "sin", "cos": "cos", "tanh": "tanh",
          "sigmoid": "sigmoid", "erf": "erf", "floor": "floor", "ceil": "ceil",
          "round": "round", "invert": "bit_not", "logical_not": "not", "is_nan": "is_nan",
          "is_inf": "is_inf", "is_finite": "is_finite"}
_BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "floordiv": "floordiv",
           "mod": "mod", "pow": "pow", "maximum": "max", "minimum": "min", "atan2": "atan2",
           "equal": "eq", "not_equal": "ne", "less": "lt", "less_equal": "le", "greater": "gt",
           "greater_equal": "ge", "logical_and": "and", "logical_or": "or",
           "bitwise_and": "bit_and", "bitwise_or": "bit_or", "bitwise_xor": "bit_xor",
           "left_shift": "shl", "right_shift": "shr",
           "logical_xor": "xor"}
ELEMENTWISE = set(_UNARY) | set(_BINARY) | {"select", "cast", "bitcast"}


_REDUCE_OPS = {"reduce_sum": "add", "reduce_prod": "mul", "reduce_max": "max",
               "reduce_min": "min", "reduce_any": "or", "reduce_all": "and"}


def reduction_parts(node: Node, op: str = ""):
    """(combine(acc, value), init(dtype), accumulator dtype) of a reduction node: sums and
    products of f16 accumulate in f32; extrema start from the lowest / highest value."""
    op = op or _REDUCE_OPS[node.op.name]
    t = dt(node)
    acc = "f32" if t == "f16" and op in ("add", "mul") else t
    if op in ("max", "min"):
        lowest = op == "max"
        if t.startswith("f"):
            start = float("-inf") if lowest else float("inf")
        else:
            info = np.iinfo(node.dtype.np)
            start = int(info.min if lowest else info.max)
        return (lambda a, v: K.Binary(op, a, v, t)), (lambda _: K.Const(start, t)), acc
    start = {"add": 0, "mul": 1, "or": False, "and": True}[op]
    return (lambda a, v: K.Binary(op, a, v, acc)), (lambda u: K.Const(start, u)), acc


def dt(node: Node) -> str:
    return DT[node.dtype.name]


def size_of(shape) -> int:
    return int(np.prod(shape)) if shape else 1


# the loop variable of put_row's copy of the whole buffer (put_row_in_place drops that loop)
PUT_ROW_COPY = "c"


def put_row_in_place(kernel: K.Kernel) -> K.Kernel:
    """A put_row kernel without its copy of the whole buffer: it only stores the row (its
    output is made the buffer itself, compiler/control.py)."""
    return replace(kernel, body=tuple(st for st in kernel.body if not (
        isinstance(st, K.Loop) and st.var == PUT_ROW_COPY)))


class Lowering(WindowLowering):
    """Lowers one node; `buffer_of(node)` names the buffer holding a node's value, and
    buffer_of(("before", assign)) the variable's value before an assignment that adds to or
    subtracts from it."""

    def __init__(self, buffer_of, inlined=frozenset()):
        self.buffer_of = buffer_of
        self.inlined = inlined  # elementwise nodes computed inside their consumer's kernel
        self.messages: list = []
        self.buffers: dict = {}  # name -> Buffer, as the kernel being built uses them
        # while a row group is lowered (lower_rows): members held in locals (or read back
        # from a buffer), and full-shaped members computed as expressions wherever read
        self.row_values: dict = {}
        self.expressions: set = set()

    def name(self, node) -> str:
        """The buffer holding `node` (or ("before", assign)), recorded for the kernel."""
        name = self.buffer_of(node)
        if name not in self.buffers:
            value = node[1] if isinstance(node, tuple) else node
            self.buffers[name] = K.Buffer(name, dt(value), K.Const(size_of(value.shape)))
        return name

    # --- helpers ----------------------------------------------------------------------------
    def load(self, node: Node, out_idx, out_shape) -> K.Expr:
        """node's element at the broadcast of out_idx (numpy alignment from the right)."""
        shape = node.shape
        if node in self.row_values:  # a row's value, the same along the row
            return self.row_values[node]
        if node in self.inlined and node.op.name == "slice":  # (fuse: read elementwise)
            return self.sliced(node, out_idx[len(out_shape) - len(shape):])
        if node in self.inlined or node in self.expressions:  # fusion only inlines a node
            return self.elementwise(node, out_idx, shape)  # into an index space its shape
        return K.Load(self.name(node), K.flat_index(out_idx[len(out_shape) - len(shape):],
                                                    shape),
                      dt(node))

    def at(self, node: Node, indices) -> K.Expr:
        """node's element at a full multi-index."""
        if node in self.row_values:
            return self.row_values[node]
        if node in self.inlined and node.op.name == "transpose":  # (fuse: read by a pad)
            return self.at(node.inputs[0], _permuted(indices, node.attrs["perm"]))
        if node in self.inlined and node.op.name == "pad":  # (fuse: read by a pool)
            return self.padded(node, indices)
        if node in self.inlined or node in self.expressions:
            return self.elementwise(node, list(indices), node.shape)
        return K.Load(self.name(node), K.linear(indices, K.row_major_strides(node.shape)),
                      dt(node))

    def check(self, cond, message: str) -> K.Check:
        self.messages.append(message)
        return K.Check(cond, len(self.messages) - 1)

    def kernel(self, node: Node, body, name: str = "") -> K.Kernel:
        """The kernel of `body`, its parameters being the buffers the body used."""
        buffers = tuple(self.buffers.values())
        self.buffers = {}
        return K.Kernel(name or f"k_{node.op.name}", buffers, (), tuple(body),
                        tuple(self.messages), {"node": node})

    def out_loops(self, node: Node, value_fn, kind="serial"):
        """for every output index i: out[i] = value_fn(i)."""
        shape = node.shape
        idx = [K.Var(f"i{d}") for d in range(len(shape))]
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(shape)),
                        value_fn(idx))
        return K.nest([v.name for v in idx], shape, [store], kind)

    # --- per kind ----------------------------------------------------------------------------
    def lower(self, node: Node) -> K.Kernel:
        name = node.op.name
        if name == "pow" and dt(node) in K.INTS:
            return self._int_pow(node)
        if name in ELEMENTWISE:
            return self.kernel(node, self.out_loops(
                node, lambda i: self.elementwise(node, i, node.shape)))
        method = getattr(self, f"_{name}", None)
        if method is None:
            raise UnimplementedError(f"no lowering for primitive {name!r}")
        return method(node)

    def elementwise(self, node: Node, idx, shape) -> K.Expr:
        args = [self.load(x, idx, shape) for x in node.inputs]
        name, out = node.op.name, dt(node)
        if name in _UNARY:
            return K.Unary(_UNARY[name], args[0], out)
        if name == "pow" and out.startswith("f"):
            small = _small_integer(node.inputs[1])
            if small is not None:  # x**2, x**3, x**4 by multiplication: no exp/log
                result = args[0]
                for _ in range(small - 1):
                    result = K.Binary("mul", result, args[0], out)
                return result
        if name in _BINARY:
            return K.Binary(_BINARY[name], args[0], args[1], out)
        if name == "select":
            return K.Select(args[0], args[1], args[2], out)
        if name == "bitcast":
            return K.Unary("bitcast", args[0], out)
        return K.Cast(args[0], out)

    def _int_pow(self, node):
        """Integer powers, refusing negative exponents as the reference does."""
        shape = node.shape
        idx = [K.Var(f"i{d}") for d in range(len(shape))]
        exponent = self.load(node.inputs[1], idx, shape)
        body = [self.check(K.Binary("ge", exponent, K.Const(0, dt(node)), "bool"),
                           "integers to negative integer powers are not allowed"),
                K.Store(self.name(node), K.linear(idx, K.row_major_strides(shape)),
                        self.elementwise(node, idx, shape))]
        return self.kernel(node, K.nest([v.name for v in idx], shape, body))

    # reductions
    def _reduce(self, node, combine, init, axes, keepdims, acc_dtype=None):
        x = node.inputs[0]
        out_dtype = dt(node)
        acc = acc_dtype or out_dtype
        last = len(x.shape) - 1
        if axes and last not in axes and acc == out_dtype and x.shape[last] >= COLUMN_MIN:
            return self._reduce_columns(node, combine, init, axes, keepdims)
        oidx = [K.Var(f"i{d}") for d in range(len(x.shape))]
        ridx = {a: K.Var(f"r{a}") for a in axes}
        full = [ridx.get(d, oidx[d]) for d in range(len(x.shape))]
        value = self.at(x, full)
        if acc != out_dtype:
            value = K.Cast(value, acc)
        body = K.nest([ridx[a].name for a in axes], [x.shape[a] for a in axes],
                      [K.Assign("acc", combine(K.Ref("acc", acc), value))])
        result = K.Ref("acc", acc) if acc == out_dtype else K.Cast(K.Ref("acc", acc), out_dtype)
        out_idx = [oidx[d] if d not in axes else K.Const(0) for d in range(len(x.shape))]
        kept = [d for d in range(len(x.shape)) if keepdims or d not in axes]
        out_shape = [1 if d in axes else x.shape[d] for d in kept]
        store = K.Store(self.name(node),
                        K.linear([out_idx[d] for d in kept], K.row_major_strides(out_shape)),
                        result)
        outer = [d for d in range(len(x.shape)) if d not in axes]
        stmts = K.nest([oidx[d].name for d in outer], [x.shape[d] for d in outer],
                       [K.Local("acc", acc, init(acc))] + list(body) + [store])
        return self.kernel(node, stmts)

    def _reduce_columns(self, node, combine, init, axes, keepdims):
        """A reduction that keeps the last axis (a bias gradient's sum over the batch): the
        output row is the accumulator, updated by one contiguous pass over each reduced
        row, instead of one strided walk down the input per output element.

            for kept axes but the last:
              for c0 in column blocks:                       # independent: threads
                out[.., c0 block] = init
                for reduced axes: for c in c0 block:         # contiguous: vectors
                  out[.., c] = combine(out[.., c], x[.., r.., c])
        """
        x = node.inputs[0]
        t, last, n = dt(node), len(x.shape) - 1, x.shape[-1]
        idx = [K.Var(f"i{d}") for d in range(len(x.shape))]
        full = [K.Var(f"r{d}") if d in axes else idx[d] for d in range(len(x.shape))]
        kept = [d for d in range(len(x.shape)) if keepdims or d not in axes]
        out_shape = [1 if d in axes else x.shape[d] for d in kept]
        at = K.linear([K.Const(0) if d in axes else idx[d] for d in kept],
                      K.row_major_strides(out_shape))
        out = self.name(node)
        block = K.Var(COLUMN_BLOCK_VAR)
        first = K.mul(block, COLUMN_BLOCK)
        stop = K.Binary("min", K.add(first, COLUMN_BLOCK), K.Const(n), K.INDEX)

        def columns(stmt):
            return K.Loop(f"i{last}", first, stop, (stmt,))
        update = K.Store(out, at, combine(K.Load(out, at, t), self.at(x, full)))
        reduce = K.nest([f"r{a}" for a in axes], [x.shape[a] for a in axes], [columns(update)])
        blocks = K.Loop(COLUMN_BLOCK_VAR, K.Const(0), K.Const(-(-n // COLUMN_BLOCK)),
                        (columns(K.Store(out, at, init(t))),) + reduce)
        outer = [d for d in range(last) if d not in axes]
        return self.kernel(node, K.nest([f"i{d}" for d in outer], [x.shape[d] for d in outer],
                                        [blocks]))

    def _sum_like(self, node, axes, keepdims):
        combine, init, acc = reduction_parts(node, "add")
        return self._reduce(node, combine, init, axes, keepdims, acc)

    def _reduce_sum(self, node):
        return self._sum_like(node, node.attrs["axes"], node.attrs["keepdims"])

    def _reduce_other(self, node):
        combine, init, acc = reduction_parts(node, _REDUCE_OPS[node.op.name])
        return self._reduce(node, combine, init, node.attrs["axes"], node.attrs["keepdims"], acc)

    _reduce_prod = _reduce_max = _reduce_min = _reduce_any = _reduce_all = _reduce_other

    def _sum_to(self, node):
        g, target = node.inputs[0], node.shape
        lead = len(g.shape) - len(target)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                          if d == 1 and g.shape[lead + i] != 1)
        # sum with kept size-1 axes, then the leading axes dropped: the same flat layout
        return self._sum_like(node, axes, keepdims=True)

    def _arg(self, node, better):
        x, axis = node.inputs[0], node.attrs["axis"]
        t, out = dt(x), dt(node)
        oidx = [K.Var(f"i{d}") for d in range(len(x.shape))]
        r = K.Var("r")
        at = [r if d == axis else oidx[d] for d in range(len(x.shape))]
        v = self.at(x, at)
        best = K.Ref("best", t)
        take = better(v, best)
        if t.startswith("f"):  # the first nan wins, as numpy
            take = K.Binary("or", take, K.Binary("and", K.Unary("is_nan", v, "bool"),
                                                 K.Unary("not", K.Unary("is_nan", best, "bool"),
                                                         "bool"), "bool"), "bool")
        first = [K.Const(0) if d == axis else oidx[d] for d in range(len(x.shape))]
        body = [K.Local("best", t, self.at(x, first)), K.Local("pos", "i64", K.Const(0)),
                K.Loop("r", K.Const(1), K.Const(x.shape[axis]),
                       (K.Assign("pos", K.Select(take, r, K.Ref("pos", "i64"), "i64")),
                        K.Assign("best", K.Select(take, v, best, t)))),
                K.Store(self.name(node),
                        K.linear([oidx[d] for d in range(len(x.shape)) if d != axis],
                                 K.row_major_strides(node.shape)),
                        K.Cast(K.Ref("pos", "i64"), out) if out != "i64" else K.Ref("pos",
                                                                                     "i64"))]
        outer = [d for d in range(len(x.shape)) if d != axis]
        return self.kernel(node, K.nest([oidx[d].name for d in outer],
                                        [x.shape[d] for d in outer], body))

    def _argmax(self, node):
        return self._arg(node, lambda v, b: K.Binary("gt", v, b, "bool"))

    def _argmin(self, node):
        return self._arg(node, lambda v, b: K.Binary("lt", v, b, "bool"))

    # data movement
    def _transpose(self, node):
        x, perm = node.inputs[0], node.attrs["perm"]
        return self.kernel(node, self.out_loops(node, lambda idx: self.at(
            x, _permuted(idx, perm))))

    def _broadcast_to(self, node):
        return self.kernel(node, self.out_loops(
            node, lambda idx: self.load(node.inputs[0], idx, node.shape)))

    def _slice_bounds(self, shape, slices):
        full = list(slices) + [(None, None, None)] * (len(shape) - len(slices))
        return [slice(*s).indices(d)[::2] for s, d in zip(full, shape)]  # (start, step)

    def _slice(self, node):
        return self.kernel(node, self.out_loops(node, lambda idx: self.sliced(node, idx)))

    def sliced(self, node: Node, idx) -> K.Expr:
        """The element of slice `node` at index idx, read from its input."""
        x = node.inputs[0]
        bounds = self._slice_bounds(x.shape, node.attrs["slices"])
        return self.at(x, [K.add(start, K.mul(i, step)) for i, (start, step) in zip(idx, bounds)])

    def _fill(self, node, value):
        n = size_of(node.shape)
        return K.nest(["z"], [n], [K.Store(self.name(node), K.Var("z"),
                                           K.Const(value, dt(node)))])

    def _slice_grad(self, node):
        g = node.inputs[0]
        bounds = self._slice_bounds(node.shape, node.attrs["slices"])
        idx = [K.Var(f"i{d}") for d in range(len(g.shape))]
        dst = [K.add(start, K.mul(i, step)) for i, (start, step) in zip(idx, bounds)]
        scatter = K.nest([v.name for v in idx], g.shape, [K.Store(
            self.name(node), K.linear(dst, K.row_major_strides(node.shape)),
            self.at(g, idx))])
        zero = 0.0 if dt(node).startswith("f") else 0
        return self.kernel(node, self._fill(node, zero) + scatter)

    def _concat(self, node):
        axis, stmts, offset = node.attrs["axis"], [], 0
        for x in node.inputs:
            idx = [K.Var(f"i{d}") for d in range(len(x.shape))]
            dst = [K.add(v, offset) if d == axis else v for d, v in enumerate(idx)]
            stmts += K.nest([v.name for v in idx], x.shape, [K.Store(
                self.name(node), K.linear(dst, K.row_major_strides(node.shape)),
                self.at(x, idx))])
            offset += x.shape[axis]
        return self.kernel(node, stmts)

    def _pad(self, node):
        return self.kernel(node, self.out_loops(node, lambda idx: self.padded(node, idx)))

    def padded(self, node: Node, idx) -> K.Expr:
        """The element of pad `node` at index idx: its input's, or the padding's value."""
        x, mode = node.inputs[0], node.attrs["mode"]
        src, inside = [], K.Const(True, "bool")
        for i, (before, after), n in zip(idx, node.attrs["paddings"], x.shape):
            if before == after == 0:  # an axis not padded is read as it is (affine)
                src.append(i)
                continue
            j = K.Binary("sub", i, K.Const(before), "i64")
            if mode == "CONSTANT":
                ok = K.Binary("and", K.Binary("ge", j, K.Const(0), "bool"),
                              K.Binary("lt", j, K.Const(n), "bool"), "bool")
                inside = K.Binary("and", inside, ok, "bool")
                j = K.Binary("min", K.Binary("max", j, K.Const(0), "i64"), K.Const(n - 1),
                             "i64")
            else:
                j = _mirror(j, n, mode == "REFLECT")
            src.append(j)
        loaded = self.at(x, src)
        if mode != "CONSTANT":
            return loaded
        return K.Select(inside, loaded, K.Const(node.attrs["constant_value"], dt(node)),
                        dt(node))

    def _tile(self, node):
        x = node.inputs[0]
        return self.kernel(node, self.out_loops(node, lambda idx: self.at(
            x, [K.Binary("mod", i, K.Const(n), "i64") for i, n in zip(idx, x.shape)])))

    def checked_index(self, position, dtype: str, n: int, axis: int) -> list:
        """The statements binding `position` (an index of `dtype`) as the i64 local j and
        failing the kernel unless 0 <= j < n (gather, scatter_add, put_row)."""
        j = K.Ref("j", "i64")
        ok = K.Binary("and", K.Binary("ge", j, K.Const(0), "bool"),
                      K.Binary("lt", j, K.Const(n), "bool"), "bool")
        return [K.Local("j", "i64", position if dtype == "i64" else K.Cast(position, "i64")),
                self.check(ok, f"an index is out of range [0, {n}) along axis {axis}")]

    def _gather(self, node):
        params, indices = node.inputs
        axis, n = node.attrs["axis"], params.shape[node.attrs["axis"]]
        k = len(indices.shape)
        shape = node.shape
        idx = [K.Var(f"i{d}") for d in range(len(shape))]
        j = K.Ref("j", "i64")
        src = idx[:axis] + [j] + idx[axis + k:]
        check = self.checked_index(self.at(indices, idx[axis:axis + k]), dt(indices), n, axis)
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(shape)),
                        self.at(params, src))
        if k == 0:  # one index (a row of a stack): checked once, then a plain copy
            return self.kernel(node, [*check, *K.nest([v.name for v in idx], shape, [store])])
        return self.kernel(node, K.nest([v.name for v in idx], shape, [*check, store]))

    def _put_row(self, node):
        """Check the index; copy the buffer (unless the output is the buffer itself: a loop
        var updated in place, compiler/control.py); store the row."""
        buffer, index, value = node.inputs
        n, row = buffer.shape[0], size_of(buffer.shape[1:])
        body = self.checked_index(self.at(index, []), dt(index), n, 0)
        out = self.name(node)
        if self.buffer_of(buffer) != out:
            body += K.nest([PUT_ROW_COPY], [size_of(buffer.shape)], [K.Store(
                out, K.Var(PUT_ROW_COPY), K.Load(self.name(buffer), K.Var(PUT_ROW_COPY),
                                                 dt(node)))])
        idx = [K.Var(f"r{d}") for d in range(len(value.shape))]
        at = K.add(K.mul(K.Ref("j", "i64"), K.Const(row)),
                   K.linear(idx, K.row_major_strides(value.shape)) if idx else K.Const(0))
        body += K.nest([v.name for v in idx], value.shape,
                       [K.Store(out, at, self.at(value, idx))])
        return self.kernel(node, body)

    def _scatter_add(self, node):
        updates, indices = node.inputs[0], node.inputs[1]
        axis, n = node.attrs["axis"], node.shape[node.attrs["axis"]]
        k = len(indices.shape)
        idx = [K.Var(f"i{d}") for d in range(len(updates.shape))]
        j = K.Ref("j", "i64")
        dst = K.linear(idx[:axis] + [j] + idx[axis + k:], K.row_major_strides(node.shape))
        t = dt(node)
        body = self.checked_index(self.at(indices, idx[axis:axis + k]), dt(indices), n, axis)
        body.append(K.Store(self.name(node), dst, K.Binary(
            "add", K.Load(self.name(node), dst, t), self.at(updates, idx), t)))
        zero = 0.0 if t.startswith("f") else 0
        return self.kernel(node, self._fill(node, zero)
                           + K.nest([v.name for v in idx], updates.shape, body))

    def gemm_epilogue(self, node: Node, consumer: Node) -> K.Kernel:
        """One kernel for a float matmul and an elementwise consumer of its shape (see
        fuse.gemm_epilogues): the gemm, with the consumer's kernel body as its epilogue."""
        kernel = self._conv(node, consumer) if node.op.name == "conv" else \
            self._matmul(node, consumer)
        kernel.notes["epilogue"] = consumer
        return kernel

    def _matmul(self, node, consumer=None):
        a, b = node.inputs
        m, kk, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = node.shape[:-2]
        bidx = [K.Var(f"b{d}") for d in range(len(batch))]
        t = dt(node)

        def offset(x):
            xb = x.shape[:-2]
            lead = len(batch) - len(xb)
            strides = K.row_major_strides(xb)
            terms = [(bidx[lead + i], 0 if d == 1 else s * x.shape[-2] * x.shape[-1])
                     for i, (d, s) in enumerate(zip(xb, strides))]
            return K.linear(*zip(*terms)) if terms else K.Const(0)
        out_off = K.linear(bidx, [s * m * n for s in K.row_major_strides(batch)]) \
            if batch else K.Const(0)
        if t in ("f32", "f64"):
            # an operand that is the transpose of a matrix is read through swapped strides
            (sa, rsa, csa), (sb, rsb, csb) = self._gemm_operand(a), self._gemm_operand(b)
            epilogue = ()
            if consumer is not None:  # out[.., i, j] = consumer's value there, reading C
                idx = bidx + [K.Var("i"), K.Var("j")]
                epilogue = self.epilogue(consumer, idx, K.flat_index(idx, consumer.shape),
                                         m, n)
            call = K.Intrinsic("gemm", (self.name(sa), self.name(sb), self.name(node)),
                               (K.Const(m), K.Const(n), K.Const(kk), offset(a), K.Const(rsa),
                                K.Const(csa), offset(b), K.Const(rsb), K.Const(csb),
                                out_off), epilogue)
            name = f"k_matmul_{consumer.op.name}" if consumer is not None else ""
            return self.kernel(node, K.nest([v.name for v in bidx], batch, [call]), name)
        # f16 (accumulated in f32, as the reference) and ints: a plain loop nest
        acc = "f32" if t == "f16" else t
        i, j, r = K.Var("i"), K.Var("j"), K.Var("r")
        va = K.Load(self.name(a), K.add(offset(a), K.add(K.mul(i, kk), r)), t)
        vb = K.Load(self.name(b), K.add(offset(b), K.add(K.mul(r, n), j)), t)
        if acc != t:
            va, vb = K.Cast(va, acc), K.Cast(vb, acc)
        result = K.Ref("acc", acc) if acc == t else K.Cast(K.Ref("acc", acc), t)
        inner = [K.Local("acc", acc, K.Const(0, acc)),
                 K.Loop("r", K.Const(0), K.Const(kk), (K.Assign("acc", K.Binary(
                     "add", K.Ref("acc", acc), K.Binary("mul", va, vb, acc), acc)),)),
                 K.Store(self.name(node), K.add(out_off, K.add(K.mul(i, n), j)), result)]
        return self.kernel(node, K.nest([v.name for v in bidx] + ["i", "j"],
                                        list(batch) + [m, n], inner))

    def epilogue(self, consumer: Node, idx, at, m: int, n: int) -> tuple:
        """A gemm's epilogue (see K.Intrinsic): for i < m, j < n, the consumer's output at
        flat index `at` = its value at multi-index `idx` (both over the variables i, j)."""
        value = self.assigned(consumer, idx) if consumer.op.name == "assign" \
            else self.elementwise(consumer, idx, consumer.shape)
        return K.nest(["i", "j"], [m, n], [K.Store(self.name(consumer), at, value)])

    def materialized(self, node: Node) -> bool:
        """Whether node's value is in a buffer, not computed where it is read (inlined,
        or a row group's member)."""
        return not (node in self.inlined or node in self.expressions or
                    node in self.row_values)

    def _gemm_operand(self, x: Node):
        """(node to read, row stride, column stride) of a matmul operand."""
        if x in self.inlined and x.op.name == "transpose":
            return x.inputs[0], 1, x.shape[-2]
        return x, x.shape[-1], 1

    def _assign(self, node):
        return self.kernel(node, self.out_loops(node, lambda i: self.assigned(node, i)))

    def assigned(self, node: Node, idx) -> K.Expr:
        """The value an assign node gives its variable at index idx."""
        mode, t = node.attrs["mode"], dt(node)
        v = self.load(node.inputs[1], idx, node.shape)
        if mode == "set":
            return v
        at = K.linear(idx, K.row_major_strides(node.shape))
        old = K.Load(self.name(("before", node)), at, t)
        return K.Binary("add" if mode == "add" else "sub", old, v, t)

    def _host_call(self, node, names):
        """A kernel of one host_call (runtime/host_calls.py) on the buffers `names`."""
        callback = self.buffer_of(CALLBACK)
        self.buffers[callback] = K.Buffer(callback, "i64", K.Const(1))
        self.messages.append(f"the {node.op.name} failed")
        call = K.Intrinsic(K.HOST_CALL, (callback,) + tuple(names),
                           (K.Const(node.attrs["uid"]), K.Const(len(self.messages) - 1)))
        return self.kernel(node, [call], f"host_{node.op.name}")

    def _print(self, node):
        """One host_call of the printed values' buffers."""
        return self._host_call(node, [self.name(x) for x in node.inputs])

    def _collective(self, node):
        """One host_call of (input, output): the collective writes the output's buffer,
        which may be the input's own (compiler/kernels.in_place_pairs)."""
        return self._host_call(node, [self.name(node.inputs[0]), self.name(node)])

    _allreduce = _allgather = _broadcast = _collective

    def _assert(self, node):
        cond = node.inputs[0]
        message = node.attrs["message"]
        idx = [K.Var(f"i{d}") for d in range(len(cond.shape))]
        body = K.nest([v.name for v in idx], cond.shape,
                      [self.check(self.at(cond, idx), message)])
        return self.kernel(node, body)


COLUMN_MIN = 8  # a reduction keeping a last axis this long accumulates whole rows
COLUMN_BLOCK = 1024  # output elements one accumulator block holds (4 KiB of f32: in L1)
COLUMN_BLOCK_VAR = "cblk"  # the variable of _reduce_columns' block loop (schedule_gpu reads it)


def expanded_inputs(node: Node) -> list:
    """The inputs of an elementwise node once per copy of their expression that
    Lowering.elementwise puts in its own (x**3 holds x three times): fusion counts the ops
    a kernel's expressions carry with it."""
    if node.op.name == "pow" and dt(node).startswith("f"):
        small = _small_integer(node.inputs[1])
        if small is not None:
            return [node.inputs[0]] * small
    return list(node.inputs)


def _permuted(idx, perm) -> list:
    """The index into a transpose's input of its output's element at idx."""
    src = [None] * len(perm)
    for out_axis, in_axis in enumerate(perm):
        src[in_axis] = idx[out_axis]
    return src


def _small_integer(node: Node):
    """The exponent 1..4 of a constant scalar power, else None."""
    if node.op.name != "constant" or node.attrs["value"].size != 1:
        return None
    value = float(node.attrs["value"].reshape(()))
    return int(value) if value in (1.0, 2.0, 3.0, 4.0) else None


def _mirror(j, n: int, reflect: bool) -> K.Expr:
    """The source index of padded position j (j may be outside [0, n)) for REFLECT
    (edge not repeated) or SYMMETRIC (edge repeated) padding; padding never exceeds one
    reflection, which the shape rule guarantees."""
    edge = 0 if reflect else 1
    low = K.Binary("sub", K.Const(-edge), j, "i64")  # -j (reflect) or -j-1 (symmetric)
    high = K.Binary("sub", K.Const(2 * n - 2 + edge), j, "i64")
    below = K.Binary("lt", j, K.Const(0), "bool")
    above = K.Binary("ge", j, K.Const(n), "bool")
    return K.Select(below, low, K.Select(above, high, j, "i64"), "i64")
