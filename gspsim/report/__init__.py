"""Results people can look at: Perfetto traces, plots, a self-contained HTML report and a per-node CSV.

Every function takes the result document (``SimResult.to_dict()``, or a
``--json`` file read with :func:`load_result`; :func:`load_results` reads the
list ``run`` writes for several precisions), or a list of them for one file
covering several runs, never the live objects, so the
same code serves ``gspsim run --trace/--report/--csv/--plots`` and
``gspsim plot RESULT.json``.  matplotlib is imported only by the plot and
report modules, when they are used.
"""

from .csv_table import node_csv_text, write_node_csv
from .document import check_document, load_result, load_results, result_labels
from .trace import trace_events, write_trace

__all__ = [
    "check_document", "load_result", "load_results", "result_labels", "trace_events", "write_trace", "node_csv_text",
    "write_node_csv", "make_plots", "compare_bars", "pareto_plot", "pareto_front", "write_report",
]


def __getattr__(name: str):  # lazy: matplotlib costs ~1 s to import, and only plots need it
    if name in ("make_plots", "compare_bars", "pareto_plot", "pareto_front"):
        from . import plots

        return getattr(plots, name)
    if name == "write_report":
        from .html import write_report

        return write_report
    raise AttributeError(f"module 'gspsim.report' has no attribute {name!r}")
