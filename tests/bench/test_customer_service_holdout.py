"""The held-out customer-service messages that bench/model.py scores: complete, and never trained on."""

from __future__ import annotations

from collections import Counter

from bench.model import customer_service_holdout
from insights.scoring import SUPPORTED_LANGUAGES
from insights.scoring.training import load_customer_service_examples


def test_every_supported_language_has_a_complaint_a_question_and_a_thanks():
    rows = customer_service_holdout()
    assert all(len(row) == 3 and row[2].strip() for row in rows)
    assert Counter((language, label) for language, label, _ in rows) == {
        (language, label): 1 for language in SUPPORTED_LANGUAGES for label in ("0", "1", "2")
    }


def test_no_held_out_message_is_in_the_training_examples():
    trained = {example.text.strip().lower() for example in load_customer_service_examples()}
    assert not [text for _, _, text in customer_service_holdout() if text.strip().lower() in trained]


class _CalmReportScorer:
    """Every message's top probability is neutral; its level follows the row's label, except
    for complaints, which it puts at Neutral: how a calm report the head is unsure of reads."""

    def __init__(self, rows):
        self.level_of = {text: {"0": 0, "1": 0, "2": 2}[label] for _, label, text in rows}

    def score(self, texts):
        from insights.scoring.engine import ScoreResult

        probabilities = {"negative": 0.3, "neutral": 0.6, "positive": 0.1}
        return [
            ScoreResult(None, True, probabilities, 0.0, self.level_of[text], 0.6, "stand-in")
            for text in texts
        ]


def test_the_check_counts_the_class_and_the_side_of_the_level_apart():
    from bench.model import customer_service_check

    rows = customer_service_holdout()
    check = customer_service_check(_CalmReportScorer(rows))
    per_label = Counter(label for _, label, _ in rows)
    # top class neutral: only the questions are right
    assert check["right_class"] == per_label["1"]
    # levels: the questions (Neutral) and the thanks (positive) are on the right side, the
    # complaints at Neutral are not
    assert check["right_level_side"] == per_label["1"] + per_label["2"]
    assert len(check["wrong_level_side"]) == per_label["0"]
    assert all(line.split()[1] == "negative->neutral" for line in check["wrong_level_side"])
