"""A scorer that crashes on any text containing "POISON" (every time), and otherwise answers
like the stand-in ``LevelScorer``: for the poison-message fault test only."""

from __future__ import annotations

from tests.insights.standin_scorer import result_for


class PoisonScorer:
    calls: list[list[str]] = []

    def score(self, texts, *, language_hints=None, multilingual=True, base_language="en"):
        PoisonScorer.calls.append(list(texts))
        if any("POISON" in text for text in texts):
            raise ValueError("tensor shape mismatch")
        return [result_for(text) for text in texts]


def poison_scorer() -> PoisonScorer:
    return PoisonScorer()
