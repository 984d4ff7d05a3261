"""Symbolic reverse-mode differentiation over L1: VJP rules (rules.py) and the reverse walk
(reverse.py). tf.gradients and friends are graphc/ops/gradients.py."""

from graphc.autodiff.reverse import gradients  # noqa: F401
