"""Int8 linear layers whose activation scale is calibrated once, not measured per batch.

PyTorch's dynamic quantisation picks the activation scale from each input tensor: the whole
batch. A message's score then depends on the messages it was batched with (on UMSAB val, one in
six changed class between scoring alone and in a batch of 32). Here every linear layer gets a
fixed input range, measured on calibration texts when the project's weights are trained, so a
message scores the same alone or in any batch, and scores are reproducible across processes.

Per-channel smoothing (SmoothQuant, Xiao et al. 2023) moves the activations' per-channel range
into the weights before quantising (x / s, W * s), so the encoder's few outlier channels do not
make the step of every other channel coarse.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

CALIBRATION_WEIGHTS = "calibration.safetensors"
# fbgemm on AVX2 without VNNI adds u8*s8 pairs in int16: 7-bit activations cannot saturate it.
ACTIVATION_LEVELS = 127
# 1.0 moves all of the activations' per-channel range into the weights. Measured on UMSAB val
# against the fp32 encoder: dynamic int8 changed the class of 55 of 320 texts, static int8 with
# alpha 0.5 88, 0.8 17, 1.0 15.
SMOOTHING_ALPHA = 1.0


def smoothing_factors(
    weight: torch.Tensor, channel_min: torch.Tensor, channel_max: torch.Tensor, alpha: float = SMOOTHING_ALPHA
) -> torch.Tensor:
    """Per input channel ``s``: the layer computes ``(x / s) @ (W * s)``."""
    act_absmax = torch.maximum(channel_min.float().abs(), channel_max.float().abs()).clamp(min=1e-5)
    weight_absmax = weight.detach().float().abs().amax(dim=0).clamp(min=1e-5)
    return (act_absmax.pow(alpha) / weight_absmax.pow(1 - alpha)).clamp(min=1e-5)


class CalibratedInt8Linear(nn.Module):
    """int8 per-output-channel weights, int8 activations with a fixed (calibrated) range.

    ``prescaled=True``: the caller already divides the input by the smoothing factors (folded
    into the layer that produces it), so this layer does not spend a pass over it.
    """

    def __init__(
        self,
        linear: nn.Linear,
        channel_min: torch.Tensor,
        channel_max: torch.Tensor,
        alpha: float = SMOOTHING_ALPHA,
        *,
        smooth: torch.Tensor | None = None,
        prescaled: bool = False,
    ) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        channel_min, channel_max = channel_min.float(), channel_max.float()
        if smooth is None:
            smooth = smoothing_factors(weight, channel_min, channel_max, alpha)
        self.register_buffer("inverse_smooth", (1.0 / smooth).contiguous())
        self.prescaled = prescaled
        weight = weight * smooth
        scales = (weight.abs().amax(dim=1).clamp(min=1e-8) / 127).double()
        bias = linear.bias.detach().float() if linear.bias is not None else None
        with warnings.catch_warnings():  # quantized tensors are deprecated upstream; torch is pinned
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch.quantize_per_channel(
                weight, scales, torch.zeros(len(scales), dtype=torch.int64), 0, torch.qint8
            )
            self._packed = torch.ops.quantized.linear_prepack(qweight, bias)
        low = min(float((channel_min / smooth).min()), 0.0)
        high = max(float((channel_max / smooth).max()), 0.0)
        self.input_scale = max(high - low, 1e-8) / ACTIVATION_LEVELS
        self.input_zero_point = int(round(-low / self.input_scale))
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.prescaled:
            x = x * self.inverse_smooth
        return torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
            x, self.input_scale, self.input_zero_point, self._packed
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, static int8"


class FusedProjections(nn.Module):
    """Query, key and value as one int8 matrix product: the attention calls its three
    projections on the same tensor, so the first call computes all three and the other two
    take their slice (one pass over the input and one quantisation instead of three)."""

    def __init__(self, linear: CalibratedInt8Linear, sizes: list[int]) -> None:
        super().__init__()
        self.linear = linear
        self.bounds = [(sum(sizes[:i]), sum(sizes[: i + 1])) for i in range(len(sizes))]
        self._input: torch.Tensor | None = None
        self._output: torch.Tensor | None = None
        self._served: set[int] = set()

    def part(self, x: torch.Tensor, index: int) -> torch.Tensor:
        if self._input is not x or index in self._served:
            self._input, self._output, self._served = x, self.linear(x), set()
        self._served.add(index)
        start, end = self.bounds[index]
        out = self._output[..., start:end]
        if len(self._served) == len(self.bounds):  # every projection served: let go of the tensors
            self._input = self._output = None
        return out


class ProjectionSlice(nn.Module):
    def __init__(self, fused: FusedProjections, index: int) -> None:
        super().__init__()
        self.__dict__["fused"] = fused  # one owner (the query slice) registers it
        self.index = index
        if index == 0:
            self.shared = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused.part(x, self.index)


class ScaledActivation(nn.Module):
    """The feed-forward activation, then (in place, on its fresh output) the next layer's
    smoothing: the division costs no extra tensor."""

    def __init__(self, activation: nn.Module, inverse_smooth: torch.Tensor) -> None:
        super().__init__()
        self.activation = activation
        self.register_buffer("inverse_smooth", inverse_smooth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x).mul_(self.inverse_smooth)


def calibrate(encoder: nn.Module, run_batches: Callable[[], Iterable]) -> dict[str, torch.Tensor]:
    """Per input channel min and max of every linear layer of ``encoder.encoder`` while
    ``run_batches()`` runs the fp32 encoder: ``{"<layer>.<path>.min": (in,), ....max: (in,)}``."""
    stats: dict[str, torch.Tensor] = {}
    hooks = []
    layers = encoder.encoder.layer
    for index, layer in enumerate(layers):
        for path, module in layer.named_modules():
            if not isinstance(module, nn.Linear):
                continue
            key = f"{index}.{path}"

            def record(mod, inputs, output, key=key):
                x = inputs[0].detach().reshape(-1, inputs[0].shape[-1])
                low, high = x.amin(dim=0), x.amax(dim=0)
                if key + ".min" in stats:
                    low, high = (
                        torch.minimum(low, stats[key + ".min"]),
                        torch.maximum(high, stats[key + ".max"]),
                    )
                stats[key + ".min"], stats[key + ".max"] = low, high

            hooks.append(module.register_forward_hook(record))
    try:
        for _ in run_batches():
            pass
    finally:
        for hook in hooks:
            hook.remove()
    if not stats:
        raise ValueError("calibration saw no linear layer run")
    return stats


def quantize_calibrated(
    encoder: nn.Module, stats: dict[str, torch.Tensor], *, fold: bool = True
) -> nn.Module:
    """Replace each linear of ``encoder.encoder.layer`` that has calibration by a static int8 one.

    In a BERT layer query/key/value share one product, and the feed-forward output's smoothing
    is applied in place by the activation. With ``SMOOTHING_ALPHA`` = 1 the scores equal those
    of quantising every linear on its own (``fold=False``): the smoothing then depends on the
    input alone, so the fused product quantises exactly the same numbers."""
    replaced = 0
    for index, layer in enumerate(encoder.encoder.layer):
        linears = [
            (module, attr, child, f"{index}.{path}.{attr}" if path else f"{index}.{attr}")
            for path, module in list(layer.named_modules())
            for attr, child in list(module.named_children())
            if isinstance(child, nn.Linear)
        ]
        for *_, key in linears:
            if key + ".min" not in stats:
                raise ValueError(f"no calibration for {key}")
        if fold and _is_bert_layer(layer):
            replaced += _quantize_bert_layer(layer, index, stats)
            continue
        for module, attr, child, key in linears:
            setattr(module, attr, CalibratedInt8Linear(child, stats[key + ".min"], stats[key + ".max"]))
            replaced += 1
    if replaced == 0:
        raise ValueError("no linear layer to quantise")
    return encoder


def _is_bert_layer(layer: nn.Module) -> bool:
    try:
        attention = layer.attention.self
        return all(
            isinstance(m, nn.Linear)
            for m in (
                attention.query,
                attention.key,
                attention.value,
                layer.attention.output.dense,
                layer.intermediate.dense,
                layer.output.dense,
            )
        ) and hasattr(layer.intermediate, "intermediate_act_fn")
    except AttributeError:
        return False


def _quantize_bert_layer(layer: nn.Module, index: int, stats: dict[str, torch.Tensor]) -> int:
    def calibrated(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return stats[f"{index}.{name}.min"], stats[f"{index}.{name}.max"]

    attention = layer.attention.self
    projections = [attention.query, attention.key, attention.value]
    weight = torch.cat([p.weight.detach().float() for p in projections])
    bias = torch.cat([p.bias.detach().float() for p in projections])
    fused_linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        fused_linear.weight.copy_(weight)
        fused_linear.bias.copy_(bias)
    # The three share an input, hence its range; the query's calibration names it.
    fused = FusedProjections(
        CalibratedInt8Linear(fused_linear, *calibrated("attention.self.query")),
        [p.out_features for p in projections],
    )
    attention.query, attention.key, attention.value = (ProjectionSlice(fused, i) for i in range(3))
    # feed-forward output: its smoothing is applied in place on the activation's output
    ff_out = layer.output.dense
    ff_smooth = smoothing_factors(ff_out.weight, *calibrated("output.dense"))
    layer.output.dense = CalibratedInt8Linear(
        ff_out, *calibrated("output.dense"), smooth=ff_smooth, prescaled=True
    )
    layer.intermediate.intermediate_act_fn = ScaledActivation(
        layer.intermediate.intermediate_act_fn, (1.0 / ff_smooth).contiguous()
    )
    layer.intermediate.dense = CalibratedInt8Linear(
        layer.intermediate.dense, *calibrated("intermediate.dense")
    )
    # Not folded: the attention output's smoothing could go into the value rows, but rounding
    # the rescaled values moves scores (up to 0.06 on UMSAB val), and it saves little.
    layer.attention.output.dense = CalibratedInt8Linear(
        layer.attention.output.dense, *calibrated("attention.output.dense")
    )
    return 6


def save_calibration(stats: dict[str, torch.Tensor], directory: Path) -> None:
    from safetensors.torch import save_file

    save_file(
        {k: v.float().contiguous() for k, v in stats.items()},
        str(Path(directory) / CALIBRATION_WEIGHTS),
        metadata={"format": "pt"},
    )


def load_calibration(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / CALIBRATION_WEIGHTS))
