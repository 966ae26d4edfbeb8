import pytest

from insights.levels import (
    RepresentativeThreshold,
    SentimentLevel,
    SupervisorThreshold,
    level_for_score,
    level_label,
    level_slug,
    threshold_reached,
)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (-1.0, SentimentLevel.VERY_NEGATIVE),
        (-0.71, SentimentLevel.VERY_NEGATIVE),
        (-0.70, SentimentLevel.NEGATIVE),
        (-0.51, SentimentLevel.NEGATIVE),
        (-0.50, SentimentLevel.SLIGHTLY_NEGATIVE),
        (-0.16, SentimentLevel.SLIGHTLY_NEGATIVE),
        (-0.15, SentimentLevel.NEUTRAL),
        (0.0, SentimentLevel.NEUTRAL),
        (0.15, SentimentLevel.NEUTRAL),
        (0.16, SentimentLevel.SLIGHTLY_POSITIVE),
        (0.50, SentimentLevel.SLIGHTLY_POSITIVE),
        (0.51, SentimentLevel.POSITIVE),
        (0.70, SentimentLevel.POSITIVE),
        (0.71, SentimentLevel.VERY_POSITIVE),
        (1.0, SentimentLevel.VERY_POSITIVE),
    ],
)
def test_score_maps_to_the_documented_level_band(score, level):
    assert level_for_score(score) == level


def test_scores_outside_the_range_are_clamped_not_rejected():
    assert level_for_score(-7) == SentimentLevel.VERY_NEGATIVE
    assert level_for_score(3) == SentimentLevel.VERY_POSITIVE


def test_nan_score_is_refused_rather_than_called_neutral():
    with pytest.raises(ValueError):
        level_for_score(float("nan"))


def test_mirrored_scores_land_on_mirrored_levels():
    for tenth in range(0, 11):
        score = tenth / 10 + 0.005
        assert level_for_score(-score) == -level_for_score(score)


def test_the_scale_has_seven_levels_with_the_spec_labels():
    assert [level.label for level in SentimentLevel] == [
        "Very negative",
        "Negative",
        "Slightly negative",
        "Neutral",
        "Slightly positive",
        "Positive",
        "Very positive",
    ]
    assert level_label(None) == "Not scored"
    assert level_slug(-1) == "slightly_negative"


def test_threshold_options_are_the_spec_lists():
    assert [c.label for c in RepresentativeThreshold] == [
        "Don't show alerts",
        "Slightly negative",
        "Negative",
        "Very negative",
    ]
    assert [c.label for c in SupervisorThreshold] == [
        "Don't send notifications",
        "Slightly negative",
        "Negative",
        "Very negative",
    ]


@pytest.mark.parametrize("threshold", [-1, -2, -3])
@pytest.mark.parametrize("level", list(SentimentLevel))
def test_alert_fires_at_the_threshold_or_any_lower_level(threshold, level):
    assert threshold_reached(level, threshold) == (level <= threshold)


@pytest.mark.parametrize("level", list(SentimentLevel))
def test_off_threshold_never_fires(level):
    assert threshold_reached(level, RepresentativeThreshold.OFF) is False


def test_unscored_conversation_never_fires():
    assert threshold_reached(None, -1) is False


def test_an_out_of_range_threshold_is_an_error():
    with pytest.raises(ValueError):
        threshold_reached(-2, -5)
