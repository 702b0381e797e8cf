"""Layer stacks holding their line buffers (the reference engine's step d, and stack closing).

A stack's line buffers take buffer memory while any frame is inside it, or
while an arrived frame has yet to pass it.  A
frame's first ready band of the stack asks for it: it joins at once when the
stack is open for another frame, and otherwise waits in a first-come
first-served queue of stacks that opens the head while its buffers fit.
"""

from __future__ import annotations

from collections import deque
from typing import Optional, Sequence

from ..records import Job, Records, Workload


class StackGate:
    """Buffer memory and the stacks that hold it."""

    def __init__(self, workloads: Sequence[Workload], jobs: Sequence[Job], budget: int, rec: Records) -> None:
        self.workloads, self.jobs, self.rec = workloads, jobs, rec
        self.capacity = max(1, budget)
        self.level = 0
        plans = [wl.program.plan for wl in workloads]
        self.buffer_bytes = [[s.buffer_bytes for s in plan.stacks] for plan in plans]
        #: per workload, per stack: frames inside, and the cycle it opened
        self.claims = [[0] * len(plan.stacks) for plan in plans]
        self.open_at = [[0.0] * len(plan.stacks) for plan in plans]
        #: per job: stacks it holds; and bands left per stack
        self.claimed: list[set[int]] = [set() for _ in jobs]
        self.bands_left = [list(workloads[j.workload].program.stack_bands) for j in jobs]
        #: stacks waiting for buffer memory (first come, first served) and the frames waiting for each
        self.waiting: deque[tuple[int, int]] = deque()
        self.joiners: dict[tuple[int, int], list[int]] = {}
        #: per workload, per stack: kept open with no frame inside, for an arrived frame that has yet to pass it
        self.kept = [[False] * len(plan.stacks) for plan in plans]
        #: per job: whether its frame has arrived (the list the band tracker keeps; set by the engine)
        self.arrived: Sequence[bool] = [False] * len(jobs)
        #: counts the frames that entered a stack and the stacks kept open (changes that can make bands ready)
        self.version = 0
        #: (buffer bytes held, the waiting head) when the head last did not fit: it cannot until either changes
        self.waited: Optional[tuple[int, tuple[int, int]]] = None

    def open_waiting(self, now: float) -> None:
        """Open waiting stacks in order while the head's buffers fit."""
        waiting = self.waiting
        if not waiting or self.waited == (self.level, waiting[0]):
            return
        while waiting:
            w, s = waiting[0]
            nbytes = self.buffer_bytes[w][s]
            if self.claims[w][s] == 0:
                if self.level + nbytes > self.capacity:
                    self.waited = (self.level, (w, s))
                    return
                self.level += nbytes
                if self.level > self.rec.buffer_high_water:
                    self.rec.buffer_high_water = self.level
                self.open_at[w][s] = now
            waiting.popleft()
            for j in self.joiners.pop((w, s)):
                self.claims[w][s] += 1
                self.claimed[j].add(s)
                self.version += 1

    def open_for(self, j: int, w: int, s: int, now: float) -> bool:
        """Whether stack ``s`` holds its buffers for job ``j``; if not, ask for it."""
        if s in self.claimed[j]:
            return True
        if self.claims[w][s] > 0 or self.kept[w][s]:  # open for other frames, or kept for this one
            self.kept[w][s] = False
            self.claims[w][s] += 1
            self.claimed[j].add(s)
            self.version += 1
            return True
        joiners = self.joiners.get((w, s))
        if joiners is None:
            self.waiting.append((w, s))
            self.joiners[(w, s)] = [j]
        elif j not in joiners:
            joiners.append(j)
        self.open_waiting(now)  # a new request may open at once (first come, first served)
        return s in self.claimed[j]

    def bands_done(self, j: int, w: int, s: int, bands: int, now: float) -> None:
        """A node of stack ``s`` is complete for job ``j``: the stack closes when no frame is inside."""
        left = self.bands_left[j]
        left[s] -= bands
        if left[s] == 0 and s in self.claimed[j]:
            self.claims[w][s] -= 1
            if self.claims[w][s] == 0 and self._frame_behind(w, s):
                self.kept[w][s] = True
                self.version += 1  # a frame behind may now join it
            elif self.claims[w][s] == 0:
                self.level -= self.buffer_bytes[w][s]
                self.rec.stack_spans.append((w, s, self.open_at[w][s], now))

    def close_kept(self, now: float) -> bool:
        """Close every stack kept open for a frame behind (the reference's ``_close_kept_stacks``)."""
        closed = False
        for w, kept in enumerate(self.kept):
            for s, is_kept in enumerate(kept):
                if is_kept:
                    kept[s] = False
                    self.level -= self.buffer_bytes[w][s]
                    self.rec.stack_spans.append((w, s, self.open_at[w][s], now))
                    self.version += 1
                    closed = True
        return closed

    def _frame_behind(self, w: int, s: int) -> bool:
        """Whether an arrived frame of workload ``w`` has yet to pass stack ``s`` (the reference's rule)."""
        return any(self.arrived[j] and job.workload == w and self.bands_left[j][s] > 0 and s not in self.claimed[j]
                   for j, job in enumerate(self.jobs))
