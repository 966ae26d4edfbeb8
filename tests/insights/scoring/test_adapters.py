"""Low-rank adapters: trained on the fp32 encoder, merged into it at load time."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from insights.scoring.adapters import (
    ADAPTER_WEIGHTS,
    LoRALinear,
    adapter_state,
    add_adapters,
    load_adapters,
    merge_adapters,
    save_adapters,
)
from insights.scoring.model import ModelUnavailable


class TwoLayerEncoder(nn.Module):
    """Just the attribute path merge_adapters walks: ``encoder.layer[i]``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            [nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8)) for _ in range(2)]
        )

    def forward(self, x):
        for layer in self.encoder.layer:
            x = layer(x)
        return x


def test_a_new_adapter_leaves_the_layer_unchanged_and_only_it_trains():
    base = nn.Linear(8, 4)
    adapted = LoRALinear(base, rank=2, alpha=4)
    x = torch.randn(3, 8)
    assert torch.equal(adapted(x), base(x))
    assert [name for name, p in adapted.named_parameters() if p.requires_grad] == ["lora_a", "lora_b"]


def test_merged_adapters_compute_what_the_trained_adapters_computed(tmp_path):
    trained = TwoLayerEncoder()
    wrapped = []
    for layer in trained.encoder.layer:
        wrapped += add_adapters(layer, rank=3, alpha=6)
    assert wrapped == ["0", "2", "0", "2"]
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad:
                p.normal_(0, 0.1)
    x = torch.randn(5, 8)
    expected = trained(x)
    state = {}
    for index, layer in enumerate(trained.encoder.layer):
        state.update(adapter_state(layer, prefix=f"{index}."))
    save_adapters(state, tmp_path)

    fresh = TwoLayerEncoder()  # same seed: the same base weights, no adapters
    assert not torch.allclose(fresh(x), expected, atol=1e-3)
    assert merge_adapters(fresh, load_adapters(tmp_path)) == 4
    assert isinstance(fresh.encoder.layer[0][0], nn.Linear)
    torch.testing.assert_close(fresh(x), expected, atol=2e-3, rtol=1e-3)  # fp16 on disk


def test_an_adapter_of_the_wrong_shape_is_refused():
    encoder = TwoLayerEncoder()
    with pytest.raises(ValueError, match="shape"):
        merge_adapters(encoder, {"0.0.a": torch.zeros(2, 8), "0.0.b": torch.zeros(8, 2)})


def test_broken_adapters_in_the_weights_directory_give_a_clear_error(tmp_path, bundled_model_dir):
    from insights.scoring.engine import BundledBackend
    from insights.scoring.head import HEAD_META, HEAD_WEIGHTS, WEIGHTS_DIR

    shutil.copy(WEIGHTS_DIR / HEAD_WEIGHTS, tmp_path / HEAD_WEIGHTS)
    meta = json.loads((WEIGHTS_DIR / HEAD_META).read_text("utf-8"))
    meta.update(finetuned_layers=[], adapted_layers=[1])
    (tmp_path / HEAD_META).write_text(json.dumps(meta), "utf-8")
    (tmp_path / ADAPTER_WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(ModelUnavailable, match="adapters .* are broken"):
        BundledBackend(bundled_model_dir.parent, head_dir=tmp_path)
