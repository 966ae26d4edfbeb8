from conversations.display import (
    drop_driver_seqs,
    duration_text,
    sentiment_view,
)


def test_drop_drivers_are_negative_messages_lower_than_the_previous_scored_one():
    scored = [(1, 1), (2, 0), (4, -1), (5, None), (6, -1), (7, -3), (9, 2), (10, -2)]
    assert drop_driver_seqs(scored) == {4, 7, 10}


def test_the_first_scored_message_drove_no_drop_even_when_negative():
    """Nothing came before it to drop from: a conversation that starts negative is not a drop."""
    assert drop_driver_seqs([(1, -2), (2, -2)]) == set()
    assert drop_driver_seqs([(1, None), (2, -3), (3, -3)]) == set()


def test_unscored_messages_are_skipped_not_treated_as_neutral():
    assert drop_driver_seqs([(1, 0), (2, None), (3, -1), (4, None), (5, -1)]) == {3}


def test_every_level_has_an_icon_a_label_and_the_trend_has_an_arrow_and_a_word():
    for level in (-3, -2, -1, 0, 1, 2, 3, None):
        view = sentiment_view(level, "falling")
        assert view.icon and view.label and view.slug
        assert (view.trend_arrow, view.trend_label) == ("↘", "Falling")
    assert sentiment_view(-2).icon == "▼▼" and sentiment_view(None).label == "Not scored"


def test_durations_are_compact():
    assert [duration_text(s) for s in (None, 5, 65, 3725)] == ["–", "5s", "1m 05s", "1h 02m"]
