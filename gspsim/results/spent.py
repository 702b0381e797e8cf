"""The inner loop of the power series (:func:`gspsim.results.build.energy_spent_by`) in Numba.

Per edge cycle, the sum over a chunk of events, in their order, of each event's
spent fraction (clipped to [0, 1]) times its energy: the same IEEE operations
in the same order as numpy's ``(clip((edge - start) / width, 0, 1) * joules).sum(axis=0)``
(a sum over axis 0 adds the rows one after another), without the
events x edges matrix.  The division is skipped where its clipped value is
known: 0 for an edge at or before the start, 1 for an edge a width or more
past it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def add_spent(edges: np.ndarray, start: np.ndarray, width: np.ndarray, joules: np.ndarray, first: int, stop: int,
              edge_from: int, edge_to: int, energy_at: np.ndarray) -> None:
    """``energy_at[k] +=`` the events ``first .. stop - 1``'s energy spent by ``edges[k]``, for ``k`` in
    ``edge_from .. edge_to - 1``."""
    for k in range(edge_from, edge_to):
        edge = edges[k]
        total = 0.0
        for i in range(first, stop):
            elapsed = edge - start[i]
            if elapsed <= 0.0:
                fraction = 0.0
            elif elapsed >= width[i]:
                fraction = 1.0
            else:
                fraction = elapsed / width[i]
                if fraction > 1.0:
                    fraction = 1.0
            total += fraction * joules[i]
        energy_at[k] += total
