"""A decoder-only transformer of the kind run at the edge, prefill and decode steps (tests/models/decoder_*.onnx).

Exported by torch at opset 23, so the files hold ONNX's own RMSNormalization
and Attention ops (grouped-query, causal in the prefill, a KV cache in the
decode step) besides rotary embeddings and a SwiGLU MLP built from MatMul,
Sigmoid and Mul.  Both steps must agree with onnxruntime at fp32 (``--check``),
run at int8 with the accuracy report, and chain: the decode step fed the
prefill's KV cache gives the logits of the prompt's next position.
"""

from __future__ import annotations

import numpy as np
import pytest

import gspsim
from gspsim.cli import main
from gspsim.models.zoo import example_inputs

from helpers import DECODER_DECODE, DECODER_PREFILL

CACHE = ("key_0", "value_0", "key_1", "value_1")


@pytest.mark.parametrize("path", [DECODER_PREFILL, DECODER_DECODE], ids=["prefill", "decode"])
def test_step_passes_check_at_fp32(path) -> None:  # type: ignore[no-untyped-def]
    assert main(["run", str(path), "--check", "--quiet"]) == 0
    graph = gspsim.load_model(path)
    ops = {op.op_type for op in graph.ops()}
    assert {"Attention", "RMSNormalization", "MatMul", "Gather"} <= ops


@pytest.mark.parametrize("path", [DECODER_PREFILL, DECODER_DECODE], ids=["prefill", "decode"])
def test_step_runs_at_int8_with_accuracy_reported(path) -> None:  # type: ignore[no-untyped-def]
    result = gspsim.simulate(path, precision="int8", accuracy_samples=2)
    assert result.accuracy is not None
    assert result.accuracy.cosine_similarity > 0.99, result.accuracy
    fp32 = gspsim.simulate(path, accuracy_samples=0)
    assert result.latency_cycles < fp32.latency_cycles  # int8 MatMuls run on the faster int8 MAC arrays


def test_decode_continues_the_prefill_through_its_kv_cache() -> None:
    """gspsim's prefill, then its decode step fed the prefill's KV cache, give the logits torch's model gives
    for the 17-token sequence at its last position."""
    tokens = example_inputs("decoder-prefill")["tokens"]
    prefill = gspsim.simulate(DECODER_PREFILL, inputs={"tokens": tokens}, check=True, accuracy_samples=0)
    assert prefill.check.passed
    next_token = np.array([[7]], np.int64)
    feeds = {"token": next_token, **{f"past_{c}": prefill.outputs[f"present_{c}"] for c in CACHE}}
    decode = gspsim.simulate(DECODER_DECODE, inputs=feeds, check=True, accuracy_samples=0)
    assert decode.check.passed
    assert decode.outputs["present_key_0"].shape == (1, 2, 17, 16)
    np.testing.assert_array_equal(decode.outputs["present_key_0"][:, :, :16], prefill.outputs["present_key_0"])
    torch = pytest.importorskip("torch")
    from gspsim.models.zoo import build_model

    with torch.no_grad():
        whole = build_model("decoder-prefill")(torch.from_numpy(np.concatenate([tokens, next_token], axis=1)))
    np.testing.assert_allclose(decode.outputs["logits"][0, -1], whole[0][0, -1].numpy(), rtol=1e-4, atol=1e-4)
