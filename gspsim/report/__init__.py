"""Results people can look at: Perfetto traces, plots, a self-contained HTML report and a per-node CSV.

Every function takes the result document (``SimResult.to_dict()``, or a
``--json`` file read with :func:`load_result`; :func:`load_results` reads the
list ``run`` writes for several precisions), or a list of them for one file
covering several runs, never the live objects, so the
same code serves ``gspsim run --trace/--report/--csv/--plots`` and
``gspsim plot RESULT.json``.  matplotlib is imported only by the plot and
report modules, when they are used.
"""

__all__ = [
    "check_document", "load_result", "load_results", "result_labels", "trace_events", "write_trace", "node_csv_text",
    "write_node_csv", "make_plots", "compare_bars", "pareto_plot", "pareto_front", "write_report",
]


#: public name -> its module, imported on first use: the command line imports this package's CLI module
#: for every command, and the result modules below pull in onnx and the kernels (matplotlib ~1 s more)
_LAZY = {
    "node_csv_text": ".csv_table", "write_node_csv": ".csv_table", "check_document": ".document",
    "load_result": ".document", "load_results": ".document", "result_labels": ".document",
    "trace_events": ".trace", "write_trace": ".trace", "make_plots": ".plots", "compare_bars": ".plots",
    "pareto_plot": ".plots", "pareto_front": ".plots", "write_report": ".html",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
