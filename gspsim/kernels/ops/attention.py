"""Attention kernels: Attention (opset 23-25), LinearAttention and RotaryEmbedding (opset 23).

Attention computes ``softmax(Q·Kᵀ · scale + bias) · V`` per head, with ONNX's
options: 3-D inputs split into ``q_num_heads`` / ``kv_num_heads`` heads,
grouped-query attention (each KV head serving ``q_num_heads / kv_num_heads``
query heads), a KV cache (``past_key`` / ``past_value`` concatenated before
the new keys; ``present_key`` / ``present_value`` returned), a boolean or
additive ``attn_mask`` (padded with "masked" up to the key length),
bottom-right aligned causal masking (``is_causal``: with a cache, query i sees
keys up to the cache length + i, as onnx's reference and test data have it;
onnxruntime 1.32 aligns it top-left at opset 23), the per-batch valid key
counts of ``nonpad_kv_seqlen`` (opset 24), sliding windows
(``left_window_size`` / ``right_window_size``, opset 25), ``softcap``,
``softmax_precision`` and the four ``qk_matmul_output_mode`` outputs.  A query
row with no attendable key gives zeros.  Formulas and their order follow
ONNX's reference implementation; both scale factors are ``sqrt(scale)``
applied to Q and to K, as ONNX defines.

Numerics: float16 inputs compute in float32 (the fp16 kernel) and round once
at the outputs; float32 in float32; float64 in float64.

LinearAttention is the recurrent form of linear attention (state-space and
linear-transformer models): per step, a (d_k x d_v) state per KV head is decayed
(``gated``: ``exp(decay)``), corrected (``delta``: the value minus what the
state retrieves for the key, times ``beta``), written (key ⊗ value) and read by
the query; ``past_state`` in, ``present_state`` out, in float32 like onnx's
reference.

RotaryEmbedding rotates the first ``rotary_embedding_dim`` features of every
head (all of them by default) by the cached cos / sin of each position (given
by ``position_ids``, or the caches already per position), halves or
interleaved pairs; 3-D inputs split into ``num_heads`` heads.  Both ops
compute the whole tensor (no ``run_rows``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import helper

from ...optable.kernel import Attrs, Inputs, Kernel


def _opt(inputs: Inputs, i: int) -> Optional[np.ndarray]:
    return None if len(inputs) <= i or inputs[i] is None else np.asarray(inputs[i])


def _work(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64 if x.dtype == np.float64 else np.float32)


def _heads(x: np.ndarray, heads: Optional[int], what: str) -> np.ndarray:
    """(B, S, H*D) -> (B, H, S, D); 4-D inputs are already (B, H, S, D)."""
    if x.ndim == 4:
        return x
    if x.ndim != 3 or not heads or x.shape[2] % heads:
        raise ValueError(f"Attention {what}: a 3-D input needs a head count dividing its hidden size "
                         f"(shape {list(x.shape)}, heads {heads})")
    b, s, hidden = x.shape
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=-1, keepdims=True)
    top = np.where(np.isneginf(top), 0, top)
    e = np.exp(x - top)
    total = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(total == 0, 1, total)


def _offset_mask(q_len: int, kv_len: int, offset: np.ndarray, allowed_fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(q, kv) or (B, 1, q, kv) additive mask from ``allowed_fn(i + offset, j)``."""
    i = np.arange(q_len).reshape(q_len, 1)
    j = np.arange(kv_len).reshape(1, kv_len)
    if np.ndim(offset):
        allowed = allowed_fn(i + np.reshape(offset, (-1, 1, 1)), j)
        return np.where(allowed, 0.0, -np.inf).reshape(-1, 1, q_len, kv_len)
    return np.where(allowed_fn(i + int(offset), j), 0.0, -np.inf)


