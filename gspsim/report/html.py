"""One self-contained HTML report of a result: summary, plots, per-node and buffer tables.

Several results (``run --precision fp32,int8 --report r.html``, or
``plot a.json b.json --report r.html``) make one page: a table and plots
comparing the runs, then each run's own section.

Everything is inside the file (plots as base64 PNG, CSS and a few lines of
script to sort the node table), and its Content-Security-Policy forbids any
network access, so it opens the same offline, attached to a mail, or years later.
"""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from ..output_files import write_text_atomic
from .document import Doc, check_document, model_name, node_span_cycles, result_labels, title
from .plots import PLOTS, available_plots, compare_figure, figure_bytes, pareto_figure
from .units import fmt_bytes, fmt_energy, fmt_seconds

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


def summary_rows(doc: Doc) -> list[tuple[str, str]]:
    """(metric, value) pairs of the summary table, as plain text (docs/json-result.md defines each figure)."""
    hw, m = doc["hardware"], doc["model"]
    util = list(doc.get("core_active_utilization", [])) or [0.0]
    bounds = "".join(f"; {k} {float(v):,.0f}" for k, v in doc.get("active_lower_bounds", {}).items())
    frames = int(doc.get("frames", 1))
    rows = [
        ("model", f"{model_name(doc)} ({m.get('path', '')}): {m.get('nodes', '?')} nodes, "
                  f"{int(m.get('params', 0)):,} parameters, {int(m.get('macs', 0)):,} MACs per frame"),
        ("hardware", f"{hw.get('name', '?')}: {hw.get('cores', '?')} cores at {float(hw['clock_hz']) / 1e9:g} GHz, "
                     f"peak {float(hw.get('peak_tops', 0)):g} Tops/s ({doc['precision']}), "
                     f"DRAM {float(hw.get('dram_bandwidth_bytes_per_s', 0)) / 1e9:g} GB/s"),
        ("mode / scheduler / precision", f"{doc['mode']} / {doc['scheduler']} / {doc['precision']}"
                                         + (f" / pruned {doc['prune']}" if doc.get("prune") else "")),
        ("frames / blocks / seed", f"{frames} / {doc.get('blocks', '?')} / {doc.get('seed', '?')}"),
        ("latency", f"{float(doc['latency_cycles']):,.0f} cycles = {fmt_seconds(doc['latency_s'])}"
                    + (" (first frame, arrival to done)" if frames > 1 else "")),
    ]
    if frames > 1:
        rows += [
            ("frame latency p50 / p95 / max", f"{fmt_seconds(doc['p50_latency_s'])} / "
                                              f"{fmt_seconds(doc['p95_latency_s'])} / "
                                              f"{fmt_seconds(doc['max_latency_s'])} over {frames} frames"),
            ("makespan", f"{float(doc['makespan_cycles']):,.0f} cycles = {fmt_seconds(doc['makespan_s'])} "
                         "(first arrival to last frame done)"),
        ]
    if float(doc["active_cycles"]) < float(doc["makespan_cycles"]):
        rows.append(("active time", f"{fmt_seconds(doc['active_s'])} with a frame in flight"))
    rows += [
        ("throughput", f"{float(doc['steady_state_fps']):,.1f} frames/s"
                       + (" (1 / latency: one frame)" if frames == 1 else " (steady state)")),
        ("lower bound / efficiency", f"{float(doc['active_lower_bound_cycles']):,.0f} cycles / "
                                     f"{float(doc['active_efficiency']):.2f} of the active time" + bounds),
        ("energy / average power", f"{fmt_energy(doc['energy_j'])} / {float(doc.get('avg_power_w', 0)):.3f} W"),
        ("energy by component", ", ".join(f"{k} {fmt_energy(v)}"
                                          for k, v in doc.get("energy_breakdown_j", {}).items())),
    ]
    kinds = doc.get("dram_bytes_by_kind", {})
    for direction, total in (("read", doc.get("dram_read_bytes", 0)), ("write", doc.get("dram_write_bytes", 0))):
        parts = ", ".join(f"{k} {fmt_bytes(v)}" for k, v in kinds.get(direction, {}).items())
        rows.append((f"DRAM {direction}", f"{fmt_bytes(total)}" + (f" ({parts})" if parts else "")))
    rows += [
        ("on-chip traffic / SRAM accesses", f"{fmt_bytes(doc.get('onchip_bytes', 0))} / "
                                            f"{fmt_bytes(doc.get('sram_bytes', 0))}"),
        ("core utilization", f"mean {sum(util) / len(util):.1%}, min {min(util):.1%}, max {max(util):.1%} "
                             "of the active time"),
        ("DRAM / interconnect utilization", f"{float(doc['dram_active_utilization']):.1%} / "
                                            f"{float(doc['interconnect_active_utilization']):.1%} of the active time"),
        ("deadlock spills", str(doc.get("deadlock_spills", 0))),
    ]
    accuracy = doc.get("accuracy")
    if accuracy:
        top1 = accuracy.get("top1_agreement")
        rows.append(("accuracy vs fp32", f"cosine {float(accuracy['cosine_similarity']):.5f}, max abs err "
                                         f"{float(accuracy['max_abs_err']):.3g}"
                                         + (f", top-1 agreement {float(top1):.1%}" if top1 is not None else "")
                                         + f" ({accuracy.get('samples', '?')} seeded inputs)"))
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


