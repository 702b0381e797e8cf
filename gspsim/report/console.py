"""The run command's tables on the terminal: the summary, the precision and pruning comparisons.

Printers only: they read a :class:`gspsim.SimResult` (or several) and print rich tables; the
command-line parsing and the simulation stay in :mod:`gspsim.cli`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from ..terminal import markup_safe, print_table
from .units import fmt_bytes


def print_summary(result, console: Console, top_nodes: int = 0) -> None:
    names = ", ".join(Path(stream["path"]).name for stream in result.streams)  # one stream per model
    t = Table(title=markup_safe(f"gspsim {result.gspsim_version}: {names} on {result.hardware['name']}"),
              show_header=False, title_justify="left")
    t.add_column("metric", style="bold")
    t.add_column("value")
    kinds = result.dram_bytes_by_kind
    rows = [
        ("mode / scheduler / precision", markup_safe(f"{result.mode} / {result.scheduler} / {result.precision}")
                                          + ("" if result.fuse else " (fusion off)")),
        ("nodes / blocks / MACs", f"{result.model['nodes']} / {result.blocks} / {result.model['macs']:,}"),
        *time_rows(result),
        ("energy / avg power", f"{result.energy_j * 1e3:.4f} mJ / {result.avg_power_w:.3f} W"),
        ("DRAM read", f"{fmt_bytes(result.dram_read_bytes)} (weights {fmt_bytes(kinds['read']['weights'])}, "
                      f"inputs {fmt_bytes(kinds['read']['inputs'])}, "
                      f"intermediate {fmt_bytes(kinds['read']['intermediate'])}, "
                      f"spill {fmt_bytes(kinds['read']['spill'])})"),
        ("DRAM write", f"{fmt_bytes(result.dram_write_bytes)} (outputs {fmt_bytes(kinds['write']['outputs'])}, "
                       f"intermediate {fmt_bytes(kinds['write']['intermediate'])}, "
                       f"spill {fmt_bytes(kinds['write']['spill'])})"),
        ("on-chip memory", memory_line(result.memory)),
        ("on-chip traffic", fmt_bytes(result.onchip_bytes)),
        ("core utilization", f"mean {sum(result.core_active_utilization) / len(result.core_active_utilization):.1%}, "
                             f"max {max(result.core_active_utilization):.1%} of the active time"),
    ]
    if result.accuracy is not None:
        a = result.accuracy
        top1 = f", top-1 agreement {a.top1_agreement:.1%}" if a.top1_agreement is not None else ""
        rows.append(("accuracy vs fp32", f"cosine {a.cosine_similarity:.5f}, max_abs_err {a.max_abs_err:.3g}{top1} "
                                         f"({a.samples} seeded inputs)"))
    if result.check is not None:
        from ..check import non_finite_note

        c = result.check
        verdict = "[green]passed[/green]" if c.passed else "[red]FAILED[/red]"
        note = non_finite_note(c)
        rows.append(("check vs onnxruntime", f"{verdict}: max_rel_err {c.max_rel_err:.2e}, max_abs_err {c.max_abs_err:.2e} "
                                             f"(tolerance {c.tolerance:g})" + (f"; {markup_safe(note)}" if note else "")))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if len(result.streams) > 1 or any(s["fps_in"] for s in result.streams):
        st = Table(title="streams", title_justify="left")
        for col in ("model", "frames", "fps in", "latency p50 ms", "p95 ms", "max ms", "deadline misses",
                    "fps out"):
            st.add_column(col, justify="left" if col == "model" else "right")
        for s in result.streams:
            st.add_row(markup_safe(Path(s["path"]).name), str(s["frames"]), f"{s['fps_in']:g}" if s["fps_in"] else "-",
                       f"{s['p50_latency_s'] * 1e3:.4f}", f"{s['p95_latency_s'] * 1e3:.4f}",
                       f"{s['max_latency_s'] * 1e3:.4f}", str(s["deadline_misses"]), f"{s['steady_state_fps']:,.1f}")
        console.print(st)
        console.print(f"shared resources: DRAM busy {result.dram_active_utilization:.1%}, "
                      f"interconnect busy {result.interconnect_active_utilization:.1%} of the active time")
    if top_nodes:
        busiest = sorted(result.nodes, key=lambda n: n.busy_cycles, reverse=True)[:top_nodes]
        print_table(console, f"{top_nodes} busiest nodes (by busy core-cycles, all frames)",
                    ("node", "op", "blocks", "cores", "busy cycles", "first start", "last end", "MACs", "DRAM",
                     "energy µJ"),
                    [(n.name, n.op, str(n.blocks), str(len(n.cores)), f"{n.busy_cycles:,.0f}", f"{n.start_cycle:,.0f}",
                      f"{n.end_cycle:,.0f}", f"{n.macs:,}", fmt_bytes(n.dram_bytes), f"{n.energy_j * 1e6:.2f}")
                     for n in busiest],
                    left=("node", "op"))


def time_rows(result) -> list[tuple[str, str]]:
    """Latency, makespan, throughput and efficiency rows of the summary (defined in docs/json-result.md)."""
    frames = result.frames
    rows = [("latency", f"{result.latency_cycles:,.0f} cycles = {result.latency_s * 1e3:.4f} ms"
                        + (" (first frame, arrival to done)" if frames > 1 else ""))]
    if frames > 1:
        rows.append(("frame latency p50 / p95 / max", f"{result.p50_latency_s * 1e3:.4f} / "
                     f"{result.p95_latency_s * 1e3:.4f} / {result.max_latency_s * 1e3:.4f} ms over {frames} frames"))
        rows.append(("makespan", f"{result.makespan_cycles:,.0f} cycles = {result.makespan_s * 1e3:.4f} ms "
                                 f"(first arrival to last frame done)"))
    if result.active_cycles < result.makespan_cycles:
        rows.append(("active time", f"{result.active_s * 1e3:.4f} ms with a frame in flight"))
    fps_in = sum(s["fps_in"] or 0.0 for s in result.streams)
    if frames == 1:
        why = "1 / latency; one frame"
    elif all(s["fps_in"] for s in result.streams) and result.steady_state_fps >= fps_in * (1 - 1e-9):
        why = "steady state: the input rate"
    else:
        why = "steady state: frames / active time"
    if result.active_cycles <= 0:  # nothing to compute (views of the inputs only): no rate to state
        rows.append(("throughput", "n/a (0 cycles: the model only relabels its inputs; 0 in the JSON)"))
    else:
        rows.append(("throughput", f"{result.steady_state_fps:,.1f} fps ({why})"))
    rows.append(("lower bound / efficiency", f"{result.active_lower_bound_cycles:,.0f} cycles / "
                                             f"{result.active_efficiency:.2f} of the active time"))
    return rows


def memory_line(memory: Mapping[str, Any]) -> str:
    """One line on the compiler's memory plan: stacks, cuts, and the budget that would stream with no cut."""
    plans = memory.get("models", [memory])
    parts = []
    for i, m in enumerate(plans):
        prefix = f"m{i}: " if len(plans) > 1 else ""
        parts.append(f"{prefix}{len(m['stacks'])} stack(s), {len(m['cuts'])} cut(s); line buffers "
                     f"{fmt_bytes(m['buffer_budget_bytes'])} budget, {fmt_bytes(m['min_buffer_budget_bytes'])} "
                     f"streams with no cut")
    return "; ".join(parts)


