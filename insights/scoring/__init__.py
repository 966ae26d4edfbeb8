"""Message sentiment: an offline multilingual transformer behind a small, stable API.

    from insights.scoring import get_scorer
    results = get_scorer().score(["thanks, that fixed it"], language_hints=["en"])

``score()`` is blocking CPU work: call it from a thread or worker, never on the event loop.
See docs/model.md for how the model is built, trained and measured.
"""

from .language import SUPPORTED_LANGUAGES, detect_language

# The engine pulls in torch: loaded on first use, so that web processes which only need the
# language list (forms, pages) never pay for it.
_LAZY = {
    "ScoreResult": "engine",
    "SentimentScorer": "engine",
    "get_scorer": "engine",
    "reset_scorer": "engine",
    "ModelUnavailable": "model",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SUPPORTED_LANGUAGES",
    "ModelUnavailable",
    "ScoreResult",
    "SentimentScorer",
    "detect_language",
    "get_scorer",
    "reset_scorer",
]
