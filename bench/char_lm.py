"""A character-level Transformer language model trained on the Python standard library's own
source, then its generation graph exported to a shared library and run from it.

    .venv/bin/python bench/char_lm.py [--steps 1000] [--d-model 128] [--layers 4] [--heads 4]
                                      [--length 128] [--batch 32] [--no-export] [--c-driver]

Prints the validation loss as training goes (against the unigram entropy, the loss of a
model that ignores the context), a sample from the trained model, and the exported
library's tokens for the same prompt and noise as the JIT's (they must be equal). With
--c-driver it also compiles a small C program against the library and checks its tokens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import numpy as np

import graphc as tf
from graphc.models.text import CharTokenizer, TransformerLM, TransformerLMConfig, uniform_noise
from graphc.models.text.data import random_windows, split_ids, stdlib_source, unigram_entropy

PROMPT = "def "
C_DRIVER = r"""
/* Read the prompt ids and the noise, run the exported generator, print the new ids. */
#include <stdio.h>
#include <stdlib.h>
#include "char_lm.h"

static void *slurp(const char *path, int64_t bytes) {
    void *buf = malloc((size_t)bytes);
    FILE *f = fopen(path, "rb");
    if (buf == NULL || f == NULL || fread(buf, 1, (size_t)bytes, f) != (size_t)bytes) exit(1);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const void *inputs[] = {slurp(argv[1], char_lm_input_bytes(0, 1)),
                            slurp(argv[2], char_lm_input_bytes(1, 1))};
    int64_t out_bytes = char_lm_output_bytes(0, 1);
    int32_t *ids = malloc((size_t)out_bytes);
    void *outputs[] = {ids};
    char_lm_context *ctx = char_lm_create();
    if (ctx == NULL || char_lm_run(ctx, inputs, outputs) != GRAPHC_OK) return 1;
    for (int64_t i = 0; i < out_bytes / 4; ++i) printf("%d ", ids[i]);
    printf("\n");
    char_lm_destroy(ctx);
    return 0;
}
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--c-driver", action="store_true")
    return p.parse_args()


def build(args, vocab_size):
    tf.set_random_seed(0)
    config = TransformerLMConfig(vocab_size=vocab_size, d_model=args.d_model,
                                 num_heads=args.heads, num_layers=args.layers,
                                 max_len=max(args.length, len(PROMPT) + args.new_tokens))
    lm = TransformerLM(config, name="char_lm")
    windows = tf.placeholder(tf.int32, [None, args.length + 1], name="windows")
    loss = lm.loss(windows)
    step = tf.train.AdamOptimizer(args.lr).minimize(loss)
    prompt = tf.placeholder(tf.int32, [1, len(PROMPT)], name="prompt")
    noise = tf.placeholder(tf.float32, [args.new_tokens, 1, vocab_size], name="noise")
    generated = lm.generate(prompt, args.new_tokens, args.temperature, args.top_k, noise)
    return windows, loss, step, prompt, noise, generated


def validation_loss(sess, loss, windows, batches):
    return float(np.mean([sess.run(loss, {windows: b}) for b in batches]))


def main():
    args = parse_args()
    text = stdlib_source()
    tokenizer = CharTokenizer.from_text(text)
    train, val = split_ids(tokenizer.encode(text), 0.1)
    print(f"{len(text)} characters, vocabulary {tokenizer.vocab_size}, train {len(train)}, "
          f"validation {len(val)}; unigram entropy of the validation text "
          f"{unigram_entropy(val, tokenizer.vocab_size):.3f} nats")
    windows, loss, step, prompt, noise, generated = build(args, tokenizer.vocab_size)
    rng = np.random.default_rng(0)
    val_rng = np.random.default_rng(1)
    val_batches = [random_windows(val, args.batch, args.length + 1, val_rng) for _ in range(8)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        print(f"step 0: validation loss {validation_loss(sess, loss, windows, val_batches):.3f}")
        start = time.perf_counter()
        for i in range(1, args.steps + 1):
            sess.run(step, {windows: random_windows(train, args.batch, args.length + 1, rng)})
            if i % args.eval_every == 0 or i == args.steps:
                v = validation_loss(sess, loss, windows, val_batches)
                print(f"step {i}: validation loss {v:.3f} ({time.perf_counter() - start:.0f} s)")
        train_s = time.perf_counter() - start
        print(f"{args.steps} steps in {train_s:.1f} s ({1e3 * train_s / args.steps:.1f} ms/step,"
              f" first step's compile included)")
        feeds = {prompt: [tokenizer.encode(PROMPT)],
                 noise: uniform_noise(args.new_tokens, 1, tokenizer.vocab_size, seed=0)}
        start = time.perf_counter()
        jit = sess.run(generated, feeds)
        print(f"generated {args.new_tokens} tokens in {time.perf_counter() - start:.2f} s "
              f"(compile included):\n{PROMPT}{tokenizer.decode(jit[0])}")
        start = time.perf_counter()
        sess.run(generated, feeds)
        print(f"again, compiled: {1e3 * (time.perf_counter() - start):.1f} ms")
        if not args.no_export:
            export_and_compare(args, sess, prompt, noise, generated, feeds, jit)


def export_and_compare(args, sess, prompt, noise, generated, feeds, jit):
    out = tempfile.mkdtemp(prefix="char_lm_")
    start = time.perf_counter()
    artifact = tf.export(generated, [prompt, noise], out, name="char_lm", session=sess)
    print(f"exported to {artifact.shared} in {time.perf_counter() - start:.1f} s")
    model = tf.load(artifact.shared)
    aot = model(feeds[prompt], feeds[noise])
    print(f"library tokens equal the JIT's: {np.array_equal(aot, jit)}")
    if args.c_driver:
        np.asarray(feeds[prompt], np.int32).tofile(os.path.join(out, "prompt.bin"))
        np.asarray(feeds[noise], np.float32).tofile(os.path.join(out, "noise.bin"))
        with open(os.path.join(out, "main.c"), "w") as f:
            f.write(C_DRIVER)
        subprocess.run(["cc", "-O2", "-I", out, os.path.join(out, "main.c"), "-L", out,
                        "-lchar_lm", f"-Wl,-rpath,{out}", "-o", os.path.join(out, "main")],
                       check=True)
        printed = subprocess.run([os.path.join(out, "main"), os.path.join(out, "prompt.bin"),
                                  os.path.join(out, "noise.bin")], check=True,
                                 capture_output=True, text=True).stdout
        c_ids = np.array(printed.split(), np.int32)
        print(f"C driver tokens equal the JIT's: {np.array_equal(c_ids, jit.ravel())}")


if __name__ == "__main__":
    main()
