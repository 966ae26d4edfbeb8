"""The small classifier the project trains on top of the frozen multilingual encoder.

Features: for each of the encoder's last few layers, the masked mean over tokens and the first
token (``<s>``), concatenated; standardised with the training set's mean and deviation; then a
one-hidden-layer MLP to the three classes negative / neutral / positive. The weights are a
safetensors file of a few MB committed under ``insights/scoring/weights/``, with a JSON file of
metadata beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

LABELS = ("negative", "neutral", "positive")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"
# Encoder layers (hidden_states indices, 12 = last) whose mean and first-token vectors feed the head.
LAYERS = (9, 10, 11, 12)


def pool_hidden_states(
    hidden_states: Sequence[torch.Tensor], attention_mask: torch.Tensor, layers: Sequence[int]
) -> torch.Tensor:
    """Concatenate [mean over tokens, first token] of each selected layer -> (batch, 2*H*len)."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states[layers[0]].dtype)
    denom = mask.sum(dim=1).clamp(min=1.0)
    parts = []
    for index in layers:
        h = hidden_states[index]
        parts.append((h * mask).sum(dim=1) / denom)
        parts.append(h[:, 0])
    return torch.cat(parts, dim=-1)


class SentimentHead(nn.Module):
    def __init__(self, in_features: int, hidden: int = 256, n_classes: int = 3, dropout: float = 0.2):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))
        self.dropout_in = nn.Dropout(dropout)
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.mean) / self.scale
        x = self.dropout_in(x)
        return self.fc2(self.dropout(self.act(self.fc1(x))))


def save_head(head: SentimentHead, meta: dict, directory: Path = WEIGHTS_DIR) -> None:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16 if k.endswith("weight") else torch.float32).contiguous()
             for k, v in head.state_dict().items()}
    save_file(state, str(directory / HEAD_WEIGHTS), metadata={"format": "pt"})
    meta = dict(meta, in_features=head.fc1.in_features, hidden=head.fc1.out_features,
                labels=list(LABELS))
    (directory / HEAD_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")


def load_head(directory: Path = WEIGHTS_DIR) -> tuple[SentimentHead, dict]:
    from safetensors.torch import load_file

    directory = Path(directory)
    meta = json.loads((directory / HEAD_META).read_text("utf-8"))
    head = SentimentHead(meta["in_features"], hidden=meta["hidden"], n_classes=len(meta["labels"]))
    state = {k: v.float() for k, v in load_file(str(directory / HEAD_WEIGHTS)).items()}
    head.load_state_dict(state)
    head.eval()
    return head, meta


TOP_LAYERS_WEIGHTS = "top_layers.safetensors"


def save_top_layers(state: dict[str, torch.Tensor], directory: Path = WEIGHTS_DIR) -> None:
    """Fine-tuned encoder layers, linear weights as int8 per output channel (the serving precision)."""
    from safetensors.torch import save_file

    out = {}
    for name, value in state.items():
        value = value.detach().float()
        if value.dim() == 2:
            scale = value.abs().amax(dim=1).clamp(min=1e-8) / 127.0
            out[name] = torch.round(value / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            out[name + ".scale"] = scale.contiguous()
        else:
            out[name] = value.contiguous()
    save_file(out, str(Path(directory) / TOP_LAYERS_WEIGHTS), metadata={"format": "pt"})


def load_top_layers(directory: Path = WEIGHTS_DIR) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    raw = load_file(str(Path(directory) / TOP_LAYERS_WEIGHTS))
    state = {}
    for name, value in raw.items():
        if name.endswith(".scale"):
            continue
        if value.dtype == torch.int8:
            state[name] = value.float() * raw[name + ".scale"][:, None]
        else:
            state[name] = value.float()
    return state
