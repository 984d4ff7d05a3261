"""schedule_gpu's transpose mapping: the last two axes of a tensor swapped through shared memory
in 32x32 tiles (see schedule_gpu's module docstring)."""

from __future__ import annotations

import math

from graphc.ir import kernel as K
from graphc.passes.gpu_loops import (
    THREAD,
    GPUCaps,
    grid_walk,
    guard,
    launch,
    linear_form,
    loads,
    substitute,
    unflatten,
)

TILE = 32  # a transpose moves 32x32 tiles; a tile's rows are padded to 33 in shared memory


def transpose_tiles(variables, extents, body, caps: GPUCaps, scratch: dict):
    """A transpose of the last two axes (leading axes kept as a batch) through shared
    memory, or None when `body` is not one.

    The nest must be one Store at its own row-major offset (contiguous along the last
    variable w), of a value that loads some input contiguously along the next-to-last
    variable u and strided along w, and loads nothing contiguously along w (a flat phase
    reads that better). One block per 32x32 tile: the threads evaluate the value with lanes
    along u (coalesced reads) into tile[w][u], wait at a Barrier, then store with lanes along
    w (coalesced writes) from tile[w][u]. The padding to 33 puts a warp's column reads of
    the tile in 32 distinct banks."""
    threads = min(caps.threads_per_block, TILE * TILE)
    if len(variables) < 2 or len(body) != 1 or not isinstance(body[0], K.Store) or \
            threads % TILE or TILE % (threads // TILE):
        return None
    store, (u, w), (nu, nw) = body[0], variables[-2:], extents[-2:]
    rows_major = dict(zip(variables, K.row_major_strides(extents)))
    forms = [linear_form(e.index) for e in loads(store.value)]
    if min(nu, nw) < 2 or linear_form(store.index) != rows_major or None in forms or \
            not any(f.get(u) == 1 and f.get(w, 0) not in (0, 1) for f in forms) or \
            any(f.get(w) == 1 for f in forms):
        return None
    tiles_u, tiles_w = -(-nu // TILE), -(-nw // TILE)
    total = math.prod(extents[:-2]) * tiles_u * tiles_w
    walk, tile = grid_walk(total, 1, caps, "gtile")
    where = unflatten(tile, ["gb", "gtu", "gtw"], [total // (tiles_u * tiles_w), tiles_u,
                                                    tiles_w])
    batch = unflatten(where["gb"], variables[:-2], extents[:-2])
    gtx = K.Var(THREAD)
    corner = [K.Local("gu0", K.INDEX, K.mul(where["gtu"], TILE)),
              K.Local("gw0", K.INDEX, K.mul(where["gtw"], TILE)),
              K.Local("glane", K.INDEX, K.Binary("mod", gtx, K.Const(TILE), K.INDEX)),
              K.Local("gtrow", K.INDEX, K.Binary("floordiv", gtx, K.Const(TILE), K.INDEX))]
    u0, w0, lane, row0 = (K.Ref(c.name, K.INDEX) for c in corner)
    dtype = store.value.dtype
    buf = scratch.setdefault(("tile", dtype), K.Buffer(f"gtile_{dtype}", dtype,
                                                       K.Const(TILE * (TILE + 1)), scratch=True))
    step = threads // TILE

    def sweep(name, first, second, stmt):
        """For each pass: `stmt(a, b)` under guards a (lane) < its extent, b (row) < its."""
        (va, a0, na), (vb, b0, nb) = first, second
        row = K.add(row0, K.mul(K.Var(name), step))
        inner = guard(vb, K.add(b0, row), nb, stmt(lane, row))
        return K.Loop(name, K.Const(0), K.Const(TILE // step),
                      (guard(va, K.add(a0, lane), na, (inner,)),))

    def read(lane_u, row_w):  # tile[w][u] = value at (u, w)
        value = substitute((store,), {**batch, u: K.Var("gu"), w: K.Var("gw")})[0].value
        return (K.Store(buf.name, K.add(K.mul(row_w, TILE + 1), lane_u), value),)

    def write(lane_w, row_u):  # out at (u, w) = tile[w][u]
        index = substitute((store,), {**batch, u: K.Var("gu"), w: K.Var("gw")})[0].index
        return (K.Store(store.buffer, index, K.Load(
            buf.name, K.add(K.mul(lane_w, TILE + 1), row_u), dtype)),)
    passes = corner + [sweep("gr", ("gu", u0, nu), ("gw", w0, nw), read), K.Barrier(),
               sweep("gr", ("gw", w0, nw), ("gu", u0, nu), write)]
    if total > caps.max_blocks:  # the next tile of this block reuses the shared tile
        passes.append(K.Barrier())
    return launch(walk(passes), threads)
