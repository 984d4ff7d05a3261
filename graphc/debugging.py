"""tf.debugging: run-time assertions."""

from graphc.ops.check_ops import (  # noqa: F401
                                  Assert,
                                  assert_equal,
                                  assert_greater,
                                  assert_greater_equal,
                                  assert_less,
                                  assert_less_equal,
                                  assert_non_negative,
                                  assert_none_equal,
                                  assert_positive,
)
from graphc.ops.numerics import check_numerics  # noqa: F401
