"""Matplotlib figures of a result: Gantt, utilization, power, per-node breakdown, roofline, compare, Pareto.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so
no global figure state and no GUI backend: PNG renders with Agg, SVG with the
SVG backend) and written atomically.  Every function takes the result dict of
``SimResult.to_dict()`` (or a ``--json`` file read back).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import GspsimError
from ..output_files import write_bytes_atomic
from ..terminal import printable
from .document import (
    Doc,
    block_arrays,
    check_document,
    clock_hz,
    dram_arrays,
    has_timeline,
    node_span_cycles,
    result_labels,
    title,
)
from .series import DEFAULT_BINS, assign_lanes, bin_edges, binned_amount, busy_fraction, union_intervals
from .units import fmt_energy

FORMATS: tuple[str, ...] = ("png", "svg")
DPI = 110
#: legend entries before the Gantt colours by op type instead of by node
MAX_NODE_COLOURS = 20
#: nodes shown in the per-node breakdown (the busiest ones when there are more)
MAX_NODE_BARS = 60
#: blocks above which the Gantt's SVG draws its bars as one embedded image
RASTERIZE_ABOVE = 20000
#: fixed SVG ids and no dates, so the same result gives the same files
#: and no mathtext: a node called "$\\frac{$" is a name, not a formula to parse (and fail on)
_RC = {"svg.hashsalt": "gspsim", "svg.fonttype": "path", "font.size": 9.0, "axes.titlesize": 10.0,
       "text.parse_math": False}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def _palette(n: int) -> list[tuple[float, float, float, float]]:
    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """Render ``fig`` as PNG or SVG bytes."""
    if fmt not in FORMATS:
        raise GspsimError(f"plot format '{fmt}': choose png or svg")
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def save_figure(fig: Figure, stem: str | os.PathLike[str], formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``stem.png``/``stem.svg`` (atomically); returns the paths written."""
    paths = []
    for fmt in formats:
        p = Path(f"{stem}.{fmt}")
        write_bytes_atomic(p, figure_bytes(fig, fmt))
        paths.append(p)
    return paths


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def _time_axis(doc: Doc, length_cycles: Optional[float] = None) -> tuple[float, str]:
    """Scale from cycles to a readable unit of simulated time (for an axis ``length_cycles`` long)."""
    length = float(doc["makespan_cycles"]) if length_cycles is None else float(length_cycles)
    length_s = length / clock_hz(doc)
    for scale, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if length_s * scale >= 1.0:
            return scale / clock_hz(doc), unit
    return 1e9 / clock_hz(doc), "ns"


#: the Gantt and utilization plots leave out the idle time between frames when the chip had work for less
#: than this share of the run (frames paced by --fps: 23 µs of work every 33 ms would be invisible)
SHOW_ACTIVE_BELOW = 0.5


@dataclass(frozen=True, eq=False)
class Timebase:
    """The x axis of the time plots: the whole run, or only the windows in which a frame was in flight."""

    starts: np.ndarray
    ends: np.ndarray
    #: where each window starts on the axis
    offsets: np.ndarray
    #: cycles the axis shows
    length: float
    #: whether idle gaps are left out
    gapped: bool

    def __call__(self, cycles: Any) -> np.ndarray:
        """Cycles of simulated time -> positions on the axis (identity for the whole run)."""
        t = np.asarray(cycles, dtype=np.float64)
        if not self.gapped:
            return t
        i = np.clip(np.searchsorted(self.starts, t, side="right") - 1, 0, len(self.starts) - 1)
        return self.offsets[i] + np.clip(t - self.starts[i], 0.0, self.ends[i] - self.starts[i])

    def label(self, doc: Doc, unit: str) -> str:
        if not self.gapped:
            return f"simulated time ({unit})"
        idle = (float(doc["makespan_cycles"]) - self.length) / clock_hz(doc)
        return (f"simulated time with a frame in flight ({unit}); the idle time between frames "
                f"({idle * 1e3:.4g} ms in all) is left out at the dotted lines")

    def mark_gaps(self, ax: Any, scale: float) -> None:
        for x in self.offsets[1:]:
            ax.axvline(x * scale, color="0.4", linestyle=":", linewidth=0.9, zorder=4)


