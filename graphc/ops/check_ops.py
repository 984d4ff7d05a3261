"""Run-time checks (tf.Assert, tf.debugging.assert_*): operations that fail the run with a
clear message when a condition does not hold. Use them in control_dependencies, as in TF1."""

from __future__ import annotations

from graphc.ops import math_ops as M
from graphc.ops.tensor import Operation, convert_to_tensor, make_tensor


def check(condition, data=(), message="assertion failed", summarize=3, name=None) -> Operation:
    """An operation failing the run with `message` and `data` unless `condition` is all true."""
    cond = convert_to_tensor(condition)
    data = [convert_to_tensor(d) for d in data]
    t = make_tensor("assert", [cond] + data, {"message": message, "summarize": int(summarize)},
                    name or "Assert")
    return t.op


def Assert(condition, data=(), summarize=3, name=None) -> Operation:  # noqa: N802 - TF1 name
    """An operation that raises InvalidArgumentError, showing `data`, unless condition holds."""
    cond = convert_to_tensor(condition)
    return check(cond, data, f"assertion failed: condition ('{cond.name}') is not all true",
                 summarize, name)


def _comparison(compare, symbol, tf_name):
    def assert_op(x, y, data=None, summarize=3, message=None, name=None) -> Operation:
        x, y = M.promote_operands([x, y], tf_name)
        text = f"Condition x {symbol} y did not hold element-wise: x ('{x.name}') {symbol} " \
               f"y ('{y.name}')"
        if message:
            text = f"{message}: {text}"
        return check(compare(x, y), [x, y] if data is None else data, text, summarize,
                     name or tf_name)
    assert_op.__name__ = tf_name
    assert_op.__doc__ = f"Fails the run unless x {symbol} y holds for every element."
    return assert_op


assert_equal = _comparison(M.equal, "==", "assert_equal")
assert_none_equal = _comparison(M.not_equal, "!=", "assert_none_equal")
assert_less = _comparison(M.less, "<", "assert_less")
assert_less_equal = _comparison(M.less_equal, "<=", "assert_less_equal")
assert_greater = _comparison(M.greater, ">", "assert_greater")
assert_greater_equal = _comparison(M.greater_equal, ">=", "assert_greater_equal")


def assert_non_negative(x, data=None, summarize=3, message=None, name=None) -> Operation:
    return assert_greater_equal(x, 0, data, summarize, message, name or "assert_non_negative")


def assert_positive(x, data=None, summarize=3, message=None, name=None) -> Operation:
    return assert_greater(x, 0, data, summarize, message, name or "assert_positive")
