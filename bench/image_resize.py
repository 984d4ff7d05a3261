"""tf.image resizing against Pillow and OpenCV: one bilinear resize, uint8 in and uint8 out.

    .venv/bin/python bench/image_resize.py [--reps 21] [--threads 1 2] [--small]

What each graphc row times is what a user's pipeline runs: a placeholder fed the decoded
image, the resize, and (for uint8 images) `tf.saturate_cast(tf.round(...), tf.uint8)` back
to uint8 (TF's resizes return float32), compiled once and called through make_callable.
Three computations, and the library that computes the same thing:
  tf1        tf.image.resize(x, size): TF1's default, legacy coordinates (y * in / out);
             no library samples this way
  half-pixel tf.image.resize_bilinear(x, size, half_pixel_centers=True) (TF2's resize
             without antialias): OpenCV's cv2.resize(INTER_LINEAR) samples the same points
  antialias  TF2's tf.image.resize(x, size, antialias=True), graphc's
             image_resize_kernels.resize_v2 (ScaleAndTranslate, a triangle filter as wide
             as the reduction): Pillow's Image.resize(BILINEAR), whose bilinear filter also
             widens with the reduction (in fixed point)
Images: 3840x2160 RGB uint8 -> 1920x1080, 960x540 RGB uint8 -> 1920x1080 (2x up), and
3840x2160 grayscale float32 -> 1920x1080 (float32 out; Pillow mode "F").

Every variant runs in each round, in turn (interleaved, so load changes hit all alike);
the figures are medians of --reps rounds, in ms. graphc runs with Options(threads=1) and
threads=2; Pillow is single-threaded and OpenCV runs with cv2.setNumThreads(1); one-thread
runs are pinned to one CPU. While timing, each graphc output is checked against numpy
references of TF's formulas (uint8: within 1 of the rounded reference, float32: 1e-4
relative), and the libraries' outputs are compared with the graphc computation they
correspond to (max difference, printed). OpenCV is optional (pip install
opencv-python-headless); its column is empty without it. The machine's limits are printed
first (`graphc bench machine`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

F32 = np.float32


# --- numpy references of TF's formulas ------------------------------------------------------
def tf_bilinear(a, out_h, out_w, half_pixel: bool):
    """TF's ResizeBilinear (align_corners=False), its float32 lerps in its order."""
    a = a.astype(F32)

    def coords(n, out):
        scale = F32(n) / F32(out)
        y = np.arange(out, dtype=F32)
        src = (y + F32(0.5)) * scale - F32(0.5) if half_pixel else y * scale
        low = np.floor(src)
        return (np.maximum(low, 0).astype(int), np.minimum(np.ceil(src), n - 1).astype(int),
                (src - low).astype(F32))
    y0, y1, dy = coords(a.shape[0], out_h)
    x0, x1, dx = coords(a.shape[1], out_w)
    dx, dy = dx[None, :, None], dy[:, None, None]
    top = a[y0][:, x0] + (a[y0][:, x1] - a[y0][:, x0]) * dx
    bottom = a[y1][:, x0] + (a[y1][:, x1] - a[y1][:, x0]) * dx
    return top + (bottom - top) * dy


def _spans(n, out):
    """TF's ScaleAndTranslate spans of the triangle kernel with antialias (starts, weights)."""
    inv = F32(1.0 / float(F32(out) / F32(n)))
    stretch = max(inv, F32(1))
    span = min(2 * int(np.ceil(stretch)) + 1, n)
    starts, weights = np.zeros(out, int), np.zeros((out, span), F32)
    for x in range(out):
        sample = (F32(x) + F32(0.5)) * inv
        first = min(max(int(np.ceil(sample - stretch - F32(0.5))), 0), n - 1)
        last = min(max(int(np.floor(sample + stretch - F32(0.5))), 0), n - 1)
        w = [max(F32(1) - abs((F32(s) + F32(0.5) - sample) * (F32(1) / stretch)), F32(0))
             for s in range(first, last + 1)]
        total = F32(0)
        for v in w:
            total = F32(total + v)
        weights[x, :len(w)] = [F32(v * (F32(1) / total)) for v in w]
        starts[x] = first
    return starts, weights


def tf_antialias(a, out_h, out_w):
    """TF's ScaleAndTranslate(kernel_type="triangle", antialias=True): rows, then columns."""
    a = a.astype(F32)
    (rs, rw), (cs, cw) = _spans(a.shape[0], out_h), _spans(a.shape[1], out_w)
    rows = np.zeros((out_h,) + a.shape[1:], F32)
    for t in range(rw.shape[1]):
        ok = rs + t < a.shape[0]
        rows[ok] += rw[ok, t][:, None, None] * a[rs[ok] + t]
    out = np.zeros((out_h, out_w, a.shape[2]), F32)
    for t in range(cw.shape[1]):
        ok = cs + t < a.shape[1]
        out[:, ok] += cw[ok, t][None, :, None] * rows[:, cs[ok] + t]
    return out


