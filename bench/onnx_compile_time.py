"""Import plus compile time of torch-exported ResNets (ONNX), cold and from the disk cache.

    python bench/onnx_compile_time.py [--models resnet18,resnet50] [--repeat 3] [--keep DIR]

Each model is written with torch.nn (torchvision's layout: ResNet-18 of basic blocks,
ResNet-50 of bottlenecks; batch norms with random statistics), exported by torch.onnx
(opset 17, batch 1, 3x224x224), then loaded by `graphc.onnx.load` and called once, in a
fresh process each time: "cold" into an empty compiled-code cache, "cold model" into a
cache holding only graphc's shared GEMM/thread library (compiled once per machine, as for
anyone who has run graphc before), "cached" into the cache the cold run filled (which holds
the whole compiled model: graphc/onnx/stored.py). The time is the whole of it (reading the
file, import, passes, LLVM code generation or the cache, the first call; the load alone,
before the call, is shown too). onnxruntime's session creation and first call on the same
file are timed beside it. Python's imports of graphc.onnx and onnx (or of onnxruntime) are
timed apart and not included. Medians of --repeat processes. Needs torch and onnxruntime; prints
`graphc bench machine`'s limits first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
path, system = sys.argv[1], sys.argv[2]
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
if system == "graphc":
    import onnx  # noqa: F401 (graphc.onnx imports it on first use)

    import graphc.onnx
else:
    import onnxruntime as ort
modules = time.perf_counter() - t0
t = time.perf_counter()
if system == "graphc":
    model = graphc.onnx.load(path)
    loaded = time.perf_counter()
    model(x)
else:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    loaded = time.perf_counter()
    session.run(None, {"image": x})
end = time.perf_counter()
print(json.dumps({"seconds": end - t, "load": loaded - t, "modules": modules}))
"""


def torch_resnet(depth: int):
    import torch
    nn = torch.nn

    def bn(n):
        return nn.BatchNorm2d(n)

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, width, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, width, 3, stride, 1, bias=False), bn(width),
                                      nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1, bias=False),
                                      bn(width))
            self.short = _shortcut(cin, width, stride)

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, width, stride):
            super().__init__()
            out = width * 4
            self.body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), bn(width), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, stride, 1, bias=False),
                                      bn(width), nn.ReLU(),
                                      nn.Conv2d(width, out, 1, bias=False), bn(out))
            self.short = _shortcut(cin, out, stride)

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    def _shortcut(cin, cout, stride):
        if stride == 1 and cin == cout:
            return nn.Identity()
        return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout))

    block, counts = {18: (Basic, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}[depth]
    layers, cin = [], 64
    for stage, count in enumerate(counts):
        width = 64 * 2 ** stage
        for i in range(count):
            layers.append(block(cin, width, 2 if i == 0 and stage > 0 else 1))
            cin = width * block.expansion
    model = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn(64), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1), *layers, nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(cin, 1000))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return model.eval()


def export(depth: int, path: str) -> None:
    import torch
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch_resnet(depth), (torch.randn(1, 3, 224, 224),), path,
                          input_names=["image"], output_names=["logits"], opset_version=17,
                          dynamo=False)


def timed(path: str, system: str, cache: str) -> tuple:
    """(seconds to load and call, seconds of Python imports, seconds of the load alone)
    in a fresh process."""
    env = {**os.environ, "GRAPHC_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, path, system], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["modules"], result["load"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write the .onnx files here (default: a temp dir)")
    args = parser.parse_args(argv)
    print(subprocess.run([sys.executable, "-m", "graphc", "bench", "machine"],
                         capture_output=True, text=True).stdout.strip())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or tmp
        library = os.path.join(tmp, "library-only")
        subprocess.run([sys.executable, "-c", "import graphc as tf\n"
                        "with tf.Session() as s: s.run(tf.constant(1.0) + 1.0)"],
                       env={**os.environ, "GRAPHC_CACHE_DIR": library}, check=True)
        for name in args.models.split(","):
            path = os.path.join(where, f"{name}.onnx")
            if not os.path.exists(path):
                export(int(name.removeprefix("resnet")), path)
            cold, warm_library, cached, ort, modules, loads = [], [], [], [], [], []
            for i in range(args.repeat):
                cache = os.path.join(tmp, f"cache-{name}-{i}")
                other = os.path.join(tmp, f"library-{name}-{i}")
                shutil.copytree(library, other)
                warm_library.append(timed(path, "graphc", other)[0])
                cold.append(timed(path, "graphc", cache)[0])
                seconds, imports, load = timed(path, "graphc", cache)
                cached.append(seconds)
                modules.append(imports)
                loads.append(load)
                ort.append(timed(path, "onnxruntime", cache)[0])
            rows.append((name, *(statistics.median(v) for v in (cold, warm_library, cached, loads,
                                                                 ort, modules))))
    print("| model | graphc cold | graphc cold model (library cached) | graphc from the cache "
          "(of which the load) | onnxruntime session + first call |")
    print("| --- | --- | --- | --- | --- |")
    for name, cold, warm, cached, load, ort, _ in rows:
        print(f"| {name} | {cold:.2f} s | {warm:.2f} s | {cached * 1000:.0f} ms "
              f"({load * 1000:.0f} ms) | {ort * 1000:.0f} ms |")
    print("(Python's `import onnx, graphc.onnx` before these: "
          + ", ".join(f"{name} {m * 1000:.0f} ms" for name, *_, m in rows) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
