"""gspsim.report: the Perfetto/Chrome trace, the plots, the HTML report (in headless Chromium) and the CSV.

Every test works on real simulations of a small ONNX graph built here with
onnx.helper (MatMul, Add, Relu, Concat, Softmax: a branch, so blocks overlap
and ring buffers fill), in streaming, layer and two-frame runs, read back
from their JSON as ``gspsim plot`` does.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from rich.console import Console

import gspsim
from gspsim.errors import GspsimError
from gspsim.report import load_result, node_csv_text, result_labels, trace_events, write_node_csv, write_trace
from gspsim.report.cli import add_plot_parser, cmd_plot
from gspsim.report.html import write_report
from gspsim.report.plots import compare_bars, make_plots, pareto_front, pareto_plot

PLOT_NAMES = ("gantt", "utilization", "power", "nodes", "roofline")


# --- fixtures: real runs -------------------------------------------------------------------------------------


def _branchy_mlp(path: Path) -> Path:
    rng = np.random.default_rng(0)

    def w(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h1"], name="fc1"),
        helper.make_node("Add", ["h1", "b1"], ["h1b"], name="bias1"),
        helper.make_node("Relu", ["h1b"], ["a1"], name="relu1"),
        helper.make_node("MatMul", ["a1", "W2"], ["h2"], name="fc2"),
        helper.make_node("Relu", ["h2"], ["a2"], name="relu2"),
        helper.make_node("MatMul", ["a2", "W3"], ["h3"], name="fc3a"),
        helper.make_node("MatMul", ["a1", "W3"], ["h4"], name="fc3b"),
        helper.make_node("Concat", ["h3", "h4"], ["c"], axis=2, name="cat"),
        helper.make_node("MatMul", ["c", "W4"], ["h5"], name="fc4"),
        helper.make_node("Softmax", ["h5"], ["y"], axis=-1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "branchy_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256, 32])],
        [w("W1", (64, 128)), w("b1", (128,)), w("W2", (128, 128)), w("W3", (128, 64)), w("W4", (128, 32))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _branchy_mlp(tmp_path_factory.mktemp("report_model") / "branchy_mlp.onnx")


RUNS: dict[str, dict[str, Any]] = {"streaming": {}, "layer": {"mode": "layer"}, "frames2": {"frames": 2},
                                   "small_budget": {"buffer_budget": 2048}}


@pytest.fixture(scope="module")
def results(model_path: Path) -> dict[str, gspsim.SimResult]:
    return {k: gspsim.simulate(model_path, check=(k == "streaming"), **kw) for k, kw in RUNS.items()}


@pytest.fixture(scope="module")
def docs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The documents as a saved --json file gives them back."""
    return {k: json.loads(r.to_json()) for k, r in results.items()}


