"""Which runs the compiled loop plays, and the codes of the placement rules it knows.

Kept apart from :mod:`gspsim.engine.compiled` so that deciding which loop plays
a run does not import Numba's loop (a run under the size threshold, or with a
scheduler only the Python loop plays, never loads it).
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..scheduling.base import has_static_priority, placement_rule
from .records import Workload

#: the codes of the placement rules (gspsim.scheduling.base.assign_rule) in the compiled loop
EARLIEST_FREE, HOME_UNLESS_SOONER, NODE_INDEX, ARRIVAL_TURNS = 0, 1, 2, 3
#: rule name -> its code
RULES = {"earliest-free": EARLIEST_FREE, "home-unless-sooner": HOME_UNLESS_SOONER, "node-index": NODE_INDEX,
         "arrival-turns": ARRIVAL_TURNS}


def compiled_rule(workloads: Sequence[Workload]) -> Optional[int]:
    """The loop's code of the run's placement rule, or None when the run needs the Python loop (one model with a
    scheduler of static priorities and a placement rule the loop knows)."""
    if len(workloads) != 1:
        return None
    scheduler = workloads[0].scheduler
    if not has_static_priority(scheduler):
        return None
    return RULES.get(placement_rule(scheduler) or "")
