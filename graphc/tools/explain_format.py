"""The text of an explain report (see graphc/tools/explain.py): one function per section."""

from __future__ import annotations

import textwrap

from graphc.ir import kernel as K
from graphc.ir.kernel_tools import format_kernel
from graphc.tools.fusion import storage

WIDTH = 100


def format_explanation(ex, show_l2: bool = False, show_llvm: bool = False,
                       kernels=None) -> str:
    chosen = _chosen(ex, kernels) if show_l2 or show_llvm else []
    parts = [header(ex), passes(ex), kernel_list(ex), unfused_edges(ex), memory(ex)]
    if ex.collectives:
        parts.insert(4, collectives(ex))
    if show_l2:
        parts += [f"L2 of kernel #{i} ({ex.scheduled[i].name})\n"
                  + textwrap.indent(kernel_l2(ex, i), "  ") for i in chosen]
    if show_llvm:
        module = render(ex)
        parts += [f"LLVM IR of kernel #{i} ({ex.scheduled[i].name})\n"
                  + kernel_llvm(ex, i, module).rstrip() for i in chosen]
    return "\n\n".join(parts) + "\n"


def _chosen(ex, kernels) -> list:
    n = len(ex.kernels)
    if kernels is None:
        return list(range(n))
    bad = [i for i in kernels if not isinstance(i, int) or not 0 <= i < n]
    if bad:
        raise ValueError(f"kernels={bad}: this plan has kernels #0..#{n - 1}")
    return list(kernels)


def header(ex) -> str:
    r = ex.request
    o = r.options
    how = [f"-O{o.opt_level}", f"{r.threads} thread{'s' * (r.threads != 1)}"]
    how += ["fast-math"] * o.fast_math + ["no fusion"] * (not o.fuse)
    how += [f"without {', '.join(o.disable_passes)}"] * bool(o.disable_passes)
    return (f"graphc explain: {_count(len(r.nodes), 'fetch')}, {_count(len(r.feeds), 'feed')} "
            f"on llvm ({', '.join(how)}): {_count(len(ex.kernels), 'kernel')}, "
            f"{_count(len(ex.edges), 'unfused edge')}")


def passes(ex) -> str:
    if not ex.records:
        return "passes: none ran (-O0 or all disabled)"
    lines = ["passes                time     nodes         rules fired"]
    for rec in ex.records:
        fired = sorted(rec.fired.items(), key=lambda kv: (-kv[1], kv[0]))
        rules = ", ".join(f"{name} x{n}" for name, n in fired) or "-"
        head = (f"  {rec.name:<16} {rec.seconds * 1e3:7.2f} ms  {rec.nodes_before:5d} -> "
                f"{rec.nodes_after:<5d}  ")
        lines += textwrap.wrap(rules, WIDTH, initial_indent=head,
                               subsequent_indent=" " * len(head))
    return "\n".join(lines)


def kernel_list(ex) -> str:
    lines = ["kernels, in run order (each with the ops it computes, from your source)"]
    for info in ex.kernels:
        if info.kernel.notes.get("pack_ahead"):
            lines += _packed_ahead(ex, info)
            continue
        lines.append(f"  #{info.index:<3} {info.kernel.name:<18} {_output(info):<20} "
                     f"reads {', '.join(_inputs(ex, info)) or 'nothing'}")
        view = info.kernel.notes.get("view")
        if view:
            lines.append("         (no copy: " + (
                "its inputs are computed in their places in its buffer)"
                if view == "concat" else "a range of its input's buffer)"))
        for user in ex.user_ops(info):
            name, where = ex.request.name_and_location(user)
            lines.append(f"         {user.op.name:<14} {name:<40} {where}".rstrip())
    return "\n".join(lines)


def _packed_ahead(ex, info) -> list:
    """The lines of a kernel packing a loop's GEMM operand once (compiler/pack_ahead.py)."""
    source = info.kernel.notes["node"]
    what = _read_from(ex, source, info.index)
    return [f"  #{info.index:<3} {info.kernel.name:<18} {_value(source):<20} reads {what}",
            "         (a GEMM operand the loop after it reads, packed once before it)"]


def _output(info) -> str:
    if info.group is not None:
        return f"rows of {_value(info.group.members[0].inputs[0])}"
    node = info.members[0]
    return _value(node) if node.dtype is not None else "-"


def _value(node) -> str:
    return f"{node.dtype.short}[{','.join(str(d) for d in node.shape)}]"


def _inputs(ex, info) -> list:
    """What a kernel reads from memory: other kernels' values (#k) and the feeds and
    variables it loads (constants are left out)."""
    inside, out = set(info.nodes), []
    for node in info.nodes:
        for x in node.inputs:
            source, _ = storage(x)
            if source in inside:
                continue
            what = _read_from(ex, source, info.index)
            if what is not None:
                out.append(what)
    return list(dict.fromkeys(out))


