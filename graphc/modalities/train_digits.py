"""Train the built-in digits models and write their weights (docs/digits-models.md).

    python -m graphc.modalities.train_digits [--out DIR]

Both models train with graphc (tf.gradients through Adam, one compiled train step per
Session.run) on the 80% training split of the bundled UCI digits, with fixed seeds:

- the recognizer (digits.recognizer_logits): softmax cross-entropy, then its accuracy on the
  20% held-out split;
- the generator: a conditional VAE. The encoder maps (image, one-hot label) to the mean and
  log-variance of a small Gaussian latent; the decoder (digits.decoder_logits) maps (latent,
  one-hot label) back to pixel logits. Loss: the pixels' Bernoulli cross-entropy plus the KL
  divergence of the latent from N(0, I). Only the decoder ships; sampling feeds it N(0, I)
  noise.

The files go to graphc/modalities/weights/ (or --out) as float32 safetensors with the sizes,
steps, seeds and measured accuracies in their metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import graphc as tf
from graphc.datasets import load_digits
from graphc.modalities import digits

CONV1, CONV2, HIDDEN = 8, 16, 32  # recognizer widths
LATENT, UNITS = 4, 128  # generator: latent size, width of the hidden layers


def _variables(shapes: dict) -> dict:
    """Glorot-uniform weights (".w") and zero biases (".b") as graph variables."""
    out = {}
    for name, shape in shapes.items():
        init = (tf.zeros_initializer() if name.endswith(".b")
                else tf.glorot_uniform_initializer())
        out[name] = tf.get_variable(name.replace(".", "_"), shape, initializer=init)
    return out


def _values(sess, params: dict) -> dict:
    return {name: np.ascontiguousarray(v, np.float32)
            for name, v in zip(params, sess.run(list(params.values())))}


def redrawn(x: np.ndarray) -> np.ndarray:
    """The images x [N, 8, 8] as read_digits sees them after draw_text drew them: upscaled
    to 32x32 (bilinear, compiled), dark on white as uint8, then binarized, cropped to the
    ink's box, centred in a square and area-resized back to 8x8. The recognizer trains on
    both x and these, so that binarized, reframed digits read as well as the data set."""
    graph = tf.Graph()
    with graph.as_default():
        small = tf.placeholder(tf.float32, [None, 8, 8, 1])
        big = tf.image.resize_bilinear(small, [32, 32], half_pixel_centers=True)
        drawn = tf.cast(tf.round(255.0 * (1.0 - tf.clip_by_value(big, 0.0, 1.0))), tf.uint8)
        with tf.Session(graph=graph) as sess:
            pictures = sess.run(drawn, {small: x[..., None]})[..., 0]
    out = np.zeros_like(x)
    for i, picture in enumerate(pictures):
        ink = digits.ink_mask(picture)
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        if len(rows):
            square = digits.square_crop(ink, (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1))
            area = digits.area_matrix(len(square), 8)
            out[i] = area @ square @ area.T
    return out


def train_recognizer(x, labels, train, test, steps=3000, batch=64, seed=1):
    """(weights, held-out accuracy, held-out accuracy of the redrawn images) of the
    recognizer trained on x[train] and redrawn(x[train])."""
    again = redrawn(x)
    both, both_labels = np.concatenate([x, again]), np.concatenate([labels, labels])
    train_both = np.concatenate([train, train + len(x)])
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        images = tf.placeholder(tf.float32, [None, 8, 8])
        y = tf.placeholder(tf.int64, [None])
        p = _variables({"conv1.w": [3, 3, 1, CONV1], "conv1.b": [CONV1],
                        "conv2.w": [3, 3, CONV1, CONV2], "conv2.b": [CONV2],
                        "hidden.w": [4 * CONV2, HIDDEN], "hidden.b": [HIDDEN],
                        "out.w": [HIDDEN, 10], "out.b": [10]})
        logits = digits.recognizer_logits(images, p)
        loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
        lr = tf.placeholder_with_default(0.01, [])
        train_op = tf.train.AdamOptimizer(lr).minimize(loss)
        predict = tf.argmax(logits, 1)
        rng = np.random.default_rng(seed)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for step in range(steps):
                rows = rng.choice(train_both, batch)
                rate = 0.01 if step < steps * 2 // 3 else 0.002
                sess.run(train_op, {images: both[rows], y: both_labels[rows], lr: rate})
            accuracy = float(np.mean(sess.run(predict, {images: x[test]}) == labels[test]))
            redrawn_accuracy = float(np.mean(sess.run(predict, {images: again[test]})
                                             == labels[test]))
            return _values(sess, p), accuracy, redrawn_accuracy


def train_generator(x, labels, train, steps=20000, batch=64, seed=2):
    """(decoder weights, final training loss per image) of the conditional VAE."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        images = tf.placeholder(tf.float32, [None, 8, 8])
        y = tf.placeholder(tf.int32, [None])
        eps = tf.placeholder(tf.float32, [None, LATENT])
        onehot = tf.one_hot(y, 10)
        flat = tf.reshape(images, [-1, 64])
        enc = _variables({"enc1.w": [74, UNITS], "enc1.b": [UNITS],
                          "enc_mean.w": [UNITS, LATENT], "enc_mean.b": [LATENT],
                          "enc_logvar.w": [UNITS, LATENT], "enc_logvar.b": [LATENT]})
        dec = _variables({"dec1.w": [LATENT + 10, UNITS], "dec1.b": [UNITS],
                          "dec2.w": [UNITS, UNITS], "dec2.b": [UNITS],
                          "dec_out.w": [UNITS, 64], "dec_out.b": [64]})
        h = tf.nn.relu(tf.matmul(tf.concat([flat, onehot], 1), enc["enc1.w"]) + enc["enc1.b"])
        mean = tf.matmul(h, enc["enc_mean.w"]) + enc["enc_mean.b"]
        logvar = tf.matmul(h, enc["enc_logvar.w"]) + enc["enc_logvar.b"]
        z = mean + tf.exp(0.5 * logvar) * eps  # the reparameterization: gradients reach mean
        logits = digits.decoder_logits(z, onehot, dec)
        # -ELBO per image: Bernoulli cross-entropy of the 64 pixels (targets in [0, 1]) plus
        # KL(N(mean, exp(logvar)) || N(0, I)) = 0.5 sum(exp(logvar) + mean^2 - 1 - logvar)
        recon = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=flat,
                                                                      logits=logits), 1)
        kl = 0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mean) - 1.0 - logvar, 1)
        loss = tf.reduce_mean(recon + kl)
        lr = tf.placeholder_with_default(0.002, [])
        train_op = tf.train.AdamOptimizer(lr).minimize(loss)
        rng = np.random.default_rng(seed)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for step in range(steps):
                rows = rng.choice(train, batch)
                noise = rng.standard_normal((batch, LATENT)).astype(np.float32)
                rate = 0.002 if step < steps * 2 // 3 else 0.0005
                sess.run(train_op, {images: x[rows], y: labels[rows], eps: noise, lr: rate})
            noise = rng.standard_normal((len(train), LATENT)).astype(np.float32)
            final = sess.run(loss, {images: x[train], y: labels[train], eps: noise})
            return _values(sess, dec), float(final)


