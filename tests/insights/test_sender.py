"""The outbox sender: stored rows survive a restart, a leased row is never sent by two senders,
at most OUTBOX_SENDER_CONCURRENCY sends are in flight, one sender per process. Webhook events
sent to real local HTTP servers; run on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from insights.models import AlertAudience, OutboxStatus, SentimentAlert, WebhookDelivery, WebhookEvent
from insights.sender import (
    OutboxSender,
    outbox_claim,
    outbox_kinds,
    outbox_send_due,
    outbox_sender_current,
)
from insights.services.webhooks import WEBHOOK_OUTBOX, webhook_alert_enqueue
from tests.conversations.factories import ConversationFactory
from tests.insights.webhook_receiver import configure_webhook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored_events(monkeypatch):
    """``stored_events(n)``: n alerts with their webhook events, committed by a process that
    stopped before it could wake a sender (none runs)."""
    monkeypatch.setattr("insights.services.webhooks.outbox_wake", lambda: None)

    def store(count: int) -> list[str]:
        conversation = ConversationFactory()
        ids = []
        for _ in range(count):
            with transaction.atomic():
                alert = SentimentAlert.objects.create(
                    conversation=conversation,
                    audience=AlertAudience.SUPERVISOR,
                    kind="threshold",
                    level=-2,
                    threshold=-2,
                )
                ids.append(webhook_alert_enqueue(alert=alert).delivery_id)
        assert outbox_sender_current() is None or not outbox_sender_current().alive()
        return ids

    return store


def run_sender(**kwargs) -> OutboxSender:
    return OutboxSender(persistent=True, **kwargs).start()


def test_the_webhook_and_chatwoot_outboxes_are_registered_with_the_sender():
    from insights.chatwoot.services.outbound import CHATWOOT_OUTBOX

    assert outbox_kinds() == [WEBHOOK_OUTBOX, CHATWOOT_OUTBOX]


def test_rows_left_by_a_stopped_process_are_sent_by_the_next_sender(receiver, settings, stored_events):
    settings.OUTBOX_LEASE_SECONDS = 0.5
    settings.OUTBOX_SWEEP_SECONDS = 0.1
    configure_webhook("http://127.0.0.1:9/down")  # stored while the receiver is down, sent after a restart
    first, second = stored_events(2)
    # The stopped process had claimed the first (its lease runs) and never sent it.
    [claimed] = outbox_claim(WEBHOOK_OUTBOX, limit=1)
    assert claimed.delivery_id == first and claimed.lease_until > timezone.now()
    r = receiver()
    configure_webhook(r.url)
    sender = run_sender(concurrency=2)
    try:
        r.wait_for(1)
        assert r.delivery_ids() == [second]  # the leased one waits for its lease to run out
        r.wait_for(2)
    finally:
        sender.stop()
    assert sorted(r.delivery_ids()) == sorted([first, second])
    rows = {e.delivery_id: e for e in WebhookEvent.objects.all()}
    assert rows[first].status == rows[second].status == OutboxStatus.SENT
    assert rows[first].attempts == 2 and rows[second].attempts == 1  # the lost claim counted
    assert WebhookDelivery.objects.get(delivery_id=first).attempt == 2


def test_a_leased_row_is_not_claimed_again_until_its_lease_ran_out(receiver, stored_events, settings):
    settings.OUTBOX_LEASE_SECONDS = 0.3
    configure_webhook(receiver().url)
    [delivery_id] = stored_events(1)
    [row] = outbox_claim(WEBHOOK_OUTBOX, limit=5)
    assert outbox_claim(WEBHOOK_OUTBOX, limit=5) == [] and outbox_send_due() == 0
    time.sleep(0.35)
    [again] = outbox_claim(WEBHOOK_OUTBOX, limit=5)
    assert again.delivery_id == row.delivery_id == delivery_id and again.attempts == 2
    assert again.lease_until > row.lease_until


# Two writers at once: the in-memory SQLite test database fails the second at once instead of
# letting it wait (shared cache), where a file database, as in production, serializes them.
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


@postgresql_only
def test_two_concurrent_sweeps_never_send_one_row_twice(receiver, stored_events):
    r = receiver(delay=0.01)
    configure_webhook(r.url)
    ids = stored_events(30)
    start = threading.Barrier(2)
    delivered: list[int] = []

    def sweep() -> None:
        try:
            start.wait()
            delivered.append(outbox_send_due())
        finally:
            close_old_connections()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.delivery_ids()) == sorted(ids)  # each once
    assert sum(delivered) == 30 and len(delivered) == 2
    assert WebhookDelivery.objects.count() == 30


@postgresql_only
def test_a_due_row_is_claimed_by_one_of_two_racing_senders(receiver, stored_events):
    configure_webhook(receiver().url)
    stored_events(20)
    winners: list[list[int]] = [[], []]

    def claim(slot: int, start: threading.Barrier) -> None:
        try:
            start.wait()
            winners[slot] = [row.pk for row in outbox_claim(WEBHOOK_OUTBOX, limit=20)]
        finally:
            close_old_connections()

    start = threading.Barrier(2)
    threads = [threading.Thread(target=claim, args=(slot, start)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(winners[0]) & set(winners[1])
    assert len(winners[0]) + len(winners[1]) == 20
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}


def test_at_most_the_configured_number_of_sends_are_in_flight(receiver, stored_events):
    r = receiver(delay=0.3)
    configure_webhook(r.url)
    ids = stored_events(12)
    began = time.monotonic()
    sender = run_sender(concurrency=3)
    try:
        r.wait_for(12)
        deadline = time.monotonic() + 10
        while (
            WebhookEvent.objects.filter(status=OutboxStatus.PENDING).exists() and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        sender.stop()
    assert r.max_in_flight == 3
    assert time.monotonic() - began >= 4 * 0.3  # 12 sends, 3 at a time
    assert sorted(r.delivery_ids()) == sorted(ids)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_a_sender_started_by_a_commit_stops_once_nothing_is_pending(receiver):
    r = receiver()
    configure_webhook(r.url)
    with transaction.atomic():
        alert = SentimentAlert.objects.create(
            conversation=ConversationFactory(),
            audience=AlertAudience.SUPERVISOR,
            kind="threshold",
            level=-2,
            threshold=-2,
        )
        webhook_alert_enqueue(alert=alert)
        assert outbox_sender_current() is None or not outbox_sender_current().alive()  # not before the commit
    sender = outbox_sender_current()
    assert sender is not None and not sender.persistent
    r.wait_for(1)
    deadline = time.monotonic() + 10
    while sender.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sender.alive()
    assert WebhookEvent.objects.get().status == OutboxStatus.SENT


async def test_the_scoring_runtime_runs_one_sender_per_process_and_stops_it(settings):
    import asyncio

    from insights.pipeline.runtime import scoring_runtime_start, scoring_runtime_stop

    settings.SENTIMENT_SCORING_MODE = "worker"  # the same start, without loading the model here
    try:
        await scoring_runtime_start()
        sender = outbox_sender_current()
        await scoring_runtime_start()
        assert outbox_sender_current() is sender and sender.alive() and sender.persistent
        assert sender.owner_loop is asyncio.get_running_loop()
    finally:
        await scoring_runtime_stop()
    assert not sender.alive()


def test_outbox_send_once_sends_what_is_due(receiver, stored_events):
    r = receiver()
    configure_webhook(r.url)
    stored_events(2)
    out = StringIO()
    call_command("outbox_send", "--once", stdout=out)
    assert out.getvalue().strip() == "delivered 2"
    assert len(r.requests) == 2


@postgresql_only
def test_on_postgresql_the_losing_claim_waits_for_the_winner_and_finds_the_row_taken(receiver, stored_events):
    configure_webhook(receiver().url)
    [delivery_id] = stored_events(1)
    taken: list[int] = []
    with transaction.atomic():
        # This transaction claims the row and holds its lock while another sender tries.
        [row] = outbox_claim(WEBHOOK_OUTBOX, limit=1)

        def other() -> None:
            try:
                taken.extend(r.pk for r in outbox_claim(WEBHOOK_OUTBOX, limit=1))
            finally:
                close_old_connections()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # blocked on the row lock
    thread.join(10)
    assert taken == [] and row.delivery_id == delivery_id
    assert connection.vendor == "postgresql"
