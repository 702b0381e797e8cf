"""Layer stacks holding their line buffers (the reference engine's step d, and stack closing).

A stack's line buffers take buffer memory while any frame is inside it, or
while an arrived frame has yet to pass it.  A frame enters its stacks in
order: its first ready band of a stack asks for it once the frame holds every
earlier stack; it joins at once when the stack is open for another frame, and
otherwise waits in a first-come first-served queue of stacks that opens the
head while its buffers fit.
"""

from __future__ import annotations

from collections import deque
from typing import Optional, Sequence

from ..memory import reopens
from ..records import Job, Records, Workload


class StackGate:
    """Buffer memory and the stacks that hold it."""

    def __init__(self, workloads: Sequence[Workload], jobs: Sequence[Job], budget: int, rec: Records,
                 layer_mode: bool) -> None:
        self.workloads, self.jobs, self.rec = workloads, jobs, rec
        self.layer_mode = layer_mode
        self.capacity = max(1, budget)
        self.level = 0
        plans = [wl.program.plan for wl in workloads]
        self.buffer_bytes = [[s.buffer_bytes for s in plan.stacks] for plan in plans]
        #: per workload, per stack: frames inside, and the cycle it opened
        self.claims = [[0] * len(plan.stacks) for plan in plans]
        self.open_at = [[0.0] * len(plan.stacks) for plan in plans]
        #: per workload, per stack: whether it has ever opened
        self.opened = [[False] * len(plan.stacks) for plan in plans]
        #: per job: stacks it holds; and bands left per stack
        self.claimed: list[set[int]] = [set() for _ in jobs]
        self.bands_left = [list(workloads[j.workload].program.stack_bands) for j in jobs]
        #: per job: bands left in all its stacks; every job before ``front`` is done
        self.job_bands_left = [sum(left) for left in self.bands_left]
        self.front = 0
        #: per job: the first stack with bands that it has yet to enter (the only one it may ask for)
        self.next_stack = [self._next(j, 0) for j in range(len(jobs))]
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
        #: counts every change of which stacks are open, kept, or held by which frames (weight loads may wait
        #: on them: :meth:`waits_to_reopen`)
        self.changes = 0

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
                self.opened[w][s] = True
            waiting.popleft()
            for j in self.joiners.pop((w, s)):
                self._enter(j, w, s)

    def open_for(self, j: int, w: int, s: int, now: float) -> bool:
        """Whether stack ``s`` holds its buffers for job ``j``; if not, ask for it."""
        if s in self.claimed[j]:
            return True
        if s != self.next_stack[j]:  # an earlier stack first
            return False
        if self.claims[w][s] > 0 or self.kept[w][s]:  # open for other frames, or kept for this one
            self.kept[w][s] = False
            self._enter(j, w, s)
            return True
        if not self._front(j) and reopens(self.claimed[j], self.bands_left[j], self.opened[w], self.claims[w],
                                          self.kept[w], s):
            return False  # only the front frame opens a stack again
        joiners = self.joiners.get((w, s))
        if joiners is None:
            self.waiting.append((w, s))
            self.joiners[(w, s)] = [j]
        elif j not in joiners:
            joiners.append(j)
        self.open_waiting(now)  # a new request may open at once (first come, first served)
        return s in self.claimed[j]

    def _enter(self, j: int, w: int, s: int) -> None:
        """Job ``j`` enters stack ``s``."""
        self.claims[w][s] += 1
        self.claimed[j].add(s)
        self.next_stack[j] = self._next(j, s + 1)
        self.version += 1
        self.changes += 1

    def _next(self, j: int, s: int) -> int:
        """The first stack from ``s`` on that has bands (the stacks of job ``j``'s workload)."""
        bands = self.workloads[self.jobs[j].workload].program.stack_bands
        while s < len(bands) and not bands[s]:
            s += 1
        return s

    def bands_done(self, j: int, w: int, s: int, bands: int, now: float) -> None:
        """A node of stack ``s`` is complete for job ``j``: the stack closes when no frame is inside."""
        left = self.bands_left[j]
        left[s] -= bands
        self.job_bands_left[j] -= bands
        if not self.job_bands_left[j]:  # a frame is done: the next may be the front frame now
            self.version += 1
            self.changes += 1
        if left[s] == 0 and s in self.claimed[j]:
            self.claims[w][s] -= 1
            self.changes += 1
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
                    self.changes += 1
                    closed = True
        return closed

    def waits_to_reopen(self, j: int, w: int, s: int) -> bool:
        """Whether job ``j``'s weight loads for stack ``s`` wait: it is behind and
        :func:`gspsim.engine.memory.reopens` (layer mode runs frame after frame: never)."""
        return not self.layer_mode and not self._front(j) and reopens(
            self.claimed[j], self.bands_left[j], self.opened[w], self.claims[w], self.kept[w], s)

    def _front(self, j: int) -> bool:
        """Whether job ``j`` is the front frame: every frame before it is done."""
        left = self.job_bands_left
        while self.front < len(left) and not left[self.front]:
            self.front += 1
        return j <= self.front

    def _frame_behind(self, w: int, s: int) -> bool:
        """Whether an arrived frame of workload ``w`` has yet to pass stack ``s`` and can reach it (the reference's
        rule: not a frame behind that must first open an earlier stack again)."""
        return any(self.arrived[j] and job.workload == w and self.bands_left[j][s] > 0 and s not in self.claimed[j]
                   and (self._front(j) or not reopens(self.claimed[j], self.bands_left[j], self.opened[w],
                                                      self.claims[w], self.kept[w], s - 1))
                   for j, job in enumerate(self.jobs))
