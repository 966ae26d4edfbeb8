"""Representative alerts and supervisor notifications: the threshold × level table, one
alert per crossing, recovery, queue overrides, the presence × queue gate, acknowledge, snooze.

The scores come from ``tests/insights/standin_scorer.py`` fed straight into the pipeline's
store step (``scoring_results_store``): exact levels are needed for the table, which a real
model cannot be steered to. Delivery over websockets with the real model is tested in
``tests/conversations/test_consumers.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Presence
from conversations.services.ingest import message_ingest
from insights import rules
from insights.levels import threshold_reached
from insights.models import (
    AlertAudience,
    AlertKind,
    ConversationSnooze,
    NotificationRecipient,
    QueueSentimentOverride,
    SentimentAlert,
)
from insights.pipeline.claim import scoring_claim
from insights.pipeline.store import scoring_results_store
from insights.selectors import sentiment_settings_get
from insights.services.alerts import conversation_snooze, eligible_supervisors, notification_acknowledge
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.insights.standin_scorer import result_for

pytestmark = pytest.mark.django_db


def score(conversation, *levels):
    """Ingest customer messages and run them through the pipeline's claim + store steps."""
    for level in levels:
        message = message_ingest(conversation=conversation, text=f"level:{level}")
        jobs, _options = scoring_claim([message.pk])
        scoring_results_store([(job.message_id, result_for(f"level:{level}")) for job in jobs])


def set_thresholds(representative: int, supervisor: int, **extra) -> None:
    org = sentiment_settings_get()
    org.representative_threshold = representative
    org.supervisor_threshold = supervisor
    for key, value in extra.items():
        setattr(org, key, value)
    org.save()


def alerts(conversation, audience=None, kind=None):
    qs = SentimentAlert.objects.filter(conversation=conversation).order_by("id")
    if audience:
        qs = qs.filter(audience=audience)
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


@pytest.fixture
def setup():
    queue = QueueFactory()
    rep = RepresentativeFactory(queues=[queue])
    supervisor = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    conversation = ConversationFactory(queue=queue, representative=rep)
    return queue, rep, supervisor, conversation


@pytest.mark.parametrize("threshold", [0, -1, -2, -3])
@pytest.mark.parametrize("level", [-3, -2, -1, 0, 1, 2, 3])
def test_threshold_table(setup, threshold, level):
    """Each threshold × each level, for both audiences: an alert exactly when the level is at
    or below the threshold, none when the threshold is "Don't show alerts"."""
    _queue, rep, supervisor, conversation = setup
    set_thresholds(threshold, threshold)
    score(conversation, level)
    expected = threshold != 0 and level <= threshold
    assert expected == threshold_reached(level, threshold)
    rep_alerts = alerts(conversation, AlertAudience.REPRESENTATIVE)
    sup_alerts = alerts(conversation, AlertAudience.SUPERVISOR)
    assert len(rep_alerts) == int(expected)
    assert len(sup_alerts) == int(expected)
    if expected:
        assert rep_alerts[0].kind == AlertKind.THRESHOLD and rep_alerts[0].level == level
        assert rep_alerts[0].threshold == threshold
        assert list(sup_alerts[0].recipients.values_list("staff_id", flat=True)) == [supervisor.pk]


def test_no_alert_storm_one_alert_per_crossing_and_a_recovery(setup):
    _queue, _rep, _sup, conversation = setup
    set_thresholds(-1, -2)
    # Each message's own level; the conversation level is the recency-weighted aggregate.
    score(conversation, -3, -3, -3, -3, -3, -3)
    assert [a.kind for a in alerts(conversation, AlertAudience.REPRESENTATIVE)] == [AlertKind.THRESHOLD]
    assert [a.kind for a in alerts(conversation, AlertAudience.SUPERVISOR)] == [AlertKind.THRESHOLD]
    score(conversation, 3, 3, 3)  # the customer calms down
    assert [a.kind for a in alerts(conversation, AlertAudience.REPRESENTATIVE)] == [
        AlertKind.THRESHOLD,
        AlertKind.RECOVERED,
    ]
    score(conversation, -3, -3, -3, -3)  # and gets angry again: re-armed, one more alert
    kinds = [a.kind for a in alerts(conversation, AlertAudience.REPRESENTATIVE)]
    assert kinds == [AlertKind.THRESHOLD, AlertKind.RECOVERED, AlertKind.THRESHOLD]


