"""Interval arithmetic for timelines: lanes for overlapping slices, unions, and per-bin totals.

A core runs several blocks at once (thread slots) and trace viewers need the
slices on one track to nest, so overlapping intervals are split over lanes.
Rates over time (DRAM bytes per cycle, core busy fraction) come from spreading
each interval's amount evenly over it and summing per bin, done exactly with a
piecewise-linear cumulative function instead of sampling.
"""

from __future__ import annotations

import heapq

import numpy as np

#: default number of bins for rates over time
DEFAULT_BINS = 200


def assign_lanes(starts: np.ndarray, ends: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Lane per interval so that, within a group, intervals in one lane never overlap.

    Greedy interval partitioning (fewest lanes): each interval takes the lowest
    free lane of its group. Touching intervals (end == next start) share a lane.
    """
    n = len(starts)
    lanes = np.zeros(n, dtype=np.int64)
    order = np.lexsort((ends, starts, groups))
    busy: dict[int, list[tuple[float, int]]] = {}
    free: dict[int, list[int]] = {}
    count: dict[int, int] = {}
    for i in order:
        g = int(groups[i])
        heap = busy.setdefault(g, [])
        spare = free.setdefault(g, [])
        while heap and heap[0][0] <= starts[i]:
            heapq.heappush(spare, heapq.heappop(heap)[1])
        if spare:
            lane = heapq.heappop(spare)
        else:
            lane = count.get(g, 0)
            count[g] = lane + 1
        lanes[i] = lane
        heapq.heappush(heap, (float(ends[i]), lane))
    return lanes


def union_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge intervals into disjoint sorted ones."""
    if len(starts) == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, dtype=np.float64)[order], np.asarray(ends, dtype=np.float64)[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    idx = np.flatnonzero(new)
    seg_end = np.append(idx[1:], len(s)) - 1
    return s[idx], reach[seg_end]


def cumulative_amount(starts: np.ndarray, ends: np.ndarray, amounts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Total amount delivered by time ``at`` when each interval delivers its amount evenly over [start, end].

    Zero-length intervals deliver everything at their start, counted from just after it
    (so bins are half-open, [edge, next edge)).
    """
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    a = np.asarray(amounts, dtype=np.float64)
    t = np.asarray(at, dtype=np.float64)
    out = np.zeros(t.shape, dtype=np.float64)
    width = e - s
    point = width <= 0
    if point.any():
        ps = s[point]
        order = np.argsort(ps)
        csum = np.concatenate(([0.0], np.cumsum(a[point][order])))
        out += csum[np.searchsorted(ps[order], t, side="left")]
    ramp = ~point
    if ramp.any():
        rate = a[ramp] / width[ramp]
        for edge, sign in ((s[ramp], 1.0), (e[ramp], -1.0)):
            order = np.argsort(edge)
            r = np.concatenate(([0.0], np.cumsum(rate[order])))
            q = np.concatenate(([0.0], np.cumsum(rate[order] * edge[order])))
            k = np.searchsorted(edge[order], t, side="right")
            out += sign * (r[k] * t - q[k])
    return out


#: bins of ``resolution`` cycles beyond this many (a corrupt document's resolution) fall back to ``bins``
MAX_RESOLUTION_BINS = 1 << 22


def bin_edges(end_cycle: float, bins: int = DEFAULT_BINS, resolution: float | None = None) -> np.ndarray:
    """Bin edges over [0, end_cycle]: ``bins`` equal bins, or bins of ``resolution`` cycles."""
    end = max(float(end_cycle), 1.0)
    if resolution and resolution > 0 and end / resolution <= MAX_RESOLUTION_BINS:
        edges = np.arange(0.0, end, float(resolution), dtype=np.float64)
        return np.append(edges, end)
    return np.linspace(0.0, end, max(1, int(bins)) + 1, dtype=np.float64)


def binned_amount(starts: np.ndarray, ends: np.ndarray, amounts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Amount delivered inside each bin [edges[i], edges[i+1])."""
    at = np.asarray(edges, dtype=np.float64).copy()
    if len(at):
        at[-1] = np.nextafter(at[-1], np.inf)  # the last bin is closed: it keeps what happens at its end
    cum = cumulative_amount(starts, ends, amounts, at)
    return np.maximum(np.diff(cum), 0.0)


def busy_fraction(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of each bin covered by the union of the intervals (a core's utilization over time)."""
    us, ue = union_intervals(starts, ends)
    covered = binned_amount(us, ue, ue - us, edges)
    width = np.diff(edges)
    return np.clip(covered / np.where(width > 0, width, 1.0), 0.0, 1.0)