class Cell:
    """A table cell shown as ``text`` and sorted by ``key`` (a number)."""

    __slots__ = ("text", "key")

    def __init__(self, text: str, key: float) -> None:
        self.text, self.key = text, key


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "", text_cols: int = 1) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        klass = ' class="text"' if i < text_cols else ""
        if isinstance(v, Cell):
            shown, key = v.text, v.key
        else:
            shown = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
            key = v
        data = f' data-v="{escape(str(key))}"' if tag == "td" and i >= text_cols else ""
        return f"<{tag}{klass}{data}>{escape(shown)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


#: the HTML node table: header, and the cell from a node of the result document
NODE_COLUMNS: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("node", lambda n: str(n["name"])),
    ("op", lambda n: str(n["op"])),
    ("blocks", lambda n: int(n["blocks"])),
    ("cores", lambda n: int(len(n["cores"]))),
    ("first start (cycles)", lambda n: int(round(float(n["start_cycle"])))),
    ("last end (cycles)", lambda n: int(round(float(n["end_cycle"])))),
    ("span (cycles)", lambda n: int(round(node_span_cycles(n)))),
    ("busy (core-cycles)", lambda n: int(round(float(n["busy_cycles"])))),
    ("MACs", lambda n: int(n["macs"])),
    ("DRAM", lambda n: Cell(fmt_bytes(n["dram_bytes"]), int(n["dram_bytes"]))),
    ("energy", lambda n: Cell(fmt_energy(n["energy_j"]), float(n["energy_j"]))),
)


def _node_table(doc: Doc) -> str:
    return _table([h for h, _ in NODE_COLUMNS], ([f(n) for _, f in NODE_COLUMNS] for n in doc["nodes"]),
                  "sortable nodes", text_cols=2)


def _buffer_table(doc: Doc) -> str:
    buffers = doc.get("buffers", [])
    if not buffers:
        return '<p class="note">No ring buffers (layer mode).</p>'
    rows = []
    for b in buffers:
        cap, high = int(b["capacity_bytes"]), int(b["high_water_bytes"])
        readers = ", ".join(b.get("consumers", [])) or "-"
        rows.append((b.get("producer") or "(graph input)", readers, Cell(fmt_bytes(cap), cap),
                     Cell(fmt_bytes(high), high), Cell(f"{100.0 * high / cap:.0f}%" if cap else "-",
                                                       high / cap if cap else 0.0), b["tensor"]))
    return _table(("from node", "to nodes", "capacity", "high water", "high water %", "tensor"), rows,
                  "sortable buffers", text_cols=2)


def _stream_table(doc: Doc) -> str:
    streams = doc.get("streams", [])
    if not (len(streams) > 1 or any(s.get("fps_in") for s in streams)):
        return ""
    return _table(
        ("model", "frames", "fps in", "latency p50", "p95", "max", "deadline misses", "fps out"),
        ((s.get("path", "?"), int(s.get("frames", 1)), "all at once" if s.get("fps_in") is None else f"{s['fps_in']:g}",
          Cell(fmt_seconds(s["p50_latency_s"]), s["p50_latency_s"]),
          Cell(fmt_seconds(s["p95_latency_s"]), s["p95_latency_s"]),
          Cell(fmt_seconds(s["max_latency_s"]), s["max_latency_s"]),
          int(s.get("deadline_misses", 0)), Cell(f"{float(s['steady_state_fps']):,.1f}", s["steady_state_fps"]))
         for s in streams),
        "streams")


def _figures(doc: Doc) -> list[str]:
    figures = []
    for name in available_plots(doc):
        png = base64.b64encode(figure_bytes(PLOTS[name][0](doc), "png")).decode("ascii")
        figures.append(_figure(name, png, CAPTIONS.get(name, name)))
    missing = [k for k in PLOTS if k not in available_plots(doc)]
    if missing:
        figures.append(f'<p class="note">No timeline in this result, so no {", ".join(missing)} plot.</p>')
    return figures


