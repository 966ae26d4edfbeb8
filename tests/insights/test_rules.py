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
    expected = sum(w * s for w, s in zip(weights, window, strict=False)) / sum(weights)
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


# --- the outburst rule and the recovery margin, as the table in insights/rules.py ---------------

SCORE_NAMES = {"VP": 0.9, "P": 0.6, "SP": 0.3, "N": 0.0, "SN": -0.3, "NG": -0.6, "VN": -0.9}


def _is_sequence(cell: str) -> bool:
    def is_score(token: str) -> bool:
        try:
            float(token)
        except ValueError:
            return token in SCORE_NAMES
        return True

    return bool(cell) and all(is_score(t) for t in cell.split())


def _outcome_rows(text: str) -> list[tuple[str, ...]]:
    """The rows of the outcome table in a text (a docstring or the README)."""
    rows = []
    for line in text.splitlines():
        cells = tuple(c.strip() for c in line.strip().strip("|").split("|"))
        if line.strip().startswith("|") and len(cells) == 4 and _is_sequence(cells[0]):
            rows.append(cells)
    return rows


OUTCOMES = _outcome_rows(rules.__doc__)


def _actions(cell: str) -> list[str]:
    return [] if cell == "–" else [a.strip() for a in cell.split(",")]


def test_the_outcome_table_has_every_row():
    assert len(OUTCOMES) == 10


@pytest.mark.parametrize(
    "messages, level, representative, supervisor", OUTCOMES, ids=[r[0] for r in OUTCOMES]
)
def test_outcome_table(messages, level, representative, supervisor):
    scores = [SCORE_NAMES[t] if t in SCORE_NAMES else float(t) for t in messages.split()]
    rep_level, rep_actions = rules.alerts_for(scores, -1)
    _, sup_actions = rules.alerts_for(scores, -2)
    assert level_label_of(rep_level) == level
    assert rep_actions == _actions(representative)
    assert sup_actions == _actions(supervisor)


def level_label_of(level):
    from insights.levels import level_label

    return level_label(level)


def test_the_readme_shows_the_same_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert _outcome_rows(readme) == OUTCOMES


def test_one_outburst_after_five_very_positive_messages_reaches_negative():
    scores = [0.9] * 5 + [-0.9]
    assert rules.aggregate_score(scores) > 0.15  # the mean alone: Slightly positive, no alert
    assert rules.conversation_sentiment(scores).level == -2


def test_a_very_negative_newest_message_always_takes_the_conversation_to_negative_at_least():
    for latest in (-0.71, -0.8, -1.0):
        assert rules.conversation_sentiment([1.0] * 5 + [latest]).level <= -2


def test_a_mildly_negative_newest_message_is_not_an_outburst():
    scores = [0.6, 0.6, 0.6, -0.45]
    assert rules.conversation_score(scores) == pytest.approx(rules.aggregate_score(scores))


def test_the_outburst_ends_with_the_next_calmer_message():
    scores = [0.9] * 5 + [-0.9, 0.6]
    assert rules.conversation_score(scores) == pytest.approx(rules.aggregate_score(scores))


def test_hovering_at_the_threshold_edge_raises_once_where_the_level_alone_would_flap():
    scores = [-0.2, -0.1, -0.2, -0.1, -0.2, -0.1]
    flapping, in_alert = [], False
    for n in range(1, len(scores) + 1):
        action = rules.alert_transition(
            level=rules.conversation_sentiment(scores[:n]).level, threshold=-1, in_alert=in_alert
        )
        if action:
            flapping.append(action)
            in_alert = action == rules.RAISE
    assert flapping == ["raise", "recover"] * 3
    assert rules.alerts_for(scores, -1) == (0, ["raise"])


@pytest.mark.parametrize("threshold, edge", [(-1, -0.15), (-2, -0.50), (-3, -0.70)])
def test_recovery_needs_the_margin_above_the_threshold_band(threshold, edge):
    assert not rules.recovered(score=edge + 0.05, threshold=threshold)
    assert rules.recovered(score=edge + rules.RECOVER_MARGIN, threshold=threshold)
    assert (
        rules.alert_transition(level=threshold + 1, threshold=threshold, in_alert=True, score=edge + 0.05)
        is None
    )
