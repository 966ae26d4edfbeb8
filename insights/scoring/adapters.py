"""Low-rank adapters (LoRA) for the encoder's linear layers.

Fine-tuning the whole encoder is what lifts accuracy, but its weights are tens of MB and the
repository only takes a few. A rank-r adapter learns ``W + B @ A`` with A (r x in) and B (out x r):
for all twelve layers at rank 16 that is about 2.6 MB in fp16. At load time the product is merged
into the fp32 weight before the int8 quantisation, so serving costs exactly what it did before.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

ADAPTER_WEIGHTS = "adapters.safetensors"


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (B starts at zero: no change)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        for param in self.base.parameters():
            param.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_a.t() @ self.lora_b.t()) * self.scaling

    def delta(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B * scaling): the update is ``B @ A``, scaling folded in so loading needs no config."""
        return self.lora_a.detach(), (self.lora_b * self.scaling).detach()


def add_adapters(module: nn.Module, *, rank: int, alpha: float, dropout: float = 0.0) -> list[str]:
    """Wrap every ``nn.Linear`` under ``module`` in place; return the wrapped modules' names."""
    wrapped = []
    for name, child in list(module.named_modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Linear):
                setattr(child, attr, LoRALinear(sub, rank, alpha, dropout))
                wrapped.append(f"{name}.{attr}" if name else attr)
    return wrapped


def adapter_state(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """``{"<prefix><module name>.a": A, ...b: B}`` for every adapter under ``module``."""
    state = {}
    for name, sub in module.named_modules():
        if isinstance(sub, LoRALinear):
            a, b = sub.delta()
            state[f"{prefix}{name}.a"] = a.clone()
            state[f"{prefix}{name}.b"] = b.clone()
    return state


def save_adapters(state: dict[str, torch.Tensor], directory: Path) -> None:
    from safetensors.torch import save_file

    out = {k: v.to(torch.float16).contiguous() for k, v in state.items()}
    save_file(out, str(Path(directory) / ADAPTER_WEIGHTS), metadata={"format": "pt"})


def load_adapters(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(Path(directory) / ADAPTER_WEIGHTS)).items()}


def merge_adapters(encoder: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Add each ``B @ A`` to the fp32 weight of the linear it belongs to (names relative to
    ``encoder.encoder.layer``, e.g. ``"3.attention.self.query"``); return how many were merged."""
    layers = encoder.encoder.layer
    names = sorted({k.rsplit(".", 1)[0] for k in state})
    for name in names:
        index, path = name.split(".", 1)
        linear = layers[int(index)].get_submodule(path)
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"adapter {name} does not belong to a linear layer")
        update = state[f"{name}.b"] @ state[f"{name}.a"]
        if update.shape != linear.weight.shape:
            raise ValueError(
                f"adapter {name} has shape {tuple(update.shape)}, the layer {tuple(linear.weight.shape)}"
            )
        with torch.no_grad():
            linear.weight += update.to(linear.weight.dtype)
    return len(names)
