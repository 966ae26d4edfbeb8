"""What sentiment_train computes besides the weights: the softmax temperature."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from insights.scoring.training import fit_temperature


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(20_000, 3))
    z = logits / 2.5
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, abs=0.15)


def test_labels_that_always_agree_with_the_logits_sharpen_them():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]] * 10)
    assert fit_temperature(logits, [0, 1, 2] * 10) < 1.0


def test_the_temperature_in_head_json_softens_probabilities_but_never_changes_the_class(
    tmp_path, bundled_model_dir
):
    from insights.scoring.engine import BundledBackend
    from insights.scoring.head import WEIGHTS_DIR

    texts = ["I can't log in to my account", "thanks, that fixed it", "my order number is 48213"]
    probs = {}
    for temperature in (1.0, 3.0):
        weights = tmp_path / f"t{temperature}"
        shutil.copytree(WEIGHTS_DIR, weights)
        meta = json.loads((weights / "head.json").read_text("utf-8"))
        meta["temperature"] = temperature
        (weights / "head.json").write_text(json.dumps(meta), "utf-8")
        backend = BundledBackend(bundled_model_dir.parent, head_dir=weights)
        probs[temperature] = backend.predict(texts)
    assert (probs[1.0].argmax(1) == probs[3.0].argmax(1)).all()
    assert (probs[3.0].max(1) < probs[1.0].max(1)).all()


def test_a_head_of_several_members_averages_heads_trained_alone_with_their_own_seeds():
    import torch

    from insights.scoring.training import predict, train_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
    kwargs = dict(x_val=x[:60], y_val=y[:60], hidden=8, epochs=4, batch_size=32)
    ensemble, epochs = train_head(x, y, members=3, seed=5, **kwargs)
    alone = [train_head(x, y, members=1, seed=5 + k, **kwargs) for k in range(3)]
    assert ensemble.members == 3 and epochs == [e[0] for _, e in alone]
    expected = np.mean([head(torch.from_numpy(x)).detach().numpy() for head, _ in alone], axis=0)
    with torch.inference_mode():
        assert np.allclose(ensemble(torch.from_numpy(x)).numpy(), expected, atol=1e-5)
    assert predict(ensemble, x).shape == (300, 3)