def _figure(name: str, png_base64: str, caption: str) -> str:
    return (f'<figure id="plot-{escape(name)}"><img alt="{escape(name)} plot" src="data:image/png;base64,{png_base64}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _run_body(doc: Doc, level: int = 2, anchor: str = "") -> str:
    """Summary, streams, plots, nodes and ring buffers of one result, headings at ``level``."""
    h = f"h{level}"
    summary = "\n".join(f'<tr><td>{escape(k)}</td><td class="text">{escape(v)}</td></tr>'
                        for k, v in summary_rows(doc))
    summary += f'\n<tr><td>check vs reference</td><td class="text">{_check_html(doc)}</td></tr>'
    streams = _stream_table(doc)
    a = f"{anchor}-" if anchor else ""
    return f"""<{h} id="{a}summary">Summary</{h}>
<table class="summary">
{summary}
</table>
{(f'<{h} id="{a}streams">Streams</{h}>' + chr(10) + streams) if streams else ""}
<{h} id="{a}plots">Plots</{h}>
{chr(10).join(_figures(doc))}
<{h} id="{a}nodes">Nodes</{h}>
<p class="note">Click a column to sort. span = last end - first start; busy sums the node's block cycles over all
cores and frames; cycles of the {float(doc['hardware']['clock_hz']) / 1e9:g} GHz clock; energy is dynamic energy.</p>
{_node_table(doc)}
<{h} id="{a}buffers">Ring buffers</{h}>
{_buffer_table(doc)}"""


def _comparison(docs: Sequence[Doc], labels: Sequence[str]) -> str:
    """The table and the compare and Pareto plots of several results."""
    rows = []
    for d, label in zip(docs, labels):
        acc = d.get("accuracy") or {}
        top1 = acc.get("top1_agreement")
        check = d.get("check")
        rows.append((
            label,
            Cell(fmt_seconds(d["latency_s"]), d["latency_s"]),
            Cell(fmt_seconds(d["p95_latency_s"]), d["p95_latency_s"]),
            Cell(fmt_seconds(d["makespan_s"]), d["makespan_s"]),
            Cell(f"{float(d['steady_state_fps']):,.1f}", d["steady_state_fps"]),
            Cell(fmt_energy(d["energy_j"]), d["energy_j"]),
            Cell(f"{float(d['avg_power_w']):.3f} W", d["avg_power_w"]),
            Cell(fmt_bytes(d["dram_read_bytes"] + d["dram_write_bytes"]), d["dram_read_bytes"] + d["dram_write_bytes"]),
            Cell(f"{float(d['active_efficiency']):.2f}", d["active_efficiency"]),
            Cell(f"{float(acc['cosine_similarity']):.5f}", acc["cosine_similarity"]) if acc else
            ("1 (reference)" if d["precision"] == "fp32" and not d.get("prune") else "-"),
            Cell(f"{float(top1):.1%}", top1) if top1 is not None else "-",
            ("passed" if check["passed"] else "FAILED") if check else "-",
        ))
    table = _table(("run", "latency", "p95 latency", "makespan", "fps", "energy", "avg power", "DRAM traffic",
                    "efficiency", "cosine vs fp32", "top-1 agreement", "check"), rows, "sortable runs")
    bars = base64.b64encode(figure_bytes(compare_figure(docs, labels), "png")).decode("ascii")
    points = [{"latency": float(d["latency_s"]) * 1e3, "energy": float(d["energy_j"]) * 1e3, "label": lab}
              for d, lab in zip(docs, labels)]
    pareto = base64.b64encode(figure_bytes(pareto_figure(points, "ms", "mJ"), "png")).decode("ascii")
    return "\n".join([
        table,
        _figure("compare", bars, "Latency (first frame), energy and DRAM traffic of each run."),
        _figure("pareto", pareto, "Latency against energy; the red points are those no other run beats on both."),
    ])


def _page(page_title: str, body: str, version: str, schema: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gspsim {escape(version)}">
<title>{escape(page_title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(page_title)}</h1>
{body}
<p class="note">Written by gspsim {escape(version)} from results of schema version {escape(schema)}.</p>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def report_html(doc: Doc | Sequence[Doc], labels: Optional[Sequence[str]] = None) -> str:
    """The report page as one HTML string: of one result, or of several compared (a section per run)."""
    docs = [doc] if isinstance(doc, Mapping) else list(doc)
    for d in docs:
        check_document(d)
    version, schema = str(docs[0].get("gspsim_version", "")), str(docs[0]["schema_version"])
    if len(docs) == 1:
        return _page(f"gspsim report: {title(docs[0])}", _run_body(docs[0]), version, schema)
    labels = list(labels) if labels is not None else result_labels(docs)
    models = ", ".join(dict.fromkeys(model_name(d) for d in docs))
    chips = ", ".join(dict.fromkeys(str(d["hardware"].get("name", "?")) for d in docs))
    nav = " · ".join(f'<a href="#run-{i + 1}">{escape(lab)}</a>' for i, lab in enumerate(labels))
    sections = [f'<h2 id="comparison">{len(docs)} runs compared</h2>', f'<p class="note">Runs: {nav}</p>',
                _comparison(docs, labels)]
    for i, (d, lab) in enumerate(zip(docs, labels)):
        sections.append(f'<h2 id="run-{i + 1}">Run {i + 1}: {escape(lab)}</h2>')
        sections.append(f'<p class="note">{escape(title(d))}</p>')
        sections.append(_run_body(d, level=3, anchor=f"run-{i + 1}"))
    return _page(f"gspsim report: {models} on {chips}, {len(docs)} runs", "\n".join(sections), version, schema)


def write_report(doc: Doc | Sequence[Doc], path: str | os.PathLike[str],
                 labels: Optional[Sequence[str]] = None) -> Path:
    """Write the self-contained HTML report (of one result, or several compared) to ``path`` atomically."""
    write_text_atomic(path, report_html(doc, labels))
    return Path(path)
