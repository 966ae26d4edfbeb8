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
