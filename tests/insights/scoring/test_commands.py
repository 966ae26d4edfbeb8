from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from insights.scoring import engine


@pytest.fixture
def process_scorer(fake_scorer, monkeypatch):
    monkeypatch.setattr(engine, "_scorer", fake_scorer)
    return fake_scorer


def test_sentiment_score_prints_one_json_line_per_text_in_order(process_scorer, tmp_path):
    file = tmp_path / "texts.txt"
    file.write_text("the parcel is late, I rate it 1\n\n", encoding="utf-8")
    out = io.StringIO()
    call_command(
        "sentiment_score", "thanks, I rate this 9 out of 9", "   ", "😡😡", file=str(file), stdout=out
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert {"language", "supported", "label", "score", "confidence", "probabilities"} <= row.keys()
    assert rows[0]["language"] == "en" and rows[0]["score"] > 0.5
    assert rows[1]["supported"] is False and rows[1]["label"] == "Not scored"
    assert rows[2]["language"] is None and rows[2]["supported"] is True
    assert rows[3]["score"] < -0.5
    assert rows[4]["supported"] is False


def test_sentiment_evaluate_prints_per_language_macro_f1(process_scorer, tmp_path):
    for language, texts in {
        "english": ["awful, 0 stars", "it is fine, 5", "great job, 9"],
        "spanish": ["horrible, 0", "normal, 5", "genial, 9"],
    }.items():
        (tmp_path / language).mkdir()
        (tmp_path / language / "val_text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        (tmp_path / language / "val_labels.txt").write_text("0\n1\n2\n", encoding="utf-8")
    out = io.StringIO()
    call_command("sentiment_evaluate", data=str(tmp_path), split="val", stdout=out, stderr=io.StringIO())
    result = json.loads(out.getvalue())
    assert set(result) == {"split", "per_language", "average"}
    assert result["split"] == "val"
    assert result["per_language"] == {"english": 100.0, "spanish": 100.0}
    assert result["average"] == 100.0