def _read_from(ex, source, index: int):
    """How kernel `index` names a value it reads: "#k" for kernel k's, the feed's or
    variable's name, or None (a constant, or its own value)."""
    k = ex.fused.writer.get(source)
    if k is not None and k != index:
        return f"#{k}"
    if source.op.name in ("placeholder", "read", "variable"):
        var = source.inputs[0] if source.op.name == "read" else source
        kind = "feed" if source.op.name == "placeholder" else "variable"
        name, _ = ex.request.name_and_location(ex.origin.get(var, var))
        return f"{name} ({kind})"
    return None


def unfused_edges(ex) -> str:
    if not ex.edges:
        return "unfused edges: none (no value goes through memory between kernels)"
    lines = ["unfused edges: values one kernel writes and another reads back, and why"]
    for e in sorted(ex.edges, key=lambda e: (e.source, e.consumer)):
        user = ex.origin.get(e.producer, e.producer)
        name, _ = ex.request.name_and_location(user)
        via = f" via {e.view.op.name}" if e.view is not None else ""
        head = f"  #{e.source:<3} -> #{e.consumer:<3} "
        lines += textwrap.wrap(f"{name} ({e.producer.op.name}{via}): {e.reason}", WIDTH,
                               initial_indent=head, subsequent_indent=" " * (len(head) + 2),
                               break_on_hyphens=False)
    return "\n".join(lines)


def collectives(ex) -> str:
    """The collectives (graphc.distributed), in run order, with an allreduce's bucket."""
    rows = ex.collectives
    total = sum(c.nbytes for c in rows)
    lines = [f"collectives: {_count(len(rows), 'host call')} of MPI on the plan's memory, "
             f"{_bytes(total)} in all"]
    for c in rows:
        what = f"{c.primitive} {c.op}".rstrip()
        bucket = f"bucket {c.bucket}" if c.primitive == "allreduce" else ""
        shape = f"{c.dtype}[{','.join(str(d) for d in c.shape)}]"
        place = "in place" if c.in_place else ""
        lines.append(f"  #{c.kernel:<3} {what:<18} {bucket:<10} {shape:<18} "
                     f"{c.nbytes:>10} bytes  {place:<8} {c.name}".rstrip())
    return "\n".join(lines)


def memory(ex) -> str:
    m = ex.memory
    parts = [f"workspace {_bytes(m['arena_bytes'])} at peak"]
    if "naive_bytes" in m:
        parts.append(f"{_bytes(m['naive_bytes'])} without reuse")
    if "reused" in m:
        parts.append(f"{_count(m['reused'], 'buffer')} placed in memory freed earlier")
    if "in_place" in m:
        parts.append(f"{_count(m['in_place'], 'kernel')} writing over a dying input")
    if "naive_bytes" not in m:
        parts.append(f"{_count(m['buffers'], 'buffer')} in the arena")
    if m.get("parts"):
        parts.append(f"{_count(m['parts'], 'value')} placed in another's buffer (a concat's "
                     "inputs, slices: no copy)")
    if m.get("direct"):
        parts.append(f"{_count(m['direct'], 'assignment')} writing the variable itself (no "
                     "copy after the run)")
    return "\n".join(textwrap.wrap("memory: " + "; ".join(parts), WIDTH,
                                   subsequent_indent="  ", break_on_hyphens=False))


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit} ({n} bytes)"
    return f"{n} bytes"


def _count(n: int, word: str) -> str:
    plural = word + ("es" if word.endswith("ch") else "s")
    return f"{n} {word if n == 1 else plural}"


# --- L2 and LLVM IR of a kernel ------------------------------------------------------------
def kernel_l2(explanation, index: int) -> str:
    """The L2 of kernel `index` as scheduled (what the renderer receives)."""
    return format_kernel(explanation.scheduled[index])


def kernel_llvm(explanation, index: int, module=None) -> str:
    """The LLVM IR functions of kernel `index` (its function and the parallel bodies
    outlined from it), from the module the plan renders to. Kernels equal up to buffer
    names share one function: then it is the first such kernel's."""
    if module is None:
        module = render(explanation)
    scheduled = explanation.scheduled
    shape = K.exact_key(K.canonical(scheduled[index]))  # as render_module shares code
    first = next(i for i, k in enumerate(scheduled) if K.exact_key(K.canonical(k)) == shape)
    prefix = f"kernel{first}_"
    texts = [str(fn) for fn in module.functions if fn.name.startswith(prefix)]
    note = "" if first == index else f"; (shares the function of kernel #{first})\n"
    return note + "\n".join(texts)


def render(explanation):
    """The plan's LLVM module, as the JIT renders it (unoptimized IR)."""
    from graphc.codegen_llvm.intrinsics import INTRINSICS
    from graphc.codegen_llvm.render import render_module
    return render_module(explanation.scheduled, explanation.slots_of, INTRINSICS,
                         threads=explanation.request.threads,
                         program=explanation.plan.program,
                         fast_math=explanation.request.options.fast_math)
