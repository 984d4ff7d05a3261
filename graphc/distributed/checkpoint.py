"""Checkpoints of a data-parallel job: written by one process, restored on all.

Every process holds the same weights (DistributedOptimizer keeps them equal), so one
process, rank 0, writes the checkpoint: `save` is tf.train.Saver.save on the root alone,
after which every process learns the checkpoint's prefix (and so waits until it is
written). To resume, either every process restores the same file (a shared filesystem:
plain `saver.restore`), or `restore` reads it on the root alone and broadcasts every global
variable from there (a checkpoint only the root can read). `latest_checkpoint` is the
root's tf.train.latest_checkpoint, on every process.
"""

from __future__ import annotations

import weakref

from graphc.distributed.comm import communicator, rank, size
from graphc.distributed.ops import broadcast_global_variables
from graphc.ops.variables import global_variables

_broadcasts: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _check_root(root_rank) -> None:
    if not isinstance(root_rank, int) or not 0 <= root_rank < size():
        raise ValueError(f"root_rank must be a rank in [0, {size()}), got {root_rank!r}")


def save(saver, sess, save_path, global_step=None, root_rank: int = 0, **kwargs) -> str:
    """Write the checkpoint on process `root_rank` only (saver.save(sess, save_path,
    global_step, **kwargs)); return its prefix on every process, once it is written."""
    _check_root(root_rank)
    prefix = ""
    if rank() == root_rank:
        prefix = saver.save(sess, save_path, global_step=global_step, **kwargs)
    return communicator().broadcast_bytes(prefix.encode(), root_rank).decode()


def restore(saver, sess, save_path, root_rank: int = 0) -> None:
    """Restore the checkpoint on process `root_rank` (saver.restore), then give every
    process the root's value of every global variable. Only the root reads the file."""
    _check_root(root_rank)
    if rank() == root_rank:
        saver.restore(sess, save_path)
    sess.run(_broadcast_op(sess.graph, root_rank))


def _broadcast_op(graph, root_rank: int):
    """broadcast_global_variables(root_rank) of `graph`, built once per graph and root
    (rebuilt when variables were added since)."""
    with graph.as_default():
        count = len(global_variables())
        built = _broadcasts.setdefault(graph, {})
        if built.get(root_rank, (None, -1))[1] != count:
            built[root_rank] = (broadcast_global_variables(root_rank), count)
        return built[root_rank][0]


def latest_checkpoint(checkpoint_dir, latest_filename=None, root_rank: int = 0):
    """The root's tf.train.latest_checkpoint(checkpoint_dir), on every process (None when
    the root finds none)."""
    from graphc.saving.reader import latest_checkpoint as latest
    _check_root(root_rank)
    found = ""
    if rank() == root_rank:
        found = latest(checkpoint_dir, latest_filename) or ""
    found = communicator().broadcast_bytes(found.encode(), root_rank).decode()
    return found or None