@pytest.fixture(scope="module")
def saved(docs: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report_results")
    out = {}
    for k, d in docs.items():
        out[k] = folder / f"{k}.json"
        out[k].write_text(json.dumps(d))
    return out


@pytest.fixture(scope="module")
def plot_files(docs: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_plots(docs["streaming"], tmp_path_factory.mktemp("plots") / "figs")


# --- a checker of the Trace Event Format (JSON object form) ---------------------------------------------------

PHASE_KEYS = {"X": ("name", "ts", "dur", "pid", "tid"), "C": ("name", "ts", "pid", "args"),
              "M": ("name", "pid", "args")}
META_ARGS = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
             "thread_sort_index": "sort_index"}


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def trace_format_problems(trace: Any) -> list[str]:
    """What keeps ``trace`` from being a trace-event JSON object that Perfetto and chrome://tracing load."""
    problems: list[str] = []
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        return ["top level must be an object with a 'traceEvents' list"]
    if trace.get("displayTimeUnit") not in ("ms", "ns"):
        problems.append(f"displayTimeUnit must be 'ms' or 'ns', got {trace.get('displayTimeUnit')!r}")
    try:
        json.dumps(trace, allow_nan=False)
    except ValueError as exc:
        problems.append(f"not strict JSON: {exc}")
    named_threads = set()
    slices: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for i, ev in enumerate(trace["traceEvents"]):
        ph = ev.get("ph")
        if ph not in PHASE_KEYS:
            problems.append(f"event {i}: phase {ph!r} not used by gspsim traces")
            continue
        missing = [k for k in PHASE_KEYS[ph] if k not in ev]
        if missing:
            problems.append(f"event {i} ({ph}): missing {missing}")
            continue
        if not isinstance(ev["name"], str) or not ev["name"]:
            problems.append(f"event {i}: name must be a non-empty string")
        if not all(isinstance(ev.get(k, 0), int) for k in ("pid", "tid")):
            problems.append(f"event {i}: pid/tid must be integers")
        if ph in ("X", "C") and not (_is_num(ev["ts"]) and ev["ts"] >= 0):
            problems.append(f"event {i}: ts must be a finite number >= 0")
        if ph == "X":
            if not (_is_num(ev["dur"]) and ev["dur"] >= 0):
                problems.append(f"event {i}: X dur must be >= 0")
            if "args" in ev and not isinstance(ev["args"], dict):
                problems.append(f"event {i}: args must be an object")
            slices[(ev["pid"], ev["tid"])].append((ev["ts"], ev["ts"] + ev["dur"]))
        elif ph == "C":
            if not ev["args"] or not all(_is_num(v) for v in ev["args"].values()):
                problems.append(f"event {i}: counter args must be non-empty and numeric")
        elif ph == "M":
            want = META_ARGS.get(ev["name"])
            if want is None or want not in ev["args"]:
                problems.append(f"event {i}: metadata {ev['name']!r} needs args.{want}")
            if ev["name"] == "thread_name":
                named_threads.add((ev["pid"], ev["tid"]))
    for track, spans in slices.items():
        if track not in named_threads:
            problems.append(f"track pid/tid {track} has slices but no thread_name")
        spans.sort()
        stack: list[float] = []
        for s, e in spans:  # slices on one thread must be disjoint or nested
            while stack and stack[-1] <= s + 1e-9:
                stack.pop()
            if stack and e > stack[-1] + 1e-9:
                problems.append(f"track {track}: slice [{s}, {e}] overlaps [.., {stack[-1]}] without nesting")
                break
            stack.append(e)
    return problems


# --- trace ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", list(RUNS))
def test_trace_is_valid_trace_event_json(docs: dict[str, dict[str, Any]], run: str, tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    write_trace(docs[run], path)
    trace = json.loads(path.read_text())
    assert trace == trace_events(docs[run])
    assert trace_format_problems(trace) == []


def test_trace_checker_rejects_broken_traces(docs: dict[str, dict[str, Any]]) -> None:
    good = trace_events(docs["streaming"])
    x = next(e for e in good["traceEvents"] if e["ph"] == "X")
    c = next(e for e in good["traceEvents"] if e["ph"] == "C")
    for broken in ({**x, "dur": -1.0}, {**c, "args": {"bytes": "many"}}, {**x, "tid": 999999}):
        assert trace_format_problems({**good, "traceEvents": [*good["traceEvents"], broken]})


def test_trace_slices_are_the_blocks(docs: dict[str, dict[str, Any]]) -> None:
    doc = docs["streaming"]
    tl, hz = doc["timeline"], doc["hardware"]["clock_hz"]
    events = trace_events(doc)["traceEvents"]
    slices = [e for e in events if e["ph"] == "X" and e["cat"] == "block"]
    assert len(slices) == len(tl["blocks"]["start"]) == doc["blocks"]
    want = sorted(
        (tl["nodes"][n], tl["ops"][n], i, c, s / hz * 1e6, (e - s) / hz * 1e6)
        for n, i, c, s, e in zip(tl["blocks"]["node"], tl["blocks"]["index"], tl["blocks"]["core"],
                                 tl["blocks"]["start"], tl["blocks"]["end"])
    )
    got = sorted((e["args"]["node"], e["args"]["op"], e["args"]["block"], e["args"]["core"], e["ts"], e["dur"])
                 for e in slices)
    assert [g[:4] for g in got] == [w[:4] for w in want]
    np.testing.assert_allclose([g[4:] for g in got], [w[4:] for w in want], atol=1e-6)
    assert all(e["name"] == f"{e['args']['node']} ({e['args']['op']})" for e in slices)
    # one track per core used (plus slot lanes where blocks overlap), named after that core
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"
             and e["pid"] == slices[0]["pid"]}
    assert {int(re.match(r"core (\d+)", n).group(1)) for n in names.values()} == set(tl["blocks"]["core"])
    assert all(names[e["tid"]].startswith(f"core {e['args']['core']}") for e in slices)
    # blocks overlap on a core in this run (thread slots), so some cores need a second lane
    assert any("/ slot" in n for n in names.values())


def test_trace_counters_follow_the_result(docs: dict[str, dict[str, Any]]) -> None:
    doc = docs["streaming"]
    hz = doc["hardware"]["clock_hz"]
    events = trace_events(doc)["traceEvents"]
    counters: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "C":
            counters[e["name"]].append((e["ts"], e["args"]))
    rings = {k[len("ring "):] for k in counters if k.startswith("ring ")}
    assert rings == set(doc["timeline"]["buffer_levels"]) and rings
    for b in doc["buffers"]:  # the counter peaks at the buffer's high-water mark
        assert max(a["bytes"] for _, a in counters[f"ring {b['tensor']}"]) == b["high_water_bytes"]
    # DRAM bandwidth (bytes/cycle per bin) integrates back to every byte transferred
    bw = counters["DRAM bandwidth"]
    total = sum(a["bytes/cycle"] * (t1 - t0) * hz / 1e6 for (t0, a), (t1, _) in zip(bw, bw[1:]))
    assert total == pytest.approx(sum(doc["timeline"]["dram_transfers"]["bytes"]), rel=1e-4)
    assert sum(doc["timeline"]["dram_transfers"]["bytes"]) == doc["dram_read_bytes"] + doc["dram_write_bytes"]
    dram = [e for e in events if e["ph"] == "X" and e["cat"] == "dram"]
    assert len(dram) == len(doc["timeline"]["dram_transfers"]["start"])
    power = [a["W"] for _, a in counters["power"]]
    np.testing.assert_allclose(power[:-1], doc["power_series"]["watts"], rtol=1e-6)


def test_live_result_and_saved_json_give_the_same_outputs(results: dict[str, Any],
                                                          docs: dict[str, dict[str, Any]]) -> None:
    live = results["streaming"].to_dict()
    assert trace_events(live) == trace_events(docs["streaming"])
    assert node_csv_text(live) == node_csv_text(docs["streaming"])


def test_trace_of_a_test_model(tmp_path: Path) -> None:
    """A CNN from tests/models (timing only: the trace needs the schedule, not the tensors)."""
    model = Path(__file__).parent / "models" / "mobilenetv2_style.onnx"
    doc = gspsim.simulate(model, execute=False).to_dict()
    trace = trace_events(doc)
    assert trace_format_problems(trace) == []
    blocks = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "block"]
    # (the residual Adds and Clips run fused inside the Conv nodes)
    assert len(blocks) == doc["blocks"] and {e["args"]["op"] for e in blocks} >= {"Conv", "Gemm"}
    write_node_csv(doc, tmp_path / "n.csv")
    assert len((tmp_path / "n.csv").read_text().splitlines()) == len(doc["nodes"]) + 1


