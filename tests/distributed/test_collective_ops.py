"""Collectives in one process: the primitives over the "local" communicator (size 1) on
every target, their gradients, how the compiler treats them (in place, never merged or
folded), and graphc.distributed's single-process fallback (identities that compile to
nothing). The multi-process behaviour is in test_mpi_training.py."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphc as tf
import graphc.distributed as hvd
from graphc.compiler import build_plan
from graphc.distributed import comm as hvd_comm
from graphc.distributed.optimizer import bucket_indices
from graphc.errors import DTypeError, FailedPreconditionError, ShapeError
from graphc.ir import kernel as K
from graphc.ops.tensor import make_tensor

LOCAL = {"comm": "local", "size": 1}


@pytest.fixture(autouse=True)
def fresh_group():
    hvd.shutdown()
    yield
    hvd.shutdown()


def collective(primitive, x, **attrs):
    return make_tensor(primitive, [x], {**LOCAL, **attrs})


def host_calls(fetches, feeds):
    """The host_call Intrinsics of the compiled plan of `fetches`."""
    _, kernels, _ = build_plan([f.node for f in fetches],
                               {p.node: v.shape for p, v in feeds.items()}, repr, 1)
    return [K.host_call(k) for k in kernels if K.host_call(k) is not None], kernels


@pytest.mark.parametrize("target", ["reference", "llvm", "cuda-emulated"])
def test_collectives_compute_their_value_on_every_target(target):
    x = tf.placeholder(tf.float32, [2, 3])
    n = tf.placeholder(tf.int64, [4])
    value = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    ints = np.array([3, -1, 7, 0], np.int64)
    fetches = [collective("allreduce", x * 2.0, op="average", group=0),
               collective("allreduce", n, op="sum", group=3),
               collective("allgather", x), collective("broadcast", n + 1, root=0)]
    with tf.Session(target) as sess:
        out = sess.run(fetches, {x: value, n: ints})
    np.testing.assert_array_equal(out[0], value * 2)
    np.testing.assert_array_equal(out[1], ints)
    np.testing.assert_array_equal(out[2], value)
    np.testing.assert_array_equal(out[3], ints + 1)
    assert [o.dtype for o in out] == [np.float32, np.int64, np.float32, np.int64]


def test_gradient_of_allreduce_is_an_allreduce_of_the_gradient(target):
    x = tf.placeholder(tf.float32, [3])
    y = collective("allreduce", x, op="average", group=0)
    loss = tf.reduce_sum(tf.square(y) * tf.constant([1.0, 2.0, 3.0]))
    (g,) = tf.gradients(loss, [x])
    value = np.array([0.5, -1.0, 2.0], np.float32)
    with tf.Session(target) as sess:
        np.testing.assert_allclose(sess.run(g, {x: value}), 2 * value * [1, 2, 3], rtol=1e-6)
    ops = [n.op.name for n in tf.get_default_graph()._nodes]
    assert ops.count("allreduce") == 2  # the forward one and the gradient's
    backward = [n for n in tf.get_default_graph()._nodes
                if n.op.name == "allreduce" and n is not y.node]
    assert backward[0].attrs["op"] == "average" and backward[0].attrs["comm"] == "local"


def test_gradients_of_allgather_and_broadcast(target):
    x = tf.placeholder(tf.float32, [2, 2])
    gathered = collective("allgather", x)
    sent = collective("broadcast", x, root=0)
    loss = tf.reduce_sum(gathered * 3.0) + tf.reduce_sum(sent * sent)
    (g,) = tf.gradients(loss, [x])
    value = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    with tf.Session(target) as sess:
        np.testing.assert_allclose(sess.run(g, {x: value}), 3.0 + 2 * value)


def test_allreduce_reduces_in_place_over_a_dying_input():
    x = tf.placeholder(tf.float32, [4, 3])
    product = tf.matmul(x, x, transpose_b=True)  # read by the allreduce alone
    y = collective("allreduce", product, op="sum", group=0) * 3.0
    calls, _ = host_calls([y], {x: np.zeros((4, 3))})
    (call,) = calls
    callback, src, dst = call.buffers
    assert src == dst  # one buffer: MPI.IN_PLACE
    # fetched, the input keeps its own buffer
    calls, _ = host_calls([y, product], {x: np.zeros((4, 3))})
    assert calls[0].buffers[1] != calls[0].buffers[2]


def test_collectives_are_never_merged_folded_or_dropped():
    c = tf.constant([1.0, 2.0])
    a = collective("allreduce", c, op="sum", group=0)
    b = collective("allreduce", c, op="sum", group=0)
    assert a.node is not b.node  # stateful: a fresh uid each
    calls, _ = host_calls([a + b], {})
    assert len(calls) == 2  # a constant input is not folded through the reference
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(a + b), [2.0, 4.0])
    zero = collective("allreduce", tf.constant([1, 2], tf.int32), op="sum", group=0) * 0
    calls, _ = host_calls([zero], {})
    assert len(calls) == 1  # x * 0 of ints simplifies, but keeps x's effect


def test_collective_rules_reject_bad_input():
    with pytest.raises(DTypeError, match="cannot average int32 values across processes"):
        collective("allreduce", tf.constant([1, 2]), op="average", group=0)
    with pytest.raises(DTypeError, match="op must be one of"):
        collective("allreduce", tf.constant([1.0]), op="max", group=0)
    with pytest.raises(DTypeError, match="expects a float32, float64, int32 or int64 input, "
                                         "got float16"):
        collective("allgather", tf.constant([1.0], tf.float16))
    with pytest.raises(ShapeError, match="cannot gather scalars"):
        collective("allgather", tf.constant(1.0))
    with pytest.raises(ShapeError, match="root 2 is not a process of a communicator of "
                                         "size 1"):
        collective("broadcast", tf.constant([1.0]), root=2)


def test_a_run_without_the_communicator_fails_clearly(target):
    y = make_tensor("allreduce", [tf.constant([1.0])],
                    {"op": "sum", "comm": "world", "size": 2, "group": 0})
    with tf.Session(target) as sess:
        with pytest.raises(FailedPreconditionError, match="no communicator named 'world': call "
                                               r"graphc.distributed.init\(\)"):
            sess.run(y)


# --- the single-process fallback ----------------------------------------------------------
def test_init_without_a_launcher_is_one_process_without_mpi(monkeypatch):
    for name in hvd_comm.LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    had_mpi = "mpi4py.MPI" in sys.modules
    with pytest.raises(ValueError, match="has not been initialized"):
        hvd.size()
    hvd.init()
    assert (hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size()) == (0, 1, 0, 1)
    assert not hvd.mpi_enabled() and hvd.is_initialized()
    hvd.barrier()
    assert hvd.join() is None
    assert ("mpi4py.MPI" in sys.modules) == had_mpi  # MPI was not touched


def test_a_launched_program_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py fails
    with pytest.raises(ImportError, match=r"started as 2 processes, which needs mpi4py and "
                                          r"an MPI library: pip install 'graphc\[distributed\]'"):
        hvd.init()
    assert hvd_comm.launched_processes({"PMI_SIZE": "4"}) == 4
    assert hvd_comm.launched_processes({}) == 1


def test_single_process_collectives_compile_to_nothing():
    hvd.init()
    x = tf.placeholder(tf.float32, [3])
    plain = x * 2.0
    reduced = [hvd.allreduce(plain), hvd.allreduce(plain, op=hvd.Sum),
               hvd.allgather(plain), hvd.broadcast(plain, 0)]
    feeds = {x: np.zeros(3)}
    calls, kernels = host_calls(reduced, feeds)
    _, alone = host_calls([plain], feeds)
    assert calls == [] and len(kernels) == len(alone) == 1
    assert {t.node.op.name for t in reduced} == {"identity"}
    with tf.Session() as sess:
        for out in sess.run(reduced, {x: [1.0, 2.0, 3.0]}):
            np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])


def test_api_arguments_are_checked_in_one_process_too():
    hvd.init()
    with pytest.raises(TypeError, match="cannot average int32 tensors across processes"):
        hvd.allreduce(tf.constant([1, 2]))
    assert hvd.allreduce(tf.constant([1, 2]), average=False).node.op.name == "identity"
    with pytest.raises(ValueError, match="either average= or op=, not both"):
        hvd.allreduce(tf.constant([1.0]), average=True, op=hvd.Sum)
    with pytest.raises(ValueError, match="op must be graphc.distributed.Sum or Average"):
        hvd.allreduce(tf.constant([1.0]), op="max")
    with pytest.raises(TypeError, match="allgather supports float32, float64, int32, int64 "
                                        "tensors, got bool"):
        hvd.allgather(tf.constant([True]))
    with pytest.raises(ValueError, match=r"root_rank must be a rank in \[0, 1\), got 1"):
        hvd.broadcast(tf.constant([1.0]), 1)
    with pytest.raises(ValueError, match="bucket_bytes must be a positive int, got 0"):
        hvd.DistributedOptimizer(tf.train.GradientDescentOptimizer(0.1), bucket_bytes=0)
    with pytest.raises(TypeError, match="wraps a graphc optimizer"):
        hvd.DistributedOptimizer("sgd")


def test_distributed_optimizer_in_one_process_is_the_wrapped_one():
    hvd.init()
    w = tf.Variable([1.0, -2.0])
    loss = tf.reduce_sum(tf.square(w))
    opt = hvd.DistributedOptimizer(tf.train.MomentumOptimizer(0.1, 0.9))
    train = opt.minimize(loss)
    assert opt.get_name() == "DistributedMomentum" and opt.get_slot_names() == ["momentum"]
    assert opt.variables() == [opt.get_slot(w, "momentum")]
    hook = hvd.BroadcastGlobalVariablesHook(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        hook.after_create_session(sess)
        sess.run(train)
        sess.run(train)
        # momentum by hand: a = 0.9 a + 2w; w -= 0.1 a
        expected, accum = np.array([1.0, -2.0]), np.zeros(2)
        for _ in range(2):
            accum = 0.9 * accum + 2 * expected
            expected = expected - 0.1 * accum
        np.testing.assert_allclose(sess.run(w), expected, rtol=1e-6)
    assert opt.buckets == []


def test_buckets_fill_from_the_last_gradient_and_split_by_dtype():
    a = tf.zeros([10])  # 40 bytes
    b = tf.zeros([5])  # 20
    c = tf.zeros([4], tf.float64)  # 32
    d = tf.zeros([20])  # 80
    grads = [a, b, c, d, b]
    assert bucket_indices(grads, 64) == [[4], [3], [2], [1, 0]]
    assert bucket_indices(grads, 1000) == [[4, 3], [2], [1, 0]]
    assert bucket_indices(grads, 1) == [[4], [3], [2], [1], [0]]
    unknown = tf.placeholder(tf.float32, [None])
    assert bucket_indices([a, unknown, b], 1000) == [[2], [1], [0]]


def test_run_distributed_command_line(tmp_path):
    from graphc.cli import build_parser
    from graphc.distributed.cli import command_for
    from graphc.scripts import UsageError
    script = tmp_path / "train.py"
    script.write_text("")
    mpirun = tmp_path / "mpirun"
    mpirun.write_text("")
    args = build_parser().parse_args(["run-distributed", "-n", "4", "--mpirun", str(mpirun),
                                      "--mpi-arg=--bind-to", "--mpi-arg=none", str(script),
                                      "--lr", "0.1"])
    assert command_for(args) == [str(mpirun), "--allow-run-as-root", "--oversubscribe", "-n",
                                 "4", "--bind-to", "none", sys.executable, str(script),
                                 "--lr", "0.1"]
    args.processes = 0
    with pytest.raises(UsageError, match="-n must be at least 1, got 0"):
        command_for(args)
    args.processes, args.mpirun = 2, str(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="--mpirun .*nowhere: no such file"):
        command_for(args)


def test_ahead_of_time_export_refuses_a_collective(tmp_path):
    from graphc.aot.export import ExportError, export
    from graphc.distributed.ops import local_collective
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = local_collective(x * 2.0, "allreduce", name="reduced")
    with pytest.raises(ExportError, match=r"'reduced' \(allreduce created at "
                       r"test_collective_ops.py:\d+\) is a collective across processes "
                       r"\(allreduce\), which runs MPI from Python"):
        export(y, x, tmp_path / "aot", batch_size=2)
