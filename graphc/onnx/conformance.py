"""Run onnx's backend test suite through graphc and write the results per op.

    python -m graphc.onnx.conformance --write docs/onnx-conformance.md

The cases are the ones the installed onnx package ships: the node test cases it generates
(onnx.backend.test.case.node, with their *_expanded variants: the op's function body), and
its simple, pytorch-converted and pytorch-operator models with their data sets. Each case
is prepared once through graphc's Backend and run on each of its data sets; outputs are
compared as onnx's own runner compares them (same shape, same dtype, allclose with the
case's rtol/atol, 1e-3/1e-7 by default). A case is skipped only by graphc/onnx/skips.py's
reviewed lists: its model uses an unsupported op or element type, or the case is listed
by name; anything else that fails is a failure, with its reason. The Markdown table (per
op: pass/fail/skip, failure reasons grouped) and a JSON summary next to it are regenerated
by the command above.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import json
import os
import re
import sys
import time
import warnings
from typing import Optional

import numpy as np

from graphc.onnx.skips import SKIPPED, SKIPPED_CASES, SKIPPED_TYPES

DATA_KINDS = ("simple", "pytorch-converted", "pytorch-operator")


@dataclasses.dataclass
class Case:
    name: str
    kind: str  # "node" or one of DATA_KINDS
    op: str  # the op a node case tests ("Add", "Softmax (expanded)"); the kind otherwise
    model: object  # onnx.ModelProto
    data_sets: list  # [(inputs, expected outputs)]
    rtol: float = 1e-3
    atol: float = 1e-7


@dataclasses.dataclass
class Result:
    name: str
    kind: str
    op: str
    status: str  # "pass", "fail" or "skip"
    reason: str = ""
    seconds: float = 0.0


# --- collecting the cases -------------------------------------------------------------------
def node_cases(seed: int = 0) -> list:
    """The node test cases onnx generates (seeded: their inputs are random)."""
    import onnx.backend.test.case.node as node_module
    from onnx.backend.test.loader import load_node_model_tests
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = load_node_model_tests()
    cases = []
    for c in raw:
        base = re.sub(r"_expanded(_ver\d+)?$", "", c.name)
        node = node_module._existing_names.get(base)
        op = node.op_type if node is not None else base
        if node is not None and node.domain not in ("", "ai.onnx"):
            op = f"{node.domain}:{op}"
        if base != c.name:
            op += " (expanded)"
        cases.append(Case(c.name, "node", op, c.model, list(c.data_sets), c.rtol, c.atol))
    return cases


def data_cases(kind: str) -> list:
    """The model cases stored in onnx's data directory for `kind`."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.loader import load_model_tests
    cases = []
    for c in load_model_tests(kind=kind):
        if c.model_dir is None:
            continue
        model = onnx.load(os.path.join(c.model_dir, "model.onnx"))
        sets = []
        for d in sorted(glob.glob(os.path.join(c.model_dir, "test_data_set*"))):
            sets.append(tuple(_read_protos(d, prefix, graph_values, numpy_helper) for
                              prefix, graph_values in (("input", model.graph.input),
                                                       ("output", model.graph.output))))
        cases.append(Case(c.name, kind, kind, model, sets, c.rtol, c.atol))
    return cases


def _read_protos(directory, prefix, values, numpy_helper):
    import onnx
    out = []
    count = len(glob.glob(os.path.join(directory, f"{prefix}_*.pb")))
    for i in range(count):
        with open(os.path.join(directory, f"{prefix}_{i}.pb"), "rb") as f:
            data = f.read()
        kind = values[i].type.WhichOneof("value") if i < len(values) else "tensor_type"
        if kind == "sequence_type":
            proto = onnx.SequenceProto()
            proto.ParseFromString(data)
            out.append(numpy_helper.to_list(proto))
        elif kind == "optional_type":
            proto = onnx.OptionalProto()
            proto.ParseFromString(data)
            out.append(numpy_helper.to_optional(proto))
        else:
            proto = onnx.TensorProto()
            proto.ParseFromString(data)
            out.append(numpy_helper.to_array(proto))
    return out


# --- running --------------------------------------------------------------------------------
def model_ops(model) -> set:
    """Every (domain-qualified) op type in the model, its subgraphs included."""
    from graphc.onnx.model_file import subgraphs_of

    def walk(graph):
        for node in graph.node:
            domain = "" if node.domain in ("", "ai.onnx") else node.domain + ":"
            yield domain + node.op_type
            for attr in node.attribute:
                for g in subgraphs_of(attr):
                    yield from walk(g)
    return set(walk(model.graph))


def model_types(model) -> set:
    """The names of every element type the model's values have (shape inference included),
    and "sequence"/"optional" for values of those kinds."""
    from onnx import TensorProto

    from graphc.onnx.model_file import declared_types, inferred_types, subgraphs_of
    elems = {t for t, _ in {**inferred_types(model), **declared_types(model.graph)}.values()}
    kinds = set()

    def walk(graph):
        for vi in list(graph.input) + list(graph.output):
            kind = vi.type.WhichOneof("value")
            if kind in ("sequence_type", "optional_type"):
                kinds.add(kind[:-len("_type")])
        for node in graph.node:
            for attr in node.attribute:
                if attr.name in ("to", "output_dtype", "dtype") and attr.type == attr.INT:
                    elems.add(attr.i)
                if attr.HasField("t"):
                    elems.add(attr.t.data_type)
                for g in subgraphs_of(attr):
                    walk(g)
    walk(model.graph)
    names = {TensorProto.DataType.Name(e).lower() for e in elems if e}
    return names | kinds