def print_precision_table(results, console: Console) -> None:
    t = Table(title="precisions side by side", title_justify="left")
    for col in ("precision", "latency ms", "energy mJ", "DRAM MiB", "cosine vs fp32", "max abs err", "top-1 agreement"):
        t.add_column(col, justify="left" if col == "precision" else "right")
    for r in results:
        a = r.accuracy
        t.add_row(markup_safe(r.precision), f"{r.latency_s * 1e3:.4f}", f"{r.energy_j * 1e3:.4f}",
                  f"{(r.dram_read_bytes + r.dram_write_bytes) / 2**20:.3f}",
                  f"{a.cosine_similarity:.5f}" if a else "1 (reference)" if r.precision == "fp32" else "-",
                  f"{a.max_abs_err:.3g}" if a else "0" if r.precision == "fp32" else "-",
                  (f"{a.top1_agreement:.1%}" if a and a.top1_agreement is not None else "-"))
    console.print(t)


def print_prune_table(results, specs: Sequence[str], graph, options, console: Console) -> None:
    """Accuracy against the unpruned fp32 model beside the cost on the chip, one row per (spec, precision)."""
    from .. import api
    from ..passes.prune import nonzero_params, weight_sparsity

    t = Table(title="compression: accuracy vs the unpruned fp32 model, and cost", title_justify="left")
    for col in ("prune", "precision", "weight sparsity", "nonzero params", "latency ms", "energy mJ", "DRAM MiB",
                "cosine", "max abs err", "top-1"):
        t.add_column(col, justify="left" if col in ("prune", "precision") else "right")
    # of the pruned float model: quantization adds scales and zero points that are no model parameters
    pruned: dict[str, tuple[float, int]] = {}
    for r, spec in zip(results, specs):
        if spec not in pruned:
            float_model = api.prepare_pruning(graph, replace(options, prune=spec))
            pruned[spec] = (weight_sparsity(float_model), nonzero_params(float_model))
        a = r.accuracy
        t.add_row(markup_safe(spec), markup_safe(r.precision), f"{pruned[spec][0]:.1%}", f"{pruned[spec][1]:,}",
                  f"{r.latency_s * 1e3:.4f}", f"{r.energy_j * 1e3:.4f}",
                  f"{(r.dram_read_bytes + r.dram_write_bytes) / 2**20:.3f}",
                  f"{a.cosine_similarity:.5f}" if a else "-", f"{a.max_abs_err:.3g}" if a else "-",
                  f"{a.top1_agreement:.1%}" if a and a.top1_agreement is not None else "-")
    console.print(t)
