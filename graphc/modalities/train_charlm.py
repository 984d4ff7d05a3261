"""Train the built-in character language model on the Python standard library's source and
write it as graphc/modalities/weights/charlm.safetensors (see docs/charlm-default.md).

    python -m graphc.modalities.train_charlm [--steps 2400] [--out DIR] [--arch lstm]

The text is `stdlib_source()` (a fixed list of modules), the vocabulary every character in
it; the first nine tenths train, the last tenth validates. Training samples random windows
with fixed seeds and runs Adam with a cosine-decayed learning rate and gradients clipped to
a global norm of 5. The weights are stored as float16; the validation loss printed at the
end and written into the file is the rounded weights' loss, over the whole held-out tenth
in consecutive windows of `--length` + 1 characters (each character after the first
predicted once, from the ones before it in its window), against the unigram entropy of the
same text (the loss of a model that ignores the context).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import graphc as tf
from graphc.modalities import charlm
from graphc.models.text import CharTokenizer
from graphc.models.text.data import random_windows, split_ids, stdlib_source, unigram_entropy

VALIDATION = 0.1
CLIP_NORM = 5.0
SAMPLE_PROMPT = "def "


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m graphc.modalities.train_charlm",
                                description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2400, help="training steps")
    p.add_argument("--out", default=os.path.dirname(charlm.DEFAULT_WEIGHTS),
                   help="folder to write charlm.safetensors into")
    p.add_argument("--arch", choices=("lstm", "transformer"), default="lstm")
    p.add_argument("--units", type=int, default=256,
                   help="LSTM units, or the Transformer's d_model")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding-dim", type=int, default=None, help="LSTM only")
    p.add_argument("--heads", type=int, default=4, help="Transformer only")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=64, help="characters predicted per window")
    p.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=200)
    args = p.parse_args(argv)
    for name in ("steps", "units", "layers", "heads", "batch", "length", "eval_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def architecture(args, vocab_size: int) -> dict:
    if args.arch == "lstm":
        return {"class": "LSTMLM", "vocab_size": vocab_size, "units": args.units,
                "num_layers": args.layers,
                "embedding_dim": args.embedding_dim or args.units}
    return {"class": "TransformerLM",
            "config": {"vocab_size": vocab_size, "d_model": args.units, "num_heads": args.heads,
                       "num_layers": args.layers, "max_len": max(args.length, 512)}}


def build_training(args, arch: dict):
    """(windows placeholder, loss, train op) for the model of `arch` in the default graph."""
    tf.set_random_seed(args.seed)
    model = charlm.build_model(arch)
    windows = tf.placeholder(tf.int32, [None, args.length + 1], name="windows")
    loss = model.loss(windows)
    step = tf.train.get_or_create_global_step()
    rate = tf.train.cosine_decay(args.lr, step, args.steps, alpha=0.05)
    optimizer = tf.train.AdamOptimizer(rate)
    grads, variables = zip(*optimizer.compute_gradients(loss))
    grads, _ = tf.clip_by_global_norm(list(grads), CLIP_NORM)
    train_op = optimizer.apply_gradients(zip(grads, variables), global_step=step)
    return windows, loss, train_op


def consecutive_windows(ids, length: int) -> np.ndarray:
    """[n, length + 1]: windows k * length .. k * length + length of `ids` (each id after the
    first is a target exactly once; a tail shorter than a window is left out)."""
    n = (len(ids) - 1) // length
    return np.asarray(ids, np.int32)[np.arange(n)[:, None] * length + np.arange(length + 1)]


def validation_loss(sess, loss, windows, batches) -> float:
    """The mean loss over batches of equal-length windows, weighted by their rows."""
    total = sum(float(sess.run(loss, {windows: b})) * len(b) for b in batches)
    return total / sum(len(b) for b in batches)


def round_to_float16(sess, variables: dict) -> dict:
    """{name: float16 array} of the variables, whose values become the rounded ones."""
    halves = {}
    for name, variable in variables.items():
        value = sess.run(variable)
        if np.abs(value).max() > np.finfo(np.float16).max:
            raise ValueError(f"train_charlm: weight {name} exceeds float16's range")
        halves[name] = value.astype(np.float16)
        variable.load(halves[name].astype(np.float32), sess)
    return halves


def write(path: str, arrays: dict, metadata: dict) -> None:
    """The safetensors file, written beside its final name and then moved over it."""
    from safetensors.numpy import save_file
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    save_file({n: np.ascontiguousarray(a) for n, a in sorted(arrays.items())}, tmp,
              metadata={k: str(v) for k, v in metadata.items()})
    os.chmod(tmp, 0o644)  # a file the package ships: readable by all
    os.replace(tmp, path)


def train(args, arch: dict, train_ids, val) -> tuple:
    """Train the model of `arch`: ({name: float16 weights}, their validation loss over all
    of `val`, training seconds)."""
    graph = tf.Graph()
    with graph.as_default():
        windows, loss, train_op = build_training(args, arch)
        variables = charlm.model_variables(graph)
        init = tf.global_variables_initializer()
    params = sum(int(np.prod(v.shape.as_list())) for v in variables.values())
    print(f"{arch['class']}: {params} parameters ({2 * params / 1e6:.2f} MB as float16)")
    val_windows = consecutive_windows(val, args.length)
    val_batches = [val_windows[i:i + 128] for i in range(0, len(val_windows), 128)]
    probe = val_batches[:2]  # the progress report's quicker estimate
    rng = np.random.default_rng(args.seed)
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        start = time.perf_counter()
        for i in range(1, args.steps + 1):
            batch = random_windows(train_ids, args.batch, args.length + 1, rng)
            sess.run(train_op, {windows: batch})
            if i % args.eval_every == 0 or i == args.steps:
                print(f"step {i}: validation loss (first {sum(map(len, probe))} windows) "
                      f"{validation_loss(sess, loss, windows, probe):.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
        seconds = time.perf_counter() - start
        halves = round_to_float16(sess, variables)
        return halves, validation_loss(sess, loss, windows, val_batches), seconds


def main(argv=None) -> str:
    args = parse_args(argv)
    text = stdlib_source()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val = split_ids(tokenizer.encode(text), VALIDATION)
    unigram = unigram_entropy(val, tokenizer.vocab_size)
    print(f"{len(text)} characters, vocabulary {tokenizer.vocab_size}; validation text "
          f"{len(val)} characters, unigram entropy {unigram:.3f} nats/char", flush=True)
    arch = architecture(args, tokenizer.vocab_size)
    halves, final, seconds = train(args, arch, train_ids, val)
    print(f"trained {args.steps} steps in {seconds:.0f} s; validation loss {final:.4f} nats/char "
          f"(float16 weights) vs unigram entropy {unigram:.4f}")
    path = os.path.join(args.out, "charlm.safetensors")
    write(path, halves, {
        "format": charlm.FORMAT, "architecture": json.dumps(arch),
        "tokenizer": charlm.tokenizer_to_json(tokenizer), "steps": args.steps,
        "batch": args.batch, "length": args.length, "learning_rate": args.lr,
        "seed": args.seed, "storage": "float16", "train_seconds": round(seconds, 1),
        "validation_loss": f"{final:.6f}", "unigram_entropy": f"{unigram:.6f}",
        "validation_text": f"the last {VALIDATION:.0%} of graphc.models.text.data."
                           f"stdlib_source() ({len(val)} characters) on Python "
                           f"{platform.python_version()}, in consecutive windows of "
                           f"{args.length + 1} characters"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    sample = charlm.CharLM.load(path).generate(SAMPLE_PROMPT, 200, temperature=0.8, seed=0)
    print(f"a sample (temperature 0.8, seed 0):\n{sample}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