def skip_reason(case: Case) -> Optional[str]:
    if case.name in SKIPPED_CASES:
        return SKIPPED_CASES[case.name]
    listed = sorted(op for op in model_ops(case.model) if op in SKIPPED)
    if listed:
        return "; ".join(f"{op}: {SKIPPED[op]}" for op in listed)
    types = sorted(t for t in model_types(case.model) if t in SKIPPED_TYPES)
    if types:
        return "; ".join(f"element type {t}: {SKIPPED_TYPES[t]}" for t in types)
    return None


def run_case(case: Case) -> Result:
    from onnx import TensorProto, numpy_helper
    from onnx.backend.test.runner import Runner

    from graphc.onnx import backend
    start = time.perf_counter()
    reason = skip_reason(case)
    if reason:
        return Result(case.name, case.kind, case.op, "skip", reason)
    rep = None
    try:
        rep = backend.prepare(case.model)
        for inputs, expected in case.data_sets:
            inputs = [numpy_helper.to_array(x) if isinstance(x, TensorProto) else x
                      for x in inputs]
            expected = [numpy_helper.to_array(x) if isinstance(x, TensorProto) else x
                        for x in expected]
            outputs = rep.run(inputs)
            Runner.assert_similar_outputs(expected, outputs, rtol=case.rtol, atol=case.atol)
        status, reason = "pass", ""
    except Exception as e:  # every failure is recorded with its reason
        status, reason = "fail", _reason(e)
    finally:
        if rep is not None:
            rep.close()
    return Result(case.name, case.kind, case.op, status, reason,
                  round(time.perf_counter() - start, 3))


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, AssertionError):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        keep = [line for line in lines if line.startswith(("Mismatched", "Max abs", "Max rel",
                                                           "Output", "Items are not"))]
        text = " ".join(keep or lines[:2])
    else:
        text = " ".join(text.splitlines()[:3])
    return f"{type(e).__name__}: {text}"[:300]


def run_all(cases: list, progress=None) -> list:
    results = []
    for i, case in enumerate(cases):
        results.append(run_case(case))
        if progress is not None:
            progress(i + 1, len(cases), results[-1])
    return results


# --- reporting ------------------------------------------------------------------------------
def summarize(results: list) -> dict:
    from graphc.onnx.table import supported_ops
    supported = set(supported_ops())
    per_op: dict = collections.defaultdict(lambda: collections.Counter())
    for r in results:
        per_op[r.op][r.status] += 1
    direct = [r for r in results if r.kind == "node" and r.op in supported]
    direct_pass = sum(r.status == "pass" for r in direct)
    direct_run = sum(r.status != "skip" for r in direct)
    ran = [r for r in results if r.status != "skip"]
    return {
        "cases": len(results),
        "pass": sum(r.status == "pass" for r in results),
        "fail": sum(r.status == "fail" for r in results),
        "skip": sum(r.status == "skip" for r in results),
        "supported_ops": len(supported),
        "supported_op_cases": len(direct),
        "supported_op_cases_run": direct_run,
        "supported_op_cases_pass": direct_pass,
        "supported_op_pass_rate": round(direct_pass / max(direct_run, 1), 4),
        # the same, counting the skipped cases (unsupported element types...) as not passing
        "supported_op_pass_rate_with_skips": round(direct_pass / max(len(direct), 1), 4),
        "run_pass_rate": round(sum(r.status == "pass" for r in ran) / max(len(ran), 1), 4),
        "per_op": {op: dict(c) for op, c in sorted(per_op.items())},
    }


