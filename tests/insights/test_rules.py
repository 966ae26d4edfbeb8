"""The pure sentiment rules: aggregation, trend, the alert state machine, sharp drops and the
supervisor gate. Plain values, no database."""

from __future__ import annotations

import pytest

from conversations.models import Presence
from insights import rules
from insights.levels import level_for_score


def test_aggregate_is_recency_weighted_mean_of_the_last_six():
    scores = [0.9, 0.9, -0.5, -0.5, -0.5, -0.5, -0.5]  # the first 0.9 falls out of the window
    weights = [rules.DECAY**k for k in (5, 4, 3, 2, 1, 0)]
    window = scores[-6:]
    expected = sum(w * s for w, s in zip(weights, window)) / sum(weights)
    assert rules.aggregate_score(scores) == pytest.approx(expected)


def test_newest_message_weighs_most():
    assert rules.aggregate_score([0.8, -0.8]) < 0
    assert rules.aggregate_score([-0.8, 0.8]) > 0


def test_no_scored_message_means_no_score():
    assert rules.aggregate_score([]) is None
    sentiment = rules.conversation_sentiment([])
    assert (sentiment.score, sentiment.level, sentiment.trend) == (None, None, rules.STEADY)


def test_unscored_messages_do_not_pull_toward_neutral():
    # Unsupported-language messages never enter the list: the aggregate of the scored ones stands.
    assert rules.aggregate_score([-0.8, None, None, -0.8]) == pytest.approx(-0.8)


def test_conversation_level_uses_the_one_level_mapping():
    sentiment = rules.conversation_sentiment([-0.6, -0.6])
    assert sentiment.level == level_for_score(-0.6) == -2


@pytest.mark.parametrize(
    "scores, trend",
    [
        ([0.5], rules.STEADY),
        ([0.5, 0.5], rules.STEADY),
        ([0.5, -0.8], rules.FALLING),
        ([-0.8, 0.6], rules.RISING),
        ([0.0, 0.1], rules.STEADY),
    ],
)
def test_trend(scores, trend):
    assert rules.trend_for(scores) == trend


def test_alert_state_machine_one_alert_per_crossing_then_recovery_rearms():
    threshold = -1
    levels = [0, -1, -2, -3, -2, -1, 0, 1, -2, -3]
    in_alert = False
    actions = []
    for level in levels:
        action = rules.alert_transition(level=level, threshold=threshold, in_alert=in_alert)
        actions.append(action)
        if action == rules.RAISE:
            in_alert = True
        elif action == rules.RECOVER:
            in_alert = False
    assert actions == [None, "raise", None, None, None, None, "recover", None, "raise", None]


@pytest.mark.parametrize("in_alert", [False, True])
def test_threshold_off_never_raises_nor_recovers(in_alert):
    for level in range(-3, 4):
        assert rules.alert_transition(level=level, threshold=0, in_alert=in_alert) is None


def test_unscored_conversation_never_alerts():
    assert rules.alert_transition(level=None, threshold=-1, in_alert=False) is None


@pytest.mark.parametrize(
    "levels, expected",
    [
        ([1, -1], True),  # two levels down
        ([1, 0], False),  # one level
        ([2, 1, 0], True),  # 2 → 0 within three messages
        ([2, 1, 0, -1], False),  # already a drop on the previous message: no second alert
        ([3, 3, 3, 1], True),
        ([3, 1, 1, 1], False),  # stable after the drop
        ([1, 1, 1, 1, -1], True),
        ([3, 2, 2, 1], False),  # 3 is out of the three-message window
        ([-3], False),
    ],
)
def test_sharp_drop(levels, expected):
    assert rules.sharp_drop(levels) is expected


@pytest.mark.parametrize("presence", list(Presence.values))
@pytest.mark.parametrize("in_queue", [True, False])
def test_supervisor_gate_for_every_presence(presence, in_queue):
    queues = [7, 9] if in_queue else [9]
    expected = in_queue and presence in (Presence.AVAILABLE, Presence.BUSY)
    assert rules.supervisor_eligible(presence, queues, 7) is expected


def test_supervisor_without_queues_is_never_eligible():
    assert rules.supervisor_eligible(Presence.AVAILABLE, [], 7) is False
