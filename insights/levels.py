"""The 7-level sentiment scale and the threshold rules: the one place that decides them.

A score is a number in [-1, 1]: P(positive) - P(negative) from the classifier (for the bundled
model read through an exponent that makes it follow how strong the feeling is, see
insights/scoring/intensity.py), so a message the model reads as outraged scores near -1 and an
even three-way split scores 0.

Level boundaries (upper bounds are exclusive, the top level takes everything above):

    score <  -0.70            Very negative
    -0.70 <= score < -0.50    Negative
    -0.50 <= score < -0.15    Slightly negative
    -0.15 <= score <= 0.15    Neutral
     0.15 <  score <=  0.50   Slightly positive
     0.50 <  score <=  0.70   Positive
     0.70 <  score            Very positive

The bands are symmetric so that a message and its mirror image land on mirrored levels. They
were set (26 Nov 2026) to where the graded customer-service messages of
insights/scoring/data put their levels: of the symmetric band sets on a 0.05 grid, these gave
the fitted messages' grades the smallest mean level error. Against the earlier ±0.10 / 0.30 /
0.60, on the held-out graded messages: exact level 63.9% instead of 51.9%, neutral questions
raising a Slightly negative alert 3.7% instead of 9.8%, dissatisfied messages taken for Very
negative 17% instead of 32% (docs/model.md).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SentimentLevel(models.IntegerChoices):
    VERY_NEGATIVE = -3, _("Very negative")
    NEGATIVE = -2, _("Negative")
    SLIGHTLY_NEGATIVE = -1, _("Slightly negative")
    NEUTRAL = 0, _("Neutral")
    SLIGHTLY_POSITIVE = 1, _("Slightly positive")
    POSITIVE = 2, _("Positive")
    VERY_POSITIVE = 3, _("Very positive")


# (lower bound of the band's magnitude, level) from the most extreme inwards.
_NEGATIVE_BANDS = (
    (0.70, SentimentLevel.VERY_NEGATIVE),
    (0.50, SentimentLevel.NEGATIVE),
    (0.15, SentimentLevel.SLIGHTLY_NEGATIVE),
)
_POSITIVE_BANDS = (
    (0.70, SentimentLevel.VERY_POSITIVE),
    (0.50, SentimentLevel.POSITIVE),
    (0.15, SentimentLevel.SLIGHTLY_POSITIVE),
)


def level_for_score(score: float) -> SentimentLevel:
    """Map a score in [-1, 1] to its level; out-of-range scores are clamped."""
    if score != score:  # NaN never compares; refuse it rather than call it neutral.
        raise ValueError("sentiment score is NaN")
    score = max(-1.0, min(1.0, float(score)))
    if score < 0:
        for bound, level in _NEGATIVE_BANDS:
            if -score > bound:
                return level
        return SentimentLevel.NEUTRAL
    for bound, level in _POSITIVE_BANDS:
        if score > bound:
            return level
    return SentimentLevel.NEUTRAL


def level_label(level: int | None) -> str:
    if level is None:
        return str(_("Not scored"))
    return str(SentimentLevel(level).label)


def level_slug(level: int | None) -> str:
    """A stable, CSS- and JSON-friendly name: very_negative ... very_positive."""
    if level is None:
        return "not_scored"
    return SentimentLevel(level).name.lower()


def level_fields(level: int | None, *, prefix: str = "") -> dict:
    """A level as every frame carries it: ``{prefix}level`` (the slug), ``{prefix}level_value``
    and ``{prefix}label``; e.g. ``prefix="conversation_"`` for a conversation's sentiment."""
    return {
        f"{prefix}level": level_slug(level),
        f"{prefix}level_value": level,
        f"{prefix}label": level_label(level),
    }


class RepresentativeThreshold(models.IntegerChoices):
    OFF = 0, _("Don't show alerts")
    SLIGHTLY_NEGATIVE = -1, _("Slightly negative")
    NEGATIVE = -2, _("Negative")
    VERY_NEGATIVE = -3, _("Very negative")


class SupervisorThreshold(models.IntegerChoices):
    OFF = 0, _("Don't send notifications")
    SLIGHTLY_NEGATIVE = -1, _("Slightly negative")
    NEGATIVE = -2, _("Negative")
    VERY_NEGATIVE = -3, _("Very negative")


THRESHOLD_OFF = 0
VALID_THRESHOLDS = frozenset({0, -1, -2, -3})


def threshold_edge(threshold: int) -> float:
    """The score at the top of a negative threshold's band: a score below it reaches the
    threshold (Slightly negative -0.15, Negative -0.50, Very negative -0.70)."""
    for bound, level in _NEGATIVE_BANDS:
        if level == threshold:
            return -bound
    raise ValueError(f"not a negative threshold: {threshold!r}")


def threshold_reached(level: int | None, threshold: int | None) -> bool:
    """The spec's rule: alert when the sentiment reaches the threshold or any lower level.

    A threshold of OFF ("Don't show alerts" / "Don't send notifications") never fires, and an
    unscored conversation never fires.
    """
    if level is None or threshold is None or threshold == THRESHOLD_OFF:
        return False
    if threshold not in VALID_THRESHOLDS:
        raise ValueError(f"not a sentiment threshold: {threshold!r}")
    return level <= threshold
