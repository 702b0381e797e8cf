"""Plain-torch model definitions used to produce gspsim's ONNX test models and benchmarks.

This module imports torch at import time, so it needs the ``export`` extra;
nothing in gspsim imports it except :func:`gspsim.models.zoo.build_model`,
which does so only when called.  torchvision is deliberately not used: the
models are written out so that the exported graphs contain exactly the ops
listed in each class docstring.

Weights are deterministic functions of a seed (:func:`init_weights`), and
BatchNorm layers get running statistics measured on seeded random batches and
then perturbed (:func:`calibrate_batchnorm`), so a simulator that folds
BatchNorm into convolutions is tested against non-trivial statistics.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EdgeMLP",
    "SmallCNN",
    "BasicBlock",
    "ResNetStyle",
    "InvertedResidual",
    "MobileNetV2Style",
    "SelfAttention",
    "EncoderLayer",
    "TinyTransformerEncoder",
    "DecoderBlock",
    "TinyDecoder",
    "DecoderPrefill",
    "DecoderStep",
    "DarknetConv",
    "DarknetResidual",
    "YOLOv3",
    "MOBILENETV2_SETTINGS",
    "init_weights",
    "calibrate_batchnorm",
    "make_divisible",
]


class EdgeMLP(nn.Module):
    """10-64-32-1 regression MLP (Gemm, Relu); ``dropout > 0`` adds a Dropout after the first ReLU."""

    def __init__(self, in_features: int = 10, hidden: Sequence[int] = (64, 32), out_features: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_features
        for i, width in enumerate(hidden):
            layers += [nn.Linear(prev, width), nn.ReLU()]
            if i == 0 and dropout > 0.0:
                layers.append(nn.Dropout(dropout))
            prev = width
        layers.append(nn.Linear(prev, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """3x32x32 image classifier: 3x (Conv, BatchNorm, Relu), two MaxPools, global average pool, Linear."""

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 32), num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(prev, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-bn, residual Add, optional 1x1 strided conv-bn downsample."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetStyle(nn.Module):
    """ResNet with BasicBlocks: 7x7/2 stem conv-bn-relu, 3x3/2 maxpool, 4 stages, global avg pool, fc.

    ``width=64, blocks_per_stage=(2, 2, 2, 2), num_classes=1000`` is ResNet-18.
    """

    def __init__(self, width: int = 64, blocks_per_stage: Sequence[int] = (2, 2, 2, 2), num_classes: int = 1000,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        prev = width
        for i, n_blocks in enumerate(blocks_per_stage):
            out = width * (2 ** i)
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                blocks.append(BasicBlock(prev, out, stride=2 if (i > 0 and j == 0) else 1))
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet channel rounding: nearest multiple of ``divisor``, never below 90% of ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


#: MobileNetV2's inverted-residual settings: (expansion t, channels c, repeats n, first stride s).
MOBILENETV2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """1x1 expand conv-bn-relu6, 3x3 depthwise conv-bn-relu6, 1x1 linear projection conv-bn, residual Add."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2Style(nn.Module):
    """MobileNetV2: 3x3/2 stem, inverted residuals, 1x1 conv to ``last_channel``, mean over H and W, Linear.

    The defaults are MobileNetV2 1.0 for 224x224 ImageNet.  The global pool is
    written as ``mean((2, 3))`` so that exporters emit ReduceMean (whose axes
    moved from an attribute to an input in opset 18) rather than GlobalAveragePool.
    """

    def __init__(self, width_mult: float = 1.0,
                 settings: Sequence[tuple[int, int, int, int]] = MOBILENETV2_SETTINGS,
                 last_channel: int = 1280, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        stem = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(last_channel * max(1.0, width_mult))
        features: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False),
                          nn.BatchNorm2d(stem), nn.ReLU6())
        ]
        prev = stem
        for t, c, n, s in settings:
            out = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(prev, out, s if i == 0 else 1, t))
                prev = out
        features.append(nn.Sequential(nn.Conv2d(prev, self.last_channel, 1, bias=False),
                                      nn.BatchNorm2d(self.last_channel), nn.ReLU6()))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


