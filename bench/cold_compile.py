"""Cold compile time of a workload's graph: its first Session.run in a fresh process.

    python bench/cold_compile.py W9 W8 [--repeat 3] [--library-cached] [--one-module]

Each sample builds the workload (graphc/bench: W8 ResNet-18 inference, W9 the LSTM training
step) in a fresh Python process and times its first `Session.run` (specialize, passes,
lowering, LLVM, loading, one run) into an empty compiled-code cache, so graphc's shared
GEMM/thread library is compiled too (the parts the plan calls); with --library-cached the
cache holds every part of that library already (as on a machine where graphc has run
before). --one-module compiles the plan as one
LLVM module instead of in parts on every core, for an A/B. Medians of --repeat processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import sys, time
import graphc as tf
import graphc.runtime.llvm as llvm_runtime
which, one_module = sys.argv[1], sys.argv[2] == "1"
if one_module:
    llvm_runtime.PARALLEL_COMPILE_KERNELS = 10 ** 9
if which == "W9":
    from graphc.bench.rnn import lstm_arrays, lstm_step_graphc
    a = lstm_arrays()
    fetches, (ids, labels) = lstm_step_graphc(tf, a, 0.01)
    feeds = {ids: a["ids"], labels: a["labels"]}
else:
    from graphc.bench.cnn import resnet_arrays, resnet_graphc
    a = resnet_arrays()
    fetches, (x,) = resnet_graphc(tf, a)
    feeds = {x: a["x"]}
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    t = time.perf_counter()
    sess.run(fetches, feeds)
    print(time.perf_counter() - t)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="+", choices=["W8", "W9"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--library-cached", action="store_true")
    parser.add_argument("--one-module", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        library = os.path.join(tmp, "library")
        # every part of the library this CPU has (the GEMMs a convolution calls among
        # them), so that --library-cached times the plan alone
        subprocess.run([sys.executable, "-c",
                        "from graphc.codegen_llvm.library import PARTS, load_library\n"
                        "from graphc.runtime.cache import default_cache\n"
                        "load_library(default_cache(), tuple(PARTS))"],
                       env={**os.environ, "GRAPHC_CACHE_DIR": library}, check=True)
        for which in args.workloads:
            times = []
            for i in range(args.repeat):
                cache = os.path.join(tmp, f"{which}-{i}")
                if args.library_cached:
                    shutil.copytree(library, cache)
                out = subprocess.run(
                    [sys.executable, "-c", _CHILD, which, "1" if args.one_module else "0"],
                    env={**os.environ, "GRAPHC_CACHE_DIR": cache}, check=True,
                    capture_output=True, text=True).stdout
                times.append(float(out.strip().splitlines()[-1]))
            print(f"{which}: cold compile and first run {statistics.median(times):.2f} s "
                  f"(median of {args.repeat}; "
                  f"{'library cached' if args.library_cached else 'library compiled too'}; "
                  f"{'one module' if args.one_module else 'in parts'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
