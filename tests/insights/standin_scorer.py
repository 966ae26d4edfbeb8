"""A stand-in scorer for the threshold × level table ONLY, where every level must be hit
exactly (a real model cannot be steered to each of the seven bands on demand).

It is injected through the pipeline's one seam, ``settings.SENTIMENT_SCORER`` (or by calling
``scoring_results_store`` with its results). Texts look like ``"level:-2"``; anything else is
"not scored" (an unsupported language). Every other test uses the real scorer.
"""

from __future__ import annotations

BAND_CENTRES = {-3: -0.85, -2: -0.6, -1: -0.3, 0: 0.0, 1: 0.3, 2: 0.6, 3: 0.85}  # inside insights.levels


def result_for(text: str) -> dict:
    if text.startswith("level:"):
        level = int(text.split(":", 1)[1])
        score = BAND_CENTRES[level]
        return {
            "language": "en",
            "supported": True,
            "probabilities": {
                "negative": max(0.0, -score),
                "neutral": 1 - abs(score),
                "positive": max(0.0, score),
            },
            "score": score,
            "level": level,
            "confidence": 0.9,
            "model_version": "stand-in",
        }
    return {
        "language": "xx",
        "supported": False,
        "probabilities": None,
        "score": None,
        "level": None,
        "confidence": None,
        "model_version": "stand-in",
    }


class LevelScorer:
    calls: list[list[str]] = []

    def warm_up(self) -> None:
        return None

    def score(self, texts, *, language_hints=None, multilingual=True, base_language="en"):
        LevelScorer.calls.append(list(texts))
        return [result_for(t) for t in texts]


def get_scorer() -> LevelScorer:
    return LevelScorer()


def store_levels(conversation, levels) -> None:
    """Customer messages at these levels, stored through the scoring pipeline's store (which
    recomputes the conversation and raises its alerts)."""
    from conversations.models import ScoringStatus, Sender
    from insights.pipeline.store import scoring_results_store
    from tests.conversations.factories import MessageFactory

    start = conversation.messages.count()
    messages = [
        MessageFactory(
            conversation=conversation,
            seq=start + i + 1,
            sender=Sender.CUSTOMER,
            text=f"level:{level}",
            scoring_status=ScoringStatus.PENDING,
        )
        for i, level in enumerate(levels)
    ]
    conversation.last_seq = start + len(levels)
    conversation.save(update_fields=["last_seq"])
    scoring_results_store([(m.pk, result_for(m.text)) for m in messages])
