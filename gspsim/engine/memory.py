"""Channels, line buffers and weight memory of the simulated chip."""

from __future__ import annotations

import heapq
import math
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

if TYPE_CHECKING:
    from .program import WeightLoad
    from .records import Job, Workload


class BandwidthChannel:
    """A first-come first-served pipe of fixed bandwidth (DRAM, or the on-chip channel to shared memory).

    A transfer reserves the next free interval of the pipe when it is issued
    and reports when its bytes have arrived: ``ceil(bytes / bandwidth)``
    cycles after the pipe frees up, plus the channel's latency.
    """

    def __init__(self, bytes_per_cycle: float, latency: int = 0, record: bool = False) -> None:
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.free_at = 0.0
        self.busy_cycles = 0.0
        self.total_bytes = 0
        self.record = record
        #: (start, end, bytes) of every transfer, flat, when recorded
        self.transfers: list[float] = []

    def reserve(self, now: float, nbytes: int) -> float:
        """Queue ``nbytes`` at cycle ``now``; the cycle at which they have arrived (``now`` for nothing)."""
        if nbytes <= 0:
            return now
        start = self.free_at if self.free_at > now else now
        cycles = math.ceil(nbytes / self.bytes_per_cycle)
        self.free_at = start + cycles
        self.busy_cycles += cycles
        self.total_bytes += nbytes
        if self.record:
            self.transfers += (start, self.free_at, nbytes)
        return self.free_at + self.latency


def load_band_rows(arrivals: list[float], band_index: int, rows: Callable[[int], tuple[int, str]],
                   dram: BandwidthChannel, now: float) -> list[tuple[int, str]]:
    """Load from DRAM, in band order, the rows of every band up to ``band_index`` not loaded yet.

    ``arrivals`` holds, per band already loaded, the cycle its rows arrived (each band's after the
    previous one's); it grows in place.  ``rows(k)`` is band k's (bytes, kind).  Returns the
    (bytes, kind) of the loads started now, for the caller's counters.  Both engines call this, so
    the rule that a band's DRAM rows arrive in order is written once.
    """
    started = []
    while len(arrivals) <= band_index:
        nbytes, kind = rows(len(arrivals))
        arrive = dram.reserve(now, nbytes) if nbytes else now
        if nbytes:
            started.append((nbytes, kind))
        arrivals.append(max(arrive, arrivals[-1]) if arrivals else arrive)
    return started


@dataclass
class LineBuffer:
    """A streamed tensor's ring of producer bands, with credit-based flow control.

    A band is written in order (frame after frame, band after band, like a
    ring's write pointer): the band's first tile may start only when the
    band is next and its bytes fit beside what is held (otherwise the
    producer stalls: backpressure).  Its tiles' bytes count as held once
    written, and the band is freed when every band reading it is complete
    (US 10,311,542: data invalidated when the consuming work is done).
    """

    label: str
    capacity: int
    band_bytes: tuple[int, ...]
    #: bytes written and not yet freed, and bytes promised to bands being written
    level: int = 0
    reserved: int = 0
    #: the next band to reserve: (frame, band index)
    next_frame: int = 0
    next_band: int = 0
    high_water: int = 0
    #: cycle, bytes held, cycle, bytes held ... after every change (flat float64: 16 bytes an entry, where a
    #: list of tuples took about 100, and runs of millions of tiles make millions of entries)
    levels: array = field(default_factory=lambda: array("d"))

    def can_reserve(self, frame: int, band: int) -> bool:
        return (frame, band) == (self.next_frame, self.next_band) and \
            self.level + self.reserved + self.band_bytes[band] <= self.capacity

    def reserve(self, frame: int, band: int) -> None:
        self.reserved += self.band_bytes[band]
        self.skip(frame, band)

    def skip(self, frame: int, band: int) -> None:
        """Move the write pointer past a band (reserved, or spilled to DRAM)."""
        if band + 1 < len(self.band_bytes):
            self.next_band = band + 1
        else:
            self.next_frame, self.next_band = frame + 1, 0

    def commit(self, nbytes: int, now: float) -> None:
        """A tile has written ``nbytes`` of its reserved band."""
        self.reserved -= nbytes
        self.level += nbytes
        self.levels.extend((now, self.level))
        if self.level > self.high_water:
            self.high_water = self.level

    def free(self, band: int, now: float) -> None:
        self.level -= self.band_bytes[band]
        self.levels.extend((now, self.level))


