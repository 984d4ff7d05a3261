"""What a run prints: a Markdown table of the results with the configuration under it, the
machine limits, and the comparison of two runs' JSON files (`graphc bench diff`)."""

from __future__ import annotations

import json
import math

from graphc.bench.harness import CPU_TARGETS

RESULT_HEADER = ["case", "threads", "system", "outputs", "median", "IQR", "min..max",
                 "CPU/wall", "rate", "of peak", "compile", "graphc speedup"]


def format_seconds(seconds) -> str:
    """3 significant digits in s, ms or us."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale or unit == "us":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return "-"


def markdown_table(header: list, rows: list) -> str:
    """Aligned Markdown: readable as text, pasteable into docs."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |"
                     for line in lines)


def _rate(row: dict) -> str:
    if row.get("gflops"):
        return f"{row['gflops']:.3g} GFLOP/s"
    if row.get("gbs"):
        return f"{row['gbs']:.3g} GB/s"
    return "-"


# CPU/wall of a timed system far from its thread count: it waited for a CPU (other work
# ran) or it ran on more CPUs than it was given; its time is not to be trusted
BELOW_ONE_THREAD = 0.8  # a one-thread run busy less of its wall time than this
ABOVE_THREADS = 0.5  # CPUs used beyond the threads given


def suspicious(row: dict) -> bool:
    """Whether a CPU row's CPU/wall says the machine disturbed it (see BELOW_ONE_THREAD)."""
    ratio, threads = row.get("cpu_over_wall"), row.get("threads") or 1
    if ratio is None or ratio <= 0:
        return False
    return (threads == 1 and ratio < BELOW_ONE_THREAD) or ratio > threads + ABOVE_THREADS


def busy(doc: dict) -> str:
    """Why the machine looked busy during the run ('' if it did not)."""
    host = doc.get("host", {})
    cpus = host.get("allowed_cpus") or 0
    loads = [v for v in (host.get("load_before"), host.get("load_after")) if v is not None]
    if cpus and loads and max(loads) > cpus:
        return f"load average {max(loads):.2f} on {cpus} allowed CPUs"
    return ""


def result_cells(row: dict, cpu: bool = True) -> list:
    fraction = row.get("peak_fraction")
    speedup = row.get("graphc_speedup")
    system = row["system"] + (" (differs!)" if row.get("agrees_with_graphc") is False else "")
    return [row["case"], row["threads"], system, row["outputs"], format_seconds(row["median_s"]),
            format_seconds(row["iqr_s"]),
            f"{format_seconds(row['min_s'])}..{format_seconds(row['max_s'])}",
            f"{row['cpu_over_wall']:.2f}" + (" !" if cpu and suspicious(row) else ""),
            _rate(row),
            f"{100 * fraction:.0f}%" if fraction else "-",
            format_seconds(row["compile_s"]) if row.get("compile_s") is not None else "-",
            f"{speedup:.3g}x" if speedup else "-"]


def render(doc: dict) -> str:
    """The whole human-readable report of one run."""
    parts = []
    if doc["results"]:
        target = doc.get("settings", {}).get("target")
        cpu = target is None or target in CPU_TARGETS
        rows = doc["results"]
        parts.append(markdown_table(RESULT_HEADER, [result_cells(r, cpu) for r in rows]))
        parts.append("median, IQR, min..max: seconds per call over the samples; rate: exact "
                     "work / median;\nof peak: rate / the machine limit below; graphc speedup: "
                     "the median over rounds of peer time / graphc time in the same round "
                     "(> 1: graphc is faster).")
        if cpu and any(suspicious(r) for r in rows):
            parts.append("!: CPU/wall far from the thread count: the system waited for a CPU "
                         "(other work ran) or used more CPUs than it was given; do not trust "
                         "its time.")
        why = busy(doc)
        if why:
            parts.append(f"BUSY MACHINE: {why}; every time above may be inflated.")
        agreement = agreement_lines(doc["results"])
        if agreement:
            parts.append(agreement)
    if doc["machine"]:
        parts.append(machine_table(doc))
    parts.append(configuration(doc))
    return "\n\n".join(parts)