def test_queue_override_wins_over_the_organisation_default(setup):
    queue, _rep, _sup, conversation = setup
    set_thresholds(-1, -1)
    QueueSentimentOverride.objects.create(queue=queue, representative_threshold=-3, supervisor_threshold=None)
    score(conversation, -2)
    assert alerts(conversation, AlertAudience.REPRESENTATIVE) == []  # -2 is not at or below -3
    assert len(alerts(conversation, AlertAudience.SUPERVISOR)) == 1  # inherits -1


def test_unsupported_language_messages_neither_alert_nor_move_the_conversation(setup):
    _queue, _rep, _sup, conversation = setup
    set_thresholds(-1, -1)
    score(conversation, 2)
    message = message_ingest(conversation=conversation, text="zzz")
    jobs, _ = scoring_claim([message.pk])
    scoring_results_store([(j.message_id, result_for("zzz")) for j in jobs])
    conversation.refresh_from_db()
    message.refresh_from_db()
    assert message.scoring_status == "not_scored" and message.sentiment_level is None
    assert conversation.sentiment_level == 2
    assert alerts(conversation) == []


@pytest.mark.parametrize("presence", list(Presence.values))
def test_supervisor_gate_for_every_presence_value(setup, presence):
    queue, _rep, supervisor, conversation = setup
    supervisor.presence = presence
    supervisor.save()
    other_queue_supervisor = SupervisorFactory(queues=[QueueFactory()], presence=Presence.AVAILABLE)
    set_thresholds(0, -1)
    score(conversation, -2)
    alert = alerts(conversation, AlertAudience.SUPERVISOR)[0]
    recipients = set(alert.recipients.values_list("staff_id", flat=True))
    eligible = presence in (Presence.AVAILABLE, Presence.BUSY)
    assert recipients == ({supervisor.pk} if eligible else set())
    assert other_queue_supervisor.pk not in recipients
    assert alert.delivered is eligible  # nobody eligible → recorded as undelivered


def test_supervisor_back_to_available_gets_the_next_notification(setup):
    _queue, _rep, supervisor, conversation = setup
    set_thresholds(0, -1)
    supervisor.presence = Presence.AWAY
    supervisor.save()
    score(conversation, -2)
    score(conversation, 3, 3, 3)  # recovery
    supervisor.presence = Presence.AVAILABLE
    supervisor.save()
    score(conversation, -3, -3, -3, -3)
    raised = alerts(conversation, AlertAudience.SUPERVISOR, AlertKind.THRESHOLD)
    assert [a.delivered for a in raised] == [False, True]
    assert list(raised[1].recipients.values_list("staff_id", flat=True)) == [supervisor.pk]


def test_representative_alert_without_a_representative_is_undelivered():
    conversation = ConversationFactory(representative=None)
    set_thresholds(-1, 0)
    score(conversation, -2)
    (alert,) = alerts(conversation, AlertAudience.REPRESENTATIVE)
    assert alert.delivered is False


def test_dont_show_alerts_means_none(setup):
    _queue, _rep, _sup, conversation = setup
    set_thresholds(0, 0, sharp_drop_alerts=True)
    score(conversation, 3, 0, -3, -3)
    assert alerts(conversation) == []


def test_sharp_drop_alerts_whatever_the_absolute_level_when_enabled(setup):
    _queue, _rep, _sup, conversation = setup
    set_thresholds(-3, -3, sharp_drop_alerts=True)
    score(conversation, 3, 3, 1)  # a drop of two levels, still positive
    drops = alerts(conversation, AlertAudience.REPRESENTATIVE, AlertKind.SHARP_DROP)
    assert len(drops) == 1 and drops[0].level == 1
    score(conversation, 1, 1)  # no new drop, no new alert
    assert len(alerts(conversation, AlertAudience.REPRESENTATIVE, AlertKind.SHARP_DROP)) == 1


def test_sharp_drop_off_by_default(setup):
    _queue, _rep, _sup, conversation = setup
    set_thresholds(-3, -3)
    score(conversation, 3, 3, 1)
    assert alerts(conversation, kind=AlertKind.SHARP_DROP) == []


def test_the_supervisor_gate_rule_alone_decides_who_is_notified(setup):
    """Every supervisor of every presence, in the queue, in another queue, in both or in none:
    exactly those ``rules.supervisor_eligible`` lets through are notified (the query around it
    decides nothing, so a change to the rule is a change to who is notified)."""
    queue, _rep, available_in_queue, conversation = setup
    other = QueueFactory()
    supervisors = [available_in_queue]
    for presence in Presence.values:
        for queues in ([queue], [other], [other, queue], []):
            supervisors.append(SupervisorFactory(queues=queues, presence=presence))
    expected = [
        s
        for s in supervisors
        if rules.supervisor_eligible(s.presence, [q.pk for q in s.queues.all()], conversation.queue_id)
    ]
    assert len(expected) == 2 * 2 + 1  # Available and Busy, in [queue] and [other, queue]; the fixture's
    assert eligible_supervisors(conversation=conversation) == sorted(expected, key=lambda s: s.pk)


