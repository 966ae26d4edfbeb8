"""The 7-level sentiment scale and the threshold rules: the one place that decides them.

A score is a number in [-1, 1]: P(positive) - P(negative) from the classifier (for the bundled
model read through an exponent that makes it follow how strong the feeling is, see
insights/scoring/intensity.py), so a message the model reads as outraged scores near -1 and an
even three-way split scores 0.

Level boundaries (upper bounds are exclusive, the top level takes everything above):

    score <  -0.60            Very negative
    -0.60 <= score < -0.30    Negative
    -0.30 <= score < -0.10    Slightly negative
    -0.10 <= score <= 0.10    Neutral
     0.10 <  score <=  0.30   Slightly positive
     0.30 <  score <=  0.60   Positive
     0.60 <  score            Very positive

The bands are symmetric so that a message and its mirror image land on mirrored levels.
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
    (0.60, SentimentLevel.VERY_NEGATIVE),
    (0.30, SentimentLevel.NEGATIVE),
    (0.10, SentimentLevel.SLIGHTLY_NEGATIVE),
)
_POSITIVE_BANDS = (
    (0.60, SentimentLevel.VERY_POSITIVE),
    (0.30, SentimentLevel.POSITIVE),
    (0.10, SentimentLevel.SLIGHTLY_POSITIVE),
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