class SelfAttention(nn.Module):
    """Multi-head self-attention from plain matmuls: q/k/v Linear, QK^T scaled, Softmax, times V, out Linear."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.reshape(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        ctx = torch.matmul(attn, v).transpose(1, 2).reshape(b, s, d)
        return self.out(ctx)


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(LayerNorm(x)), then x + Linear(GELU(Linear(LayerNorm(x))))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyTransformerEncoder(nn.Module):
    """Transformer encoder on float features [batch, seq, in_features]: Linear embedding plus a learned
    position table, pre-norm layers, final LayerNorm, mean over the sequence, Linear classifier head."""

    def __init__(self, seq_len: int = 32, in_features: int = 64, dim: int = 64, heads: int = 2, layers: int = 2,
                 mlp_dim: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, dim)
        self.pos = nn.Parameter(torch.zeros(1, seq_len, dim))
        self.layers = nn.Sequential(*[EncoderLayer(dim, heads, mlp_dim) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.embed(x) + self.pos)
        return self.head(self.norm(x).mean(dim=1))


def rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: each head's two halves rotated by the position's angles."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class DecoderBlock(nn.Module):
    """Pre-norm decoder layer: RMSNorm, grouped-query causal attention with rotary embeddings and a
    KV cache, RMSNorm, SwiGLU MLP (down(silu(gate(x)) * up(x))); no biases, as in Llama-style models."""

    def __init__(self, dim: int, heads: int, kv_heads: int, mlp_dim: int) -> None:
        super().__init__()
        if dim % heads or heads % kv_heads:
            raise ValueError(f"dim {dim}, heads {heads}, kv_heads {kv_heads} do not divide")
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.attn_norm, self.mlp_norm = nn.RMSNorm(dim, eps=1e-6), nn.RMSNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.gate = nn.Linear(dim, mlp_dim, bias=False)
        self.up = nn.Linear(dim, mlp_dim, bias=False)
        self.down = nn.Linear(mlp_dim, dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past_key: Optional[torch.Tensor],
                past_value: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate_half(q, cos, sin), rotate_half(k, cos, sin)
        if past_key is not None and past_value is not None:
            k, v = torch.cat((past_key, k), dim=2), torch.cat((past_value, v), dim=2)
        repeat = self.heads // self.kv_heads
        attn = F.scaled_dot_product_attention(q, k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1),
                                              is_causal=past_key is None)
        x = x + self.out(attn.transpose(1, 2).reshape(b, t, -1))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h)), k, v


class TinyDecoder(nn.Module):
    """Decoder-only language model of the kind run at the edge: token embedding, ``layers`` DecoderBlocks,
    final RMSNorm, vocabulary head.  ``forward(tokens, past)`` takes the KV cache of earlier tokens
    (None for a prefill) and returns the logits and the cache with the new tokens (present)."""

    def __init__(self, vocab: int = 256, dim: int = 64, heads: int = 4, kv_heads: int = 2, layers: int = 2,
                 mlp_dim: int = 128, max_len: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(DecoderBlock(dim, heads, kv_heads, mlp_dim) for _ in range(layers))
        self.norm = nn.RMSNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, vocab, bias=False)
        head_dim = dim // heads
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", torch.cat((angles.cos(), angles.cos()), dim=-1), persistent=False)
        self.register_buffer("sin", torch.cat((angles.sin(), angles.sin()), dim=-1), persistent=False)

    def forward(self, tokens: torch.Tensor, past: Optional[Sequence[torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        start = 0 if past is None else past[0].shape[2]
        cos, sin = self.cos[start:start + tokens.shape[1]], self.sin[start:start + tokens.shape[1]]
        x = self.embed(tokens)
        present: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            past_key, past_value = (None, None) if past is None else (past[2 * i], past[2 * i + 1])
            x, key, value = block(x, cos, sin, past_key, past_value)
            present += [key, value]
        return (self.head(self.norm(x)), *present)


class DecoderPrefill(nn.Module):
    """The prefill step of a TinyDecoder: a prompt of tokens in, logits and the KV cache out."""

    def __init__(self, **config: int) -> None:
        super().__init__()
        self.decoder = TinyDecoder(**config)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.decoder(tokens, None)


class DecoderStep(nn.Module):
    """One decode step of a TinyDecoder: one token and the KV cache of the earlier ones (key and value of
    each layer) in, logits and the cache one token longer out."""

    def __init__(self, **config: int) -> None:
        super().__init__()
        self.decoder = TinyDecoder(**config)

    def forward(self, token: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.decoder(token, past)


class DarknetConv(nn.Module):
    """Darknet's convolution: conv (no bias), BatchNorm, LeakyReLU(0.1); stride 2 downsamples, padding keeps size."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DarknetResidual(nn.Module):
    """Darknet-53's residual block: 1x1 conv to half the channels, 3x3 conv back, residual Add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = DarknetConv(channels, channels // 2, 1)
        self.expand = DarknetConv(channels // 2, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.expand(self.reduce(x))


#: Darknet-53's stages after the stem: (output channels, residual blocks), each opened by a 3x3/2 conv.
DARKNET53_STAGES: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


class YOLOv3(nn.Module):
    """YOLOv3 (Redmon and Farhadi, 2018): Darknet-53 backbone and three detection heads, 75 convolutions.

    At 416x416 with 80 classes: 61.9 M parameters, 32.9 GMACs, as darknet's
    ``yolov3.cfg``.  The heads see strides 32, 16 and 8: each runs five
    alternating 1x1/3x3 convs, a 3x3 conv and a 1x1 conv with bias to
    ``3 * (5 + classes)`` channels (no BatchNorm, linear); the two finer heads
    take a 1x1 conv of the coarser head's features, upsampled 2x (Resize,
    nearest) and concatenated with the backbone's stride-16 or stride-8 map.
    Outputs are the three raw head maps, coarsest first; box decoding and
    non-maximum suppression are post-processing, outside the network.
    """

    def __init__(self, num_classes: int = 80, anchors_per_scale: int = 3, width: int = 32,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.stem = DarknetConv(in_channels, width, 3)
        stages: list[nn.Module] = []
        prev = width
        for multiple, blocks in ((c // 32, n) for c, n in DARKNET53_STAGES):
            out = width * multiple
            stages.append(nn.Sequential(DarknetConv(prev, out, 3, stride=2),
                                        *(DarknetResidual(out) for _ in range(blocks))))
            prev = out
        self.stages = nn.ModuleList(stages)
        head_out = anchors_per_scale * (5 + num_classes)
        c8, c16, c32 = width * 8, width * 16, width * 32  # backbone channels at strides 8, 16, 32
        self.neck32 = self._five(c32, c32 // 2)
        self.head32 = self._head(c32 // 2, head_out)
        self.lateral16 = DarknetConv(c32 // 2, c16 // 2, 1)
        self.neck16 = self._five(c16 + c16 // 2, c16 // 2)
        self.head16 = self._head(c16 // 2, head_out)
        self.lateral8 = DarknetConv(c16 // 2, c8 // 2, 1)
        self.neck8 = self._five(c8 + c8 // 2, c8 // 2)
        self.head8 = self._head(c8 // 2, head_out)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    @staticmethod
    def _five(in_channels: int, channels: int) -> nn.Sequential:
        """The five alternating convs before each head: 1x1 to ``channels``, 3x3 to twice that, and so on."""
        return nn.Sequential(DarknetConv(in_channels, channels, 1), DarknetConv(channels, 2 * channels, 3),
                             DarknetConv(2 * channels, channels, 1), DarknetConv(channels, 2 * channels, 3),
                             DarknetConv(2 * channels, channels, 1))

    @staticmethod
    def _head(channels: int, out_channels: int) -> nn.Sequential:
        return nn.Sequential(DarknetConv(channels, 2 * channels, 3), nn.Conv2d(2 * channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        routes: list[torch.Tensor] = []
        for stage in self.stages:
            x = stage(x)
            routes.append(x)
        stride8, stride16, stride32 = routes[2], routes[3], routes[4]
        n32 = self.neck32(stride32)
        n16 = self.neck16(torch.cat((self.upsample(self.lateral16(n32)), stride16), dim=1))
        n8 = self.neck8(torch.cat((self.upsample(self.lateral8(n16)), stride8), dim=1))
        return self.head32(n32), self.head16(n16), self.head8(n8)


def init_weights(model: nn.Module, seed: int) -> nn.Module:
    """Overwrite every parameter from a private generator, so weights depend only on ``seed``.

    Conv/Linear weights are He-normal (keeps activations O(1) through deep
    stacks), biases small normal, norm scales in [0.5, 1.5], other parameters
    (the position table) normal with std 0.1.  Returns ``model`` for chaining.
    """
    gen = torch.Generator().manual_seed(seed)
    handled: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                gain = 2.0 if isinstance(module, nn.Conv2d) else 1.0
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(gain / fan_in))
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.05)
            elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm, nn.RMSNorm)):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                if getattr(module, "bias", None) is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            else:
                continue
            handled.update(id(p) for p in module.parameters(recurse=False))
        for param in model.parameters():
            if id(param) not in handled:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    return model


def calibrate_batchnorm(model: nn.Module, input_shape: Sequence[int], seed: int, batches: int = 2,
                        batch_size: int = 4, mean_shift: float = 0.2) -> nn.Module:
    """Give every BatchNorm realistic, non-trivial running statistics, then put the model in eval mode.

    Statistics are averaged over seeded random batches (so eval-mode
    activations stay well scaled), then each channel's mean is shifted by
    ``mean_shift`` standard deviations and its variance scaled by a factor in
    [0.8, 1.25], both drawn from ``seed``: folding BatchNorm wrongly changes outputs.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn((batch_size, *input_shape[1:]), generator=gen))
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * mean_shift * std)
            bn.running_var.mul_(torch.exp(torch.empty(bn.running_var.shape).uniform_(
                math.log(0.8), math.log(1.25), generator=gen)))
    return model.eval()
