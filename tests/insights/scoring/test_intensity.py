"""The score's exponent: how sure the classifier is becomes how strong the feeling reads."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from insights.levels import SentimentLevel
from insights.scoring.engine import make_result
from insights.scoring.intensity import (
    CUSTOMER_MOODS_FIT_EXAMPLES,
    HINGLISH_EXAMPLES,
    INTENSITY_EXAMPLES,
    INTENSITY_FIT_EXAMPLES,
    MORE_GRADED_EXAMPLES,
    REQUESTS_REPORTS_EXAMPLES,
    _read_graded,
    agreement,
    fit_exponent,
    intensity_scores,
    levels_for,
    load_intensity_examples,
)
from insights.scoring.language import SUPPORTED_LANGUAGES, detect_languages
from insights.scoring.training import CUSTOMER_SERVICE_EXAMPLES


def random_probabilities(n: int, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(0.0, 4.0, size=(n, 3))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_exponent_one_is_the_plain_probability_difference():
    p = random_probabilities(200)
    assert np.allclose(intensity_scores(p, 1.0), p[:, 2] - p[:, 0])


def test_a_flatter_score_keeps_the_direction_and_tempers_the_merely_sure():
    p = random_probabilities(500)
    flat = intensity_scores(p, 0.4)
    plain = p[:, 2] - p[:, 0]
    assert np.all(np.sign(flat[np.abs(plain) > 1e-9]) == np.sign(plain[np.abs(plain) > 1e-9]))
    decided = np.maximum(p[:, 0], p[:, 2]) > 0.5  # a negative or positive message
    assert np.all(np.abs(flat[decided]) <= np.abs(plain[decided]) + 1e-12)
    sure = np.array([[0.92, 0.06, 0.02]])  # a calm complaint: Very negative as a plain difference
    overwhelming = np.array([[0.99995, 0.00004, 0.00001]])
    assert levels_for(sure, 1.0)[0] == SentimentLevel.VERY_NEGATIVE
    assert levels_for(sure, 0.4)[0] > SentimentLevel.VERY_NEGATIVE
    assert levels_for(overwhelming, 0.4)[0] == SentimentLevel.VERY_NEGATIVE


def test_extreme_probabilities_give_finite_scores():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1e-320, 0.5, 0.5]])
    for exponent in (0.1, 0.4, 1.0, 1.5):
        scores = intensity_scores(p, exponent)
        assert np.all(np.isfinite(scores))
        assert scores[0] == -1.0 and scores[1] == 1.0 and scores[2] == 0.0


def test_the_reported_score_and_level_follow_the_exponent_but_the_probabilities_do_not():
    plain = make_result("en", np.array([0.92, 0.06, 0.02]), "v")
    flat = make_result("en", np.array([0.92, 0.06, 0.02]), "v", score_exponent=0.4)
    assert flat.probabilities == plain.probabilities and flat.confidence == plain.confidence
    assert plain.level == SentimentLevel.VERY_NEGATIVE and flat.level > plain.level
    assert flat.score == pytest.approx(
        float(intensity_scores(np.array([0.92, 0.06, 0.02]), 0.4)[0]), abs=1e-6
    )


def test_fitting_finds_the_exponent_that_graded_the_messages():
    p = random_probabilities(3000, seed=1)
    graded = levels_for(p, 0.4)
    fitted = fit_exponent(p, graded)
    assert abs(fitted - 0.4) <= 0.05
    assert agreement(p, graded, fitted)["exact"] >= 99.0
    assert agreement(p, graded, 1.0)["exact"] < 90.0
    with pytest.raises(ValueError):
        fit_exponent(p[:0], [])


def test_the_graded_messages_cover_every_language_and_level_in_two_halves():
    for path in (INTENSITY_EXAMPLES, INTENSITY_FIT_EXAMPLES):
        counts = Counter(
            (e.language, e.level)
            for e in load_intensity_examples(path=path, fit_only_paths=(), more_paths=())
        )
        assert {language for language, _ in counts} == set(SUPPORTED_LANGUAGES), path
        assert set(counts.values()) == {4} and len(counts) == 7 * len(SUPPORTED_LANGUAGES), path
    everything = load_intensity_examples("all")
    fit, holdout = load_intensity_examples("fit"), load_intensity_examples("holdout")
    more = 7 * 8 + 10 * (len(SUPPORTED_LANGUAGES) + 1)  # hinglish.tsv, requests_reports.tsv
    moods = 11 * (len(SUPPORTED_LANGUAGES) + 1)  # customer_moods_fit.tsv: fitted on only
    moods += 79  # calm_reports_fit.tsv: fitted on only
    assert len(holdout) == 2 * 7 * len(SUPPORTED_LANGUAGES) + more // 2
    assert (
        len(fit) == len(everything) - len(holdout) == 3 * 2 * 7 * len(SUPPORTED_LANGUAGES) + more // 2 + moods
    )
    assert not {e.text for e in fit} & {e.text for e in holdout}
    assert len({e.text for e in everything}) == len(everything)


def test_requests_reports_and_anger_are_written_in_every_language_entry_and_hinglish():
    examples = _read_graded(REQUESTS_REPORTS_EXAMPLES, "all")
    counts = Counter((e.language, e.level) for e in examples)
    assert counts == {
        (language, level): n
        for language in [*SUPPORTED_LANGUAGES, "hi-Latn"]
        for level, n in ((0, 4), (-1, 4), (-3, 2))
    }
    hinglish = Counter(e.level for e in _read_graded(HINGLISH_EXAMPLES, "all") if e.language == "hi-Latn")
    assert hinglish == {level: 8 for level in range(-3, 4)}


def test_customer_moods_are_written_in_every_language_entry_and_hinglish_and_never_held_out():
    moods = _read_graded(CUSTOMER_MOODS_FIT_EXAMPLES, "all")
    assert Counter((e.language, e.level) for e in moods) == {
        (language, level): n
        for language in [*SUPPORTED_LANGUAGES, "hi-Latn"]
        for level, n in ((-3, 3), (-2, 1), (-1, 3), (0, 3), (1, 1))
    }
    texts = {e.text for e in moods}
    assert texts <= {e.text for e in load_intensity_examples("fit")}
    assert not texts & {e.text for e in load_intensity_examples("holdout")}


def test_every_hinglish_message_is_detected_as_hindi_in_latin_letters():
    texts = [
        e.text
        for path in (*MORE_GRADED_EXAMPLES, CUSTOMER_MOODS_FIT_EXAMPLES)
        for e in _read_graded(path, "all")
        if e.language == "hi-Latn"
    ]
    assert texts and detect_languages(texts) == ["hi-Latn"] * len(texts)


def test_the_graded_messages_are_not_training_data():
    trained = {
        line.rsplit("\t", 1)[0]
        for line in CUSTOMER_SERVICE_EXAMPLES.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not trained & {e.text for e in load_intensity_examples("all")}


def test_a_malformed_graded_file_is_refused(tmp_path):
    bad = tmp_path / "graded.tsv"
    bad.write_text("en\t-4\tway too angry\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not in -3..3"):
        load_intensity_examples(path=bad, fit_only_paths=())
    bad.write_text("en\tonly two fields\n", encoding="utf-8")
    with pytest.raises(ValueError, match="language<TAB>level<TAB>text"):
        load_intensity_examples(path=bad, fit_only_paths=())


def test_threshold_reach_counts_each_grade_at_or_below_each_threshold():
    p = np.array([[0.97, 0.02, 0.01], [0.65, 0.3, 0.05], [0.3, 0.6, 0.1], [0.6, 0.35, 0.05]])
    levels = levels_for(p, 1.0)  # Very negative, Negative, Slightly negative, Negative
    reach = agreement(p, [-3, -2, -1, -1], 1.0)["threshold_reach"]
    assert list(levels) == [-3, -2, -1, -2]
    assert reach[-3] == {-3: 100.0, -2: 0.0, -1: 0.0}
    assert reach[-2] == {-3: 100.0, -2: 100.0, -1: 50.0}
    assert reach[-1] == {-3: 100.0, -2: 100.0, -1: 100.0}
