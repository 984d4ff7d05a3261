"""DistributedOptimizer: any graphc optimizer, with its gradients averaged (or summed) over
every process before they are applied.

The gradients are fused into buckets, as DDP and Horovod do: walking them from the last
variable to the first (the order a backward pass produces them), consecutive gradients of
one dtype share a bucket until it would hold more than `bucket_bytes`. A bucket is one flat
buffer (its gradients flattened and concatenated), reduced by one allreduce in place on the
compiled step's memory, then cut back into the gradients. The buckets' allreduces are
chained by control dependencies, so every process runs them in the same order. A gradient
whose shape is not fully known is reduced on its own.
"""

from __future__ import annotations

import math

from graphc.distributed import fingerprint
from graphc.distributed.comm import size
from graphc.distributed.ops import Average, Sum, reduce_on, reduce_op
from graphc.ops.array_ops import concat, reshape
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.tensor import convert_to_tensor
from graphc.train.optimizer import Optimizer

DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024  # as PyTorch DDP's bucket_cap_mb


def bucket_indices(grads, bucket_bytes: int) -> list:
    """Lists of positions into `grads` (tensors with static shapes, or None for a shape
    not fully known), one list per bucket, in the order they are reduced."""
    buckets, current, current_bytes, dtype = [], [], 0, None
    for i in reversed(range(len(grads))):
        g = grads[i]
        shape = g.node.shape
        if shape is None or None in shape:
            if current:
                buckets.append(current)
                current, current_bytes = [], 0
            buckets.append([i])
            continue
        nbytes = math.prod(shape) * g.dtype.np.itemsize
        if current and (g.dtype is not dtype or current_bytes + nbytes > bucket_bytes):
            buckets.append(current)
            current, current_bytes = [], 0
        current.append(i)
        current_bytes += nbytes
        dtype = g.dtype
    if current:
        buckets.append(current)
    return buckets


def allreduce_gradients(grads, op: str = Average, bucket_bytes: int = DEFAULT_BUCKET_BYTES,
                        variables=None):
    """(reduced gradients, buckets): each gradient (None stays None) reduced across the
    processes, bucket by bucket; buckets lists each bucket's positions into `grads`.
    `variables` (one per gradient) name the gradients in the mismatch check that precedes
    the first reduction (graphc/distributed/fingerprint.py)."""
    if not isinstance(bucket_bytes, int) or bucket_bytes < 1:
        raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
    present = [i for i, g in enumerate(grads) if g is not None]
    tensors = [convert_to_tensor(grads[i]) for i in present]
    out = list(grads)
    if size() == 1:
        return out, []
    groups = bucket_indices(tensors, bucket_bytes)
    named = [variables[i] if variables is not None else tensors[j]
             for j, i in enumerate(present)]
    comm = fingerprint.register(fingerprint.fingerprint(
        op, [[(tensors[j], named[j]) for j in members] for members in groups]))
    buckets, previous = [], []
    for k, members in enumerate(groups):
        with control_dependencies(previous):
            reduced = _reduce_bucket([tensors[j] for j in members], op, k, comm)
        previous = [reduced[0]]
        for j, r in zip(members, reduced):
            out[present[j]] = r
        buckets.append([present[j] for j in members])
    return out, buckets


def _reduce_bucket(grads, op: str, group: int, comm: str) -> list:
    """The bucket's gradients reduced through one flat buffer."""
    for g in grads:
        if op == Average and g.dtype.kind != "f":
            raise TypeError(f"cannot average {g.dtype} gradients across processes ({g.name})")
    # an average is the sum divided by the processes after it is cut back into the
    # gradients, where the division runs inside the kernels that read them (the update),
    # not as a pass over the bucket: the same numbers (allreduce_into divides likewise)
    scale = (lambda g: g / size()) if op == Average else (lambda g: g)
    if len(grads) == 1:
        return [scale(reduce_on(grads[0], Sum, comm, group))]
    flat = concat([reshape(g, [-1]) for g in grads], 0)
    reduced = reduce_on(flat, Sum, comm, group)
    out, start = [], 0
    for g in grads:
        n = math.prod(g.node.shape)
        out.append(scale(reshape(reduced[start:start + n], list(g.node.shape))))
        start += n
    return out


class DistributedOptimizer(Optimizer):
    """Wraps `optimizer`: compute_gradients reduces the gradients across processes (op=
    Average: their mean, Horovod's default; Sum) in buckets of up to `bucket_bytes`;
    apply_gradients, slots and variables are the wrapped optimizer's. In one process it is
    the wrapped optimizer."""

    def __new__(cls, optimizer=None, *args, **kwargs):
        if not isinstance(optimizer, Optimizer) and _is_keras(optimizer):
            return keras_distributed(optimizer, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, optimizer, name=None, use_locking=False, op=Average,
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer wraps a graphc optimizer (tf.train or "
                            f"tf.keras.optimizers), got {optimizer!r}")
        super().__init__(use_locking, name or f"Distributed{optimizer.get_name()}")
        self._optimizer = optimizer
        self._op = reduce_op(op=op)
        if not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
        self.bucket_bytes = bucket_bytes
        self.buckets: list = []  # per bucket, the variables whose gradients it reduces

    def compute_gradients(self, *args, **kwargs) -> list:
        pairs = self._optimizer.compute_gradients(*args, **kwargs)
        grads, buckets = allreduce_gradients([g for g, _ in pairs], self._op,
                                             self.bucket_bytes, [v for _, v in pairs])
        self.buckets = [[pairs[i][1] for i in b] for b in buckets]
        return list(zip(grads, [v for _, v in pairs]))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        return self._optimizer.apply_gradients(grads_and_vars, global_step, name)

    def get_slot(self, var, name):
        return self._optimizer.get_slot(var, name)

    def get_slot_names(self) -> list:
        return self._optimizer.get_slot_names()

    def variables(self) -> list:
        return self._optimizer.variables()


def _is_keras(optimizer) -> bool:
    from graphc.keras.optimizers import OptimizerV2
    return isinstance(optimizer, OptimizerV2)


def keras_distributed(optimizer, name=None, use_locking=False, op=Average,
                      bucket_bytes: int = DEFAULT_BUCKET_BYTES):
    """A tf.keras optimizer like `optimizer` (a fresh one, from its config: wrap it before
    it is used) whose apply_gradients first reduces the gradients across processes, in
    buckets, as DistributedOptimizer does; clipping then applies to the reduced gradients,
    as in one process on the whole batch. Its class has the wrapped one's name, so a model
    saved with it loads with the plain optimizer (as with Horovod's Keras optimizer)."""
    op = reduce_op(op=op)
    if not isinstance(bucket_bytes, int) or bucket_bytes < 1:
        raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
    base = type(optimizer)

    class Distributed(base):
        def apply_gradients(self, grads_and_vars, name=None):
            pairs = list(grads_and_vars)
            variables = [v for _, v in pairs]
            grads, buckets = allreduce_gradients([g for g, _ in pairs], op, bucket_bytes,
                                                 variables)
            self.buckets = [[variables[i] for i in b] for b in buckets]
            return super().apply_gradients(zip(grads, variables), name=name)

    Distributed.__name__ = Distributed.__qualname__ = base.__name__
    config = optimizer.get_config()
    if name is not None:
        config["name"] = name
    wrapped = Distributed.from_config(config)
    wrapped.buckets, wrapped.bucket_bytes = [], bucket_bytes
    return wrapped
