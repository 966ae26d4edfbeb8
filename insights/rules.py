"""The sentiment rules of the live pipeline, as pure functions over plain values.

Nothing here touches the database, the clock or the channel layer, so every rule is tested
with plain numbers (``tests/insights/test_rules.py``). The services in
``insights/services/`` gather the values and act on the answers.

Conversation sentiment (aggregate, with the outburst rule)
---------------------------------------------------------
The conversation's score is the recency-weighted mean of the scores of its last
``AGGREGATE_WINDOW`` (6) *scored* customer messages, unless the newest one is an outburst::

    messages, oldest → newest:  s_1 … s_n        (n ≤ 6, only messages with a score)
    weights:                    w_i = DECAY ** (n - i)   (newest weighs 1, the one before 0.7, …)
    mean    = Σ w_i · s_i / Σ w_i
    score   = min(mean, OUTBURST_DAMPING · s_n)  when s_n < OUTBURST_SCORE (-0.50: the newest
                                                 message is itself Negative or Very negative)
            = mean                               otherwise
    level   = level_for_score(score)            (insights.levels: the one place for bands)

With ``DECAY = 0.7`` the newest message carries about 36 % of the weight of six messages and
the oldest about 6 %: the conversation follows the customer's mood quickly without one
message erasing the history. The mean alone would not hear one outburst after a good start
(five Very positive messages and one outraged one average +0.27, Slightly positive), so a
strongly negative newest message also counts on its own, damped by ``OUTBURST_DAMPING``
(0.75): a Very negative message (< -0.70) takes the conversation to at least Negative
(< -0.525), a Negative one (-0.50 … -0.70) to at least Slightly negative. It only holds while
that message is the newest: the customer's next calmer message hands the level back to the
mean, so recent messages still matter most. A mildly negative message (Slightly negative) is
never an outburst: it only moves the mean.

Messages in an unsupported language ("not scored") and representative/bot messages are not
in the list at all, so they never pull the conversation toward neutral. A conversation with
no scored message has no score (``None``).

Trend
-----
Compare the conversation score with the one computed without the newest scored message:
a change of more than ``TREND_EPSILON`` (0.1, half the width of the neutral band) is
``rising`` or ``falling``; anything smaller, or a first message, is ``steady``.

Alert state machine (one alert per crossing, with hysteresis)
-------------------------------------------------------------
Per conversation and audience (representative / supervisor) the state is *armed* or
*in alert*. Armed and ``threshold_reached(level, threshold)`` → raise, state becomes in alert.
In alert and the score is back above the threshold's band by ``RECOVER_MARGIN`` (0.10; for
Slightly negative: a score of -0.05 or more, see ``recovered``) → "recovered", armed again.
Anything else → nothing, so a customer who stays angry produces one alert, not one per
message, and a conversation hovering at the edge of the threshold (one mildly negative message
among positive ones, then another) does not raise, recover and raise again on every message.
A threshold of "Don't show alerts" raises nothing and recovers nothing.

Hand-over (``handover_transition``): when a conversation is assigned or transferred, its new
representative (and, on a queue change, the new queue's supervisors) is alerted at once if
the conversation reaches the threshold that applies now (the new queue's), even when the
state was already in alert, since the new owner has heard nothing; a conversation in alert
that is clear of the new threshold is recovered (re-armed) instead.

Outcomes
--------
Message sequences, the conversation level after the last message and the alerts raised on
the way, at the default representative threshold (Slightly negative) and supervisor threshold
(Negative). Scores: VP +0.9, P +0.6, SP +0.3, N 0, SN -0.3, NG -0.6, VN -0.9, or a number.
``tests/insights/test_rules.py`` replays every row with ``alerts_for``; the README shows the
same table.

| messages (oldest → newest) | level after the last | representative alerts | supervisor alerts |
|---|---|---|---|
| VP VP VP VP VP VN | Negative | raise | raise |
| VP VP VP VP VP VN P | Slightly positive | raise, recover | raise, recover |
| VP VP VP VP VP NG | Slightly negative | raise | – |
| P P P SN | Slightly positive | – | – |
| P P SN P SN P SN | Neutral | – | – |
| -0.2 -0.1 -0.2 -0.1 -0.2 -0.1 | Neutral | raise | – |
| SN NG VN VN VN | Very negative | raise | raise |
| NG NG N P P P | Slightly positive | raise, recover | raise, recover |
| VP VP VN P P VN | Negative | raise, recover, raise | raise, recover, raise |
| N N N | Neutral | – | – |

Row 1 is the outburst the mean alone missed (+0.27, nothing raised). Row 6 hovers at the
edge of Slightly negative: on the level alone it would raise, recover, raise, recover, raise,
recover; with the recovery margin it raises once and holds.

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

from conversations.models import Presence
from insights.levels import THRESHOLD_OFF, level_for_score, threshold_edge, threshold_reached

AGGREGATE_WINDOW = 6
DECAY = 0.7
OUTBURST_SCORE = -0.50
OUTBURST_DAMPING = 0.75
RECOVER_MARGIN = 0.10
TREND_EPSILON = 0.1
SHARP_DROP_WINDOW = 3
SHARP_DROP_LEVELS = 2

RISING = "rising"
STEADY = "steady"
FALLING = "falling"

RAISE = "raise"
RECOVER = "recover"

# Presence values (conversations.models.Presence) that may receive supervisor notifications.
NOTIFIABLE_PRESENCES = frozenset({Presence.AVAILABLE, Presence.BUSY})  # not Busy-DND, Away or Offline


def should_score(*, monitoring_enabled: bool, opted_out: bool) -> bool:
    """A customer message is scored while monitoring is on and its conversation did not opt
    out; otherwise it is stored as ``skipped`` (at ingest) or skipped when claimed."""
    return monitoring_enabled and not opted_out


def aggregate_score(scores: Sequence[float]) -> float | None:
    """Recency-weighted mean of the last AGGREGATE_WINDOW scores (oldest first)."""
    window = [float(s) for s in scores if s is not None][-AGGREGATE_WINDOW:]
    if not window:
        return None
    n = len(window)
    weights = [DECAY ** (n - 1 - i) for i in range(n)]
    return sum(w * s for w, s in zip(weights, window, strict=True)) / sum(weights)


def conversation_score(scores: Sequence[float]) -> float | None:
    """The mean, or the damped newest score when that one is an outburst and lower."""
    mean = aggregate_score(scores)
    if mean is None:
        return None
    latest = float([s for s in scores if s is not None][-1])
    if latest < OUTBURST_SCORE:
        return min(mean, OUTBURST_DAMPING * latest)
    return mean


def trend_for(scores: Sequence[float]) -> str:
    """rising / steady / falling: the conversation score now versus without the newest score."""
    window = [s for s in scores if s is not None]
    if len(window) < 2:
        return STEADY
    delta = conversation_score(window) - conversation_score(window[:-1])
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
    """Score, level and trend of a conversation from its scored customer messages."""
    score = conversation_score(scores)
    level = None if score is None else int(level_for_score(score))
    return ConversationSentiment(score=score, level=level, trend=trend_for(scores))


def recovered(*, score: float | None, threshold: int) -> bool:
    """In alert, the conversation has recovered once its score is RECOVER_MARGIN above the
    threshold's band (the hysteresis that keeps an edge case from raising again and again)."""
    return score is not None and score >= threshold_edge(threshold) + RECOVER_MARGIN


