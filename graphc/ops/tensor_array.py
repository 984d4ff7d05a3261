"""tf.TensorArray: a list of same-shaped tensors written and read by index, in graph form.

In graphc a TensorArray is a value, not a resource: its elements live in one tensor of
shape [size] + element_shape (the buffer), and `write`, `scatter` and `unstack` return a
new TensorArray over a new buffer, as TF1's graph-mode TensorArrays are used (`ta =
ta.write(i, x)`). Reading is `gather`; writing is `put_row` (an element written twice holds
the last value); in a while loop that carries the array, a write changes one row in place.
An index out of range is an error at run time naming the op.

The buffer needs the element shape: from `element_shape`, from the first write or
`unstack`, or, for a TensorArray that enters a `tf.while_loop` before anything was written,
from the first write in the loop body (the loop then starts it as zeros: see
control_flow.while_loop's late loop vars).
"""

from __future__ import annotations

from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes
from graphc.ir.values import node_value
from graphc.ops import array_ops
from graphc.ops.tensor import Tensor, convert_to_tensor


class TensorArray:
    """TF1's tf.TensorArray over a buffer tensor (see the module docstring). `size` is the
    number of elements; `dynamic_size=True` is accepted when the size is known: the array
    does not grow, and a write past its end is an out-of-range error."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        self.dtype = dtypes.as_dtype(dtype)
        if size is None and flow is None:
            raise ValueError("TensorArray: size must be given")
        self._size = size
        self._element_shape = None if element_shape is None else _known(element_shape)
        self._buffer = flow  # the stacked elements (a Tensor), once the element shape is known
        self._late = None  # a while loop being traced that starts this array (late loop var)
        self.dynamic_size, self.clear_after_read = dynamic_size, clear_after_read
        self.infer_shape = infer_shape

    # --- the buffer -----------------------------------------------------------------------
    def _with(self, buffer: Tensor) -> TensorArray:
        out = TensorArray.__new__(TensorArray)
        out.__dict__.update(self.__dict__)
        out._buffer, out._late = buffer, None
        out._element_shape = tuple(buffer.node.shape[1:]) if buffer.node.shape else None
        return out

    def _with_nothing(self) -> TensorArray:
        out = TensorArray.__new__(TensorArray)
        out.__dict__.update(self.__dict__)
        out._buffer, out._late = None, None
        return out

    def _materialize(self, shape, like=None) -> Tensor:
        """The buffer, made now (zeros) for elements of `shape` if there is none yet; sizes
        unknown when the graph is built come from `like` (the element written) at run time."""
        if self._buffer is not None:
            return self._buffer
        if self._element_shape is not None:
            shape, like = self._element_shape, None
        run_shape = shape
        if like is not None and shape is not None and any(d is None for d in shape):
            sizes = array_ops.shape(like)
            run_shape = [sizes[i] if d is None else d for i, d in enumerate(shape)]
        if shape is None:
            raise ValueError("TensorArray: the element shape is unknown: pass element_shape= "
                             "or write an element first")
        if self._late is not None:  # entered a while loop unwritten: the loop starts it
            self._buffer = self._late.start(self, shape)
        else:
            self._buffer = _zeros(self.size(), run_shape, self.dtype)
        self._element_shape = tuple(shape)
        return self._buffer

    @property
    def flow(self) -> Tensor:
        return self._materialize(None)

    @property
    def handle(self) -> Tensor:
        return self.flow

    @property
    def element_shape(self) -> TensorShape:
        return TensorShape(self._element_shape)

    # --- TF1's methods ----------------------------------------------------------------------
    def size(self, name=None) -> Tensor:
        if self._buffer is not None and self._buffer.node.shape[0] is not None:
            return convert_to_tensor(self._buffer.node.shape[0], dtypes.int32)
        if self._buffer is not None:
            return array_ops.shape(self._buffer)[0]
        return convert_to_tensor(self._size, dtypes.int32)

    def read(self, index, name=None) -> Tensor:
        index = convert_to_tensor(index, dtypes.int32)
        return array_ops.gather(self._materialize(None), index, axis=0, name=name)

    def write(self, index, value, name=None) -> TensorArray:
        value = convert_to_tensor(value, self.dtype)
        index = convert_to_tensor(index, dtypes.int32)
        buffer = self._materialize(value.node.shape, like=value)
        self._check_element(value)
        return self._with(_put(buffer, index, value))

    def stack(self, name=None) -> Tensor:
        return array_ops.identity(self._materialize(None), name=name or "TensorArrayStack")

    def gather(self, indices, element_shape=None, name=None) -> Tensor:
        indices = convert_to_tensor(indices, dtypes.int32)
        return array_ops.gather(self._materialize(element_shape), indices, axis=0, name=name)

    def concat(self, name=None) -> Tensor:
        buffer = self._materialize(None)
        shape = buffer.node.shape
        if len(shape) < 2:
            raise ValueError("TensorArray.concat: elements must have at least one dimension")
        return array_ops.reshape(buffer, [-1] + [d if d is not None else -1
                                                 for d in shape[2:]], name=name)

    def unstack(self, value, name=None) -> TensorArray:
        value = convert_to_tensor(value, self.dtype)
        if value.node.shape is None or not value.node.shape:
            raise ValueError("TensorArray.unstack: the value must have at least one dimension")
        return self._with(value)

    def scatter(self, indices, value, name=None) -> TensorArray:
        value = convert_to_tensor(value, self.dtype)
        indices = convert_to_tensor(indices, dtypes.int32)
        buffer = self._materialize(value.node.shape[1:] if value.node.shape else None)
        out = buffer
        for k in range(_static_len(indices, "TensorArray.scatter")):
            out = _put(out, indices[k], value[k])
        return self._with(out)

    def split(self, value, lengths, name=None) -> TensorArray:
        raise NotImplementedError("TensorArray.split is not supported yet; use unstack")

    def identity(self) -> TensorArray:
        return self

    def grad(self, source, flow=None, name=None):
        raise NotImplementedError("TensorArray.grad: use tf.gradients, which differentiates "
                                  "through reads and writes")

    def mark_used(self) -> None:
        """No effect (TF1 warns about unused TensorArrays)."""

    def close(self, name=None):
        from graphc.ops.control_flow_ops import no_op
        return no_op(name=name)

    def _check_element(self, value: Tensor) -> None:
        want, got = self._element_shape, value.node.shape
        if self.infer_shape and want is not None and got is not None and not TensorShape(
                want).is_compatible_with(got):
            raise ValueError(f"TensorArray: the element shape {TensorShape(want)} does not "
                             f"match the written value's shape {TensorShape(got)}")

    def __repr__(self) -> str:
        return f"<TensorArray {self.dtype.name} size={self._size} " \
               f"element_shape={self.element_shape}>"


def _known(shape) -> tuple:
    dims = TensorShape(shape).dims
    return None if dims is None else tuple(dims)


def _static_len(indices: Tensor, what: str) -> int:
    shape = indices.node.shape
    if shape is None or len(shape) != 1 or shape[0] is None:
        raise ValueError(f"{what}: the indices must be a vector of known length")
    return shape[0]


def _zeros(size, shape, dtype) -> Tensor:
    value = node_value(convert_to_tensor(size, dtypes.int32).node)
    if value is not None and all(isinstance(d, int) for d in shape):
        return array_ops.zeros([int(value)] + list(shape), dtype)
    parts = [convert_to_tensor(size, dtypes.int32)]
    parts += [convert_to_tensor(d, dtypes.int32) for d in shape]
    from graphc.ops.tensor import stack
    return array_ops.zeros(stack(parts), dtype)


def _put(buffer: Tensor, index: Tensor, value: Tensor) -> Tensor:
    """buffer with row `index` replaced by value (the put_row primitive: it checks the
    index; in a loop that carries the buffer it writes the row in place)."""
    from graphc.ops.tensor import make_tensor
    return make_tensor("put_row", (buffer, index, value), name="TensorArrayWrite")
