"""Tools that look inside a compiled graph: `explain` (what the compiler did with it) and
`check` (whether its compiled code agrees with the reference target, and if not, which pass
broke it). Both are re-exported as graphc.explain and graphc.check; see docs/explain.md."""

from graphc.tools.check import CheckReport, check  # noqa: F401
from graphc.tools.explain import Explanation, analyze, explain  # noqa: F401