def alert_transition(
    *, level: int | None, threshold: int | None, in_alert: bool, score: float | None = None
) -> str | None:
    """RAISE, RECOVER or None for one audience, given the conversation level (and score) now.
    Without a score, recovery falls back to the level being above the threshold."""
    if threshold is None or threshold == THRESHOLD_OFF or level is None:
        return None
    reached = threshold_reached(level, threshold)
    if reached and not in_alert:
        return RAISE
    if in_alert and not reached and (score is None or recovered(score=score, threshold=threshold)):
        return RECOVER
    return None


def handover_transition(*, level: int | None, threshold: int | None, in_alert: bool) -> str | None:
    """When a conversation changes hands (a new representative, or a new queue for its
    supervisors): RAISE when it reaches the threshold that applies now, whatever the state was,
    because the new owner has heard nothing yet; RECOVER when it was in alert but is clear of
    that threshold (the state re-arms under the new queue's rule); else None."""
    if threshold is None or threshold == THRESHOLD_OFF or level is None:
        return None
    if threshold_reached(level, threshold):
        return RAISE
    return RECOVER if in_alert else None


def alerts_for(
    scores: Sequence[float], threshold: int, *, in_alert: bool = False
) -> tuple[int | None, list[str]]:
    """Replay a conversation message by message for one audience: (the level after the last
    message, the RAISE / RECOVER actions on the way). The table in the module docstring."""
    actions: list[str] = []
    level = None
    for n in range(1, len(scores) + 1):
        sentiment = conversation_sentiment(scores[:n])
        level = sentiment.level
        action = alert_transition(level=level, threshold=threshold, in_alert=in_alert, score=sentiment.score)
        if action is not None:
            actions.append(action)
            in_alert = action == RAISE
    return level, actions


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
