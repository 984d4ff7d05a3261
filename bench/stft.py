"""tf.signal.stft against scipy and numpy: 60 s of 16 kHz float32 audio, frame 1024, hop 256,
FFT 1024, periodic Hann window (3747 frames, 513 bins).

    python bench/stft.py [--seconds 60] [--reps 20] [--threads 1 2] [--passes]

For each thread count graphc's stft is compiled once (the compile time, first call
included, is printed), then timed through make_callable and through Session.run (both
return the complex64 [3747, 513] array), beside, in the same process and interleaved round
by round, the same transform by:
  - scipy.signal.stft with boundary=None, padded=False: the same 3747 frames (scipy also
    scales by 1 / sum(window));
  - scipy.signal.stft with its defaults (zero-padded ends: 3751 frames);
  - numpy.fft.rfft over a strided frame view times the window (numpy computes in float64);
  - scipy.fft.rfft over the same view (pocketfft in float32);
  - librosa.stft (center=False) when librosa is importable.
Each is checked against numpy first. Medians of --reps rounds. One-thread runs are pinned to
one CPU (scipy and numpy are single-threaded whatever the count). `graphc bench machine`'s
limits are printed first. Run it on an idle machine.

--passes adds, per thread count, the time of each of graphc's kernels: the medians of
running the graph up to each one in turn (the ops that compute the fetched (real,
imaginary) pairs, in graph order), each less the one before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

RATE, FRAME, HOP, FFT = 16000, 1024, 256, 1024


def _graphc(tf, audio: np.ndarray, threads: int):
    """(make_callable step, Session.run step, compile seconds) for graphc's stft."""
    graph = tf.Graph()
    with graph.as_default():
        signal = tf.placeholder(tf.float32, audio.shape)
        spectrum = tf.signal.stft(signal, FRAME, HOP, FFT)
        sess = tf.Session(graph=graph, config=tf.Options(threads=threads))
        start = time.perf_counter()
        call = sess.make_callable(spectrum, [signal])
        first = call(audio)
        compile_s = time.perf_counter() - start
        sess.run(spectrum, {signal: audio})
    return (first, lambda: call(audio), lambda: sess.run(spectrum, {signal: audio}),
            compile_s)


_VIEWS = ("placeholder", "constant", "reshape", "identity", "squeeze")  # no kernel of their own


def _passes(tf, audio: np.ndarray, threads: int, reps: int) -> list:
    """[(op type, name, ms)]: the time of each kernel of graphc's stft (see --passes)."""
    graph = tf.Graph()
    with graph.as_default():
        signal = tf.placeholder(tf.float32, audio.shape)
        tf.signal.stft(signal, FRAME, HOP, FFT)
        ops, todo = [], [graph.get_tensor_by_name("stft_pairs:0").op]
        while todo:
            op = todo.pop()
            if op not in ops:
                ops.append(op)
                todo += [t.op for t in op.inputs]
        order = {op: k for k, op in enumerate(graph.get_operations())}
        ops = sorted((op for op in ops if op.type not in _VIEWS), key=order.get)
        sess = tf.Session(graph=graph, config=tf.Options(threads=threads))
        steps = {op: (lambda call=sess.make_callable(op.outputs[0], [signal]): call(audio))
                 for op in ops}
        medians = _timed(steps, reps)
    before, out = 0.0, []
    for op in ops:
        out.append((op.type, op.name, medians[op] - before))
        before = medians[op]
    return out


def _others(audio: np.ndarray) -> dict:
    import scipy.fft
    import scipy.signal
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)).astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(audio, FRAME)[::HOP]
    steps = {
        "scipy.signal.stft, same frames": lambda: scipy.signal.stft(
            audio, nperseg=FRAME, noverlap=FRAME - HOP, nfft=FFT, boundary=None,
            padded=False)[2],
        "scipy.signal.stft, defaults": lambda: scipy.signal.stft(
            audio, nperseg=FRAME, noverlap=FRAME - HOP, nfft=FFT)[2],
        "numpy.fft.rfft, framed view": lambda: np.fft.rfft(view * window, FFT),
        "scipy.fft.rfft, framed view": lambda: scipy.fft.rfft(view * window, FFT),
    }
    try:
        import librosa
        steps["librosa.stft"] = lambda: librosa.stft(audio, n_fft=FFT, hop_length=HOP,
                                                     window="hann", center=False)
    except ImportError:
        pass
    return steps


def _check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    scale = np.abs(want).max()
    if name.startswith("scipy.signal"):  # scaled by 1 / sum(window), frames on axis -1
        got = got.T * np.float32(FRAME / 2)
        if got.shape[0] != want.shape[0]:
            return  # the padded variant's frames sit elsewhere; timed only
    elif name.startswith("librosa"):
        got = got.T
    err = np.abs(got - want).max() / scale
    if err > 1e-4:
        raise AssertionError(f"{name} differs from numpy: {err:.2e} of the largest value")


def _timed(steps: dict, reps: int) -> dict:
    """Median ms of each step; the steps take turns, one call each per round."""
    times: dict = {name: [] for name in steps}
    for step in steps.values():
        step()
    for _ in range(reps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--passes", action="store_true",
                        help="also time each of graphc's kernels")
    args = parser.parse_args(argv)
    print(subprocess.run([sys.executable, "-m", "graphc", "bench", "machine"],
                         capture_output=True, text=True).stdout.strip())
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import graphc as tf

    audio = np.random.default_rng(0).standard_normal(int(args.seconds * RATE))
    audio = (0.1 * audio).astype(np.float32)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)
    view = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), FRAME)[::HOP]
    want = np.fft.rfft(view * window, FFT)
    cpus = sorted(os.sched_getaffinity(0))
    print(f"\ncommand: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"stft of {args.seconds:g} s at {RATE} Hz, frame {FRAME}, hop {HOP}, fft {FFT}: "
          f"{want.shape[0]} frames x {want.shape[1]} bins; median of {args.reps} "
          "interleaved rounds (ms)")
    print("| threads | graphc make_callable | graphc Session.run | "
          + " | ".join(_others(audio)) + " | graphc compile |")
    print("| --- " * (len(_others(audio)) + 4) + "|")
    for threads in args.threads:
        os.sched_setaffinity(0, cpus[-1:] if threads == 1 else cpus)
        first, call, run, compile_s = _graphc(tf, audio, threads)
        err = np.abs(first - want).max() / np.abs(want).max()
        if err > 1e-5 or first.dtype != np.complex64:
            raise AssertionError(f"graphc's stft differs from numpy: {err:.2e}")
        others = _others(audio)
        for name, step in others.items():
            _check(name, step(), want)
        medians = _timed({"graphc make_callable": call, "graphc Session.run": run,
                          **others}, args.reps)
        print(f"| {threads} | " + " | ".join(f"{ms:.2f}" for ms in medians.values())
              + f" | {compile_s:.2f} s |")
        if args.passes:
            passes = _passes(tf, audio, threads, args.reps)
            print(f"|   | {threads} thread(s), per kernel: " + ", ".join(
                f"{kind} {name} {ms:.2f}" for kind, name, ms in passes) + " |")
    os.sched_setaffinity(0, cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
