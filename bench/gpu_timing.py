"""W1-W4 and W9 on an NVIDIA GPU: graphc's cuda target beside torch on the same GPU.

    python bench/gpu_timing.py [--repeat 20] [--json out.json]

graphc's time is one `Session.run` (feeds uploaded, kernels, fetches downloaded, the host
work between them). torch is timed twice: "end to end" does the same transfers (numpy in,
numpy out), "resident" keeps the data on the GPU and synchronizes after the kernels, which
is the floor the kernels alone reach. Medians of `--repeat` runs after warm-up; first
values are compared between the systems before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def _median_ms(fn, repeat: int, sync=None) -> float:
    for _ in range(3):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _graphc(tf, case, repeat, target):
    graph = tf.Graph()
    with graph.as_default():
        fetches, placeholders = case.build(tf)
        init = tf.global_variables_initializer()
    sess = tf.Session(target=target, graph=graph)
    sess.run(init)
    feed = dict(zip(placeholders, case.feed_values))
    start = time.perf_counter()
    first = sess.run(fetches, feed)
    compile_s = time.perf_counter() - start
    ms = _median_ms(lambda: sess.run(fetches, feed), repeat)
    sess.close()
    return first, ms, compile_s


def _torch_twin(torch, case):
    """(end-to-end fn, resident fn) computing the case on the GPU, or None."""
    from graphc.bench.peers_optional import _torch_fn
    if case.workload not in ("W1", "W2", "W3"):
        return None
    host = {k: torch.from_numpy(v) for k, v in case.arrays.items()}
    dev = {k: v.cuda() for k, v in host.items()}
    resident = _torch_fn(torch, case, dev)
    fed = case.feeds

    def end_to_end():
        t = dict(dev)
        for name in fed:
            t[name] = host[name].cuda()
        return _torch_fn(torch, case, t)().cpu().numpy()
    return end_to_end, resident


def main() -> None:
    import graphc as tf
    from graphc.bench.workloads import WORKLOADS
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W9")
    parser.add_argument("--target", default="cuda", help="cuda-emulated for a dry run")
    parser.add_argument("--size", default="full", choices=("full", "small"))
    args = parser.parse_args()
    try:
        import torch
        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    rows = []
    for name in args.workloads.split(","):
        for case in WORKLOADS[name].cases(args.size):
            row = {"case": case.label}
            try:
                first, row["graphc_ms"], row["graphc_first_run_s"] = _graphc(tf, case, args.repeat,
                                                                         args.target)
            except Exception as err:  # report and go on: one failure must not hide the rest
                row["graphc_error"] = f"{type(err).__name__}: {str(err)[:300]}"
                rows.append(row)
                continue
            twin = _torch_twin(torch, case) if torch is not None else None
            if twin:
                end_to_end, resident = twin
                want = end_to_end()
                got = np.asarray(first[0] if isinstance(first, list) else first)
                row["max_rel_err_vs_torch"] = float(np.max(np.abs(got - want)) /
                                                    max(np.max(np.abs(want)), 1e-30))
                row["torch_end_to_end_ms"] = _median_ms(end_to_end, args.repeat)
                row["torch_resident_ms"] = _median_ms(resident, args.repeat,
                                                      torch.cuda.synchronize)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"{'case':40s} {'graphc':>9s} {'torch e2e':>10s} {'torch res':>10s} {'rel err':>9s}")
    for r in rows:
        print(f"{r['case'][:40]:40s} {r.get('graphc_ms', float('nan')):9.3f} "
              f"{r.get('torch_end_to_end_ms', float('nan')):10.3f} "
              f"{r.get('torch_resident_ms', float('nan')):10.3f} "
              f"{r.get('max_rel_err_vs_torch', float('nan')):9.2e} {r.get('graphc_error', '')}")


if __name__ == "__main__":
    main()