class WeightBook:
    """Which weight loads have started and which frames use them: the bookkeeping both engines keep.

    A load is one DMA transfer of weights: a resident model's node, a node's held weights (shared by
    every frame that needs them while they are on chip), or one slice (node, channel group, band) of
    a frame's weights.
    """

    def __init__(self, jobs: int) -> None:
        #: per started load: (job or None, workload, node, bytes stored in weight memory), and whether it landed
        self.load_info: list[tuple[Optional[int], int, int, int]] = []
        self.landed: list[bool] = []
        #: resident (workload, node) -> load id
        self.resident_load: dict[tuple[int, int], int] = {}
        #: (workload, node) -> [load id, frames sharing it] of held weights on chip
        self.held: dict[tuple[int, int], list[int]] = {}
        #: per job: node -> load id of the held weights it uses; slice key -> load id of its slices on chip
        self.job_held: list[dict[int, int]] = [{} for _ in range(jobs)]
        self.job_slices: list[dict[tuple[int, int, int], int]] = [{} for _ in range(jobs)]

    def share_held(self, job: int, w: int, node: int) -> bool:
        """Frame ``job`` uses ``node``'s held weights if they are still on chip for an earlier frame."""
        held = self.held.get((w, node))
        if held is None:
            return False
        held[1] += 1
        self.job_held[job][node] = held[0]
        return True

    def start(self, job: Optional[int], w: int, load: "WeightLoad", stored: int,
              holds: bool) -> tuple[int, Optional[tuple[int, int, int]]]:
        """Record a load that starts now: its id, and its slice key when it is one slice of a frame's weights."""
        ident = len(self.load_info)
        self.load_info.append((job, w, load.node, stored))
        self.landed.append(False)
        key = None
        if job is None:
            self.resident_load[(w, load.node)] = ident
        elif holds:
            self.held[(w, load.node)] = [ident, 1]
            self.job_held[job][load.node] = ident
        else:
            key = (load.node, load.group, load.band)
            self.job_slices[job][key] = ident
        return ident, key


def resident_models(workloads: Sequence["Workload"], capacity: int) -> list[bool]:
    """Models whose weights stay on chip for every frame: in order, while they fit together in ``capacity``."""
    room = capacity
    resident = []
    for wl in workloads:
        need = wl.program.weight_bytes
        fits = wl.program.plan.resident and need <= room
        resident.append(fits)
        room -= need if fits else 0
    return resident


def weight_load_order(workloads: Sequence["Workload"], jobs: Sequence["Job"],
                      resident: Sequence[bool]) -> list[tuple[Optional[int], int, "WeightLoad"]]:
    """Every weight load of a run in DMA order: (job, or None for a resident model's, workload, load).

    Resident models' loads come first, interleaved by their place in program
    order; then the other models' loads stack by stack, and within a stack frame
    by frame.  Not frame by frame: a stack stays open while any frame is in it,
    so a frame that waits for the next stack to open waits for the frames behind
    it to leave this one, and they must not wait behind its loads for that next
    stack (with one frame, or one stack, the order is program order as before).
    Layer mode keeps frame by frame, the order its barrier runs the nodes in.
    """
    queue: list[tuple[Optional[int], int, WeightLoad]] = []
    order = sorted((n / max(1, len(wl.program.tasks.nodes)), w, n)
                   for w, wl in enumerate(workloads) if resident[w]
                   for n in range(len(wl.program.tasks.nodes)))
    for _, w, n in order:
        for load in workloads[w].program.weight_loads[n]:
            queue.append((None, w, load))
    framed = []
    for j, job in enumerate(jobs):
        w = job.workload
        if resident[w]:
            continue
        plan = workloads[w].program.plan
        for n, loads in enumerate(workloads[w].program.weight_loads):
            # layer mode runs frame after frame, node by node: its loads go in that order
            stack = 0 if plan.mode == "layer" else plan.stack_of[n]
            for i, load in enumerate(loads):
                framed.append(((stack, j, n, i), w, load))
    framed.sort(key=lambda entry: entry[0])
    queue += [(key[1], w, load) for key, w, load in framed]
    return queue


