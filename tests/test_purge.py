"""Retention: `manage.py purge_sentiment` clears sentiment data older than retention_days."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations.models import Conversation, Message, ScoringStatus, Sender, Trend
from insights.chatwoot.models import CallStatus, ChatwootCall, ChatwootConnection
from insights.management.commands.purge_sentiment import sentiment_data_purge
from insights.models import (
    AlertAudience,
    AlertKind,
    NotificationRecipient,
    SentimentAlert,
    SentimentCorrection,
    SentimentSettings,
    WebhookDelivery,
    WebhookEvent,
)
from insights.selectors import sentiment_settings_get
from insights.sender import outbox_kinds
from tests.conversations.factories import (
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    SupervisorFactory,
)

pytestmark = pytest.mark.django_db


def _scored(conversation, seq, *, age_days, text="I am upset", sender=Sender.CUSTOMER):
    message = MessageFactory(
        conversation=conversation,
        seq=seq,
        sender=sender,
        text=text,
        scoring_status=ScoringStatus.SCORED if sender == Sender.CUSTOMER else ScoringStatus.NOT_APPLICABLE,
        sentiment_score=-0.6 if sender == Sender.CUSTOMER else None,
        sentiment_level=-2 if sender == Sender.CUSTOMER else None,
        confidence=0.9 if sender == Sender.CUSTOMER else None,
        probabilities={"negative": 0.9} if sender == Sender.CUSTOMER else None,
        model_version="test-1" if sender == Sender.CUSTOMER else "",
        scored_at=timezone.now() if sender == Sender.CUSTOMER else None,
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return message


def _conversation(*, age_days):
    conversation = ConversationFactory(
        sentiment_score=-0.6, sentiment_level=-2, start_sentiment_level=0, sentiment_trend=Trend.FALLING
    )
    when = timezone.now() - timedelta(days=age_days)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=when, last_message_at=when)
    return conversation


def _alert(conversation, message, *, age_days, supervisor):
    alert = SentimentAlert.objects.create(
        conversation=conversation,
        message=message,
        audience=AlertAudience.SUPERVISOR,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-2,
    )
    NotificationRecipient.objects.create(alert=alert, staff=supervisor)
    SentimentAlert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return alert


@pytest.fixture
def data():
    SentimentSettings.objects.update_or_create(
        pk=SentimentSettings.SINGLETON_PK, defaults={"retention_days": 30}
    )
    supervisor = SupervisorFactory()
    old_c = _conversation(age_days=40)
    old_msg = _scored(old_c, 1, age_days=40)
    old_rep = _scored(old_c, 2, age_days=40, text="Sorry to hear that", sender=Sender.REPRESENTATIVE)
    old_alert = _alert(old_c, old_msg, age_days=40, supervisor=supervisor)
    correction = SentimentCorrection.objects.create(message=old_msg, corrected_level=-1, model_level=-2)
    SentimentCorrection.objects.filter(pk=correction.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )

    new_c = _conversation(age_days=1)
    new_msg = _scored(new_c, 1, age_days=1)
    new_alert = _alert(new_c, new_msg, age_days=1, supervisor=supervisor)
    return {
        "old_c": old_c,
        "old_msg": old_msg,
        "old_rep": old_rep,
        "old_alert": old_alert,
        "new_c": new_c,
        "new_msg": new_msg,
        "new_alert": new_alert,
    }


def _purge(*args) -> str:
    out = StringIO()
    call_command("purge_sentiment", *args, stdout=out)
    return out.getvalue()


def test_purge_clears_sentiment_older_than_retention_and_keeps_recent_data(data):
    output = _purge()

    old_msg = Message.objects.get(pk=data["old_msg"].pk)
    assert old_msg.sentiment_score is None and old_msg.sentiment_level is None
    assert old_msg.confidence is None and old_msg.probabilities is None and old_msg.scored_at is None
    assert old_msg.model_version == ""
    assert old_msg.scoring_status == ScoringStatus.SKIPPED  # never picked up for scoring again
    assert old_msg.text == "I am upset"  # the transcript is not sentiment data
    assert Message.objects.get(pk=data["old_rep"].pk).text == "Sorry to hear that"

    old_c = Conversation.objects.get(pk=data["old_c"].pk)
    assert (old_c.sentiment_score, old_c.sentiment_level, old_c.start_sentiment_level) == (None, None, None)
    assert old_c.sentiment_trend == Trend.STEADY
    assert not SentimentAlert.objects.filter(pk=data["old_alert"].pk).exists()
    assert not NotificationRecipient.objects.filter(alert_id=data["old_alert"].pk).exists()
    assert not SentimentCorrection.objects.exists()

    new_msg = Message.objects.get(pk=data["new_msg"].pk)
    assert new_msg.sentiment_level == -2 and new_msg.scoring_status == ScoringStatus.SCORED
    assert Conversation.objects.get(pk=data["new_c"].pk).sentiment_level == -2
    assert SentimentAlert.objects.filter(pk=data["new_alert"].pk).exists()
    assert "Cleared" in output and "1 messages" in output and "1 alerts" in output


def test_dry_run_counts_without_changing_anything(data):
    output = _purge("--dry-run")

    assert "Would clear" in output and "1 messages" in output and "1 conversations" in output
    assert Message.objects.get(pk=data["old_msg"].pk).sentiment_level == -2
    assert SentimentAlert.objects.count() == 2
    assert SentimentCorrection.objects.count() == 1


def test_purge_is_idempotent(data):
    _purge()
    assert "0 messages, 0 conversations, 0 alerts" in _purge()


def test_retention_follows_the_setting(data):
    SentimentSettings.objects.filter(pk=SentimentSettings.SINGLETON_PK).update(retention_days=60)
    _purge()
    assert Message.objects.get(pk=data["old_msg"].pk).sentiment_level == -2


def test_days_option_overrides_the_setting_and_rejects_zero(data):
    _purge("--days", "1000")
    assert Message.objects.get(pk=data["old_msg"].pk).sentiment_level == -2
    with pytest.raises(CommandError):
        _purge("--days", "0")


def test_zero_retention_keeps_everything(data):
    SentimentSettings.objects.filter(pk=SentimentSettings.SINGLETON_PK).update(retention_days=0)
    assert "keep forever" in _purge()
    assert SentimentAlert.objects.count() == 2


def test_default_retention_is_a_year():
    assert sentiment_settings_get().retention_days == 365
    assert "0 messages" in _purge()


def test_purge_works_in_small_transactions(data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    old_c = data["old_c"]
    for seq in range(3, 10):
        _scored(old_c, seq, age_days=40)
    with CaptureQueriesContext(connection) as ctx:
        counts = sentiment_data_purge(cutoff=timezone.now() - timedelta(days=30), batch=2)
    assert counts.messages == 8
    message_updates = [
        q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "conversations_message"')
    ]
    assert len(message_updates) == 4  # 8 messages, 2 per transaction
    savepoints = [q for q in ctx.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) >= 4 + 1 + 1 + 1  # messages, conversations, alerts, corrections
    assert not Message.objects.filter(conversation=old_c, sentiment_level__isnull=False).exists()
    assert Message.objects.get(pk=data["new_msg"].pk).sentiment_level == -2


def _chatwoot_call(connection, *, age_days, status=CallStatus.SENT, kind="custom_attributes"):
    call = ChatwootCall.objects.create(
        connection=connection,
        chatwoot_conversation=42,
        kind=kind,
        payload={"custom_attributes": {"sentiment_level": "very_negative"}},
        status=status,
        next_attempt_at=timezone.now(),
    )
    ChatwootCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return call


@pytest.fixture
def chatwoot_calls(data):
    connection = ChatwootConnection.objects.create(
        base_url="https://chatwoot.example.com",
        account_id=7,
        api_access_token="t",
        default_queue=QueueFactory(),
    )
    return {
        "old_sent": _chatwoot_call(connection, age_days=40),
        # Still waiting for a Chatwoot that was down: retention wins, it goes too.
        "old_pending": _chatwoot_call(
            connection, age_days=40, status=CallStatus.PENDING, kind="private_note"
        ),
        "new": _chatwoot_call(connection, age_days=1),
    }


def test_purge_deletes_chatwoot_calls_older_than_retention_and_keeps_newer_ones(chatwoot_calls):
    output = _purge()

    assert list(ChatwootCall.objects.values_list("pk", flat=True)) == [chatwoot_calls["new"].pk]
    assert "2 chatwoot calls" in output
    assert "0 chatwoot calls" in _purge()


def test_dry_run_counts_chatwoot_calls_and_deletes_none(chatwoot_calls):
    output = _purge("--dry-run")

    assert "Would clear" in output and "2 chatwoot calls" in output
    assert ChatwootCall.objects.count() == 3


def test_every_registered_outbox_kind_is_purged(data, chatwoot_calls):
    WebhookEvent.objects.create(
        delivery_id="scored-1", event="sentiment.scored", body={"level": -2}, next_attempt_at=timezone.now()
    )
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=40))
    cutoff = timezone.now() - timedelta(days=30)

    counts = sentiment_data_purge(cutoff=cutoff, dry_run=True)
    assert counts.outbox.keys() == {kind.name for kind in outbox_kinds()} >= {"webhook", "chatwoot"}
    assert counts.webhook_events == 1 and counts.outbox["chatwoot"] == 2  # the old keys still read

    sentiment_data_purge(cutoff=cutoff)
    for kind in outbox_kinds():
        assert not kind.model.objects.filter(created_at__lt=cutoff).exists(), kind.name


def _delivery(message, *, age_days):
    delivery = WebhookDelivery.objects.create(
        delivery_id=f"d-{message.pk}-{age_days}",
        event="sentiment.scored",
        message=message,
        url="https://hooks.example.com/center",
        status_code=200,
        succeeded=True,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(days=age_days)
    )
    return delivery


def test_scored_message_deliveries_without_an_alert_follow_the_retention(data):
    old = _delivery(data["old_msg"], age_days=40)
    new = _delivery(data["new_msg"], age_days=1)

    counts = sentiment_data_purge(cutoff=timezone.now() - timedelta(days=30), dry_run=True)
    assert counts.webhook_deliveries == 1 and WebhookDelivery.objects.filter(pk=old.pk).exists()

    sentiment_data_purge(cutoff=timezone.now() - timedelta(days=30))
    assert not WebhookDelivery.objects.filter(pk=old.pk).exists()
    assert WebhookDelivery.objects.filter(pk=new.pk).exists()