def test_snoozed_supervisor_gets_no_notification_until_the_snooze_ends(setup):
    _queue, _rep, supervisor, conversation = setup
    set_thresholds(0, -1)
    conversation_snooze(staff=supervisor, conversation=conversation, minutes=30)
    assert eligible_supervisors(conversation=conversation) == []
    ConversationSnooze.objects.update(until=timezone.now() - timedelta(seconds=1))
    assert eligible_supervisors(conversation=conversation) == [supervisor]
    conversation_snooze(staff=supervisor, conversation=conversation, minutes=0)
    assert not ConversationSnooze.objects.exists()


def test_a_scoring_batch_reads_the_supervisors_once_and_each_conversation_keeps_its_snoozes(setup):
    queue, _rep, supervisor, snoozed = setup
    set_thresholds(0, -1)
    others = [
        ConversationFactory(queue=queue, representative=RepresentativeFactory(queues=[queue]))
        for _ in range(3)
    ]
    conversation_snooze(staff=supervisor, conversation=snoozed, minutes=30)
    messages = [message_ingest(conversation=c, text="level:-3") for c in (snoozed, *others)]
    jobs, _options = scoring_claim([m.pk for m in messages])
    with CaptureQueriesContext(connection) as queries:
        assert scoring_results_store([(job.message_id, result_for("level:-3")) for job in jobs]) == 4
    staff_reads = [
        q["sql"] for q in queries.captured_queries if 'FROM "conversations_staffmember"' in q["sql"]
    ]
    assert len(staff_reads) == 1, staff_reads
    assert len(alerts(snoozed, AlertAudience.SUPERVISOR)) == 1  # stored, but nobody notified
    notified = set(NotificationRecipient.objects.values_list("alert__conversation_id", "staff_id"))
    assert notified == {(c.pk, supervisor.pk) for c in others}


def test_acknowledge_records_who_and_is_idempotent(setup):
    queue, _rep, supervisor, conversation = setup
    colleague = SupervisorFactory(queues=[queue], presence=Presence.AWAY)
    set_thresholds(0, -1)
    score(conversation, -2)
    row = NotificationRecipient.objects.get(staff=supervisor)
    acked = notification_acknowledge(notification_id=row.pk, staff=colleague)
    assert acked.acknowledged_by == colleague and acked.acknowledged_at is not None
    again = notification_acknowledge(notification_id=row.pk, staff=supervisor)
    assert again.acknowledged_by == colleague


def test_acknowledge_refused_to_a_representative(setup):
    _queue, rep, _supervisor, conversation = setup
    set_thresholds(0, -1)
    score(conversation, -2)
    row = NotificationRecipient.objects.get()
    with pytest.raises(PermissionDenied):
        notification_acknowledge(notification_id=row.pk, staff=rep)


def test_an_alert_and_its_supervisors_notifications_are_stored_in_one_insert_each(setup):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queue, _rep, supervisor, conversation = setup
    others = [SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE) for _ in range(2)]
    set_thresholds(-2, -2)
    message = message_ingest(conversation=conversation, text="level:-3")
    jobs, _options = scoring_claim([message.pk])
    with CaptureQueriesContext(connection) as queries:
        scoring_results_store([(job.message_id, result_for("level:-3")) for job in jobs])
    (alert,) = alerts(conversation, AlertAudience.SUPERVISOR)
    assert alert.delivered is True
    assert sorted(alert.recipients.values_list("staff_id", flat=True)) == sorted(
        [supervisor.pk, *(s.pk for s in others)]
    )
    recipient_table = NotificationRecipient._meta.db_table
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert sum(recipient_table in sql for sql in inserts) == 1
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not any(SentimentAlert._meta.db_table in sql for sql in updates)  # delivered set on INSERT


def test_a_supervisor_alert_nobody_can_receive_is_stored_undelivered(setup):
    _queue, _rep, supervisor, conversation = setup
    supervisor.presence = Presence.OFFLINE
    supervisor.save()
    set_thresholds(-2, -2)
    score(conversation, -3)
    (alert,) = alerts(conversation, AlertAudience.SUPERVISOR)
    assert alert.delivered is False and not alert.recipients.exists()