def _group_reasons(results: list) -> list:
    """Failure reasons with numbers and names blurred, most common first."""
    counts = collections.Counter()
    for r in results:
        if r.status == "fail":
            counts[re.sub(r"'[^']*'", "'…'", re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", r.reason))
                   [:160]] += 1
    return counts.most_common()


def write_markdown(results: list, summary: dict, path: str, onnx_version: str) -> None:
    by_op = collections.defaultdict(list)
    for r in results:
        by_op[r.op].append(r)
    lines = [
        "# ONNX conformance",
        "",
        f"onnx {onnx_version}'s backend test cases run through graphc's onnx backend "
        "(docs/onnx.md). Regenerate with `python -m graphc.onnx.conformance --write "
        "docs/onnx-conformance.md` (about 2 minutes on a cold compile cache); the summary is in "
        "[onnx-conformance.json](onnx-conformance.json).",
        "",
        f"- cases: {summary['cases']} ({summary['pass']} pass, {summary['fail']} fail, "
        f"{summary['skip']} skipped by the reviewed skip lists, graphc/onnx/skips.py)",
        f"- ops graphc imports (graphc.onnx.supported_ops()): {summary['supported_ops']}",
        f"- node cases of those ops: {summary['supported_op_cases_pass']} of the "
        f"{summary['supported_op_cases_run']} run pass "
        f"({100 * summary['supported_op_pass_rate']:.1f}%); of all "
        f"{summary['supported_op_cases']}, the skipped ones (element types graphc lacks, "
        f"random draws) "
        f"counted as not passing: {100 * summary['supported_op_pass_rate_with_skips']:.1f}%",
        f"- every case that ran: {100 * summary['run_pass_rate']:.1f}% pass",
        "",
        "A skipped case uses an op or an element type on the reviewed skip lists "
        "(graphc/onnx/skips.py: bfloat16, float8, 4-bit ints, strings, sequences...), or "
        "draws random numbers; anything else that fails counts as a failure with its "
        "reason. `(expanded)` rows are onnx's function-body variants of an op: the same "
        "test written with simpler ops.",
        "",
        "| op | pass | fail | skip | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for op in sorted(by_op, key=lambda o: (by_op[o][0].kind != "node", o.lower())):
        rs = by_op[op]
        c = collections.Counter(r.status for r in rs)
        notes = _notes(rs)
        lines.append(f"| {op} | {c['pass']} | {c['fail']} | {c['skip']} | {notes} |")
    lines += ["", "## Failure reasons, grouped", ""]
    grouped = _group_reasons(results)
    if grouped:
        lines += ["| cases | reason |", "| --- | --- |"]
        lines += [f"| {count} | {_cell(reason)} |" for reason, count in grouped]
    else:
        lines.append("No case fails.")
    lines += ["", "## Failing cases", ""]
    failing = [r for r in results if r.status == "fail"]
    lines += [f"- `{r.name}` ({r.op}): {_cell(r.reason)}" for r in failing] or ["None."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _notes(rs: list) -> str:
    skips = sorted({r.reason for r in rs if r.status == "skip"})
    fails = [r for r in rs if r.status == "fail"]
    parts = []
    if skips:
        parts.append("skipped: " + _cell(skips[0][:120]))
    if fails:
        names = ", ".join(f"`{r.name}`" for r in fails[:4]) + (" ..." if len(fails) > 4 else "")
        parts.append(f"failing: {names}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_json(results: list, summary: dict, path: str, onnx_version: str) -> None:
    data = {"onnx_version": onnx_version, **summary,
            "cases_by_status": {s: sorted(r.name for r in results if r.status == s)
                                for s in ("pass", "fail", "skip")}}
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def collect(kinds, pattern: Optional[str] = None) -> list:
    cases = []
    if "node" in kinds:
        cases += node_cases()
    for kind in kinds:
        if kind != "node":
            cases += data_cases(kind)
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c.name) or rx.search(c.op)]
    return cases


def main(argv=None) -> int:
    import onnx
    parser = argparse.ArgumentParser(prog="python -m graphc.onnx.conformance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="MD", help="write the Markdown table here (and the "
                                                      "JSON summary beside it)")
    parser.add_argument("--kinds", default="node," + ",".join(DATA_KINDS))
    parser.add_argument("--only", metavar="REGEX", help="run only cases whose name or op "
                                                        "matches")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every case")
    parser.add_argument("--check", metavar="JSON", help="fail (exit 1) if a case that passes "
                                                        "in this committed summary fails now")
    args = parser.parse_args(argv)
    cases = collect(args.kinds.split(","), args.only)
    started = time.perf_counter()

    def progress(i, n, r):
        if args.verbose or r.status == "fail":
            print(f"[{i}/{n}] {r.status:4} {r.name} ({r.op}) {r.reason[:200]}", flush=True)
    results = run_all(cases, progress)
    summary = summarize(results)
    print(f"{summary['pass']} pass, {summary['fail']} fail, {summary['skip']} skip of "
          f"{summary['cases']} cases in {time.perf_counter() - started:.0f} s; node cases of "
          f"the {summary['supported_ops']} supported ops: {summary['supported_op_cases_pass']}"
          f"/{summary['supported_op_cases_run']} run "
          f"({100 * summary['supported_op_pass_rate']:.1f}%), "
          f"{summary['supported_op_cases_pass']}/{summary['supported_op_cases']} with skips "
          f"({100 * summary['supported_op_pass_rate_with_skips']:.1f}%)")
    if args.write:
        write_markdown(results, summary, args.write, onnx.__version__)
        write_json(results, summary, os.path.splitext(args.write)[0] + ".json",
                   onnx.__version__)
    if args.check:
        return check_against(results, args.check)
    return 0


def check_against(results: list, path: str) -> int:
    """1 (and the cases named) if a case the committed summary records as passing fails."""
    with open(path) as f:
        before = set(json.load(f)["cases_by_status"]["pass"])
    now = {r.name for r in results if r.status == "pass"}
    lost = sorted(before & {r.name for r in results} - now)
    if lost:
        print(f"{len(lost)} case(s) passed in {path} and do not now: {', '.join(lost)}")
        return 1
    print(f"no case passing in {path} fails now ({len(now)} pass, {len(before)} recorded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