def _save(path: str, arrays: dict, metadata: dict) -> None:
    from safetensors.numpy import save_file

    save_file(arrays, path, metadata={k: str(v) for k, v in metadata.items()})
    os.chmod(path, 0o644)  # package data, readable by all


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m graphc.modalities.train_digits",
                                     description="Train the built-in digits models.")
    parser.add_argument("--out", default=digits.WEIGHTS_DIR,
                        help="folder for the two .safetensors files (default: the package's)")
    parser.add_argument("--recognizer-steps", type=int, default=3000)
    parser.add_argument("--generator-steps", type=int, default=20000)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    images, labels = load_digits()
    x = images / np.float32(16.0)
    train, test = digits.held_out_split(len(x))
    start = time.perf_counter()
    recognizer, accuracy, redrawn_accuracy = train_recognizer(x, labels, train, test,
                                                              args.recognizer_steps)
    seconds_r = time.perf_counter() - start
    decoder, loss = train_generator(x, labels, train, args.generator_steps)
    seconds_g = time.perf_counter() - start - seconds_r

    common = {"data": "UCI digits (graphc.datasets.load_digits), pixels / 16",
              "split": f"numpy default_rng({digits.SPLIT_SEED}).permutation, first 80% train",
              "train_size": len(train), "test_size": len(test)}
    r_arch = {"kind": "cnn", "conv": [CONV1, CONV2], "kernel": 3, "hidden": HIDDEN,
              "classes": 10}
    _save(os.path.join(args.out, digits.RECOGNIZER_FILE), recognizer,
          {**common, "architecture": json.dumps(r_arch), "steps": args.recognizer_steps,
           "batch": 64, "optimizer": "Adam", "seed": 1,
           "held_out_accuracy": f"{accuracy:.4f}",
           "held_out_redrawn_accuracy": f"{redrawn_accuracy:.4f}"})
    g_arch = {"kind": "conditional VAE decoder", "latent": LATENT, "hidden": [UNITS, UNITS],
              "classes": 10, "output": "8x8 sigmoid"}
    # generated samples classified as their label by the recognizer just trained
    sampled = _sample_accuracy(recognizer, decoder)
    _save(os.path.join(args.out, digits.GENERATOR_FILE), decoder,
          {**common, "architecture": json.dumps(g_arch), "steps": args.generator_steps,
           "batch": 64, "optimizer": "Adam", "seed": 2,
           "train_loss": f"{loss:.3f}", "sample_accuracy": f"{sampled:.4f}"})
    report = {"held_out_accuracy": accuracy, "held_out_redrawn_accuracy": redrawn_accuracy,
              "sample_accuracy": sampled,
              "generator_train_loss": loss, "recognizer_seconds": round(seconds_r, 1),
              "generator_seconds": round(seconds_g, 1)}
    print(json.dumps(report, indent=1))
    return report


def _sample_accuracy(recognizer: dict, decoder: dict, per_digit: int = 100) -> float:
    """The share of 10 x per_digit samples (temperature 1, seed 0) the recognizer labels as
    the digit they were drawn for."""
    graph = tf.Graph()
    with graph.as_default():
        y = np.repeat(np.arange(10), per_digit).astype(np.int32)
        noise = np.random.default_rng(0).standard_normal((len(y), LATENT)).astype(np.float32)
        consts = {k: tf.constant(v) for k, v in {**recognizer, **decoder}.items()}
        pixels = tf.nn.sigmoid(digits.decoder_logits(tf.constant(noise),
                                                     tf.one_hot(y, 10), consts))
        predict = tf.argmax(digits.recognizer_logits(tf.reshape(pixels, [-1, 8, 8]), consts), 1)
        with tf.Session(graph=graph) as sess:
            return float(np.mean(sess.run(predict) == y))


if __name__ == "__main__":
    main()
