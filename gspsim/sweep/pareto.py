"""The Pareto front of a sweep over latency, energy and area (all lower is better), as a table and a plot.

Area is a proxy: on-chip memory, ``cores x local memory + shared memory`` in
bytes, the part of a GSP's silicon a sweep changes most.  A point is on the
front when no other point is at least as good on all three objectives and
strictly better on one; points equal on all three are all kept.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from rich.table import Table

from ..output_files import write_bytes_atomic
from ..terminal import markup_safe, printable

OBJECTIVES: tuple[str, ...] = ("latency_s", "energy_j", "area_proxy_bytes")


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (minimising every coordinate), in ascending order.

    Points are visited in lexicographic order, so any point that dominates
    another comes before it, and a dominated point always has a dominator on
    the front: checking against the front found so far is enough.
    """
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    front: list[int] = []
    for i in order:
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
    return sorted(front)


def front_rows(rows: Sequence[Mapping[str, Any]], per_model: bool = False) -> list[int]:
    """Indices into ``rows`` of the Pareto-optimal successful points (one front per model if ``per_model``)."""
    ok = [i for i, r in enumerate(rows) if r.get("status") == "ok"]
    groups: dict[Any, list[int]] = {}
    for i in ok:
        groups.setdefault(rows[i]["model"] if per_model else None, []).append(i)
    found: list[int] = []
    for members in groups.values():
        coords = [tuple(float(rows[i][o]) for o in OBJECTIVES) for i in members]
        found += [members[j] for j in pareto_indices(coords)]
    return sorted(found)


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def front_table(rows: Sequence[Mapping[str, Any]], front: Sequence[int], axes: Sequence[str],
                title: str) -> Table:
    """A rich table of the front: the varying axes, then latency, fps, energy, power, area, efficiency."""
    t = Table(title=markup_safe(title), title_justify="left")
    for a in axes:
        t.add_column(markup_safe(a), justify="left")
    for col in ("latency ms", "fps", "energy mJ", "power W", "area KiB", "efficiency"):
        t.add_column(col, justify="right")
    for i in sorted(front, key=lambda i: (rows[i]["latency_s"], rows[i]["energy_j"])):
        r = rows[i]
        cells = [markup_safe(Path(str(r[a])).stem if a == "model" else _value(r[a])) for a in axes]
        t.add_row(*cells, f"{r['latency_s'] * 1e3:.4f}", f"{r['steady_state_fps']:,.1f}", f"{r['energy_j'] * 1e3:.4f}",
                  f"{r['avg_power_w']:.3f}", f"{r['area_proxy_bytes'] / 1024:,.0f}", f"{r['active_efficiency']:.3f}")
    return t


def pareto_figure(rows: Sequence[Mapping[str, Any]], front: Sequence[int], axes: Sequence[str],
                  title: Optional[str] = None) -> Any:
    """Latency against energy (marker size = area) and latency against area, one colour per model.

    Front points are filled and ringed in black, dominated points are faint; a
    3-objective front is not a curve in either projection, so points are not joined.
    """
    import matplotlib
    import matplotlib.ticker
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
    from matplotlib.lines import Line2D

    ok = [i for i, r in enumerate(rows) if r.get("status") == "ok"]
    on = set(front)
    models = sorted({rows[i]["model"] for i in ok})
    cmap = matplotlib.colormaps["tab10" if len(models) <= 10 else "tab20"]
    colour = {m: cmap(k % cmap.N) for k, m in enumerate(models)}
    area_all = np.array([rows[i]["area_proxy_bytes"] for i in ok], dtype=np.float64)
    lo, hi = float(area_all.min()), float(area_all.max())

    def size(a: float) -> float:
        return 22.0 + (90.0 * (a - lo) / (hi - lo) if hi > lo else 0.0)

    # latency in ms, or in µs when every point is below 1 ms (tick labels 17.5 rather than 0.0175)
    scale, unit = (1e3, "ms") if max(rows[i]["latency_s"] for i in ok) >= 1e-3 else (1e6, "µs")
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for i in ok:
        r = rows[i]
        x, e, a = r["latency_s"] * scale, r["energy_j"] * 1e3, r["area_proxy_bytes"] / 1024
        c = colour[r["model"]]
        if i in on:
            ax1.scatter([x], [e], s=size(r["area_proxy_bytes"]), color=c, edgecolors="black", linewidths=1.0, zorder=3)
            ax2.scatter([x], [a], s=40, color=c, edgecolors="black", linewidths=1.0, zorder=3)
        else:
            ax1.scatter([x], [e], s=size(r["area_proxy_bytes"]), color=c, alpha=0.3, linewidths=0, zorder=2)
            ax2.scatter([x], [a], s=26, color=c, alpha=0.3, linewidths=0, zorder=2)
    label_axes = [a for a in axes if a != "model"]
    spots: dict[tuple[float, float], list[int]] = {}
    for i in front:  # points that land on the same spot share one label: "scheduler=heft/depth-first"
        spots.setdefault((rows[i]["latency_s"] * scale, rows[i]["energy_j"] * 1e3), []).append(i)
    if len(spots) <= 8 and label_axes:
        middle = (min(x for x, _ in spots) + max(x for x, _ in spots)) / 2
        for (x, e), members in spots.items():
            text = " ".join(f"{a}=" + "/".join(dict.fromkeys(_value(rows[i][a]) for i in members)) for a in label_axes)
            right = x <= middle  # labels point into the plot, not past its right edge
            ax1.annotate(text, (x, e), fontsize=6.5, xytext=(5 if right else -5, 3), textcoords="offset points",
                         ha="left" if right else "right")
    lat = np.array([rows[i]["latency_s"] for i in ok])
    for ax, ylabel in ((ax1, "energy per run (mJ); marker size = area"), (ax2, "area proxy (KiB on-chip memory)")):
        ax.set_xlabel(f"latency ({unit})")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if lat.min() > 0 and lat.max() / lat.min() > 30:
            ax.set_xscale("log")
        else:  # at most 6 ticks, so that labels such as 0.0175 and 0.0200 cannot run into each other
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    energy = np.array([rows[i]["energy_j"] for i in ok])
    if energy.min() > 0 and energy.max() / energy.min() > 30:
        ax1.set_yscale("log")
    handles = [Line2D([], [], marker="o", linestyle="", color=colour[m], label=printable(Path(m).stem)) for m in models[:12]]
    handles += [Line2D([], [], marker="o", linestyle="", color="0.5", markeredgecolor="black", label="Pareto front"),
                Line2D([], [], marker="o", linestyle="", color="0.5", alpha=0.3, label="dominated")]
    ax2.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title or f"Pareto front over latency, energy and area: {len(front)} of {len(ok)} points",
                 fontsize=10)
    return fig


def write_pareto_plot(rows: Sequence[Mapping[str, Any]], front: Sequence[int], axes: Sequence[str],
                      path: str | os.PathLike[str], title: Optional[str] = None) -> Optional[Path]:
    """Write the Pareto plot (.png or .svg by suffix); None when there is no successful point to draw."""
    if not any(r.get("status") == "ok" for r in rows):
        return None
    import matplotlib

    p = Path(path)
    with matplotlib.rc_context({"text.parse_math": False}):  # model names are text, not mathtext
        fig = pareto_figure(rows, front, axes, title)
    buf = io.BytesIO()
    fig.savefig(buf, format=p.suffix.lstrip(".").lower(), dpi=110,
                metadata={"Software": None} if p.suffix.lower() == ".png" else {"Date": None, "Creator": None})
    write_bytes_atomic(p, buf.getvalue())
    return p