def agreement_lines(results: list) -> str:
    """One line per case and thread count: each peer's largest absolute difference from
    graphc's result (one call's output; a training step's first loss)."""
    lines = {}
    for row in results:
        if row.get("max_abs_diff") is not None:
            key = f"{row['case']}, {row['threads']} thread(s)"
            lines.setdefault(key, []).append(f"{row['system']} {row['max_abs_diff']:.3g}")
    return "\n".join(f"max |peer - graphc|, {key}: {', '.join(parts)}"
                     for key, parts in lines.items())


def machine_table(doc: dict) -> str:
    rows = [[m["threads"], doc["placement"].get(str(m["threads"]), "-"),
             f"{m['fma_gflops']:.1f}", f"{m['copy_gbs']:.2f}",
             f"{m['copy_bytes'] / 2**20:.0f} MiB", m["vector_lanes"], m["cpu"]]
            for m in doc["machine"]]
    return markdown_table(["threads", "placement", "FMA peak GFLOP/s (f32)", "copy GB/s",
                           "copy size", "f32 lanes", "cpu"], rows)


def configuration(doc: dict) -> str:
    s = doc["settings"]
    lines = [f"command: {doc['command']}",
             f"graphc {doc['host']['graphc']}, target {s['target']}, size {s['size']}, "
             f"warm-up {s['warmup']}, repeat {s['repeat']}"
             f"{', cold code cache' if s.get('cold') else ''}; "
             f"threads: {_per_thread(doc['graphc']['threads'])}"]
    lines += [f"placement: {_per_thread(doc['placement'])}"] if doc["placement"] else []
    host = doc["host"]
    lines.append(f"host: {host['cpu']}, {host['allowed_cpus']} of {host['cores']} CPUs allowed, "
                 f"load average {_load(host.get('load_before'))} before, "
                 f"{_load(host.get('load_after'))} after (above {host['allowed_cpus']}, the run "
                 f"is flagged as busy)")
    for name, peer in doc["peers"].items():
        if peer["status"] != "ok":
            lines.append(f"{name}: {peer['status']}")
            continue
        config = json.dumps(peer.get("config", {}), default=str)
        lines.append(f"{name}: {config}; threads: {_per_thread(peer['threads'])}")
    lines += [f"{u['workload']} ({u['title']}): {u['reason']}" for u in doc["unavailable"]]
    lines += [f"error: {e['system']} on {e['case']} ({e['threads']} threads): {e['error']}"
              for e in doc["errors"]]
    return "\n".join(lines)


def _load(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _per_thread(notes: dict) -> str:
    return "; ".join(f"{t}: {note}" for t, note in notes.items()) or "-"


# --- diff --------------------------------------------------------------------------------------
def diff(a: dict, b: dict) -> tuple:
    """(table text, rows) comparing the medians of the results two runs share."""
    key = lambda r: (r["case"], r["threads"], r["system"])  # noqa: E731
    before = {key(r): r for r in a["results"]}
    rows = []
    for row in b["results"]:
        old = before.get(key(row))
        if old is None:
            continue
        ratio = row["median_s"] / old["median_s"] if old["median_s"] > 0 else float("nan")
        rows.append({"case": row["case"], "threads": row["threads"], "system": row["system"],
                     "a_median_s": old["median_s"], "b_median_s": row["median_s"],
                     "b_over_a": ratio})
    cells = [[r["case"], r["threads"], r["system"], format_seconds(r["a_median_s"]),
              format_seconds(r["b_median_s"]), f"{r['b_over_a']:.3f}"] for r in rows]
    text = markdown_table(["case", "threads", "system", "A median", "B median", "B / A"], cells)
    return text + "\n\nB / A < 1: B is faster.", rows