# --- the cases ------------------------------------------------------------------------------
def _images(small: bool):
    """(title, image, (out_h, out_w)) of each case; `small` divides every size by 8."""
    rng = np.random.default_rng(0)
    k = 8 if small else 1
    rgb_4k = rng.integers(0, 256, (2160 // k, 3840 // k, 3), dtype=np.uint8)
    rgb_small = rng.integers(0, 256, (540 // k, 960 // k, 3), dtype=np.uint8)
    gray_4k = rng.random((2160 // k, 3840 // k, 1), dtype=F32)
    out = (1080 // k, 1920 // k)
    cases = [(rgb_4k, "RGB uint8"), (rgb_small, "RGB uint8, 2x up"), (gray_4k, "gray float32")]
    return [(f"{a.shape[1]}x{a.shape[0]} {what} -> {out[1]}x{out[0]}", a, out)
            for a, what in cases]


def _antialiased(tf, x, size):
    from graphc.modalities.image_resize_kernels import resize_v2
    return resize_v2(x, size, "bilinear", antialias=True)


COMPUTATIONS = {
    "tf1": lambda tf, x, size: tf.image.resize(x, size),
    "half-pixel": lambda tf, x, size: tf.image.resize_bilinear(x, size, half_pixel_centers=True),
    "antialias": _antialiased,
}


def _reference(kind, a, size):
    if kind == "antialias":
        return tf_antialias(a, *size)
    return tf_bilinear(a, *size, half_pixel=kind == "half-pixel")


def _graphc(tf, kind, a, size, threads):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.as_dtype(a.dtype), a.shape)
        y = COMPUTATIONS[kind](tf, x, list(size))
        if a.dtype == np.uint8:
            y = tf.saturate_cast(tf.round(y), tf.uint8)
        sess = tf.Session(graph=graph, config=tf.Options(threads=threads))
        fn = sess.make_callable(y, [x])
    fn(a)  # compile
    return lambda: fn(a)


def _check(kind, got, want):
    if got.dtype == np.uint8:
        diff = np.abs(got.astype(int) - np.round(want)).max()
        assert diff <= 1, f"{kind}: {diff} grey levels off TF's formula"
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def _libraries(a, size):
    """{name: call} of Pillow and OpenCV resizes of `a` (its shape kept)."""
    from PIL import Image
    out = {}
    image = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
    keep = (lambda r: np.asarray(r)[..., None]) if a.shape[2] == 1 else np.asarray
    out["Pillow BILINEAR"] = (lambda: keep(image.resize(size[::-1], Image.BILINEAR)), "antialias")
    try:
        import cv2
    except ImportError:
        return out
    cv2.setNumThreads(1)
    shaped = (lambda r: r[..., None]) if a.shape[2] == 1 else (lambda r: r)
    out["OpenCV INTER_LINEAR"] = (
        lambda: shaped(cv2.resize(a, size[::-1], interpolation=cv2.INTER_LINEAR)), "half-pixel")
    return out


def _timed(call, pin, cpus):
    os.sched_setaffinity(0, pin if pin else cpus)
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def run_case(tf, title, a, size, threads_list, reps, cpus):
    calls = {}
    for kind in COMPUTATIONS:
        for threads in threads_list:
            calls[(kind, threads)] = _graphc(tf, kind, a, size, threads)
    libraries = _libraries(a, size)
    references = {kind: _reference(kind, a, size) for kind in COMPUTATIONS}
    times = {key: [] for key in list(calls) + list(libraries)}
    one = cpus[-1:]
    last = {}
    for _ in range(reps):
        for key, call in calls.items():
            elapsed, last[key] = _timed(call, one if key[1] == 1 else None, cpus)
            times[key].append(elapsed)
        for name, (call, _) in libraries.items():
            elapsed, last[name] = _timed(call, one, cpus)
            times[name].append(elapsed)
    os.sched_setaffinity(0, cpus)
    for (kind, _), got in ((k, v) for k, v in last.items() if isinstance(k, tuple)):
        _check(kind, got, references[kind])
    _report(title, a, calls, libraries, times, last, threads_list)


def _report(title, a, calls, libraries, times, last, threads_list):
    med = {key: float(np.median(t)) * 1e3 for key, t in times.items()}
    print(f"\n{title}")
    print("| graphc computation | " + " | ".join(f"{t} thread{'s' * (t > 1)}"
                                                 for t in threads_list)
          + " | same computation elsewhere (1 thread) | its max difference |")
    print("| --- | " + " | ".join("---" for _ in threads_list) + " | --- | --- |")
    for kind in COMPUTATIONS:
        cells = [f"{med[(kind, t)]:.2f} ms" for t in threads_list]
        other, diff = "-", "-"
        for name, (_, same) in libraries.items():
            if same == kind:
                ours = last[(kind, threads_list[0])].astype(np.float64)
                other = f"{name} {med[name]:.2f} ms"
                diff = f"{np.abs(last[name].astype(np.float64) - ours).max():.3g}"
        print(f"| {kind} | " + " | ".join(cells) + f" | {other} | {diff} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--small", action="store_true", help="images 8x smaller (a check)")
    args = parser.parse_args(argv)
    subprocess.run([sys.executable, "-m", "graphc", "bench", "machine", "--threads",
                    ",".join(map(str, args.threads))], check=False)
    import graphc as tf
    cpus = sorted(os.sched_getaffinity(0))
    print(f"\nbench/image_resize.py --reps {args.reps} --threads "
          f"{' '.join(map(str, args.threads))}; load average before: {os.getloadavg()[0]:.2f}")
    for title, a, size in _images(args.small):
        run_case(tf, title, a, size, args.threads, args.reps, cpus)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
