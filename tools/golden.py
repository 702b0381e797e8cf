"""Golden results: a small stored set of JSON results that the test suite compares every run against.

    python tools/golden.py --check     # what tests/test_golden.py does: compare, print the differences
    python tools/golden.py --update    # rewrite tests/golden/*.json after an intended change

When a change is meant to move the figures (a new cost rule, a scheduling
change), run ``--update`` and review ``git diff tests/golden`` in the same
commit: every figure that moved is in the diff.  The per-tile timeline is
stored as its SHA-256 (any change to where or when a tile ran changes it);
everything else is stored in full.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the checkout's gspsim, the one the test suite runs
    sys.path.insert(0, str(ROOT))
GOLDEN = ROOT / "tests" / "golden"
MODELS = ROOT / "tests" / "models"
BUNDLED = ROOT / "gspsim" / "models"

#: name -> (model file, simulate() keyword arguments)
CASES: dict[str, tuple[Path, dict[str, Any]]] = {
    "small_cnn-streaming-fp32": (BUNDLED / "small_cnn.onnx", {}),
    "small_cnn-layer-int8": (BUNDLED / "small_cnn.onnx", {"mode": "layer", "precision": "int8"}),
    "resnet_style-streaming-int8": (MODELS / "resnet_style.onnx", {"precision": "int8"}),
    "resnet_style-streaming-fp32-edge4-nofuse": (MODELS / "resnet_style.onnx", {"hw": "edge-4", "fuse": False}),
    "mobilenetv2_style-streaming-fp16-2frames": (MODELS / "mobilenetv2_style.onnx", {"precision": "fp16", "frames": 2}),
    "transformer_encoder-streaming-int8": (MODELS / "transformer_encoder.onnx", {"precision": "int8"}),
    "edge_mlp-layer-fp32": (BUNDLED / "edge_mlp.onnx", {"mode": "layer"}),
}
#: relative tolerance on floats (sums of float energies may round differently on another CPU's numpy)
REL = 1e-9


def document(name: str) -> dict[str, Any]:
    """The golden form of one case's result: its JSON without the version, the timeline as a digest."""
    import gspsim

    path, kwargs = CASES[name]
    kwargs = dict(kwargs)
    hw = kwargs.pop("hw", "blaize-1600")
    result = gspsim.simulate(path, hw, execute=False, accuracy_samples=0, **kwargs)
    doc = result.to_dict()
    doc.pop("gspsim_version", None)
    doc["model"] = {**doc["model"], "path": path.relative_to(ROOT).as_posix()}
    for stream in doc.get("streams", []):
        stream["path"] = path.relative_to(ROOT).as_posix()
    timeline = doc.pop("timeline", None)
    doc["timeline_sha256"] = hashlib.sha256(json.dumps(timeline, sort_keys=True).encode()).hexdigest()
    return doc


def differences(want: Any, got: Any, where: str = "") -> Iterator[str]:
    """Every place where ``got`` departs from ``want`` (floats within REL)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if key not in got or key not in want:
                yield f"{where}/{key}: {'missing' if key not in got else 'new'}"
            else:
                yield from differences(want[key], got[key], f"{where}/{key}")
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            yield f"{where}: length {len(want)} -> {len(got)}"
        else:
            for i, (a, b) in enumerate(zip(want, got)):
                yield from differences(a, b, f"{where}/{i}")
    elif isinstance(want, float) or isinstance(got, float):
        if not (isinstance(want, (int, float)) and isinstance(got, (int, float))
                and math.isclose(want, got, rel_tol=REL, abs_tol=1e-300)):
            yield f"{where}: {want!r} -> {got!r}"
    elif want != got:
        yield f"{where}: {want!r} -> {got!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the stored results")
    parser.add_argument("--check", action="store_true", help="compare and print differences (the default)")
    args = parser.parse_args(argv)
    failed = 0
    for name in CASES:
        target = GOLDEN / f"{name}.json"
        got = document(name)
        if args.update:
            target.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
            print(f"wrote {target.relative_to(ROOT)}")
            continue
        diffs = list(differences(json.loads(target.read_text()), got)) if target.exists() else ["no stored result"]
        failed += bool(diffs)
        print(f"{name}: {'ok' if not diffs else f'{len(diffs)} difference(s)'}")
        for d in diffs[:20]:
            print(f"  {d}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
