"""Recurrent kernels: RNN, GRU and LSTM (ONNX opset 22), one time step after another.

Every ONNX option: forward, reverse and bidirectional directions, ``layout``
0 (time first) or 1 (batch first), per-sequence lengths (a shorter sequence
keeps its state and writes zeros past its end), initial states, biases, LSTM
peepholes and ``input_forget``, GRU ``linear_before_reset``, ``clip`` and the
activation functions (with ``activation_alpha`` / ``activation_beta``).  Each
step is two matrix products (input and recurrence) and the gates, in float32
(float64 for float64 data); fp16 kernels compute in float32 and round their
outputs once.  The whole sequence at once (no ``run_rows``).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel

Activation = Callable[[np.ndarray], np.ndarray]


def _activation(name: str, alpha: Optional[float], beta: Optional[float]) -> Activation:
    fns: dict[str, Callable[[np.ndarray, float, float], np.ndarray]] = {
        "sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)),
        "tanh": lambda x, a, b: np.tanh(x),
        "relu": lambda x, a, b: np.maximum(x, 0),
        "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
        "leakyrelu": lambda x, a, b: np.where(x >= 0, x, a * x),
        "thresholdedrelu": lambda x, a, b: np.where(x > a, x, 0),
        "scaledtanh": lambda x, a, b: a * np.tanh(b * x),
        "affine": lambda x, a, b: a * x + b,
        "elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x)),
        "softsign": lambda x, a, b: x / (1 + np.abs(x)),
        "softplus": lambda x, a, b: np.logaddexp(0, x),
    }
    defaults = {"hardsigmoid": (0.2, 0.5), "leakyrelu": (0.01, 0.0), "thresholdedrelu": (1.0, 0.0),
                "scaledtanh": (1.0, 1.0), "affine": (1.0, 0.0), "elu": (1.0, 0.0)}
    key = name.lower()
    if key not in fns:
        raise NotImplementedError(f"recurrent activation {name!r}")
    a0, b0 = defaults.get(key, (0.0, 0.0))
    a, b = (a0 if alpha is None else alpha), (b0 if beta is None else beta)
    return lambda x: fns[key](x, a, b)


def _activations(attrs: Attrs, per_direction: int, directions: int, defaults: tuple[str, ...]) -> list[list[Activation]]:
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in attrs.get("activations") or []]
    names = names or list(defaults) * directions
    alphas, betas = list(attrs.get("activation_alpha") or []), list(attrs.get("activation_beta") or [])
    fns = [_activation(n, alphas[i] if i < len(alphas) else None, betas[i] if i < len(betas) else None)
           for i, n in enumerate(names)]
    if len(fns) != per_direction * directions:
        raise ValueError(f"{len(fns)} activations for {directions} direction(s) of {per_direction}")
    return [fns[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


def _opt(inputs: Inputs, i: int) -> Optional[np.ndarray]:
    return None if len(inputs) <= i or inputs[i] is None else np.asarray(inputs[i])


def _recurrent(kind: str) -> Callable[[Inputs, Attrs], tuple[np.ndarray, ...]]:
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    default_fns = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}[kind]

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = np.asarray(inputs[0])
        if x.dtype.kind != "f":
            raise NotImplementedError(f"{kind} of {x.dtype} data")
        work = np.float64 if x.dtype == np.float64 else np.float32
        layout = int(attrs.get("layout", 0))
        xs = (np.swapaxes(x, 0, 1) if layout else x).astype(work)  # (seq, batch, input)
        w, r = np.asarray(inputs[1], work), np.asarray(inputs[2], work)
        bias, lens, h0 = _opt(inputs, 3), _opt(inputs, 4), _opt(inputs, 5)
        c0, peep = (_opt(inputs, 6), _opt(inputs, 7)) if kind == "LSTM" else (None, None)
        direction = attrs.get("direction", "forward")
        direction = direction.decode() if isinstance(direction, bytes) else str(direction)
        dirs = 2 if direction == "bidirectional" else 1
        hidden = int(attrs.get("hidden_size", w.shape[1] // gates))
        seq, batch = xs.shape[0], xs.shape[1]
        lens = np.full(batch, seq, np.int64) if lens is None else lens.astype(np.int64).reshape(-1)
        clip = attrs.get("clip")
        fns = _activations(attrs, len(default_fns), dirs, default_fns)
        y = np.zeros((seq, dirs, batch, hidden), work)
        h_last = np.zeros((dirs, batch, hidden), work)
        c_last = np.zeros((dirs, batch, hidden), work)
        for d in range(dirs):
            reverse = direction == "reverse" or d == 1
            b = np.zeros(2 * gates * hidden, work) if bias is None else np.asarray(bias, work)[d]
            wb, rb = b[:gates * hidden], b[gates * hidden:]
            h, c = (np.zeros((batch, hidden), work) if s is None else
                    (np.asarray(s, work)[:, d] if layout else np.asarray(s, work)[d]).copy() for s in (h0, c0))
            p = None if peep is None else np.asarray(peep, work)[d]
            f, g, hf = (fns[d] + [None, None])[:3]
            for step in range(seq):
                active = (step < lens)[:, None]
                # a reversed sequence starts at its own last element
                idx = np.clip(lens - 1 - step, 0, seq - 1) if reverse else np.full(batch, step)
                xt = xs[idx, np.arange(batch)]
                gx = xt @ w[d].T + wb
                gh = h @ r[d].T
                if kind == "RNN":
                    pre = gx + gh + rb
                    new_h = f(np.clip(pre, -clip, clip) if clip is not None else pre)
                    new_c = c
                elif kind == "GRU":
                    zx, rx, hx = np.split(gx, 3, axis=1)
                    zh, rh, hh = np.split(gh, 3, axis=1)
                    zb, rbb, hb = np.split(rb, 3)
                    cl = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
                    z = f(cl(zx + zh + zb))
                    rr = f(cl(rx + rh + rbb))
                    if int(attrs.get("linear_before_reset", 0)):
                        cand = g(cl(hx + rr * (hh + hb)))
                    else:
                        cand = g(cl(hx + (rr * h) @ r[d][2 * hidden:].T + hb))
                    new_h, new_c = (1 - z) * cand + z * h, c
                else:  # LSTM: gates i, o, f, c
                    pre = gx + gh + rb
                    ig, og, fg, cg = np.split(pre, 4, axis=1)
                    cl = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
                    if p is not None:
                        ig, fg = ig + p[:hidden] * c, fg + p[2 * hidden:] * c
                    i_t = f(cl(ig))
                    f_t = 1 - i_t if int(attrs.get("input_forget", 0)) else f(cl(fg))
                    new_c = f_t * c + i_t * g(cl(cg))
                    if p is not None:
                        og = og + p[hidden:2 * hidden] * new_c
                    new_h = f(cl(og)) * hf(new_c)
                h = np.where(active, new_h, h)
                c = np.where(active, new_c, c)
                out = np.where(active, new_h, 0)
                if reverse:
                    y[idx[active[:, 0]], d, np.arange(batch)[active[:, 0]]] = out[active[:, 0]]
                else:
                    y[step, d] = out
            h_last[d], c_last[d] = h, c
        outs = [y, h_last, c_last][: 3 if kind == "LSTM" else 2]
        if layout:
            outs = [np.transpose(y, (2, 0, 1, 3)), *(np.swapaxes(o, 0, 1) for o in outs[1:])]
        return tuple(o.astype(x.dtype) for o in outs)

    return run


def _fp16(fn: Callable[[Inputs, Attrs], tuple[np.ndarray, ...]]) -> Callable[[Inputs, Attrs], tuple]:
    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        wide = [None if v is None else (np.asarray(v).astype(np.float32) if np.asarray(v).dtype == np.float16
                                        else np.asarray(v)) for v in inputs]
        return tuple(o.astype(np.float16) for o in fn(wide, attrs))

    return run


KERNELS: tuple[Kernel, ...] = tuple(
    kernel
    for kind in ("RNN", "GRU", "LSTM")
    for kernel in (Kernel(kind, "fp32", _recurrent(kind)), Kernel(kind, "fp16", _fp16(_recurrent(kind))))
)
