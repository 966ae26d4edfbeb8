from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def bundled_model_dir():
    """The converted model directory; built by `python manage.py sentiment_build` before tests."""
    from insights.scoring.model import build_bundled_model, bundled_model_is_built, bundled_model_path

    path = bundled_model_path()
    if not bundled_model_is_built(path):
        build_bundled_model()  # offline, a few seconds: the same step sentiment_build runs
    return path


@pytest.fixture(scope="session")
def real_scorer(bundled_model_dir):
    """The real bundled scorer, loaded once for the whole session."""
    from insights.scoring.engine import SentimentScorer

    return SentimentScorer(model="bundled", model_dir=bundled_model_dir.parent).warm_up()


class FakeBackend:
    """Deterministic stand-in: the score follows a number written in the text."""

    version = "fake-1"

    def __init__(self):
        self.calls: list[list[str]] = []

    def token_lengths(self, texts):
        return [len(t) for t in texts]

    def predict(self, texts):
        import numpy as np

        self.calls.append(list(texts))
        out = []
        for text in texts:
            digits = [c for c in text if c.isdigit()]
            value = int(digits[0]) if digits else 5  # 0..9, 5 = neutral
            pos = value / 9
            row = np.array([1 - pos, 1 - abs(2 * pos - 1), pos])
            out.append(row / row.sum())
        return np.array(out)


@pytest.fixture
def fake_scorer():
    from insights.scoring.engine import SentimentScorer

    return SentimentScorer(backend=FakeBackend(), max_batch=4)
