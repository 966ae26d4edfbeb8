"""Message sentiment: an offline multilingual transformer behind a small, stable API.

    from insights.scoring import get_scorer
    results = get_scorer().score(["thanks, that fixed it"], language_hints=["en"])

``score()`` is blocking CPU work: call it from a thread or worker, never on the event loop.
See docs/model.md for how the model is built, trained and measured.
"""

from .engine import ScoreResult, SentimentScorer, get_scorer, reset_scorer
from .language import SUPPORTED_LANGUAGES, detect_language
from .model import ModelUnavailable

__all__ = [
    "SUPPORTED_LANGUAGES",
    "ModelUnavailable",
    "ScoreResult",
    "SentimentScorer",
    "detect_language",
    "get_scorer",
    "reset_scorer",
]