def _bias(q_len: int, kv_len: int, mask: Optional[np.ndarray], attrs: Attrs, past: Optional[np.ndarray],
          nonpad: Optional[np.ndarray], work: np.dtype) -> np.ndarray:
    """The additive bias of the attention scores: mask, causal frontier, window and padding, as ONNX orders them."""
    if mask is not None and mask.shape[-1] < kv_len:
        fill = False if mask.dtype == np.bool_ else -np.inf
        mask = np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, kv_len - mask.shape[-1])], constant_values=fill)
    if mask is not None:
        mask = np.where(mask, 0.0, -np.inf) if mask.dtype == np.bool_ else mask.astype(work)
    if past is None and nonpad is not None:
        offset: np.ndarray = np.reshape(nonpad, -1) - q_len
    else:
        offset = np.asarray(past.shape[2] if past is not None else 0)
    left, right = int(attrs.get("left_window_size", -1)), int(attrs.get("right_window_size", -1))
    bias = np.zeros((q_len, kv_len), work) if mask is None else mask
    if int(attrs.get("is_causal", 0)):
        bias = bias + _offset_mask(q_len, kv_len, offset, lambda p, j: j <= p)
    if left >= 0 or right >= 0:
        def window(p: np.ndarray, j: np.ndarray) -> np.ndarray:
            diff = p - j
            ok = np.ones(np.broadcast_shapes(diff.shape), bool)
            if left >= 0:
                ok &= diff <= left
            if right >= 0:
                ok &= -diff <= right
            return ok

        bias = bias + _offset_mask(q_len, kv_len, offset, window)
    if nonpad is not None:
        valid = np.arange(kv_len) < np.reshape(nonpad, (-1, 1))
        bias = bias + np.where(valid, 0.0, -np.inf).reshape(-1, 1, 1, kv_len)
    return np.asarray(bias, work)


