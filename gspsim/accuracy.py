"""The accuracy report: a precision's outputs against the fp32 model's, over N seeded inputs.

Both graphs are evaluated with the same kernels the simulator runs (a blocked
run gives exactly the whole-tensor result, so these are the simulated outputs).
Figures, over all samples and outputs:

* ``max_abs_err``: the largest absolute difference;
* ``cosine_similarity``: the smallest cosine similarity of a flattened output
  with its fp32 counterpart (``cosine_similarity_mean``: their mean);
* ``top1_agreement``: for classifier outputs (shape [batch, classes], classes > 1),
  the fraction of rows whose argmax agrees with fp32; null otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from .inputs import synthetic_inputs
from .ir.evaluate import evaluate
from .ir.graph import DataflowGraph

#: seeds of accuracy samples start here (apart from the seeds of calibration and of the run's own inputs)
ACCURACY_SEED_OFFSET = 1000


@dataclass(frozen=True)
class AccuracyReport:
    reference: str
    precision: str
    samples: int
    max_abs_err: float
    cosine_similarity: float
    cosine_similarity_mean: float
    top1_agreement: Optional[float]
    per_output: Mapping[str, Mapping[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "precision": self.precision, "samples": self.samples,
            "max_abs_err": self.max_abs_err, "cosine_similarity": self.cosine_similarity,
            "cosine_similarity_mean": self.cosine_similarity_mean, "top1_agreement": self.top1_agreement,
            "per_output": {k: dict(v) for k, v in self.per_output.items()},
        }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _is_classifier(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and shape[1] > 1


def accuracy_report(
    reference: DataflowGraph, graph: DataflowGraph, precision: str, samples: int, seed: int
) -> AccuracyReport:
    """Compare ``graph`` (at its precisions) with the fp32 ``reference`` on ``samples`` seeded inputs."""
    per: dict[str, dict[str, list[float]]] = {o: {"abs": [], "cos": [], "top1": []} for o in reference.outputs}
    for i in range(samples):
        x = synthetic_inputs(reference, seed + ACCURACY_SEED_OFFSET + i)
        want = evaluate(reference, x, keep=set())
        got = evaluate(graph, x, keep=set())
        for name in reference.outputs:
            a, b = np.asarray(got[name], dtype=np.float64), np.asarray(want[name], dtype=np.float64)
            per[name]["abs"].append(float(np.max(np.abs(a - b))) if a.size else 0.0)
            per[name]["cos"].append(_cosine(a, b))
            if _is_classifier(b.shape):
                per[name]["top1"].append(float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1))))
    per_output = {
        name: {
            "max_abs_err": max(v["abs"], default=0.0),
            "cosine_similarity": min(v["cos"], default=1.0),
            "top1_agreement": float(np.mean(v["top1"])) if v["top1"] else None,
        }
        for name, v in per.items()
    }
    all_cos = [c for v in per.values() for c in v["cos"]]
    top1 = [t for v in per.values() for t in v["top1"]]
    return AccuracyReport(
        reference="fp32",
        precision=precision,
        samples=samples,
        max_abs_err=max((p["max_abs_err"] for p in per_output.values()), default=0.0),
        cosine_similarity=min(all_cos, default=1.0),
        cosine_similarity_mean=float(np.mean(all_cos)) if all_cos else 1.0,
        top1_agreement=float(np.mean(top1)) if top1 else None,
        per_output=per_output,
    )