def reopens(claimed: "set[int]", bands_left: Sequence[int], opened: Sequence[bool], claims: Sequence[int],
            kept: Sequence[bool], s: int) -> bool:
    """Whether a frame, to reach stack ``s`` of its model, must open again a stack that frames ahead of it opened
    and closed: one up to ``s`` that it has yet to enter and pass.

    Such a frame arrived after the frames ahead had left that stack.  Only the front frame (the first frame not
    done) may open a stack again, and the others' weights wait with them: a frame behind that took buffer
    memory for a stack the frames ahead have left, or weight memory for a stack it cannot enter yet, could
    hold what the frames ahead need for their next stack while it waits for what they hold (neither would
    move).  Frames that arrive while the frames ahead are still in a stack pass every stack with them (it is
    kept open for them), and a frame that arrives after they are done is the front frame: neither waits here.
    ``claimed`` is the frame's stacks, ``bands_left`` its bands left per stack; ``opened``, ``claims`` and
    ``kept`` the model's stacks' ever-opened flags, frames inside and kept-open flags.
    """
    return any(opened[x] and not claims[x] and not kept[x] and bands_left[x] > 0 and x not in claimed
               for x in range(s + 1))


class WeightQueue:
    """The run's weight loads in DMA order (:func:`weight_load_order`), handed out as the frames allow.

    The queue falls into runs: consecutive loads of one frame (or of the resident models, frame None) and
    one stack.  A frame's runs become candidates when the frame arrives: a frame not yet arrived loads
    nothing (a resident model's runs are candidates from the start; a frame's weights are the same as the
    last frame's, but loading them early would hold weight memory for a frame that may arrive long after).
    The head is the next load of the first candidate run, in queue order, whose loads may start (not those
    of a frame behind that must open a stack again first: :func:`reopens`): the DMA engines take loads from
    the head, head of line.  A run that may not start is set aside until the stacks change
    (:meth:`reconsider`).
    """

    def __init__(self, entries: Sequence[tuple[Optional[int], int, "WeightLoad"]],
                 stack_of: Callable[[int, int], int], jobs: int) -> None:
        self.entries = entries
        #: per run: first entry, end, frame (None: resident), workload, stack
        self.start: list[int] = []
        self.end: list[int] = []
        self.job: list[Optional[int]] = []
        self.workload: list[int] = []
        self.stack: list[int] = []
        for k, (job, w, load) in enumerate(entries):
            st = stack_of(w, load.node)
            if not self.start or (job, w, st) != (self.job[-1], self.workload[-1], self.stack[-1]):
                self.start.append(k)
                self.end.append(k)
                self.job.append(job)
                self.workload.append(w)
                self.stack.append(st)
            self.end[-1] = k + 1
        #: per run: its next entry
        self.cursor = list(self.start)
        self.job_runs: list[list[int]] = [[] for _ in range(jobs)]
        self.candidates: list[int] = []  # a heap of run ids (runs are in queue order)
        for r, job in enumerate(self.job):
            if job is None:
                self.candidates.append(r)
            else:
                self.job_runs[job].append(r)
        #: runs found waiting to reopen a stack, out of the heap until the stacks change
        self.aside: list[int] = []

    def arrive(self, job: int) -> None:
        for r in self.job_runs[job]:
            heapq.heappush(self.candidates, r)

    def reconsider(self) -> None:
        """The stacks changed: runs set aside are candidates again (and are looked at again when first)."""
        for r in self.aside:
            heapq.heappush(self.candidates, r)
        self.aside.clear()

    def head(self, waits: Callable[[int, int, int], bool]) -> Optional[int]:
        """The entry the DMA engines take next, or None; ``waits(job, workload, stack)``: whether that frame's
        loads for that stack wait (it is behind and :func:`reopens`)."""
        heap = self.candidates
        while heap:
            r = heap[0]
            if self.cursor[r] == self.end[r]:
                heapq.heappop(heap)
                continue
            job = self.job[r]
            if job is not None and waits(job, self.workload[r], self.stack[r]):
                self.aside.append(heapq.heappop(heap))
                continue
            return self.cursor[r]
        return None

    def take(self) -> None:
        """The head entry started (or shared a load on chip)."""
        self.cursor[self.candidates[0]] += 1