def _attention(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    q_in, k_in, v_in = (np.asarray(inputs[i]) for i in range(3))
    if q_in.dtype.kind != "f":
        raise NotImplementedError(f"Attention of {q_in.dtype} data")
    mask, past_k, past_v, nonpad = (_opt(inputs, i) for i in (3, 4, 5, 6))
    if (past_k is None) != (past_v is None):
        raise ValueError("Attention: past_key and past_value come together")
    q_heads, kv_heads = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
    q, k, v = _heads(_work(q_in), q_heads, "Q"), _heads(_work(k_in), kv_heads, "K"), _heads(_work(v_in), kv_heads, "V")
    work = q.dtype
    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else float(scale)
    root = work.type(np.sqrt(scale))
    if past_k is not None:
        k = np.concatenate((_work(past_k), k), axis=2)
        v = np.concatenate((_work(past_v), v), axis=2)
    present_k, present_v = k, v
    bias = _bias(q.shape[2], k.shape[2], mask, attrs, past_k, nonpad, work)
    if q.shape[1] != k.shape[1]:
        if q.shape[1] % k.shape[1]:
            raise ValueError(f"Attention: {q.shape[1]} query heads do not share {k.shape[1]} KV heads evenly")
        k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
        v = np.repeat(v, q.shape[1] // v.shape[1], axis=1)
    scores = np.matmul(q * root, np.swapaxes(k * root, -1, -2))
    softcap = attrs.get("softcap")
    if softcap is not None and float(softcap) > 0:
        scores = np.tanh(scores / work.type(softcap)) * work.type(softcap)
    mode = int(attrs.get("qk_matmul_output_mode", 0))
    with_bias = scores + bias
    qk_out = with_bias if mode == 2 else scores
    probs_in = with_bias
    precision = attrs.get("softmax_precision")
    if precision is not None:
        probs_in = probs_in.astype(helper.tensor_dtype_to_np_dtype(int(precision))).astype(work)
    probs = _softmax_rows(probs_in)
    probs = np.where(np.isneginf(np.max(bias, axis=-1, keepdims=True)), 0.0, probs).astype(work)
    if mode == 3:
        qk_out = probs
    y = np.matmul(probs, v)
    if q_in.ndim == 3:
        y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    out_type = q_in.dtype
    return tuple(a.astype(out_type) for a in (y, present_k, present_v, np.broadcast_to(qk_out, scores.shape)))


def _rotary_embedding(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x_in, cos, sin = (np.asarray(inputs[i]) for i in range(3))
    if x_in.dtype.kind != "f":
        raise NotImplementedError(f"RotaryEmbedding of {x_in.dtype} data")
    positions = _opt(inputs, 3)
    x = _work(x_in)
    if x.ndim == 4:
        x = x.transpose(0, 2, 1, 3)  # (B, S, H, D)
    elif x.ndim == 3:
        heads = int(attrs.get("num_heads", 0))
        if not heads or x.shape[2] % heads:
            raise ValueError(f"RotaryEmbedding: a 3-D input needs num_heads dividing {x.shape[2]}")
        x = x.reshape(x.shape[0], x.shape[1], heads, x.shape[2] // heads)
    else:
        raise ValueError(f"RotaryEmbedding takes a 3-D or 4-D input, got rank {x.ndim}")
    dim = int(attrs.get("rotary_embedding_dim", 0)) or x.shape[3]
    if positions is not None:
        cos, sin = cos[positions], sin[positions]
    cos, sin = _work(cos)[:, :, None, :], _work(sin)[:, :, None, :]
    if cos.shape[-1] != dim // 2:
        raise ValueError(f"RotaryEmbedding: the caches hold {cos.shape[-1]} values per position, expected {dim // 2}")
    rot, keep = x[..., :dim], x[..., dim:]
    if int(attrs.get("interleaved", 0)):
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
    else:
        x1, x2 = rot[..., : dim // 2], rot[..., dim // 2:]
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if int(attrs.get("interleaved", 0)):
        rot = np.stack((real, imag), axis=-1).reshape(rot.shape)
    else:
        rot = np.concatenate((real, imag), axis=-1)
    y = np.concatenate((rot, keep), axis=-1)
    y = y.reshape(x_in.shape) if x_in.ndim == 3 else y.transpose(0, 2, 1, 3)
    return (y.astype(x_in.dtype),)


def _linear_attention(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    q_in, k_in, v_in = (np.asarray(inputs[i]) for i in range(3))
    past, decay, beta = _opt(inputs, 3), _opt(inputs, 4), _opt(inputs, 5)
    rule = attrs.get("update_rule", "gated_delta")
    rule = rule.decode() if isinstance(rule, bytes) else str(rule)
    q_heads, kv_heads = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
    if rule not in ("linear", "gated", "delta", "gated_delta") or not q_heads or not kv_heads or q_heads % kv_heads:
        raise ValueError(f"LinearAttention: update_rule {rule!r}, q_num_heads {q_heads}, kv_num_heads {kv_heads}")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (decay is not None) or delta != (beta is not None):
        raise ValueError(f"LinearAttention: update_rule {rule!r} needs decay / beta exactly when it uses them")
    f = np.float32
    q, k, v = (_heads(x.astype(f), h, n) for x, h, n in ((q_in, q_heads, "query"), (k_in, kv_heads, "key"),
                                                        (v_in, kv_heads, "value")))
    b, t, d_k, d_v = q_in.shape[0], q_in.shape[1], q.shape[3], v.shape[3]
    if decay is not None:
        decay = (decay.reshape(b, t, kv_heads, 1).transpose(0, 2, 1, 3) if decay.shape[-1] == kv_heads
                 else _heads(decay, kv_heads, "decay")).astype(f)
    if beta is not None:
        beta = beta.reshape(b, t, beta.shape[-1], 1).transpose(0, 2, 1, 3).astype(f)
    state = np.zeros((b, kv_heads, d_k, d_v), f) if past is None else past.astype(f).copy()
    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(d_k) if not scale else float(scale)
    out = np.zeros((b, q_heads, t, d_v), f)
    for i in range(t):
        k_t, v_t = k[:, :, i], v[:, :, i]
        if gating:
            state = state * np.exp(decay[:, :, i])[..., None]
        if delta:
            v_t = beta[:, :, i] * (v_t - np.einsum("bhdm,bhd->bhm", state, k_t))
        state = state + k_t[..., :, None] * v_t[..., None, :]
        read = np.repeat(state, q_heads // kv_heads, axis=1) if q_heads != kv_heads else state
        out[:, :, i] = f(scale) * np.einsum("bhd,bhdm->bhm", q[:, :, i], read)
    y = out.transpose(0, 2, 1, 3).reshape(b, t, q_heads * d_v).astype(q_in.dtype)
    return y, state.astype(q_in.dtype if past is None else past.dtype)


def _at(precision: str, fn):  # type: ignore[no-untyped-def]
    """fp16 kernels compute in float32 and round their float outputs to float16 once."""
    if precision != "fp16":
        return fn

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        widened = [None if x is None else (np.asarray(x).astype(np.float32) if np.asarray(x).dtype == np.float16
                                            else np.asarray(x)) for x in inputs]
        return tuple(o.astype(np.float16) if o.dtype == np.float32 else o for o in fn(widened, attrs))

    return run


KERNELS: tuple[Kernel, ...] = tuple(
    Kernel(op, precision, _at(precision, fn))
    for op, fn in (("Attention", _attention), ("LinearAttention", _linear_attention),
                   ("RotaryEmbedding", _rotary_embedding))
    for precision in ("fp32", "fp16")
)
