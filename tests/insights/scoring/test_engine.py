from __future__ import annotations

import dataclasses
import json
import os
import threading

import numpy as np
import pytest

from insights.levels import SentimentLevel, level_for_score, level_label
from insights.scoring import ModelUnavailable, ScoreResult, SentimentScorer
from insights.scoring.engine import make_result
from insights.scoring.hf_backend import label_mapping


def test_result_uses_the_level_mapping_of_insights_levels():
    result = make_result("en", np.array([0.7, 0.2, 0.1]), "v")
    assert result.score == pytest.approx(-0.6)
    assert result.level == level_for_score(-0.6)
    assert result.confidence == pytest.approx(0.7)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    data = result.as_dict()
    assert data["label"] == level_label(result.level)
    json.dumps(data)


@pytest.mark.parametrize(
    ("probs", "level"),
    [
        ([0.9, 0.1, 0.0], SentimentLevel.VERY_NEGATIVE),
        ([0.65, 0.3, 0.05], SentimentLevel.NEGATIVE),
        ([0.4, 0.5, 0.1], SentimentLevel.SLIGHTLY_NEGATIVE),
        ([0.1, 0.8, 0.1], SentimentLevel.NEUTRAL),
        ([0.1, 0.55, 0.35], SentimentLevel.SLIGHTLY_POSITIVE),
        ([0.05, 0.3, 0.65], SentimentLevel.POSITIVE),
        ([0.0, 0.1, 0.9], SentimentLevel.VERY_POSITIVE),
    ],
)
def test_every_level_is_reachable(probs, level):
    assert make_result("en", np.array(probs), "v").level == level


def test_unsupported_and_empty_texts_are_not_scored_never_fake_neutral(fake_scorer):
    results = fake_scorer.score(["", "   ", "Ѓорѓи ќе дојде утре, ѕвездите се убави"])
    assert [r.supported for r in results] == [False, False, False]
    assert results[0].language is None
    assert results[2].language == "mk"
    for r in results:
        assert r.probabilities is r.score is r.level is r.confidence is None
        assert r.as_dict()["label"] == level_label(None)


def test_multilingual_off_scores_only_the_base_language(fake_scorer):
    texts = ["The parcel arrived broken, 1 star", "El paquete llegó roto, nada funciona 1"]
    on = fake_scorer.score(texts)
    off = fake_scorer.score(texts, multilingual=False, base_language="en")
    assert [r.supported for r in on] == [True, True]
    assert [r.supported for r in off] == [True, False]
    assert off[1].language == "es"
    es_only = fake_scorer.score(texts, multilingual=False, base_language="es")
    assert [r.supported for r in es_only] == [False, True]


def test_a_first_message_langdetect_hesitates_over_is_scored_in_the_base_language(fake_scorer):
    """langdetect calls it French (0.57) over English (0.43): with English as the base language
    and multilingual scoring off, it must still be scored, as English."""
    (result,) = fake_scorer.score(
        ["Hi, I have a question about my bill"], multilingual=False, base_language="en"
    )
    assert result.language == "en" and result.supported is True


def test_malay_and_serbian_are_scored(fake_scorer):
    results = fake_scorer.score(
        [
            "Saya tak faham kenapa bayaran belum masuk ke akaun saya",
            "Мој број поруџбине је 72015",
            "Hvala, to je rešilo problem, sve radi lepo",
        ]
    )
    assert [r.language for r in results] == ["ms", "sr-Cyrl", "sr-Latn"]
    assert all(r.supported for r in results)


def test_hindi_in_latin_letters_is_scored_as_hindi_under_its_own_name(fake_scorer):
    texts = ["bahut bekar service hai, mera paisa wapas karo 1"]
    (result,) = fake_scorer.score(texts)
    assert result.language == "hi-Latn" and result.supported is True and result.score is not None
    assert fake_scorer.score(texts, multilingual=False, base_language="hi")[0].supported is True
    assert fake_scorer.score(texts, multilingual=False, base_language="en")[0].supported is False
    (emoji,) = fake_scorer.score(["😡😡"], language_hints=["hi-Latn"], multilingual=False, base_language="hi")
    assert emoji.supported is True


def test_emoji_only_text_is_scored_with_no_language(fake_scorer):
    (result,) = fake_scorer.score(["😡😡"], language_hints=["fr"])
    assert result.language is None
    assert result.supported is True
    (off,) = fake_scorer.score(["😡😡"], language_hints=["fr"], multilingual=False, base_language="en")
    assert off.supported is False


