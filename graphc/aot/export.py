"""graphc.export: a graph becomes a self-contained shared library with a C header.

    export(fetches, feeds, path, name="model", session=None, cpu="native", ...)

writes into the directory `path`: lib<name>.so, lib<name>.a, <name>.h and <name>.json (the
manifest). The same plan as the JIT's (graphc.compiler.build_plan) is compiled for the chosen
CPU together with the GEMM and thread-pool library; constants and the session's variable
values are embedded as data. See docs/aot.md for the C API and a walk-through.

A symbolic batch: an input whose shape starts with None keeps that dimension symbolic unless
`batch_size` fixes it. The graph must then be row-separable (batch.py proves it or names the
node that is not); the artifact holds one plan per block size in `batch_blocks` (largest
first, the last 1) and runs a batch of any size as consecutive blocks, greedily. Each plan
is specialized, so every kernel has the constant loop bounds the JIT's have.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from graphc.aot.batch import ROWS, NotSeparable, classify
from graphc.aot.model import (
    ALIGN,
    C_IDENTIFIER,
    MAX_BYTES,
    Port,
    Variant,
    Weights,
    c_name,
    file_digest,
)

DEFAULT_BLOCKS = (256, 64, 16, 4, 1)
MAX_BATCH = 2**31 - 1


class ExportError(ValueError):
    """The graph cannot be exported as asked; the message says why and what to do."""


@dataclass
class Artifact:
    """The files export() wrote (absolute paths) and the manifest it wrote as JSON."""
    directory: str
    name: str
    shared: str
    static: str
    header: str
    manifest_path: str
    manifest: dict


@dataclass
class _Graph:
    """What export works from: the graph, its ports and nodes, and the variable values."""
    graph: object
    inputs: list  # (Port, fed node)
    fetches: list  # (name, node)
    values: dict  # variable node -> array


def export(fetches, feeds, path, name: str = "model", session=None, cpu: str = "native",
           threads: int | None = None, batch_size: int | None = None,
           batch_blocks=DEFAULT_BLOCKS, max_batch: int = MAX_BATCH, cc: str = "cc") -> Artifact:
    """Compile `fetches` (a tensor, or a list or dict of them) as functions of `feeds` (a
    placeholder, or a list or dict name -> placeholder) into an artifact in directory `path`.

    Variables are read from `session` (their current values are frozen into the artifact).
    `cpu`: 'native' (this machine's CPU and features), 'generic' (any x86-64) or an LLVM
    CPU name. `threads`: the thread pool's size (default: this machine's cores). Input and
    output names are the dict keys, else the tensors' names made C identifiers.

    Every argument is checked before anything is compiled or written: TypeError for a wrong
    type, ExportError (a ValueError) for a value out of range, each naming the argument, the
    value given and what is allowed. ExportError also for graphs that cannot be exported
    (random ops, assignments, unfed placeholders, unknown dims other than a leading batch
    dim, a symbolic batch through ops that mix rows, arrays of 2**62 bytes or more), and
    ToolchainError when `cc` or `ar` is missing or fails.
    """
    directory, threads, batch_size, blocks, max_batch = _check_arguments(
        path, name, session, cpu, threads, batch_size, batch_blocks, max_batch, cc)
    g = _resolve(fetches, feeds, session, batch_size)
    batched = frozenset(node for port, node in g.inputs if port.batched)
    # the most rows a plan or a call ever sees: sizes are checked for it before planning
    rows = max(max_batch, blocks[0]) if batched else 0
    _check_sizes([port for port, _ in g.inputs], rows, "input")
    states = _separable(g, batched) if batched else {}
    weights = Weights()
    blocks = blocks if batched else [0]
    built = [_variant(g, block, states, weights, threads, cpu, name) for block in blocks]
    variants = [v for v, _ in built]
    outputs = _output_ports(g, built[0][1], states)
    _check_sizes(outputs, rows, "output")
    arena = max(v.arena_bytes for v in variants)
    if arena >= MAX_BYTES:
        raise ExportError(f"the plan needs a workspace of {arena} bytes, more than the "
                          f"{MAX_BYTES} (2**62) an artifact allows: use smaller batch_blocks "
                          "or a smaller batch_size")
    return _write(directory, name, g, outputs, variants, weights, cpu, threads,
                  max_batch if batched else 0, cc)


def _check_arguments(path, name, session, cpu, threads, batch_size, batch_blocks, max_batch,
                     cc) -> tuple:
    """export()'s arguments other than the graph, checked before anything is built (the
    C wrapper trusts them: a negative batch_size used to become a negative array size there).
    Returns (absolute directory, threads, batch_size, blocks largest first, max_batch)."""
    from graphc.aot.link import find_tool
    from graphc.aot.native import check_cpu
    from graphc.codegen_llvm.threads import MAX_THREADS
    from graphc.runtime.session import Session
    if not isinstance(name, str):
        raise TypeError(f"export: name must be a str (a C identifier), got {name!r}")
    if not C_IDENTIFIER.match(name):
        raise ExportError(f"export: name must be a C identifier (letters, digits, '_', not "
                          f"starting with a digit), got {name!r}")
    directory = _check_path(path)
    if session is not None and not isinstance(session, Session):
        raise TypeError(f"export: session must be a graphc Session or None, got {session!r}")
    if session is not None and session._closed:
        raise ExportError("export: session is closed, so its variable values are gone: "
                          "export inside the `with tf.Session() as sess:` block")
    if not isinstance(cpu, str) or not cpu:
        raise TypeError(f"export: cpu must be a non-empty str ('native', 'generic' or an LLVM "
                        f"CPU name), got {cpu!r}")
    if threads is not None:
        threads = _int_in("threads", threads, 1, MAX_THREADS, "or None (this machine's cores)")
    threads = threads or min(os.cpu_count() or 1, MAX_THREADS)
    if batch_size is not None:
        batch_size = _int_in("batch_size", batch_size, 1, MAX_BYTES,
                             "or None (keep a leading None dimension symbolic)")
    max_batch = _int_in("max_batch", max_batch, 1, MAX_BYTES)
    blocks = _check_blocks(batch_blocks)
    if not isinstance(cc, str) or not cc:
        raise TypeError(f"export: cc must be a non-empty str (the C compiler), got {cc!r}")
    find_tool(cc)  # a missing compiler or archiver is found now, not after the LLVM build
    find_tool("ar")
    check_cpu(cpu)  # last: it starts a process
    return directory, threads, batch_size, blocks, max_batch


def _int_in(what: str, value, low: int, high: int, alternative: str = "") -> int:
    """`value` as an int in [low, high]; bools are refused (True is not a thread count)."""
    upper = "2**62" if high == MAX_BYTES else str(high)
    allowed = f"an int in [{low}, {upper}]" + (f" {alternative}" if alternative else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"export: {what} must be {allowed}, got {value!r} "
                        f"({type(value).__name__})")
    if not low <= value <= high:
        raise ExportError(f"export: {what} must be {allowed}, got {value}")
    return int(value)


def _check_path(path) -> str:
    try:
        directory = os.fsdecode(path)
    except TypeError:
        raise TypeError(f"export: path must be a str or os.PathLike (the directory to write "
                        f"into), got {path!r}") from None
    if not directory:
        raise ExportError("export: path is empty: give the directory to write into")
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ExportError(f"export: path {directory} exists and is not a directory (export "
                          "writes lib<name>.so, lib<name>.a, <name>.h and <name>.json into "
                          "a directory)")
    return directory


def _check_blocks(batch_blocks) -> list:
    """The distinct block sizes, largest first; they must include 1 (any batch is then a
    sum of blocks)."""
    allowed = f"positive ints including 1, at most 2**62, e.g. {DEFAULT_BLOCKS}"
    if isinstance(batch_blocks, (str, bytes)) or not isinstance(batch_blocks, Iterable):
        raise TypeError(f"export: batch_blocks must be a sequence of {allowed}, got "
                        f"{batch_blocks!r}")
    blocks = list(batch_blocks)
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, numbers.Integral):
            raise TypeError(f"export: batch_blocks must hold {allowed}, got {b!r} "
                            f"({type(b).__name__}) in {blocks}")
    if not blocks or 1 not in blocks or not all(1 <= b <= MAX_BYTES for b in blocks):
        raise ExportError(f"export: batch_blocks must be {allowed}, got {blocks}")
    return sorted({int(b) for b in blocks}, reverse=True)


def _check_sizes(ports: list, rows: int, kind: str) -> None:
    for port in ports:
        problem = port.size_error(rows)
        if problem is not None:
            raise ExportError(f"export: {kind} {problem}: use a smaller batch_size or max_batch")


def _items(structure, what: str) -> list:
    """(given name or None, item) pairs of a single item, a list/tuple or a dict."""
    if isinstance(structure, dict):
        return [(str(k), v) for k, v in structure.items()]
    if isinstance(structure, (list, tuple)):
        return [(None, v) for v in structure]
    if structure is None:
        raise ExportError(f"{what} are missing")
    return [(None, structure)]


def _tensor(item, what: str):
    from graphc.ops.tensor import Tensor
    if hasattr(item, "_as_graph_tensor"):  # a Variable: its value
        item = item.value()
    if not isinstance(item, Tensor) or item.node.dtype is None:
        raise ExportError(f"each of the {what} must be a tensor, got {item!r}")
    return item


def _resolve(fetches, feeds, session, batch_size) -> _Graph:
    from graphc.runtime.session import _fed_node, _value_node
    taken_in: set = set()
    taken_out: set = set()
    inputs, graph = [], None
    for given, item in _items(feeds, "feeds"):
        t = _tensor(item, "feeds")
        graph = graph or t.graph
        if t.graph is not graph:
            raise ExportError(f"{t.name} is not in the graph of the other feeds")
        node = _fed_node(t.node)
        if any(node is other for _, other in inputs):
            raise ExportError(f"{t.name} is given twice among the feeds")
        inputs.append((_input_port(c_name(given or t.name, taken_in), t, batch_size), node))
    outs = []
    for given, item in _items(fetches, "fetches"):
        t = _tensor(item, "fetches")
        graph = graph or t.graph
        if t.graph is not graph:
            raise ExportError(f"{t.name} is not in the graph of the other feeds and fetches")
        outs.append((c_name(given or t.name, taken_out), _value_node(t.node)))
    if not outs:
        raise ExportError(f"export: fetches is empty ({fetches!r}): give at least one tensor "
                          "to compute")
    if session is not None and session.graph is not graph:
        raise ExportError("the session runs another graph than the one being exported")
    # the session's variable values (the runtime state a Session keeps; read, not changed)
    values = dict(session._state.variables) if session is not None else {}
    g = _Graph(graph, inputs, outs, values)
    _check_feeds(g)
    return g


def _input_port(name: str, tensor, batch_size) -> Port:
    shape = tensor.node.shape
    where = f"input '{name}' ({tensor.name})"
    if shape is None:
        raise ExportError(f"{where} has an unknown rank: give its placeholder a shape")
    if shape and shape[0] is None and batch_size is not None:
        shape = (batch_size,) + tuple(shape[1:])
    if None in shape[1:]:
        raise ExportError(f"{where} has shape {list(shape)}: only the leading dimension may "
                          "be unknown (it becomes the symbolic batch size)")
    return Port(name, tensor.node.dtype.np.name, tuple(shape))


def _check_feeds(g: _Graph) -> None:
    from graphc.ir.node import topo_sort
    fed = frozenset(node for _, node in g.inputs)
    for node in topo_sort([n for _, n in g.fetches], stop=fed):
        if node.op.name == "placeholder" and node not in fed:
            raise ExportError(f"{g.graph.describe(node)} is needed by the fetches but is not "
                              "one of the feeds")
        if node.op.name == "random":
            raise ExportError(f"{g.graph.describe(node)}: random ops are drawn on the host by "
                              "the JIT and are not supported in exported artifacts; feed the "
                              "random values as an input instead")


def _separable(g: _Graph, batched: frozenset) -> dict:
    try:
        return classify([n for _, n in g.fetches], batched)
    except NotSeparable as e:
        node, reason = e.args
        raise ExportError(f"cannot keep the batch dimension symbolic: "
                          f"{g.graph.describe(node)}: {reason}. Export with a fixed "
                          "batch_size= instead") from None


def _freeze_variables(plan, g: _Graph) -> None:
    """The plan's variable slots with a value in the session become constants of that
    value, as the artifact stores them anyway, so that their GEMMs read them prepacked
    (codegen_llvm/prepack.py). A variable without a value keeps its slot: _slot names it."""
    from graphc.compiler.plan import Slot
    for i, slot in enumerate(plan.slots):
        value = g.values.get(slot.node) if slot.kind == "variable" else None
        if value is not None:
            plan.slots[i] = Slot("constant", node=slot.node,
                                 array=np.ascontiguousarray(value, slot.node.dtype.np))


def _slot(slot, g: _Graph, weights: Weights, index_of: dict):
    describe = g.graph.describe
    if slot.kind == "arena":
        return ("arena", slot.offset)
    if slot.kind == "unused":  # (a constant read only prepacked: nothing reads it)
        return ("arena", 0)
    if slot.kind == "constant":
        return ("weights", weights.add(slot.array))
    if slot.kind == "feed":
        return ("input", index_of[slot.node])
    if slot.kind == "variable":  # (one with a value is a constant now: _freeze_variables)
        raise ExportError(f"{describe(slot.node)} has no value to freeze: export from "
                          "a Session (session=sess) in which it is initialized")
    if slot.kind == "callback":
        if slot.node.op.name != "print":   # a collective of graphc.distributed
            raise ExportError(f"{describe(slot.node)} is a collective across processes "
                              f"({slot.node.op.name}), which runs MPI from Python, and an "
                              "exported library has no Python: export a graph without "
                              "graphc.distributed's collectives (the model, not its "
                              "distributed training step)")
        raise ExportError(f"{describe(slot.node)} prints from Python, which an exported "
                          "library does not have: export fetches that do not depend on "
                          "tf.print or tf.Print ops")
    raise ExportError(f"{describe(slot.node)}: {slot.kind} values are not supported in "
                      "exported artifacts")


def _variant(g: _Graph, block, states, weights, threads, cpu, name):
    """(Variant, fetch shapes) of the plan for `block` rows (0: the fixed shapes)."""
    from graphc.aot.native import gemm_dtypes, with_workspace
    from graphc.codegen_llvm.gemm import vector_width
    from graphc.codegen_llvm.intrinsics import gemm_workspace_bytes, intrinsics_for
    from graphc.codegen_llvm.prepack import blocking_for, in_place_for, prepack_constants
    from graphc.codegen_llvm.render import render_module
    from graphc.compiler import build_plan
    describe = g.graph.describe
    fed_shapes = {node: port.concrete(block) for port, node in g.inputs}
    plan, kernels, slots_of = build_plan([n for _, n in g.fetches], fed_shapes, describe,
                                         threads, vector_bits=32 * vector_width("f32", cpu),
                                         views=True, packs_ahead=blocking_for(cpu))
    for var, _, _ in plan.commits:
        raise ExportError(f"the fetches assign {describe(var)}: exported artifacts compute "
                          "values only; fetch the values, not the training step")
    _freeze_variables(plan, g)
    kernels = prepack_constants(plan, kernels, blocking_for(cpu), in_place_for(cpu))
    index_of = {node: i for i, (_, node) in enumerate(g.inputs)}
    slots = [_slot(s, g, weights, index_of) for s in plan.slots]
    arena, buffer_of = plan.arena_bytes, {}
    for t in gemm_dtypes(kernels):  # each context's own GEMM packing space
        offset = -(-arena // ALIGN) * ALIGN
        arena = offset + gemm_workspace_bytes(t, threads, cpu)
        buffer_of[t] = f"s{len(slots)}"
        slots.append(("arena", offset))
    kernels = [with_workspace(k, buffer_of) for k in kernels]
    module = render_module(kernels, slots_of, intrinsics_for(cpu), name=name, threads=threads,
                           program=plan.program, cpu=cpu)
    _check_rows(plan, states, block, describe, g.fetches)
    messages = [[f"{describe(k.notes['origin'])} failed: {m}" for m in k.messages]
                for k in plan.kernels]
    outputs = [f[0] for f in plan.fetch_slots]
    shapes = [tuple(f[2]) for f in plan.fetch_slots]
    return Variant(block, slots, outputs, arena, messages, module), shapes


def _check_rows(plan, states, block, describe, fetches) -> None:
    """Every batched kernel output and fetch of this plan has `block` rows (batch.py's
    promise, checked on the specialized shapes)."""
    found = [(k.notes["origin"], k.notes["node"].shape) for k in plan.kernels]
    found += [(node, f[2]) for (_, node), f in zip(fetches, plan.fetch_slots)]
    for origin, shape in found:
        if states.get(origin) == ROWS and (not shape or shape[0] != block):
            raise ExportError(f"cannot keep the batch dimension symbolic: "
                              f"{describe(origin)} has shape {list(shape)} for a block "
                              f"of {block} rows. Export with a fixed batch_size= instead")


def _output_ports(g: _Graph, shapes: list, states: dict) -> list:
    ports = []
    for (name, node), shape in zip(g.fetches, shapes):
        if states.get(node) == ROWS:
            shape = (None,) + tuple(shape[1:])
        ports.append(Port(name, node.dtype.np.name, tuple(shape)))
    return ports


def _write(directory, name, g, outputs, variants, weights, cpu, threads, max_batch, cc):
    from graphc.aot.cabi import render_header, render_wrapper
    from graphc.aot.link import build_files
    from graphc.aot.native import build_object
    from graphc.version import __version__
    inputs = [port for port, _ in g.inputs]
    os.makedirs(directory, exist_ok=True)
    native = build_object(name, [v.module for v in variants], cpu)
    symbolic = variants[0].block > 0
    header = render_header(name, inputs, outputs, symbolic, __version__)
    with tempfile.TemporaryDirectory(prefix="graphc-aot-") as work:
        wrapper = render_wrapper(name, inputs, outputs, variants,
                                 os.path.join(work, "weights.bin"), len(weights.blob),
                                 max_batch, __version__)
        files = build_files(directory, name, native, wrapper, header, bytes(weights.blob),
                            work, cc)
    manifest = _manifest(name, inputs, outputs, variants, weights, cpu, threads, max_batch,
                         directory, files)
    manifest_path = os.path.join(directory, f"{name}.json")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return Artifact(directory, name, os.path.join(directory, files["shared"]),
                    os.path.join(directory, files["static"]),
                    os.path.join(directory, files["header"]), manifest_path, manifest)


def _manifest(name, inputs, outputs, variants, weights, cpu, threads, max_batch, directory,
              files):
    from graphc.aot.cabi import ABI_VERSION
    from graphc.aot.native import cpu_description
    from graphc.version import __version__
    digest = hashlib.sha256()
    for v in variants:
        digest.update(str(v.module).encode())
    digest.update(hashlib.sha256(bytes(weights.blob)).digest())
    symbolic = variants[0].block > 0
    return {
        "format": "graphc-aot",
        "abi_version": ABI_VERSION,
        "name": name,
        "graphc_version": __version__,
        "graph_hash": digest.hexdigest(),
        "target": {**cpu_description(cpu), "threads": threads},
        "batch": {"symbolic": symbolic, "max": max_batch,
                  "blocks": [v.block for v in variants] if symbolic else []},
        "inputs": [p.as_json() for p in inputs],
        "outputs": [p.as_json() for p in outputs],
        "weights_bytes": len(weights.blob),
        "arena_bytes": max(v.arena_bytes for v in variants),
        "files": files,
        # per file: its size and SHA-256, which load() checks before it maps the library
        # (a truncated library dies with SIGBUS inside dlopen rather than failing cleanly)
        "digests": {f: file_digest(os.path.join(directory, f)) for f in files.values()},
    }
