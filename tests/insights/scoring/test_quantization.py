"""Calibrated int8: close to fp32, and a message's result does not depend on its batch."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from insights.scoring.model import ModelUnavailable
from insights.scoring.quantization import (
    CALIBRATION_WEIGHTS,
    CalibratedInt8Linear,
    calibrate,
    load_calibration,
    quantize_calibrated,
    save_calibration,
)
from tests.insights.scoring import tiny


@pytest.fixture
def tiny_bert():
    return tiny.tiny_bert()


def batches(model, n=6, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n):
        ids = torch.randint(5, 120, (4, 12), generator=generator)
        with torch.inference_mode():
            yield model(input_ids=ids).last_hidden_state


def test_a_row_gets_the_same_output_alone_or_beside_others():
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    x = torch.randn(10, 16)
    x[3] *= 40  # an outlier row: with per-batch (dynamic) scales it would coarsen every other row
    quantized = CalibratedInt8Linear(linear, x.amin(0), x.amax(0))
    together = quantized(x)
    for row in (0, 3, 9):
        assert torch.equal(quantized(x[row : row + 1]), together[row : row + 1])


def test_calibrated_int8_stays_close_to_fp32(tiny_bert):
    import copy

    stats = calibrate(tiny_bert, lambda: batches(tiny_bert))
    assert len(stats) == 2 * 2 * 6  # min and max, 2 layers, 6 linears each
    exact = [b.clone() for b in batches(tiny_bert, n=2, seed=7)]
    quantized = quantize_calibrated(copy.deepcopy(tiny_bert), stats)
    assert not any(isinstance(m, nn.Linear) for m in quantized.encoder.modules())
    approx = list(batches(quantized, n=2, seed=7))
    for a, b in zip(exact, approx, strict=False):
        assert nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).min() > 0.99


def test_fused_projections_and_in_place_smoothing_give_the_same_output(tiny_bert):
    """Query/key/value as one product and the feed-forward smoothing in the activation: the
    same numbers as one int8 layer per linear."""
    import copy

    stats = calibrate(tiny_bert, lambda: batches(tiny_bert))
    folded = quantize_calibrated(copy.deepcopy(tiny_bert), stats)
    separate = quantize_calibrated(copy.deepcopy(tiny_bert), stats, fold=False)
    assert sum(isinstance(m, CalibratedInt8Linear) for m in separate.modules()) == 12
    assert sum(isinstance(m, CalibratedInt8Linear) for m in folded.modules()) == 8
    # lists, not zip over the generators: a generator left suspended inside inference_mode()
    # would keep the mode on for the rest of the session
    for a, b in zip(list(batches(folded, n=3, seed=11)), list(batches(separate, n=3, seed=11)), strict=False):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_calibration_round_trips_through_its_file(tiny_bert, tmp_path):
    stats = calibrate(tiny_bert, lambda: batches(tiny_bert, n=1))
    save_calibration(stats, tmp_path)
    loaded = load_calibration(tmp_path)
    assert loaded.keys() == stats.keys()
    assert all(torch.equal(loaded[k], stats[k]) for k in stats)


def test_a_layer_without_calibration_is_refused(tiny_bert):
    stats = calibrate(tiny_bert, lambda: batches(tiny_bert, n=1))
    del stats["1.output.dense.min"]
    with pytest.raises(ValueError, match="no calibration for 1.output.dense"):
        quantize_calibrated(tiny_bert, stats)


def _weights_copy(tmp_path):
    from insights.scoring.head import WEIGHTS_DIR

    shutil.copytree(WEIGHTS_DIR, tmp_path / "weights")
    return tmp_path / "weights"


def test_broken_calibration_gives_a_clear_error(tmp_path, bundled_model_dir):
    from insights.scoring.engine import BundledBackend

    weights = _weights_copy(tmp_path)
    (weights / CALIBRATION_WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(ModelUnavailable, match="calibration .* is broken"):
        BundledBackend(bundled_model_dir.parent, head_dir=weights)


def test_without_calibration_the_model_falls_back_to_dynamic_int8(tmp_path, bundled_model_dir):
    from insights.scoring.engine import BundledBackend

    weights = _weights_copy(tmp_path)
    (weights / CALIBRATION_WEIGHTS).unlink(missing_ok=True)
    backend = BundledBackend(bundled_model_dir.parent, head_dir=weights)
    assert backend.precision == "int8-dynamic" and "-int8dyn+" in backend.version
    assert backend.predict(["thanks, that fixed it"]).shape == (1, 3)


def test_new_calibration_ranges_give_a_new_model_version(tmp_path, bundled_model_dir):
    from insights.scoring.engine import BundledBackend

    weights = _weights_copy(tmp_path)
    before = BundledBackend(bundled_model_dir.parent, head_dir=weights).version
    stats = load_calibration(weights)
    save_calibration({k: v * 1.5 for k, v in stats.items()}, weights)
    assert BundledBackend(bundled_model_dir.parent, head_dir=weights).version != before


@pytest.mark.model
def test_the_committed_model_scores_a_message_the_same_alone_or_in_a_batch(real_scorer):
    """The bound that holds on every CPU: 2e-6 on the reported score.

    The int8 products are exact integer sums, every other encoder step works token by token,
    and the attention of each message runs on its own unpadded rows
    (``insights/scoring/attention.py``): a message's encoder features are the same bits alone
    or beside longer messages, whatever the instruction set (before, padding moved "my order
    number is 48213" from 0.0058 to 0.0095 on an AVX2-only CPU). What remains is the head's fp32
    product, which the BLAS computes for one row with a matrix-vector kernel and for many with a
    matrix-matrix one, summing in another order: float rounding, about 1e-7 on a probability,
    which can tip the score's rounding to 6 decimals by one unit (1e-6)."""
    texts = [
        "merci, ça a réglé le problème",
        "I've waited two hours, this is ridiculous",
        "my order number is 48213",
        "das Paket ist immer noch nicht da und niemand antwortet mir seit Tagen",
        "obrigado",
    ] * 4
    alone = [real_scorer.score([t])[0].score for t in texts[:5]]
    batched = [r.score for r in real_scorer.score(texts)]
    assert batched[:5] == pytest.approx(alone, abs=2e-6)
    assert batched[5:10] == pytest.approx(alone, abs=2e-6)


@pytest.mark.model
def test_a_messages_encoder_features_are_bit_identical_beside_longer_messages(real_scorer):
    backend = real_scorer._get_backend()
    short, longer = (
        "my order number is 48213",
        "das Paket ist immer noch nicht da und niemand antwortet mir seit Tagen",
    )
    alone = backend.features([short])[0]
    assert torch.equal(backend.features([longer, short, "obrigado"])[1], alone)
    assert torch.equal(backend.features([short] * 3)[2], alone)