def test_batches_come_back_in_input_order(fake_scorer):
    texts = [f"{'very ' * (11 - i)}long message, I rate it {i % 10} out of nine" for i in range(11)]
    results = fake_scorer.score(texts)
    expected = [make_result("en", fake_scorer._backend.predict([t])[0], "fake-1").score for t in texts]
    assert [r.score for r in results] == expected
    assert max(len(c) for c in fake_scorer._backend.calls[: -len(texts)]) <= 4  # max_batch


def test_a_forward_pass_stays_within_the_padded_token_budget():
    from insights.scoring.engine import MAX_TOKENS
    from tests.insights.scoring.conftest import FakeBackend

    scorer = SentimentScorer(backend=FakeBackend(), max_batch=32, max_batch_tokens=300)
    texts = [f"message {i % 10} " + "x" * (20 * (i + 1)) for i in range(14)]  # 30..290 "tokens"
    scorer._predict(texts, scorer._backend)
    for chunk in scorer._backend.calls:
        assert len(chunk) * max(len(t) for t in chunk) <= 300 or len(chunk) == 1
    assert sorted(t for chunk in scorer._backend.calls for t in chunk) == sorted(texts)
    # a budget below the longest message would split nothing further: it is raised to it
    assert SentimentScorer(backend=FakeBackend(), max_batch_tokens=10).max_batch_tokens == MAX_TOKENS


def test_hints_must_match_texts(fake_scorer):
    with pytest.raises(ValueError):
        fake_scorer.score(["a", "b"], language_hints=["en"])
    with pytest.raises(TypeError):
        fake_scorer.score("a single string")


def test_scoring_is_thread_safe(fake_scorer):
    texts = [f"thread safety check number {i}" for i in range(10)]
    expected = [r.score for r in fake_scorer.score(texts)]
    seen, errors = [], []

    def work():
        try:
            seen.append([r.score for r in fake_scorer.score(texts)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(s == expected for s in seen)


def test_a_missing_model_gives_a_clear_error(tmp_path):
    scorer = SentimentScorer(model="bundled", model_dir=tmp_path / "empty")
    with pytest.raises(ModelUnavailable, match="sentiment_build"):
        scorer.warm_up()


def test_a_broken_model_gives_a_clear_error(tmp_path, bundled_model_dir):
    import shutil

    from insights.scoring.model import bundled_model_path

    broken = bundled_model_path(tmp_path)
    shutil.copytree(bundled_model_dir, broken, ignore=shutil.ignore_patterns("model.safetensors"))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailable, match="sentiment_build --force"):
        SentimentScorer(model="bundled", model_dir=tmp_path).warm_up()


def test_an_unknown_hf_model_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="SENTIMENT_MODEL"):
        SentimentScorer(model=str(tmp_path / "no-such-model")).warm_up()


@pytest.mark.parametrize(
    ("id2label", "n", "expected_first_row"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, 3, [1, 0, 0]),
        ({0: "Positive", 1: "Negative", 2: "Neutral"}, 3, [0, 0, 1]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, 3, [1, 0, 0]),
        ({i: f"{i + 1} star{'s' if i else ''}" for i in range(5)}, 5, [1, 0, 0]),
        ({0: "NEG", 1: "POS"}, 2, [1, 0, 0]),
    ],
)
def test_label_mapping_from_config(id2label, n, expected_first_row):
    matrix = label_mapping(id2label, n)
    assert matrix.shape == (n, 3)
    assert matrix[0].tolist() == expected_first_row
    assert (matrix.sum(1) == 1).all()


def test_unmappable_labels_are_refused():
    with pytest.raises(ModelUnavailable):
        label_mapping({0: "joy", 1: "anger", 2: "fear", 3: "sadness"}, 4)


def test_score_result_is_frozen():
    result = ScoreResult("en", False, None, None, None, None, "v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 1.0  # type: ignore[misc]


def test_a_scoring_process_uses_one_torch_thread_unless_told_otherwise(monkeypatch, settings):
    """Two threads on cores other processes use spin while they wait for each other
    (docs/benchmarks.md): one is the default, in the settings and without them."""
    from django.conf import settings as django_settings

    from insights.scoring import engine
    from sentiment_admin.settings import base

    if "SENTIMENT_TORCH_THREADS" not in os.environ:  # the settings read it when imported
        assert base.SENTIMENT_TORCH_THREADS == 1
    monkeypatch.delenv("SENTIMENT_TORCH_THREADS", raising=False)
    del settings.SENTIMENT_TORCH_THREADS
    assert not hasattr(django_settings, "SENTIMENT_TORCH_THREADS")
    assert engine._threads() == 1
    settings.SENTIMENT_TORCH_THREADS = 2
    assert engine._threads() == 2
