"""TensorFlow 1 names that graphc does not have, and the AttributeError that says so.

`import graphc as tf` stands in for TF1 only where graphc covers it; a program that reaches
for a missing name (`tf.estimator`, `tf.nn.ctc_loss`, `tf.unique`) gets UnsupportedAPIError,
which names the API, the area it belongs to, what to write instead where graphc has a
composition, and docs/api-coverage.md (whose "Not yet supported" lists exactly MISSING:
tests/cli/test_cli_api_names.py keeps the two equal, and every name here truly missing).
A name that is neither in graphc nor here gets the same kind of error, with close matches.

UnsupportedAPIError is an AttributeError, so hasattr() and getattr(module, name, default)
keep working. Private and dunder names raise a plain AttributeError at once: import
machinery, pickle and inspect probe for them constantly.
"""

from __future__ import annotations

import difflib
import types

COVERAGE = "docs/api-coverage.md"

# area -> {name: what to write instead today ("" where graphc has nothing close)}
MISSING = {
    "layers, models and their building blocks": {
        "tf.estimator": "", "tf.feature_column": "",
        "tf.contrib.opt": "tf.train.AdamWOptimizer for tf.contrib.opt.AdamWOptimizer",
        "tf.contrib.slim": "tf.contrib.layers and tf.contrib.framework.arg_scope",
    },
    "losses": {
        "tf.nn.weighted_cross_entropy_with_logits": "", "tf.nn.ctc_loss": "",
        "tf.losses.hinge_loss": "",
        "tf.losses.cosine_distance": "",
    },
    "math": {
        "tf.linalg": "",
        "tf.segment_sum": "tf.math.unsorted_segment_sum with num_segments",
        "tf.unsorted_segment_max": "", "tf.unsorted_segment_min": "",
        "tf.unsorted_segment_prod": "", "tf.sort": "",
        "tf.argsort": "",
        "tf.tan": "tf.sin(x) / tf.cos(x)", "tf.asin": "", "tf.acos": "", "tf.atan":
            "tf.atan2(x, tf.ones_like(x))", "tf.sinh": "", "tf.cosh": "", "tf.erfc":
            "1 - tf.erf(x)", "tf.lgamma": "", "tf.matrix_inverse": "", "tf.cholesky": "",
    },
    "random numbers": {
        "tf.random.shuffle": "", "tf.random.categorical": "",
        "tf.random_shuffle": "", "tf.multinomial": "", "tf.random_gamma": "",
    },
    "data-dependent shapes": {
        "tf.boolean_mask": "", "tf.unique": "", "tf.dynamic_partition": "",
        "tf.dynamic_stitch": "", "tf.setdiff1d": "",
        "tf.nn.compute_accidental_hits": "remove_accidental_hits=True in "
            "tf.nn.sampled_softmax_loss or tf.nn.nce_loss",
    },
    "sparse tensors": {
        "tf.sparse.reorder": "", "tf.sparse_reorder": "", "tf.sparse.retain": "",
        "tf.sparse_retain": "", "tf.sparse.slice": "", "tf.sparse.fill_empty_rows": "",
        "tf.sparse_fill_empty_rows": "", "tf.sparse.transpose": "",
        "tf.sparse.reduce_max": "", "tf.sparse_reduce_max": "",
        "tf.sparse.reduce_sum_sparse": "tf.sparse.reduce_sum (a dense result)",
        "tf.sparse_merge": "", "tf.sparse.split": "", "tf.sparse.maximum": "",
        "tf.sparse.minimum": "", "tf.sparse.softmax": "",
        "tf.sparse.segment_sum": "tf.gather, then tf.math.unsorted_segment_sum",
    },
    "strings and other dtypes": {
        "tf.IndexedSlices": "",
        "tf.strings": "", "tf.uint32": "", "tf.uint64": "", "tf.bfloat16": "",
        "tf.complex64": "",
    },
    "input pipelines and training loops": {
        "tf.FIFOQueue": "",
        "tf.train.MonitoredTrainingSession": "",
        "tf.train.Coordinator": "", "tf.train.start_queue_runners": "",
        "tf.train.ExponentialMovingAverage": "",
    },
    "program utilities": {
        "tf.py_func": "",
        "tf.test.TestCase": "pytest", "tf.test.main": "pytest",
    },
}

_AREA = {name: area for area, names in MISSING.items() for name in names}
_HINT = {name: hint for names in MISSING.values() for name, hint in names.items()}


class UnsupportedAPIError(AttributeError):
    """A TensorFlow 1 name that graphc does not provide (yet)."""


def missing_attribute(module: types.ModuleType, prefix: str, name: str) -> AttributeError:
    """The error for `prefix.name` (e.g. tf.nn.conv2d) missing from `module`."""
    plain = f"module {module.__name__!r} has no attribute {name!r}"
    if name.startswith("_"):
        return AttributeError(plain, name=name, obj=module)
    full = f"{prefix}.{name}"
    if full in _AREA:
        hint = f"; instead: {_HINT[full]}" if _HINT[full] else ""
        message = (f"{plain}: {full} is a TensorFlow 1 API that graphc does not support yet "
                   f"({_AREA[full]}){hint}. {COVERAGE} lists what graphc supports and what "
                   "is missing")
    else:
        known = [n for n in dir(module) if not n.startswith("_")]
        known += [n[len(prefix) + 1:] for n in _AREA if n.rpartition(".")[0] == prefix]
        close = difflib.get_close_matches(name, known, n=1)
        guess = f" (did you mean {prefix}.{close[0]}?)" if close else ""
        message = (f"{plain}: graphc has no {full}{guess}. If it is a TensorFlow 1 API, "
                   f"graphc does not support it yet; {COVERAGE} lists what graphc supports "
                   "and what is missing")
    return UnsupportedAPIError(message, name=name, obj=module)


def module_getattr(module_name: str, prefix: str):
    """A module-level __getattr__ (PEP 562) for the module `module_name`, spelled `prefix`
    in TF programs; it runs only for names the module does not have."""
    import sys

    def __getattr__(name: str):
        raise missing_attribute(sys.modules[module_name], prefix, name)
    return __getattr__


def install(module: types.ModuleType, prefix: str) -> None:
    """Give `module` the __getattr__ above, unless it defines its own."""
    if "__getattr__" not in vars(module):
        module.__getattr__ = module_getattr(module.__name__, prefix)
