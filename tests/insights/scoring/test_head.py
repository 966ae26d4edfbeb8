"""The classifier head: members averaged, stored compactly, and older single-head files still load."""

from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from insights.scoring.head import HEAD_META, HEAD_WEIGHTS, SentimentHead, load_head, save_head


def _head(members: int, seed: int = 0) -> SentimentHead:
    torch.manual_seed(seed)
    head = SentimentHead(12, hidden=8, members=members)
    head.mean.copy_(torch.randn(12))
    head.scale.copy_(torch.rand(12) + 0.5)
    return head.eval()


def test_a_heads_logits_are_the_mean_of_its_members_logits():
    head = _head(members=3)
    x = torch.randn(5, 12)
    with torch.inference_mode():
        members = head.member_logits(x)
        assert members.shape == (3, 5, 3)
        assert torch.allclose(head(x), members.mean(0))
        assert not torch.allclose(members[0], members[1])  # initialised independently


def test_a_saved_head_loads_with_the_same_predictions_and_stores_its_first_layer_in_int8(tmp_path):
    head = _head(members=4)
    save_head(head, {"layers": [12]}, tmp_path)
    loaded, meta = load_head(tmp_path)
    assert meta["members"] == 4 and meta["hidden"] == 8
    x = torch.randn(20, 12)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), head(x), atol=0.02)
        assert (loaded(x).argmax(1) == head(x).argmax(1)).float().mean() >= 0.95
    from safetensors.torch import load_file

    assert load_file(str(tmp_path / HEAD_WEIGHTS))["fc1_weight"].dtype == torch.int8


def test_a_head_file_from_before_members_loads_as_one_member(tmp_path):
    torch.manual_seed(1)
    fc1, fc2 = torch.nn.Linear(12, 8), torch.nn.Linear(8, 3)
    mean, scale = torch.randn(12), torch.rand(12) + 0.5
    save_file(
        {
            "mean": mean,
            "scale": scale,
            "fc1.weight": fc1.weight.detach().half(),
            "fc1.bias": fc1.bias.detach(),
            "fc2.weight": fc2.weight.detach().half(),
            "fc2.bias": fc2.bias.detach(),
        },
        str(tmp_path / HEAD_WEIGHTS),
    )
    (tmp_path / HEAD_META).write_text(json.dumps({"in_features": 12, "hidden": 8, "labels": ["n", "u", "p"]}))
    head, _ = load_head(tmp_path)
    assert head.members == 1
    x = torch.randn(6, 12)
    w1, w2 = fc1.weight.detach().half().float(), fc2.weight.detach().half().float()
    hidden = torch.nn.functional.gelu((x - mean) / scale @ w1.T + fc1.bias.detach())
    expected = hidden @ w2.T + fc2.bias.detach()
    with torch.inference_mode():
        assert torch.allclose(head(x), expected, atol=1e-5)


def test_a_head_whose_metadata_names_other_members_gives_a_clear_error(tmp_path, bundled_model_dir):
    import shutil

    import pytest

    from insights.scoring.engine import BundledBackend
    from insights.scoring.head import WEIGHTS_DIR
    from insights.scoring.model import ModelUnavailable

    shutil.copytree(WEIGHTS_DIR, tmp_path / "weights")
    meta_path = tmp_path / "weights" / HEAD_META
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["members"] = meta["members"] + 2
    meta_path.write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelUnavailable, match="sentiment head .* is broken"):
        BundledBackend(bundled_model_dir.parent, head_dir=tmp_path / "weights")


def test_fine_tuned_layers_round_trip_through_their_int8_file_within_half_a_step(tmp_path):
    from insights.scoring.head import load_top_layers, save_top_layers

    torch.manual_seed(2)
    state = {"11.output.dense.weight": torch.randn(8, 6), "11.output.dense.bias": torch.randn(8)}
    save_top_layers(state, tmp_path)
    back = load_top_layers(tmp_path)
    step = state["11.output.dense.weight"].abs().amax(dim=1, keepdim=True) / 127
    assert ((back["11.output.dense.weight"] - state["11.output.dense.weight"]).abs() <= step / 2 + 1e-7).all()
    assert torch.equal(back["11.output.dense.bias"], state["11.output.dense.bias"])