# --- plots ---------------------------------------------------------------------------------------------------


def assert_real_png(path: Path, min_kb: float = 10.0) -> None:
    import matplotlib.image

    assert path.stat().st_size > min_kb * 1024, f"{path} is only {path.stat().st_size} bytes"
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] >= 300 and img.shape[1] >= 500, img.shape
    rgb = (img[..., :3] * 255).astype(np.uint32).reshape(-1, 3)
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert len(colours) > 32, f"{path}: only {len(colours)} colours"
    assert img[..., :3].std() > 0.05, f"{path} is nearly blank"


def assert_real_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    drawn = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] in ("path", "use", "image")]
    assert len(drawn) > 50, f"{path}: only {len(drawn)} drawn elements"


def test_make_plots_writes_every_plot_as_png_and_svg(plot_files: list[Path]) -> None:
    assert sorted(p.name for p in plot_files) == sorted(f"{n}.{f}" for n in PLOT_NAMES for f in ("png", "svg"))
    for p in plot_files:
        (assert_real_png if p.suffix == ".png" else assert_real_svg)(p)
    assert not [p for p in plot_files[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_plot_files_are_deterministic(docs: dict[str, dict[str, Any]]) -> None:
    from gspsim.report.plots import figure_bytes, roofline_figure

    doc = docs["streaming"]
    assert figure_bytes(roofline_figure(doc), "svg") == figure_bytes(roofline_figure(doc), "svg")
    assert figure_bytes(roofline_figure(doc), "png") == figure_bytes(roofline_figure(doc), "png")


def test_plots_without_timeline_skip_the_time_plots(docs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    doc = {k: v for k, v in docs["layer"].items() if k != "timeline"}
    paths = make_plots(doc, tmp_path, formats=("png",))
    assert sorted(p.stem for p in paths) == ["nodes", "power", "roofline"]
    for p in paths:
        assert_real_png(p)


def test_time_plots_leave_out_the_idle_time_between_paced_frames(model_path: Path) -> None:
    from gspsim.report.plots import gantt_figure, timebase

    paced = json.loads(gspsim.simulate(model_path, frames=3, fps=1000.0, execute=False).to_json())
    tb = timebase(paced)
    assert tb.gapped and tb.length == pytest.approx(paced["active_cycles"])
    assert paced["active_cycles"] < 0.5 * paced["makespan_cycles"]  # 1 ms between frames, less work than that
    blocks = paced["timeline"]["blocks"]
    shown = tb(np.asarray(blocks["start"])), tb(np.asarray(blocks["end"]))
    assert shown[0].min() >= 0 and shown[1].max() <= tb.length + 1e-9
    assert np.all(shown[1] - shown[0] == pytest.approx(np.asarray(blocks["end"]) - np.asarray(blocks["start"])))
    ax = gantt_figure(paced).axes[0]
    assert ax.get_xlim()[1] == pytest.approx(tb.length * 1e6 / paced["hardware"]["clock_hz"])  # in µs
    assert "left out" in ax.get_xlabel()
    whole = timebase(json.loads(gspsim.simulate(model_path, frames=3, execute=False).to_json()))
    assert not whole.gapped and whole(np.array([5.0]))[0] == 5.0


def test_compare_bars_and_pareto(docs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    runs = [docs[k] for k in ("streaming", "layer", "frames2")]
    labels = result_labels(runs)
    assert labels == ["streaming / depth-first / 1 frame", "layer / layer / 1 frame",
                      "streaming / depth-first / 2 frames"]
    # results the document cannot tell apart (a ring-depth sweep) are labelled by the names given, e.g. file names
    assert result_labels([docs["streaming"], docs["small_budget"]], ["depth4", "depth2"]) == ["depth4", "depth2"]
    assert result_labels([docs["streaming"], docs["small_budget"]]) == ["#1", "#2"]
    assert_real_png(compare_bars(runs, tmp_path / "compare.png"), min_kb=5)
    assert_real_svg(compare_bars(runs, tmp_path / "compare.svg"))
    points = [{"latency": d["latency_s"], "energy": d["energy_j"], "label": lab} for d, lab in zip(runs, labels)]
    assert_real_png(pareto_plot(points, tmp_path / "pareto.png"), min_kb=5)
    with pytest.raises(GspsimError, match="png or .svg"):
        compare_bars(runs, tmp_path / "compare.pdf")


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_undominated_points(pairs: list[tuple[int, int]]) -> None:
    points = [{"latency": a, "energy": b} for a, b in pairs]
    front = pareto_front(points)

    def dominated(i: int) -> bool:
        return any(q["latency"] <= points[i]["latency"] and q["energy"] <= points[i]["energy"] and
                   (q["latency"], q["energy"]) != (points[i]["latency"], points[i]["energy"]) for q in points)

    assert sorted(front) == [i for i in range(len(points)) if not dominated(i)]
    assert [points[i]["latency"] for i in front] == sorted(points[i]["latency"] for i in front)


# --- CSV -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["streaming", "layer"])
def test_node_csv(docs: dict[str, dict[str, Any]], run: str, tmp_path: Path) -> None:
    doc = docs[run]
    path = tmp_path / "nodes.csv"
    write_node_csv(doc, path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == ["name", "op", "blocks", "cores", "core_ids", "start_cycle", "end_cycle", "cycles",
                             "busy_cycles", "macs", "dram_bytes", "energy_j"]
    assert [r["name"] for r in rows] == [n["name"] for n in doc["nodes"]]
    for r, n in zip(rows, doc["nodes"]):
        assert r["op"] == n["op"] and int(r["blocks"]) == n["blocks"]
        assert [int(c) for c in r["core_ids"].split(";")] == n["cores"] and int(r["cores"]) == len(n["cores"])
        assert float(r["cycles"]) == n["end_cycle"] - n["start_cycle"] >= 0
        assert float(r["start_cycle"]) == n["start_cycle"] and float(r["busy_cycles"]) == n["busy_cycles"]
        assert int(r["macs"]) == n["macs"] and int(r["dram_bytes"]) == n["dram_bytes"]
        assert float(r["energy_j"]) == n["energy_j"]
    assert sum(int(r["macs"]) for r in rows) == doc["model"]["macs"] * doc["frames"]
    assert max(float(r["end_cycle"]) for r in rows) == doc["makespan_cycles"]


# --- HTML report ---------------------------------------------------------------------------------------------


class _Census(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = defaultdict(int)
        self.imgs: list[str] = []
        self.urls: list[str] = []
        self.node_rows = 0
        self._in_nodes = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] += 1
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        for k in ("src", "href"):
            if a.get(k) and not str(a[k]).startswith("data:"):
                self.urls.append(str(a[k]))
        if tag == "table":
            self._in_nodes = "nodes" in (a.get("class") or "")
        if tag == "tr" and self._in_nodes:
            self.node_rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_nodes = False


@pytest.fixture(scope="module")
def report(docs: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(docs["streaming"], tmp_path_factory.mktemp("html") / "report.html")


def test_report_is_self_contained(report: Path, docs: dict[str, dict[str, Any]]) -> None:
    text = report.read_text()
    census = _Census()
    census.feed(text)
    assert len(census.imgs) == len(PLOT_NAMES) and all(s.startswith("data:image/png;base64,") for s in census.imgs)
    assert census.urls == [] and not re.search(r"https?://", text)
    assert census.node_rows == len(docs["streaming"]["nodes"]) + 1  # + header
    for n in docs["streaming"]["nodes"]:
        assert f">{n['name']}<" in text
    assert "passed" in text  # the --check verdict


def test_report_tables_show_units_and_node_names(report: Path, docs: dict[str, dict[str, Any]]) -> None:
    text = report.read_text()
    doc = docs["streaming"]
    shown = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    assert shown and not [c for c in shown if re.search(r"\d\.\d{7,}|\de-\d", c)]  # no raw floats
    assert re.search(r">\d+(\.\d+)? (pJ|nJ|µJ|mJ)<", text) and re.search(r">\d+(\.\d+)? (B|KiB|MiB)<", text)
    # ring buffers by the nodes that write and read them (the tensor name last)
    for b in doc["buffers"]:
        assert b["producer"] in {n["name"] for n in doc["nodes"]}
        assert f'<td class="text">{b["producer"]}</td><td class="text">{", ".join(b["consumers"])}</td>' in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=10000")


@pytest.mark.skipif(_chromium() is None, reason="Debian package 'chromium' is not installed "
                                                "(apt-get install -y chromium) so the report cannot be opened")
def test_report_renders_in_headless_chromium(report: Path, docs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    exe = _chromium()
    url = report.resolve().as_uri()
    dom = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], "the page logged to the console (script error or blocked load):\n" + "\n".join(console)
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    assert 'data-ready="1"' in body.group(1), "the page script did not run to its end"
    assert f'data-images-loaded="{len(PLOT_NAMES)}"' in body.group(1), body.group(1)
    census = _Census()
    census.feed(dom.stdout)
    assert census.node_rows == len(docs["streaming"]["nodes"]) + 1
    shot = tmp_path / "shot.png"
    subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1280,1600",
                    f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert_real_png(shot)


# --- the plot command ----------------------------------------------------------------------------------------


def _plot_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gspsim")
    add_plot_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["plot", *argv])


def _quiet_console() -> Console:
    return Console(file=io.StringIO(), no_color=True)


def test_plot_command_from_a_saved_result(saved: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "run.json"
    shutil.copy(saved["streaming"], src)
    args = _plot_args([str(src), "--format", "png", "--trace", str(tmp_path / "t.json"),
                       "--csv", str(tmp_path / "n.csv")])
    assert cmd_plot(args, _quiet_console()) == 0
    out = tmp_path / "run_plots"  # the default folder, beside the result
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in PLOT_NAMES)
    assert trace_format_problems(json.loads((tmp_path / "t.json").read_text())) == []
    assert (tmp_path / "n.csv").read_text() == node_csv_text(load_result(saved["streaming"]))


def test_plot_command_compares_several_results(docs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    paths = []
    for run in ("streaming", "layer"):  # without timelines: fewer plots to draw, same compare/pareto
        paths.append(tmp_path / f"{run}.json")
        paths[-1].write_text(json.dumps({k: v for k, v in docs[run].items() if k != "timeline"}))
    out = tmp_path / "cmp"
    assert cmd_plot(_plot_args([*map(str, paths), "--out", str(out), "--format", "png"]), _quiet_console()) == 0
    per_run = [f"{r}-{n}.png" for r in ("streaming", "layer") for n in ("power", "nodes", "roofline")]
    assert {p.name for p in out.iterdir()} == {"compare.png", "pareto.png", *per_run}
    assert_real_png(out / "compare.png", min_kb=5)


def test_plot_command_bad_files_are_one_line_errors(saved: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, "nodes": [')
    other = tmp_path / "other.json"
    other.write_text('{"traceEvents": []}')
    cases = [(tmp_path / "missing.json", "no such result file"), (broken, "not valid JSON"),
             (other, "not a gspsim result JSON"), (tmp_path, "is a folder")]
    for path, why in cases:
        with pytest.raises(GspsimError) as exc:
            cmd_plot(_plot_args([str(path)]), _quiet_console())
        msg = str(exc.value)
        assert str(path) in msg and why in msg and "\n" not in msg
        with pytest.raises(GspsimError):
            load_result(path)
    with pytest.raises(GspsimError, match="--format"):
        cmd_plot(_plot_args([str(saved["streaming"]), "--format", "gif"]), _quiet_console())
    with pytest.raises(GspsimError, match="two or more results"):
        cmd_plot(_plot_args([str(saved["streaming"]), "--only", "pareto"]), _quiet_console())
    with pytest.raises(GspsimError, match="--only"):
        cmd_plot(_plot_args([str(saved["streaming"]), "--only", "gant"]), _quiet_console())
    with pytest.raises(GspsimError, match="refusing to write over an input file"):
        cmd_plot(_plot_args([str(saved["streaming"]), "--trace", str(saved["streaming"])]), _quiet_console())


def test_several_precisions_make_one_report_trace_csv_and_plot_folder(model_path: Path, tmp_path: Path) -> None:
    """run --precision fp32,fp16 with every output: one file each covering both runs; plot reads the JSON list."""
    from helpers import run_cli

    out = {k: tmp_path / v for k, v in (("json", "r.json"), ("report", "r.html"), ("trace", "t.json"),
                                       ("csv", "n.csv"), ("plots", "figs"))}
    proc = run_cli("run", str(model_path), "--precision", "fp32,fp16", "--timing-only", "--accuracy-samples", "0",
                   *(a for k, p in out.items() for a in (f"--{k}", str(p))))
    assert proc.returncode == 0, proc.stderr
    for k in ("json", "report", "trace", "csv"):
        assert f"wrote {out[k]}" in proc.stdout, proc.stdout
    assert re.search(r"wrote 24 plot files to .*figs/: compare, pareto, fp32-gantt", proc.stdout), proc.stdout
    runs = json.loads(out["json"].read_text())
    assert [d["precision"] for d in runs] == ["fp32", "fp16"]
    n_nodes = [len(d["nodes"]) for d in runs]
    html = out["report"].read_text()
    census = _Census()
    census.feed(html)
    assert "2 runs compared" in html and "Run 1: fp32" in html and "Run 2: fp16" in html
    assert census.node_rows == sum(n + 1 for n in n_nodes)  # a node table per run
    assert len(census.imgs) == 2 + 2 * len(PLOT_NAMES)  # compare, pareto, then each run's plots
    trace = json.loads(out["trace"].read_text())
    assert trace_format_problems(trace) == []
    processes = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"}
    assert {p.split(":")[0] for p in processes} == {"fp32", "fp16"} and len(processes) == 6
    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text())))
    assert [r["run"] for r in rows] == ["fp32"] * n_nodes[0] + ["fp16"] * n_nodes[1]
    names = {p.name for p in out["plots"].iterdir()}
    assert names == {f"{stem}.{fmt}" for fmt in ("png", "svg")
                     for stem in ("compare", "pareto", *(f"{r}-{n}" for r in ("fp32", "fp16") for n in PLOT_NAMES))}
    # the list --json wrote is a result file gspsim plot reads
    figs2 = tmp_path / "figs2"
    assert cmd_plot(_plot_args([str(out["json"]), "--out", str(figs2), "--format", "png", "--only",
                                "compare,power"]), _quiet_console()) == 0
    assert {p.name for p in figs2.iterdir()} == {"compare.png", "fp32-power.png", "fp16-power.png"}
    with pytest.raises(GspsimError, match="holds 2 results"):
        load_result(out["json"])


def test_plot_help_explains_the_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _plot_args(["--help"])
    text = capsys.readouterr().out
    for word in ("RESULT.json", "--out", "--format", "--only", "--trace", "--report", "--csv", "gantt", "roofline",
                 "pareto", "ui.perfetto.dev", "examples"):
        assert word in text
