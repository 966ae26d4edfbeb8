"""The sentiment rules of the live pipeline, as pure functions over plain values.

Nothing here touches the database, the clock or the channel layer, so every rule is tested
with plain numbers (``tests/insights/test_rules.py``). The services in
``insights/services/`` gather the values and act on the answers.

Conversation sentiment (aggregate)
----------------------------------
The conversation's score is the recency-weighted mean of the scores of its last
``AGGREGATE_WINDOW`` (6) *scored* customer messages::

    messages, oldest → newest:  s_1 … s_n        (n ≤ 6, only messages with a score)
    weights:                    w_i = DECAY ** (n - i)   (newest weighs 1, the one before 0.7, …)
    score   = Σ w_i · s_i / Σ w_i
    level   = level_for_score(score)            (insights.levels: the one place for bands)

With ``DECAY = 0.7`` the newest message carries about 36 % of the weight of six messages and
the oldest about 6 %: the conversation follows the customer's mood quickly without one
message erasing the history. Messages in an unsupported language ("not scored") and
representative/bot messages are not in the list at all, so they never pull the conversation
toward neutral. A conversation with no scored message has no score (``None``).

Trend
-----
Compare the aggregate with the aggregate computed without the newest scored message:
a change of more than ``TREND_EPSILON`` (0.1, half the width of the neutral band) is
``rising`` or ``falling``; anything smaller, or a first message, is ``steady``.

Alert state machine (one alert per crossing)
--------------------------------------------
Per conversation and audience (representative / supervisor) the state is *armed* or
*in alert*. Armed and ``threshold_reached(level, threshold)`` → raise, state becomes in alert.
In alert and the level is back above the threshold → "recovered", state becomes armed again.
Anything else → nothing, so a customer who stays angry produces one alert, not one per message.
A threshold of "Don't show alerts" raises nothing and recovers nothing.

Sharp drop
----------
Optional (organisation setting). Over the per-message levels of the last ``SHARP_DROP_WINDOW``
(3) scored customer messages, the newest is at least ``SHARP_DROP_LEVELS`` (2) levels below
the highest earlier one. It fires only when the previous message did not already satisfy the
rule (again: one alert per drop, not one per message while the drop persists).

Supervisor gate
---------------
``supervisor_eligible``: presence Available or Busy **and** assigned to the conversation's
queue. The one place for that rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from insights.levels import THRESHOLD_OFF, level_for_score, threshold_reached

AGGREGATE_WINDOW = 6
DECAY = 0.7
TREND_EPSILON = 0.1
SHARP_DROP_WINDOW = 3
SHARP_DROP_LEVELS = 2

RISING = "rising"
STEADY = "steady"
FALLING = "falling"

RAISE = "raise"
RECOVER = "recover"

# Presence values (conversations.models.Presence) that may receive supervisor notifications.
NOTIFIABLE_PRESENCES = frozenset({"available", "busy"})


def aggregate_score(scores: Sequence[float]) -> float | None:
    """Recency-weighted mean of the last AGGREGATE_WINDOW scores (oldest first)."""
    window = [float(s) for s in scores if s is not None][-AGGREGATE_WINDOW:]
    if not window:
        return None
    n = len(window)
    weights = [DECAY ** (n - 1 - i) for i in range(n)]
    return sum(w * s for w, s in zip(weights, window)) / sum(weights)


def trend_for(scores: Sequence[float]) -> str:
    """rising / steady / falling: the aggregate now versus without the newest score."""
    window = [s for s in scores if s is not None]
    if len(window) < 2:
        return STEADY
    now = aggregate_score(window)
    before = aggregate_score(window[:-1])
    delta = now - before
    if delta > TREND_EPSILON:
        return RISING
    if delta < -TREND_EPSILON:
        return FALLING
    return STEADY


@dataclass(frozen=True)
class ConversationSentiment:
    score: float | None
    level: int | None
    trend: str


def conversation_sentiment(scores: Sequence[float]) -> ConversationSentiment:
    """Aggregate, level and trend of a conversation from its scored customer messages."""
    score = aggregate_score(scores)
    level = None if score is None else int(level_for_score(score))
    return ConversationSentiment(score=score, level=level, trend=trend_for(scores))


def alert_transition(*, level: int | None, threshold: int | None, in_alert: bool) -> str | None:
    """RAISE, RECOVER or None for one audience, given the conversation level now."""
    if threshold is None or threshold == THRESHOLD_OFF or level is None:
        return None
    reached = threshold_reached(level, threshold)
    if reached and not in_alert:
        return RAISE
    if not reached and in_alert:
        return RECOVER
    return None


def _drop_in(levels: Sequence[int]) -> bool:
    window = list(levels)[-SHARP_DROP_WINDOW:]
    if len(window) < 2:
        return False
    return max(window[:-1]) - window[-1] >= SHARP_DROP_LEVELS


def sharp_drop(levels: Sequence[int]) -> bool:
    """True when the newest message level is a *new* sharp drop (see module docstring)."""
    levels = [int(v) for v in levels if v is not None]
    return _drop_in(levels) and not _drop_in(levels[:-1])


def supervisor_eligible(presence: str, queue_ids: Iterable[int], conversation_queue_id: int) -> bool:
    """A supervisor gets a notification only when Available or Busy AND assigned to the queue."""
    return str(presence) in NOTIFIABLE_PRESENCES and int(conversation_queue_id) in {int(q) for q in queue_ids}
