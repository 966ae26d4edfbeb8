"""The held-out customer-service messages that bench/model.py scores: complete, and never trained on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from insights.scoring import SUPPORTED_LANGUAGES
from insights.scoring.training import load_customer_service_examples

HOLDOUT = Path(__file__).resolve().parent.parent / "bench" / "data" / "customer_service_holdout.tsv"


def _rows():
    return [line.split("\t") for line in HOLDOUT.read_text("utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_supported_language_has_a_complaint_a_question_and_a_thanks():
    rows = _rows()
    assert all(len(row) == 3 and row[2].strip() for row in rows)
    assert Counter((language, label) for language, label, _ in rows) == {
        (language, label): 1 for language in SUPPORTED_LANGUAGES for label in ("0", "1", "2")
    }


def test_no_held_out_message_is_in_the_training_examples():
    trained = {example.text.strip().lower() for example in load_customer_service_examples()}
    assert not [text for _, _, text in _rows() if text.strip().lower() in trained]
