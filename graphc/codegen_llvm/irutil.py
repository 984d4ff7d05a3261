"""irutil: control-flow shapes shared by the IR emitters (render, gemm, threads)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import llvmlite.ir as ir


@contextmanager
def counted_loop(b: ir.IRBuilder, start, stop, name: str = "i",
                 step: int | ir.Value = 1, loop_id=None) -> Iterator[ir.Value]:
    """for (iv = start; iv < stop; iv += step), signed compare: yields iv (a phi of start's
    type), the body is emitted inside the with, and b is left after the loop.

    Blocks are `<name>.header`, `<name>.body`, `<name>.done`; the body may add blocks of its own
    (the back edge leaves from wherever it ends). `loop_id`, a metadata node, is attached to
    the back edge as `!llvm.loop` (hints such as a vector width)."""
    pre = b.block
    header = b.append_basic_block(f"{name}.header")
    body = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(header)
    b.position_at_end(header)
    iv = b.phi(start.type, name=name)
    iv.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", iv, stop), body, done)
    b.position_at_end(body)
    yield iv
    nxt = b.add(iv, step if isinstance(step, ir.Value) else ir.Constant(start.type, step),
                name=f"{name}.next")
    iv.add_incoming(nxt, b.block)
    latch = b.branch(header)
    if loop_id is not None:
        latch.set_metadata("llvm.loop", loop_id)
    b.position_at_end(done)
