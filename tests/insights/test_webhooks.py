"""Signed webhooks through the stored outbox: HMAC-SHA256 over "<timestamp>.<body>", the event
stored with the alert or score that caused it, sent by the outbox sender, retried with backoff
under one delivery id, given up after the last attempt, every attempt recorded. Delivered to a
real local HTTP server (``tests.insights.webhook_receiver``)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from insights.models import AlertAudience, OutboxStatus, SentimentAlert, WebhookDelivery, WebhookEvent
from insights.selectors import sentiment_settings_get
from insights.sender import outbox_send_due, outbox_sender_current
from insights.services.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    webhook_alert_enqueue,
    webhook_backoff_seconds,
    webhook_signature,
    webhook_test_send,
    webhook_verify,
)
from tests.conversations.factories import AdminFactory, ConversationFactory
from tests.insights.webhook_receiver import SECRET, configure_webhook


def test_signature_round_trip_and_rejections():
    body = b'{"a":1}'
    now = int(time.time())
    header = webhook_signature(secret=SECRET, timestamp=now, body=body)
    assert webhook_verify(secret=SECRET, header=header, body=body)
    assert not webhook_verify(secret="other", header=header, body=body)  # forged
    assert not webhook_verify(secret=SECRET, header=header, body=b'{"a":2}')  # tampered
    old = webhook_signature(secret=SECRET, timestamp=now - 3600, body=body)
    assert not webhook_verify(secret=SECRET, header=old, body=body)  # replayed later
    assert not webhook_verify(secret=SECRET, header="garbage", body=body)


def stored_alert(**kwargs) -> SentimentAlert:
    """An alert and its webhook event, stored in one transaction as the scoring store does."""
    fields = {"audience": AlertAudience.SUPERVISOR, "kind": "threshold", "level": -2, "threshold": -2}
    with transaction.atomic():
        alert = SentimentAlert.objects.create(conversation=ConversationFactory(), **{**fields, **kwargs})
        webhook_alert_enqueue(alert=alert)
    return alert


def score(conversation, text: str) -> None:
    from conversations.services.ingest import message_ingest
    from insights.pipeline.claim import scoring_claim
    from insights.pipeline.store import scoring_results_store
    from tests.insights.standin_scorer import result_for

    message = message_ingest(conversation=conversation, text=text)
    jobs, _ = scoring_claim([message.pk])
    scoring_results_store([(j.message_id, result_for(text)) for j in jobs])


def test_the_backoff_grows_fourfold_up_to_fifteen_minutes(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    assert [webhook_backoff_seconds(n) for n in range(1, 9)] == [1, 4, 16, 64, 256, 900, 900, 900]


@pytest.mark.django_db
def test_an_alerts_event_is_stored_in_the_alerts_transaction_or_not_at_all(receiver):
    configure_webhook(receiver().url)
    conversation = ConversationFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        score(conversation, "level:-3")
        assert WebhookEvent.objects.filter(alert__isnull=False).count() == 2  # representative + supervisor
        raise RuntimeError("the scoring transaction fails after the alerts were stored")
    assert not SentimentAlert.objects.exists() and not WebhookEvent.objects.exists()
    score(conversation, "level:-3")
    events = list(WebhookEvent.objects.order_by("pk"))
    assert [e.delivery_id for e in events] == [f"alert-{a.pk}" for a in SentimentAlert.objects.order_by("pk")]
    assert all(e.status == OutboxStatus.PENDING and e.attempts == 0 for e in events)


@pytest.mark.django_db
def test_an_event_is_sent_signed_with_its_delivery_id_and_recorded(receiver):
    r = receiver()
    configure_webhook(r.url)
    alert = stored_alert()
    assert outbox_send_due() == 1
    headers, body = r.requests[0]
    assert webhook_verify(secret=SECRET, header=headers[SIGNATURE_HEADER], body=body)
    payload = json.loads(body)
    assert (
        payload["event"] == "sentiment.alert"
        and payload["alert"] == alert.pk
        and payload["level"] == "negative"
    )
    assert headers[DELIVERY_HEADER] == payload["id"] == f"alert-{alert.pk}"
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.last_status_code, event.lease_until) == (
        OutboxStatus.SENT,
        1,
        204,
        None,
    )
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.attempt, delivery.status_code, delivery.succeeded) == (
        f"alert-{alert.pk}",
        1,
        204,
        True,
    )
    assert outbox_send_due() == 0  # sent once


@pytest.mark.django_db
def test_a_failed_attempt_is_retried_after_its_backoff_under_the_same_delivery_id(receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    r = receiver(failures=2)
    configure_webhook(r.url)
    alert = stored_alert()
    before = timezone.now()
    assert outbox_send_due() == 0
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.last_error) == (OutboxStatus.PENDING, 1, "HTTP 500")
    assert before + timedelta(seconds=0.2) <= event.next_attempt_at <= timezone.now() + timedelta(seconds=0.2)
    assert outbox_send_due() == 0 and len(r.requests) == 1  # not due yet: not tried
    time.sleep(0.25)
    assert outbox_send_due() == 0  # second attempt fails; the next one waits 4 x 0.2 s
    event.refresh_from_db()
    assert event.attempts == 2 and event.next_attempt_at >= timezone.now() + timedelta(seconds=0.6)
    WebhookEvent.objects.update(next_attempt_at=timezone.now())
    assert outbox_send_due() == 1
    attempts = list(WebhookDelivery.objects.filter(alert=alert).order_by("attempt"))
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 204, True),
    ]
    assert [h[DELIVERY_HEADER] for h, _b in r.requests] == [f"alert-{alert.pk}"] * 3
    assert r.delivery_ids() == [f"alert-{alert.pk}"] * 3
    assert len({body for _h, body in r.requests}) == 1  # the same bytes every time


@pytest.mark.django_db
def test_an_event_is_given_up_after_the_last_attempt_and_the_page_shows_it(settings, login):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.0
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    configure_webhook("http://127.0.0.1:9/unreachable")
    alert = stored_alert(audience=AlertAudience.REPRESENTATIVE, kind="recovered", level=0, threshold=-1)
    for _ in range(5):
        outbox_send_due()
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (OutboxStatus.FAILED, 3) and "ConnectError" in event.last_error
    attempts = list(WebhookDelivery.objects.filter(alert=alert).order_by("attempt"))
    assert [a.attempt for a in attempts] == [1, 2, 3] and not any(a.succeeded for a in attempts)
    assert attempts[0].delivery_id == f"alert-{alert.pk}" and attempts[0].event == "sentiment.recovered"
    body = login(AdminFactory()).get(reverse("insights:integrations")).content.decode()
    assert "Given up: 1 event, the last: <code>alert-" in body and "after 3 attempts (ConnectError" in body
    assert "given up after 3 attempts" in body and "Nothing waiting." in body


@pytest.mark.django_db
def test_an_event_waiting_for_its_retry_is_shown_on_the_page(login, settings):
    configure_webhook("http://127.0.0.1:9/unreachable")
    stored_alert()
    outbox_send_due()
    body = login(AdminFactory()).get(reverse("insights:integrations")).content.decode()
    assert "Waiting to be sent or retried: 1 event (next attempt " in body


@pytest.mark.django_db
def test_a_webhook_turned_off_meanwhile_gives_its_events_up(receiver):
    r = receiver()
    configure_webhook(r.url)
    stored_alert()
    org = sentiment_settings_get()
    org.webhook_url = ""
    org.save()
    assert outbox_send_due() == 0
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == (OutboxStatus.FAILED, "The webhook was turned off.")
    assert r.requests == []


@pytest.mark.django_db
def test_the_test_send_is_one_attempt_now_and_never_retried(receiver):
    r = receiver(failures=1)
    configure_webhook(r.url)
    delivery = webhook_test_send()
    assert (delivery.attempt, delivery.status_code, delivery.succeeded) == (1, 500, False)
    assert delivery.delivery_id.startswith("test-") and r.delivery_ids() == [delivery.delivery_id]
    assert WebhookEvent.objects.get().status == OutboxStatus.FAILED
    assert outbox_send_due() == 0 and len(r.requests) == 1
    assert webhook_test_send().succeeded  # a new event, a new id
    assert len(set(r.delivery_ids())) == 2


def _join_sender() -> None:
    sender = outbox_sender_current()
    if sender is not None:
        sender.stop()


@pytest.mark.django_db(transaction=True)
def test_a_crossing_wakes_the_sender_which_sends_both_audiences_events(receiver):
    r = receiver()
    configure_webhook(r.url)
    try:
        score(ConversationFactory(), "level:-3")
        r.wait_for(2)
    finally:
        _join_sender()
    kinds = sorted(body["audience"] for body in r.bodies())
    assert kinds == ["representative", "supervisor"]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_every_scored_message_is_sent_when_the_setting_asks_for_it(receiver):
    r = receiver()
    configure_webhook(r.url)
    conversation = ConversationFactory()
    try:
        score(conversation, "level:1")  # off by default: nothing stored for a calm message
        assert not WebhookEvent.objects.exists()
        org = sentiment_settings_get()
        org.webhook_scored_messages = True
        org.save()
        score(conversation, "level:0")
        r.wait_for(1)
    finally:
        _join_sender()
    headers, body = r.requests[0]
    assert webhook_verify(secret=SECRET, header=headers[SIGNATURE_HEADER], body=body)
    event = json.loads(body)
    assert (
        event["event"] == "sentiment.scored"
        and event["conversation"] == conversation.pk
        and event["seq"] == 2
    )
    assert event["level"] == "neutral" and "conversation_level" in event and "type" not in event
    delivery = WebhookDelivery.objects.get(event="sentiment.scored")
    assert delivery.succeeded and delivery.message.seq == 2 and delivery.alert is None
    assert event["id"] == delivery.delivery_id == f"scored-{delivery.message_id}"


def _documented_verify():
    """The ``verify`` of the standalone receiver sample in docs/events.md (the sample up to its
    HTTP server, executed as written)."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    sample = doc[doc.index("```python\nimport hashlib, hmac, json, time") + len("```python\n") :]
    sample = sample[: sample.index("class Hook")]
    namespace: dict = {}
    exec(compile(sample, "docs/events.md sample", "exec"), namespace)
    return namespace["verify"]


@pytest.mark.django_db
def test_the_documented_standalone_receiver_sample_verifies_a_real_delivery(receiver):
    verify = _documented_verify()
    r = receiver()
    configure_webhook(r.url)
    stored_alert()
    assert outbox_send_due() == 1
    headers, body = r.requests[0]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("another secret", headers[SIGNATURE_HEADER], body)
    assert not verify(SECRET, headers[SIGNATURE_HEADER], body + b" ")
    assert not verify(SECRET, headers[SIGNATURE_HEADER], body, now=time.time() + 3600)
