"""TF1 names graphc does not have: the AttributeError says so and points at
docs/api-coverage.md, whose table lists exactly graphc/unsupported.py's names, each truly
missing; hasattr and getattr with a default keep working, and private names stay plain."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import graphc as tf
from graphc.unsupported import MISSING, UnsupportedAPIError

COVERAGE = Path(__file__).resolve().parents[2] / "docs" / "api-coverage.md"
NAMES = [name for names in MISSING.values() for name in names]


def lookup(dotted: str):
    obj = tf
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", NAMES)
def test_every_listed_name_is_missing_and_says_so(name):
    with pytest.raises(UnsupportedAPIError) as info:
        lookup(name)
    message = str(info.value)
    assert f"{name} is a TensorFlow 1 API that graphc does not support yet" in message
    assert "docs/api-coverage.md" in message
    assert isinstance(info.value, AttributeError)


def test_the_names_the_issue_named():
    for name in ("tf.contrib.slim", "tf.estimator", "tf.contrib.opt", "tf.unique",
                 "tf.boolean_mask", "tf.sparse.reorder", "tf.segment_sum"):
        assert name in NAMES, name


def test_hasattr_and_getattr_default_keep_working():
    assert not hasattr(tf.nn, "ctc_loss") and not hasattr(tf, "estimator")
    assert getattr(tf.train, "MonitoredTrainingSession", None) is None
    assert hasattr(tf, "reshape") and hasattr(tf.nn, "relu")
    assert tf.compat.v1.nn is tf.nn


def test_unknown_names_suggest_and_still_name_the_coverage_page():
    with pytest.raises(UnsupportedAPIError, match=r"did you mean tf\.reduce_sum\?.*TensorFlow "
                       r"1 API, graphc does not support it yet; docs/api-coverage\.md"):
        tf.reduce_suum  # noqa: B018


def test_private_names_raise_a_plain_attribute_error_quickly():
    start = time.perf_counter()
    for _ in range(1000):
        for module in (tf, tf.nn, tf.train):
            try:
                module.__wrapped__  # noqa: B018
            except AttributeError as err:
                assert type(err) is AttributeError
                assert str(err).endswith("has no attribute '__wrapped__'")
    assert time.perf_counter() - start < 0.5
    with pytest.raises(AttributeError) as info:
        tf._private_thing  # noqa: B018
    assert type(info.value) is AttributeError


def test_the_coverage_page_lists_exactly_the_missing_names():
    text = COVERAGE.read_text()
    section = text[text.index("### Names graphc does not have"):text.index("### Other limits")]
    documented = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")] if line.startswith("| ") \
            else []
        if len(cells) == 3 and cells[0] not in ("area", "---"):
            documented[cells[0]] = re.findall(r"`(tf(?:\.\w+)+)`", cells[1])
    assert documented == {area: list(names) for area, names in MISSING.items()}