def timebase(doc: Doc) -> Timebase:
    """The whole run, or the frames' active windows back to back when the chip was mostly idle (see above)."""
    makespan = float(doc["makespan_cycles"])
    arrivals = np.asarray(doc.get("frame_arrival_cycles", []), dtype=np.float64)
    ends = np.asarray(doc.get("frame_end_cycles", []), dtype=np.float64)
    if len(arrivals) == len(ends) > 1 and makespan > 0:
        starts, stops = union_intervals(arrivals, ends)
        active = float(np.sum(stops - starts))
        if 0 < active < SHOW_ACTIVE_BELOW * makespan:
            offsets = np.concatenate(([0.0], np.cumsum(stops - starts)[:-1]))
            return Timebase(starts, stops, offsets, active, True)
    whole = np.array([0.0]), np.array([makespan])
    return Timebase(*whole, np.array([0.0]), makespan, False)


# --- one result -----------------------------------------------------------------------------------------------


def gantt_figure(doc: Doc) -> Figure:
    """Every block on its core over time, coloured by node (or by op when there are many nodes); DRAM below."""
    b = block_arrays(doc)
    names, ops = [printable(n) for n in doc["timeline"]["nodes"]], [printable(o) for o in doc["timeline"]["ops"]]
    tb = timebase(doc)
    scale, unit = _time_axis(doc, tb.length)
    cores = int(doc["hardware"].get("cores", int(b["core"].max()) + 1 if len(b["core"]) else 1))
    by_node = len(names) <= MAX_NODE_COLOURS
    keys = list(names) if by_node else sorted(set(ops))
    colours = dict(zip(keys, _palette(len(keys))))
    key_of = (lambda n: names[n]) if by_node else (lambda n: ops[n])
    lanes = assign_lanes(b["start"], b["end"], b["core"])
    lane_count = np.ones(cores, dtype=np.int64)
    for c, k in zip(b["core"], lanes):
        lane_count[c] = max(lane_count[c], k + 1)
    height = 0.8 / lane_count[b["core"]] if len(b["core"]) else np.zeros(0)
    y0 = b["core"] - 0.4 + lanes * height
    x0, x1 = tb(b["start"]) * scale, tb(b["end"]) * scale
    rects = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y0 + height], 1),
                      np.stack([x0, y0 + height], 1)], 1) if len(x0) else np.zeros((0, 4, 2))
    fig = _new_figure(11, max(3.0, 0.32 * (cores + 1) + 1.6))
    ax = fig.add_subplot()
    pc = PolyCollection(list(rects), facecolors=[colours[key_of(int(n))] for n in b["node"]],
                        edgecolors="none", rasterized=len(x0) > RASTERIZE_ABOVE)
    ax.add_collection(pc)
    ds, de, dbytes = dram_arrays(doc)
    dram_row = -1.2
    if len(ds):
        ax.broken_barh(list(zip(tb(ds) * scale, (tb(de) - tb(ds)) * scale)), (dram_row - 0.4, 0.8),
                       facecolors="0.35")
    ax.set_yticks([dram_row, *range(cores)], ["DRAM", *[f"core {c}" for c in range(cores)]])
    ax.set_ylim(cores - 0.4, dram_row - 0.6)
    ax.set_xlim(0, tb.length * scale)
    ax.set_xlabel(tb.label(doc, unit))
    tb.mark_gaps(ax, scale)
    ax.set_title(f"cores over time: {title(doc)}")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor=colours[k], label=k) for k in keys]
    if len(ds):
        handles.append(Patch(facecolor="0.35", label="DRAM transfer"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False,
              title="node" if by_node else "op", ncols=1 if len(handles) <= 24 else 2)
    return fig


def utilization_figure(doc: Doc, bins: int = DEFAULT_BINS) -> Figure:
    """Per-core busy fraction over time (heat map), and mean core and DRAM-bandwidth utilization."""
    b = block_arrays(doc)
    tb = timebase(doc)
    scale, unit = _time_axis(doc, tb.length)
    cores = int(doc["hardware"]["cores"])
    edges = bin_edges(tb.length, bins)
    starts, ends = tb(b["start"]), tb(b["end"])
    grid = np.zeros((cores, len(edges) - 1))
    for c in range(cores):
        sel = b["core"] == c
        if sel.any():
            grid[c] = busy_fraction(starts[sel], ends[sel], edges)
    ds, de, dbytes = dram_arrays(doc)
    peak_bpc = float(doc["hardware"]["dram_bandwidth_bytes_per_s"]) / clock_hz(doc)
    dram_util = (binned_amount(tb(ds), tb(de), dbytes, edges) / np.diff(edges) / peak_bpc if peak_bpc > 0
                 else 0 * edges[1:])
    fig = _new_figure(11, max(4.5, 0.18 * cores + 3.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[max(2, cores // 4), 2])
    img = top.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1,
                     extent=(edges[0] * scale, edges[-1] * scale, cores - 0.5, -0.5))
    top.set_ylabel("core")
    top.set_title(f"utilization over time: {title(doc)}")
    fig.colorbar(img, ax=top, label="busy fraction", pad=0.01)
    mids = edges[:-1] * scale
    bottom.step(mids, grid.mean(axis=0) * 100, where="post", label="cores (mean busy)", color="tab:blue")
    bottom.step(mids, np.asarray(dram_util) * 100, where="post", label="DRAM bandwidth", color="tab:red", alpha=0.8)
    bottom.set_ylim(0, 105)
    bottom.set_ylabel("utilization (%)")
    bottom.set_xlabel(tb.label(doc, unit))
    for ax in (top, bottom):
        tb.mark_gaps(ax, scale)
    bottom.legend(loc="upper right", fontsize=8)
    bottom.grid(alpha=0.3)
    return fig


def power_figure(doc: Doc) -> Figure:
    """Power over time from the result's power series, with the average, and the energy by component."""
    ps = doc["power_series"]
    scale, unit = _time_axis(doc)
    starts = np.asarray(ps.get("start_cycles", []), dtype=np.float64)
    watts = np.asarray(ps.get("watts", []), dtype=np.float64)
    fig = _new_figure(11, 4.8)
    ax, bx = fig.subplots(1, 2, width_ratios=[3, 1])
    if len(watts):
        xs = np.append(starts, float(doc["makespan_cycles"])) * scale
        ax.stairs(watts, xs, fill=True, alpha=0.35, color="tab:orange")
        ax.stairs(watts, xs, color="tab:orange", label=f"power ({ps.get('resolution_cycles', '?')}-cycle bins)")
    avg = float(doc.get("avg_power_w", 0.0))
    ax.axhline(avg, color="k", linestyle="--", linewidth=1, label=f"average {avg:.3g} W")
    ax.set_xlim(0, float(doc["makespan_cycles"]) * scale)
    ax.set_ylim(0, max(float(watts.max()) if len(watts) else 0.0, avg) * 1.15 or 1.0)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel("power (W)")
    ax.set_title(f"power over time: {title(doc)}")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    parts = dict(doc.get("energy_breakdown_j", {}))
    keys = list(parts)
    labels = [printable(k) for k in keys]
    values = np.array([parts[k] for k in keys], dtype=np.float64) * 1e6
    bx.barh(labels, values, color=_palette(len(labels)))
    for i, v in enumerate(values):
        bx.text(v, i, f" {v:.3g}", va="center", fontsize=7)
    bx.invert_yaxis()
    bx.set_xlabel("energy (µJ)")
    bx.set_title(f"energy {fmt_energy(doc['energy_j'], 4)}")
    bx.set_xlim(0, (values.max() if len(values) else 1.0) * 1.35 or 1.0)
    return fig


def _shown_nodes(doc: Doc) -> tuple[list[Mapping[str, Any]], str]:
    nodes = list(doc["nodes"])
    if len(nodes) <= MAX_NODE_BARS:
        return nodes, ""
    keep = sorted(sorted(range(len(nodes)), key=lambda i: -float(nodes[i]["busy_cycles"]))[:MAX_NODE_BARS])
    return [nodes[i] for i in keep], f" ({MAX_NODE_BARS} busiest of {len(nodes)} nodes, by busy core-cycles)"


def nodes_figure(doc: Doc) -> Figure:
    """Per node: span (first block start to last block end), busy time per core it used, and energy."""
    nodes, note = _shown_nodes(doc)
    names = [printable(f"{n['name']} ({n['op']})") for n in nodes]
    scale, unit = _time_axis(doc)
    span = np.array([node_span_cycles(n) for n in nodes]) * scale
    busy = np.array([float(n["busy_cycles"]) / max(1, len(n["cores"])) for n in nodes]) * scale
    energy = np.array([float(n["energy_j"]) for n in nodes]) * 1e6
    fig = _new_figure(11, max(3.0, 0.24 * len(nodes) + 1.4))
    ax, bx = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(nodes))
    ax.barh(y, span, color="tab:blue", alpha=0.45, label="span (first start to last end)")
    ax.barh(y, busy, height=0.45, color="tab:blue", label="busy core-time / cores used")
    ax.set_yticks(y, names, fontsize=7 if len(nodes) > 30 else 8)
    ax.set_ylim(len(nodes) - 0.5, -0.5)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_title(f"latency per node{note}")
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    bx.barh(y, energy, color="tab:green")
    bx.set_xlabel("energy (µJ)")
    bx.set_title("energy per node")
    fig.suptitle(title(doc), fontsize=10)
    bx.grid(axis="x", alpha=0.3)
    return fig


def roofline_figure(doc: Doc) -> Figure:
    """Each node's attained ops/s against its operational intensity (ops per DRAM byte) under the chip's roofs.

    Ops are 2 x MACs; attained performance divides them by the node's span.
    Nodes that move no DRAM bytes sit at the right edge (marked ▶); nodes
    without MACs (layout, element-wise) have no point on this plot.
    """
    hw = doc["hardware"]
    peak = float(hw["peak_tops"]) * 1e12
    bw = float(hw["dram_bandwidth_bytes_per_s"])
    ridge = peak / bw if bw > 0 else 1.0
    hz = clock_hz(doc)
    pts = []
    for n in doc["nodes"]:
        ops, span = 2.0 * float(n["macs"]), node_span_cycles(n)
        if ops <= 0 or span <= 0:
            continue
        pts.append((n, ops / float(n["dram_bytes"]) if n["dram_bytes"] > 0 else np.inf, ops / (span / hz)))
    finite = [p[1] for p in pts if np.isfinite(p[1])]
    lo = min([ridge / 100, *finite]) / 2
    hi_data = max([ridge * 100, *finite]) * 2
    x_inf = hi_data
    fig = _new_figure(8.5, 5.6)
    ax = fig.add_subplot()
    xs = np.geomspace(lo, hi_data * 1.5, 256)
    ax.plot(xs, np.minimum(peak, xs * bw), color="k", linewidth=2, label="roof")
    ax.axvline(ridge, color="0.6", linestyle=":", linewidth=1)
    ax.text(ridge, peak * 1.08, f" ridge {ridge:.3g} ops/B", fontsize=7, color="0.3")
    ax.text(lo * 1.2, peak * 1.08, printable(f"peak {peak / 1e12:.3g} Tops/s ({doc['precision']})"), fontsize=7)
    ax.text(lo * 1.5, lo * 1.5 * bw / 2.5, f"DRAM {bw / 1e9:.3g} GB/s", fontsize=7, ha="left", va="top")
    ops_list = sorted({p[0]["op"] for p in pts})
    colours = dict(zip(ops_list, _palette(len(ops_list))))
    for op in ops_list:
        mine = [p for p in pts if p[0]["op"] == op]
        fx = [p[1] for p in mine if np.isfinite(p[1])]
        fy = [p[2] for p in mine if np.isfinite(p[1])]
        ax.scatter(fx, fy, color=colours[op], label=printable(op), s=28, zorder=3, edgecolors="k", linewidths=0.4)
        iy = [p[2] for p in mine if not np.isfinite(p[1])]
        if iy:
            ax.scatter([x_inf] * len(iy), iy, color=colours[op], marker=">", s=34, zorder=3, edgecolors="k",
                       linewidths=0.4)
    if len(pts) <= 25:
        for n, x, yv in pts:
            ax.annotate(printable(n["name"]), (x if np.isfinite(x) else x_inf, yv), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi_data * 1.5)
    low_y = min([lo * bw, *(p[2] for p in pts)]) / 3
    ax.set_ylim(low_y, peak * 3)
    ax.set_xlabel("operational intensity (ops per DRAM byte; ▶ = no DRAM bytes)")
    ax.set_ylabel("attained performance (ops/s over the node's span)")
    skipped = sum(1 for n in doc["nodes"] if float(n["macs"]) <= 0)
    ax.set_title(f"roofline: {title(doc)}" + (f"\n{skipped} nodes without MACs not shown" if skipped else ""))
    ax.grid(which="both", alpha=0.25)
    ax.legend(loc="lower right", fontsize=7, title="op")
    return fig


#: plot name -> (figure builder, needs the timeline)
PLOTS: dict[str, tuple[Callable[[Doc], Figure], bool]] = {
    "gantt": (gantt_figure, True),
    "utilization": (utilization_figure, True),
    "power": (power_figure, False),
    "nodes": (nodes_figure, False),
    "roofline": (roofline_figure, False),
}


def available_plots(doc: Doc) -> list[str]:
    """The plots this result can make (Gantt and utilization need the timeline)."""
    return [k for k, (_, needs) in PLOTS.items() if has_timeline(doc) or not needs]


def make_plots(doc: Doc, out_dir: str | os.PathLike[str], formats: Sequence[str] = FORMATS,
               prefix: str = "", names: Optional[Iterable[str]] = None) -> list[Path]:
    """Write the plots of one result into ``out_dir`` (created if needed) as ``<prefix><name>.<fmt>``.

    ``names`` picks some of :data:`PLOTS` (default: all this result can make).
    """
    check_document(doc)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise GspsimError(f"plot format {', '.join(bad) or '(none)'}: choose from {', '.join(FORMATS)}")
    wanted = list(PLOTS) if names is None else list(names)
    unknown = [n for n in wanted if n not in PLOTS]
    if unknown:
        raise GspsimError(f"unknown plot {', '.join(unknown)}: choose from {', '.join(PLOTS)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GspsimError(f"{out}: cannot create the plot folder ({exc.strerror or exc})") from None
    paths: list[Path] = []
    for name in [n for n in available_plots(doc) if n in wanted]:
        with matplotlib.rc_context(_RC):  # texts take parse_math when they are made
            fig = PLOTS[name][0](doc)
        paths += save_figure(fig, out / f"{prefix}{name}", formats)
    return paths


# --- several results ------------------------------------------------------------------------------------------


def compare_figure(docs: Sequence[Doc], labels: Optional[Sequence[str]] = None) -> Figure:
    """Latency, energy and DRAM traffic of several results side by side (one bar row per result)."""
    if not docs:
        raise GspsimError("compare: no results given")
    for d in docs:
        check_document(d)
    labels = [printable(x) for x in labels] if labels is not None else result_labels(docs)
    metrics = [
        ("latency, first frame (ms)", [float(d["latency_s"]) * 1e3 for d in docs]),
        ("energy (mJ)", [float(d["energy_j"]) * 1e3 for d in docs]),
        ("DRAM traffic (MiB)", [(d.get("dram_read_bytes", 0) + d.get("dram_write_bytes", 0)) / 2**20 for d in docs]),
    ]
    fig = _new_figure(11, max(3.2, 0.34 * len(docs) + 1.4))
    axes = fig.subplots(1, 3, sharey=True)
    colours = _palette(len(docs))
    y = np.arange(len(docs))
    for ax, (name, values) in zip(axes, metrics):
        ax.barh(y, values, color=colours)
        top = max(values) if max(values) > 0 else 1.0
        for i, v in enumerate(values):
            ax.text(v + top * 0.01, i, f"{v:.3g}", va="center", fontsize=7)
        ax.set_title(name)
        ax.set_xlim(0, top * 1.22)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].set_ylim(len(docs) - 0.5, -0.5)
    models = sorted({title(d).split(" (")[0] for d in docs})
    fig.suptitle("compare: " + "; ".join(models), fontsize=10)
    return fig


def compare_bars(docs: Sequence[Doc], path: str | os.PathLike[str], labels: Optional[Sequence[str]] = None) -> Path:
    """Write the compare figure to ``path`` (format from its suffix, .png or .svg)."""
    with matplotlib.rc_context(_RC):
        fig = compare_figure(docs, labels)
    return _write_one(fig, path)


def pareto_front(points: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of the points no other point beats on latency and energy (lower is better), by latency.

    A point is beaten when another is no worse on both and better on one; equal points are all kept.
    """
    lat = [float(p["latency"]) for p in points]
    en = [float(p["energy"]) for p in points]
    front: list[int] = []
    for i in sorted(range(len(points)), key=lambda i: (lat[i], en[i])):
        last = front[-1] if front else None
        if last is None or en[i] < en[last] or (lat[i], en[i]) == (lat[last], en[last]):
            front.append(i)
    return front


def _label_groups(lat: np.ndarray, en: np.ndarray) -> list[list[int]]:
    """Points that would sit on top of each other (within 1.5% of the axis ranges), to label once."""
    span_l = max(float(np.ptp(lat)), abs(float(lat.max())) * 1e-9, 1e-30)
    span_e = max(float(np.ptp(en)), abs(float(en.max())) * 1e-9, 1e-30)
    groups: list[list[int]] = []
    for i in np.argsort(lat, kind="stable"):
        for g in groups:
            j = g[0]
            if abs(lat[i] - lat[j]) <= 0.015 * span_l and abs(en[i] - en[j]) <= 0.015 * span_e:
                g.append(int(i))
                break
        else:
            groups.append([int(i)])
    return groups


def _minor_log_label(value: float, _pos: int) -> str:
    """Label minor log ticks 2 and 5 (x 10^k) only, as plain numbers."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
    return f"{value:g}" if mantissa in (2.0, 5.0) else ""


def pareto_figure(points: Sequence[Mapping[str, Any]], latency_unit: str = "s", energy_unit: str = "J") -> Figure:
    """Latency against energy of a sweep's points, with the Pareto front drawn and labelled."""
    if not points:
        raise GspsimError("pareto: no points given")
    lat = np.array([float(p["latency"]) for p in points])
    en = np.array([float(p["energy"]) for p in points])
    front = pareto_front(points)
    fig = _new_figure(7.5, 5.2)
    ax = fig.add_subplot()
    others = np.setdiff1d(np.arange(len(points)), front)
    ax.scatter(lat[others], en[others], color="0.6", s=24, label="dominated", zorder=2)
    ax.plot(lat[front], en[front], "-o", color="tab:red", markersize=6, label="Pareto front", zorder=3)
    log_x = bool(lat.min() > 0 and lat.max() / lat.min() > 4)
    log_y = bool(en.min() > 0 and en.max() / en.min() > 4)
    on_front = set(front)
    for group in _label_groups(np.log10(lat) if log_x else lat, np.log10(en) if log_y else en):
        if len(points) > 20 and not on_front.intersection(group):
            continue
        names = [printable(points[i].get("label", i)) for i in group]
        text = "\n".join(", ".join(names[k:k + 2]) for k in range(0, len(names), 2))
        if on_front.intersection(group):  # front labels above left, others below right: they seldom collide
            ax.annotate(text, (lat[group[0]], en[group[0]]), fontsize=7, xytext=(-4, 5), textcoords="offset points",
                        ha="right", va="bottom", color="tab:red")
        else:
            ax.annotate(text, (lat[group[0]], en[group[0]]), fontsize=7, xytext=(5, -4), textcoords="offset points",
                        va="top")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.margins(x=0.25, y=0.15)
    for log, axis, values in ((log_x, ax.xaxis, lat), (log_y, ax.yaxis, en)):
        if log:
            axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            # minor labels (2 and 5 x 10^k) only where a decade is wide enough to hold them apart
            few_decades = float(np.log10(values.max() / values.min())) <= 1.3
            axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(_minor_log_label) if few_decades
                                     else matplotlib.ticker.NullFormatter())
        else:
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel(f"latency ({latency_unit})")
    ax.set_ylabel(f"energy ({energy_unit})")
    ax.set_title(f"Pareto front: {len(front)} of {len(points)} points (lower left is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def pareto_plot(points: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], latency_unit: str = "s",
                energy_unit: str = "J") -> Path:
    """Write the Pareto plot of ``points`` (dicts with latency, energy, label) to ``path`` (.png or .svg)."""
    with matplotlib.rc_context(_RC):
        fig = pareto_figure(points, latency_unit, energy_unit)
    return _write_one(fig, path)


def budget_figure(points: Sequence[Any], min_budget: int, title: str) -> Figure:
    """Activation DRAM traffic per frame against the line-buffer budget (``gspsim memory --plot``)."""
    fig = _new_figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    kib = [p.budget_bytes / 1024 for p in points]
    ax.plot(kib, [p.intermediate_bytes / 1e6 for p in points], marker="o", label="intermediate tensors (cuts)")
    ax.plot(kib, [(p.intermediate_bytes + p.io_bytes) / 1e6 for p in points], marker=".", linestyle="--",
            label="plus graph inputs and outputs")
    for p, x in zip(points, kib):
        ax.annotate(f"{p.stacks} stack{'s' if p.stacks != 1 else ''}", (x, p.intermediate_bytes / 1e6),
                    textcoords="offset points", xytext=(4, 6), fontsize=7)
    ax.axvline(min_budget / 1024, color="grey", linestyle=":", label=f"no cut at {min_budget / 1024:,.0f} KiB")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(_minor_log_label))
    ax.set_xlabel("line-buffer budget (KiB)")
    ax.set_ylabel("activation DRAM traffic per frame (MB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def budget_plot(points: Sequence[Any], min_budget: int, title: str, path: str | os.PathLike[str]) -> Path:
    """Write :func:`budget_figure` to ``path`` (.png or .svg)."""
    return _write_one(budget_figure(points, min_budget, title), path)


def _write_one(fig: Figure, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise GspsimError(f"{p}: plot file must end in .png or .svg")
    write_bytes_atomic(p, figure_bytes(fig, fmt))
    return p
