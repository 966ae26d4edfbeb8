"""How sentiment is shown: icon, label, slug and trend arrow. Pure functions over plain values.

Colour is never the only signal (colour-blind-safe): every level has a glyph whose count of
triangles grows with the strength of the feeling, its label, and the trend has an arrow and a word.
The scale itself (levels, labels, slugs) comes from :mod:`insights.levels`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from insights.levels import level_label, level_slug

LEVEL_ICONS = {
    -3: "▼▼▼",
    -2: "▼▼",
    -1: "▼",
    0: "●",
    1: "▲",
    2: "▲▲",
    3: "▲▲▲",
    None: "○",
}
TREND_ARROWS = {"rising": "↗", "steady": "→", "falling": "↘"}
TREND_LABELS = {"rising": "Rising", "steady": "Steady", "falling": "Falling"}


@dataclass(frozen=True)
class SentimentView:
    level: int | None
    slug: str
    label: str
    icon: str
    trend: str
    trend_arrow: str
    trend_label: str


def sentiment_view(level: int | None, trend: str | None = None) -> SentimentView:
    trend = trend or "steady"
    return SentimentView(
        level=level,
        slug=level_slug(level),
        label=level_label(level),
        icon=LEVEL_ICONS.get(level, LEVEL_ICONS[None]),
        trend=trend,
        trend_arrow=TREND_ARROWS.get(trend, "→"),
        trend_label=TREND_LABELS.get(trend, "Steady"),
    )


def drop_driver_seqs(scored: Iterable[tuple[int, int | None]]) -> set[int]:
    """The customer messages that drove a drop: ``scored`` is (seq, level) of the customer
    messages in order (level None = not scored, skipped). A message drove a drop when it is
    negative (slightly negative or lower) and lower than the previous scored customer message.
    The first scored message drove none: there was nothing before it to drop from."""
    drivers: set[int] = set()
    previous: int | None = None
    for seq, level in scored:
        if level is None:
            continue
        if level < 0 and previous is not None and level < previous:
            drivers.add(seq)
        previous = level
    return drivers


def seconds_between(start, end) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def duration_text(seconds: int | None) -> str:
    """12s, 4m 05s, 1h 02m: compact, for table cells."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
