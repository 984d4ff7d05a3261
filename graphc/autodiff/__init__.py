"""Symbolic reverse-mode differentiation over L1 (tf.gradients and friends)."""

from graphc.autodiff.gradients import (add_n, custom_gradient, gradients,  # noqa: F401
                                       hessian_vector_product, hessians)
