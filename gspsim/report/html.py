"""One self-contained HTML report of a result: summary, plots, per-node and buffer tables.

Everything is inside the file (plots as base64 PNG, CSS and a few lines of
script to sort the node table), and its Content-Security-Policy forbids any
network access, so it opens the same offline, attached to a mail, or years later.
"""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..output_files import write_text_atomic
from .csv_table import node_columns, node_rows
from .document import Doc, check_document, model_name, title
from .plots import PLOTS, available_plots, figure_bytes

CAPTIONS: dict[str, str] = {
    "gantt": "Blocks on cores over time (overlapping blocks on one core, i.e. thread slots, are drawn as sub-rows); "
             "DRAM transfers on the top row.",
    "utilization": "Busy fraction of each core over time, and mean core and DRAM-bandwidth utilization.",
    "power": "Power over time (dynamic energy spread over each event, plus static power) and energy by component.",
    "nodes": "Per node: span from its first block's start to its last block's end, busy time per core used, energy.",
    "roofline": "Attained ops/s of each node with MACs against its operational intensity (2 x MACs per DRAM byte), "
                "under the chip's compute and DRAM roofs. A point above the DRAM roof had its weights fetched before "
                "its first block started.",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
table.summary td:first-child { font-weight: 600; text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
.pass { color: #070; font-weight: 600; } .fail { color: #b00; font-weight: 600; }
.note { color: #666; font-size: 0.85rem; }
"""

# Sorts the node table on a header click, then reports on <body> that the page
# is set up and how many images decoded (the browser test reads these).
_SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { return cell.textContent; }
    var x = parseFloat(v);
    return isNaN(x) ? v : x;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.body.setAttribute("data-ready", "1");
  window.addEventListener("load", function () {
    var imgs = document.querySelectorAll("img");
    var ok = Array.prototype.filter.call(imgs, function (i) { return i.complete && i.naturalWidth > 0; });
    document.body.setAttribute("data-images-loaded", String(ok.length));
  });
})();
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _fmt_bytes(n: float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def summary_rows(doc: Doc) -> list[tuple[str, str]]:
    """(metric, value) pairs of the summary table, as plain text."""
    hw, m = doc["hardware"], doc["model"]
    util = list(doc.get("core_utilization", [])) or [0.0]
    bounds = "".join(f"; {k} {float(v):,.0f}" for k, v in doc.get("lower_bounds", {}).items())
    rows = [
        ("model", f"{model_name(doc)} ({m.get('path', '')}): {m.get('nodes', '?')} nodes, "
                  f"{int(m.get('params', 0)):,} parameters, {int(m.get('macs', 0)):,} MACs per frame"),
        ("hardware", f"{hw.get('name', '?')}: {hw.get('cores', '?')} cores at {float(hw['clock_hz']) / 1e9:g} GHz, "
                     f"peak {float(hw.get('peak_tops', 0)):g} Tops/s ({doc['precision']}), "
                     f"DRAM {float(hw.get('dram_bandwidth_bytes_per_s', 0)) / 1e9:g} GB/s"),
        ("mode / scheduler / precision", f"{doc['mode']} / {doc['scheduler']} / {doc['precision']}"),
        ("frames / blocks / seed", f"{doc.get('frames', 1)} / {doc.get('blocks', '?')} / {doc.get('seed', '?')}"),
        ("latency", f"{float(doc['latency_cycles']):,.0f} cycles = {float(doc['latency_s']) * 1e3:.4f} ms"),
        ("throughput", f"{float(doc.get('throughput_fps', 0)):,.1f} frames/s"),
        ("lower bound / efficiency", f"{float(doc.get('lower_bound_cycles', 0)):,.0f} cycles / "
                                     f"{float(doc.get('efficiency', 0)):.2f}" + bounds),
        ("energy / average power", f"{float(doc['energy_j']) * 1e3:.4f} mJ / {float(doc.get('avg_power_w', 0)):.3f} W"),
        ("energy by component", ", ".join(f"{k} {float(v) * 1e6:.3g} µJ"
                                          for k, v in doc.get("energy_breakdown_j", {}).items())),
    ]
    kinds = doc.get("dram_bytes_by_kind", {})
    for direction, total in (("read", doc.get("dram_read_bytes", 0)), ("write", doc.get("dram_write_bytes", 0))):
        parts = ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in kinds.get(direction, {}).items())
        rows.append((f"DRAM {direction}", f"{_fmt_bytes(total)}" + (f" ({parts})" if parts else "")))
    rows += [
        ("on-chip traffic / SRAM accesses", f"{_fmt_bytes(doc.get('onchip_bytes', 0))} / "
                                            f"{_fmt_bytes(doc.get('sram_bytes', 0))}"),
        ("core utilization", f"mean {sum(util) / len(util):.1%}, min {min(util):.1%}, max {max(util):.1%}"),
        *((("DRAM / interconnect utilization", f"{float(doc['dram_utilization']):.1%} / "
                                               f"{float(doc.get('interconnect_utilization', 0)):.1%}"),)
          if "dram_utilization" in doc else ()),
        ("deadlock spills", str(doc.get("deadlock_spills", 0))),
    ]
    return rows


def _check_html(doc: Doc) -> str:
    c = doc.get("check")
    if not c:
        return "not run (add --check)"
    verdict = '<span class="pass">passed</span>' if c["passed"] else '<span class="fail">FAILED</span>'
    def shown(key: str, fmt: str) -> str:
        value = c.get(key)
        return "NaN/Inf" if value is None else format(float(value), fmt)  # null: a non-finite figure

    return (f"{verdict} against {escape(str(c.get('reference', '?')))}: max_rel_err {shown('max_rel_err', '.2e')}, "
            f"max_abs_err {shown('max_abs_err', '.2e')} (tolerance {shown('tolerance', 'g')})")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "", text_cols: int = 1) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        klass = ' class="text"' if i < text_cols else ""
        data = f' data-v="{escape(str(v))}"' if tag == "td" and i >= text_cols else ""
        shown = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
        return f"<{tag}{klass}{data}>{escape(shown)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def report_html(doc: Doc) -> str:
    """The report page as one HTML string."""
    check_document(doc)
    summary = "\n".join(f'<tr><td>{escape(k)}</td><td class="text">{escape(v)}</td></tr>'
                        for k, v in summary_rows(doc))
    summary += f'\n<tr><td>check vs reference</td><td class="text">{_check_html(doc)}</td></tr>'
    figures = []
    for name in available_plots(doc):
        png = base64.b64encode(figure_bytes(PLOTS[name][0](doc), "png")).decode("ascii")
        figures.append(f'<figure id="plot-{name}"><img alt="{name} plot" src="data:image/png;base64,{png}">'
                       f"<figcaption>{escape(CAPTIONS.get(name, name))}</figcaption></figure>")
    missing = [k for k in PLOTS if k not in available_plots(doc)]
    if missing:
        figures.append(f'<p class="note">No timeline in this result, so no {", ".join(missing)} plot.</p>')
    cols = node_columns(doc)
    nodes = _table(cols, ([r[c] for c in cols] for r in node_rows(doc)), "sortable nodes", text_cols=2)
    streams = doc.get("streams", [])
    stream_table = _table(
        ("model", "frames", "fps in", "mean latency ms", "max latency ms", "deadline misses", "throughput fps"),
        ((s.get("path", "?"), int(s.get("frames", 1)), "all at once" if s.get("fps_in") is None else f"{s['fps_in']:g}",
          f"{float(s['mean_latency_s']) * 1e3:.4f}", f"{float(s['max_latency_s']) * 1e3:.4f}",
          int(s.get("deadline_misses", 0)), f"{float(s['throughput_fps']):,.1f}") for s in streams),
        "streams") if len(streams) > 1 or any(s.get("fps_in") for s in streams) else ""
    buffers = doc.get("buffers", [])
    buf_table = _table(("tensor", "capacity_bytes", "high_water_bytes", "high water %"), (
        (b["tensor"], int(b["capacity_bytes"]), int(b["high_water_bytes"]),
         f"{100.0 * b['high_water_bytes'] / b['capacity_bytes']:.0f}" if b["capacity_bytes"] else "-")
        for b in buffers), "sortable buffers") if buffers else '<p class="note">No ring buffers (layer mode).</p>'
    page_title = f"gspsim report: {title(doc)}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gspsim {escape(str(doc.get('gspsim_version', '')))}">
<title>{escape(page_title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(page_title)}</h1>
<h2 id="summary">Summary</h2>
<table class="summary">
{summary}
</table>
{('<h2 id="streams">Streams</h2>' + chr(10) + stream_table) if stream_table else ""}
<h2 id="plots">Plots</h2>
{chr(10).join(figures)}
<h2 id="nodes">Nodes</h2>
<p class="note">Click a column to sort. cycles = end_cycle - start_cycle; busy_cycles sums the node's block cycles over
all cores; times are in cycles of the {float(doc['hardware']['clock_hz']) / 1e9:g} GHz clock.</p>
{nodes}
<h2 id="buffers">Ring buffers</h2>
{buf_table}
<p class="note">Written by gspsim {escape(str(doc.get('gspsim_version', '')))} from a result of schema version
{escape(str(doc['schema_version']))}.</p>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_report(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the self-contained HTML report to ``path`` atomically."""
    write_text_atomic(path, report_html(doc))
    return Path(path)
