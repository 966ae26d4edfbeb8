"""bench/onnx_runtime.py: without onnxruntime it says how to get it; with it, its static int8
export quantises every linear layer with the scales the calibrated torch int8 layers use."""

from __future__ import annotations

import builtins
import copy

import pytest
import torch

from bench import onnx_runtime as probe
from tests.insights.scoring import tiny


def test_the_probe_says_how_to_install_onnxruntime_when_it_is_missing(monkeypatch):
    real_import = builtins.__import__

    def without_onnx(name, *args, **kwargs):
        if name.split(".")[0] in ("onnx", "onnxruntime"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_onnx)
    with pytest.raises(SystemExit, match="onnxruntime is not installed"):
        probe.require_onnxruntime()


def tiny_encoder():
    return tiny.tiny_bert(vocab=64, positions=32, pad_token_id=0)


def test_the_static_int8_export_computes_what_the_calibrated_torch_int8_encoder_does(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from insights.scoring.quantization import calibrate, quantize_calibrated

    encoder = tiny_encoder()
    ids = torch.randint(1, 64, (6, 12))
    mask = torch.ones_like(ids)
    mask[3:, 8:] = 0
    ids[mask == 0] = 0
    with torch.no_grad():
        stats = calibrate(encoder, lambda: [encoder(input_ids=ids, attention_mask=mask)])
    smoothed = copy.deepcopy(encoder)
    ranges = probe.smooth_for_int8(smoothed, stats)
    assert len(ranges) == 2 * 4  # per layer: query/key/value as one, attention output, feed-forward in, out
    probe.export_encoder(smoothed, [1, 2], tmp_path / "smoothed.onnx", (ids[:2], mask[:2]))
    feeds = [{"input_ids": ids.numpy(), "attention_mask": mask.numpy()}]
    assert (
        probe.quantize_static_calibrated(tmp_path / "smoothed.onnx", tmp_path / "int8.onnx", ranges, feeds)
        == 8
    )
    # ORT runs them as int8 products with fp32 outputs, like fbgemm's
    assert probe.optimized_ops(tmp_path / "int8.onnx", threads=1).get("MatMulIntegerToFloat") == 8

    got = probe.OrtEncoder(probe.session(tmp_path / "int8.onnx", threads=1), [1, 2])(ids, mask).hidden_states
    torch_int8 = quantize_calibrated(copy.deepcopy(encoder), stats)
    torch_int8.set_attn_implementation("eager")
    with torch.no_grad():
        want = torch_int8(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        exact = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    real = mask.bool()
    # The same int8 products: apart from values rounding the other way after fp32 steps in
    # another order, ORT's hidden states are torch int8's, not merely as far from fp32.
    int8_error = float((want[2] - exact[2])[real].abs().mean())
    assert float((got[2] - want[2])[real].abs().mean()) < int8_error / 4
