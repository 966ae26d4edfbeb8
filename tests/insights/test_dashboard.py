from __future__ import annotations

import datetime as dt

import pytest
from django.http import QueryDict
from django.utils import timezone

from conversations.models import Channel, ConversationStatus, ScoringStatus
from insights.dashboard import (
    DashboardFilters,
    DashboardNotAllowed,
    by_channel,
    by_language,
    by_queue,
    by_representative,
    dashboard_build,
    dashboard_conversations,
    dashboard_csv,
    distribution_over_time,
    ended_negative,
    start_vs_end,
)
from sentiment_admin.inputs import InvalidInput
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    billing, tech = QueueFactory(name="Billing"), QueueFactory(name="Tech")
    rep = RepresentativeFactory(queues=[billing])
    sup = SupervisorFactory(queues=[billing])
    a = ConversationFactory(
        queue=billing,
        representative=rep,
        channel=Channel.CHAT,
        language="es",
        status=ConversationStatus.CLOSED,
        start_sentiment_level=0,
        sentiment_level=-2,
        sentiment_score=-0.5,
        closed_at=timezone.now(),
    )
    b = ConversationFactory(
        queue=billing,
        representative=rep,
        channel=Channel.SMS,
        language="en",
        status=ConversationStatus.CLOSED,
        start_sentiment_level=-1,
        sentiment_level=2,
        sentiment_score=0.5,
        closed_at=timezone.now(),
    )
    c = ConversationFactory(
        queue=tech,
        channel=Channel.CHAT,
        language="de",
        sentiment_level=-3,
        status=ConversationStatus.CLOSED,
        start_sentiment_level=-3,
        sentiment_score=-0.9,
    )
    for conv, levels in ((a, [0, -2]), (b, [-1, 2]), (c, [-3])):
        for seq, level in enumerate(levels, start=1):
            MessageFactory(
                conversation=conv, seq=seq, sentiment_level=level, scoring_status=ScoringStatus.SCORED
            )
    MessageFactory(conversation=a, seq=3, scoring_status=ScoringStatus.NOT_SCORED)
    return {"billing": billing, "tech": tech, "rep": rep, "sup": sup, "a": a, "b": b, "c": c}


def test_default_filters_cover_the_last_fourteen_days():
    f = DashboardFilters.default(today=dt.date(2026, 3, 14))
    assert (f.date_from, f.date_to, f.queue_ids) == (dt.date(2026, 3, 1), dt.date(2026, 3, 14), ())


def test_filters_parse_dates_and_queues_and_default_what_is_absent():
    f = DashboardFilters.from_params(
        QueryDict("from=2026-02-10&to=2026-02-01&queue=3&queue=&queue=1"), today=dt.date(2026, 3, 1)
    )
    assert (f.date_from, f.date_to, f.queue_ids) == (dt.date(2026, 2, 1), dt.date(2026, 2, 10), (1, 3))
    f = DashboardFilters.from_params(QueryDict("from="), today=dt.date(2026, 3, 14))
    assert f.date_from == dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    "query", ["from=garbage", "to=9999-12-31", "from=0001-01-01", "queue=x", "queue=%C2%B2", "queue=1.9"]
)
def test_filters_refuse_bad_values_instead_of_guessing(query):
    with pytest.raises(InvalidInput):
        DashboardFilters.from_params(QueryDict(query), today=dt.date(2026, 3, 14))


def test_supervisors_see_their_queues_admins_all_representatives_nothing(org):
    f = DashboardFilters.default()
    assert set(dashboard_conversations(org["sup"], f)) == {org["a"], org["b"]}
    assert set(dashboard_conversations(AdminFactory(), f)) == {org["a"], org["b"], org["c"]}
    with pytest.raises(DashboardNotAllowed):
        dashboard_conversations(org["rep"], f)


def test_queue_filter_and_date_range(org):
    admin = AdminFactory()
    f = DashboardFilters(
        date_from=timezone.localdate(), date_to=timezone.localdate(), queue_ids=(org["tech"].pk,)
    )
    assert list(dashboard_conversations(admin, f)) == [org["c"]]
    past = timezone.localdate() - dt.timedelta(days=30)
    assert not dashboard_conversations(admin, DashboardFilters(date_from=past, date_to=past)).exists()


def test_distribution_over_time_counts_scored_customer_messages_by_level(org):
    rows = distribution_over_time(dashboard_conversations(org["sup"], DashboardFilters.default()))
    assert len(rows) == 1 and rows[0]["date"] == timezone.localdate().isoformat()
    counts = rows[0]["counts"]
    assert (counts[0], counts[-2], counts[-1], counts[2], counts[-3]) == (1, 1, 1, 1, 0)


def test_breakdowns_by_queue_channel_language_and_representative(org):
    qs = dashboard_conversations(AdminFactory(), DashboardFilters.default())
    queues = {g.label: g for g in by_queue(qs)}
    assert (
        queues["Billing"].total == 2
        and queues["Billing"].counts[-2] == 1
        and queues["Billing"].counts[2] == 1
    )
    assert queues["Tech"].negative_share == 1.0
    assert queues["Billing"].average_score == 0.0
    channels = {g.label: g.total for g in by_channel(qs)}
    assert channels == {"Chat": 2, "SMS": 1}
    assert {g.label for g in by_language(qs)} == {"es", "en", "de"}
    reps = by_representative(qs)
    assert [(g.label, g.total) for g in reps] == [(org["rep"].display_name, 2)]


def test_ended_negative_lists_closed_negative_conversations_worst_first(org):
    qs = dashboard_conversations(AdminFactory(), DashboardFilters.default())
    assert ended_negative(qs) == [org["c"], org["a"]]


def test_start_vs_end_averages_overall_and_per_queue(org):
    rows = {r.label: r for r in start_vs_end(dashboard_conversations(org["sup"], DashboardFilters.default()))}
    overall = rows["All queues"]
    assert (overall.conversations, overall.start_average, overall.end_average, overall.change) == (
        2,
        -0.5,
        0.0,
        0.5,
    )
    assert rows["Billing"].conversations == 2


def test_dashboard_build_and_chart_data_are_plain_json(org):
    import json

    board = dashboard_build(org["sup"], DashboardFilters.default())
    data = json.loads(json.dumps(board.chart_data()))
    assert data["levels"][0] == {"value": -3, "slug": "very_negative", "label": "Very negative"}
    assert data["queues"]["labels"] == ["Billing"]
    assert board.conversation_count == 2


def test_csv_export_has_one_row_per_conversation_in_scope_and_no_message_text(org):
    text = dashboard_csv(org["sup"], DashboardFilters.default())
    lines = text.strip().splitlines()
    assert lines[0].startswith("conversation,started_at")
    assert len(lines) == 3
    assert "Hello" not in text


def test_csv_export_quotes_cells_that_would_start_a_formula(org):
    org["billing"].name = '=HYPERLINK("http://evil")'
    org["billing"].save()
    text = dashboard_csv(org["sup"], DashboardFilters.default())
    assert "'=HYPERLINK" in text
