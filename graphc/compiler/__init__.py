"""graphc.compiler: the compile driver (driver.py) and the Plan it builds.

Between the passes and the code generators: it runs specialization, the graph passes,
fusion, lowering, the plan's analyses (direct commits, arena placement) and scheduling as
named steps, and gives every target the same Plan.
"""

from graphc.compiler.driver import build_plan
from graphc.compiler.plan import Plan, Slot

__all__ = ["build_plan", "Plan", "Slot"]
