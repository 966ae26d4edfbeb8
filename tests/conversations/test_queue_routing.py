"""Queue routing: a waiting conversation reaches the next eligible representative of its queue
when it starts, when one becomes Available or frees capacity; fair; "Take next"; the customer
hears where they stand."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation, ConversationStatus, Presence
from conversations.selectors import queue_position
from conversations.services.assignment import conversation_assign, conversation_close, conversation_transfer
from conversations.services.ingest import conversation_create
from conversations.services.presence import presence_set
from conversations.services.queue_routing import (
    Candidate,
    conversation_take_next,
    representative_rank,
)
from tests.conversations.factories import QueueFactory, RepresentativeFactory, SupervisorFactory
from tests.conversations.wsutil import chat_socket, close_all, next_frame, staff_socket

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


# --- the rule, with plain values ----------------------------------------------------------------


def test_rank_skips_representatives_without_free_capacity():
    assert (
        representative_rank([Candidate(1, load=3, capacity=3, idle_since=None), Candidate(2, 0, 0, None)])
        == []
    )


def test_rank_puts_the_fewest_ongoing_conversations_first():
    ranked = representative_rank([Candidate(1, load=2, capacity=3, idle_since=T0), Candidate(2, 1, 3, T0)])
    assert ranked == [2, 1]


def test_rank_breaks_a_tie_by_the_longest_idle_then_the_lowest_id():
    ranked = representative_rank(
        [
            Candidate(5, load=1, capacity=3, idle_since=T0 + dt.timedelta(minutes=5)),
            Candidate(7, load=1, capacity=3, idle_since=T0),
            Candidate(6, load=1, capacity=3, idle_since=None),  # never assigned: idle the longest
            Candidate(4, load=1, capacity=3, idle_since=T0),
        ]
    )
    assert ranked == [6, 4, 7, 5]


# --- the service ---------------------------------------------------------------------------------


def _start(queue, name="Ana"):
    return conversation_create(queue=queue, customer_name=name)


@pytest.mark.django_db
def test_a_new_conversation_goes_to_an_available_representative_of_its_queue():
    queue, other = QueueFactory(), QueueFactory()
    RepresentativeFactory(queues=[other])
    RepresentativeFactory(queues=[queue], presence=Presence.AWAY)
    rita = RepresentativeFactory(queues=[queue])
    conv = _start(queue)
    assert conv.representative == rita and conv.status == ConversationStatus.ACTIVE and conv.accepted_at


@pytest.mark.django_db
def test_a_conversation_waits_while_nobody_is_available_then_goes_to_whoever_becomes_available():
    queue = QueueFactory()
    rita = RepresentativeFactory(queues=[queue], presence=Presence.AWAY)
    first, second = _start(queue, "First"), _start(queue, "Second")
    assert first.representative is None and first.status == ConversationStatus.OPEN
    assert (queue_position(first), queue_position(second)) == (1, 2)

    presence_set(staff=rita, presence=Presence.AVAILABLE)

    first.refresh_from_db(), second.refresh_from_db()
    assert first.representative == rita and second.representative == rita


@pytest.mark.django_db
def test_capacity_limits_how_many_a_representative_gets_and_a_close_frees_a_place():
    queue = QueueFactory()
    rita = RepresentativeFactory(queues=[queue], capacity=2)
    a, b, c = _start(queue, "A"), _start(queue, "B"), _start(queue, "C")
    assert [x.representative for x in (a, b, c)] == [rita, rita, None]
    assert queue_position(c) == 1

    conversation_close(conversation=a)

    c.refresh_from_db()
    assert c.representative == rita and c.status == ConversationStatus.ACTIVE


@pytest.mark.django_db
def test_routing_is_fair_the_longest_idle_representative_gets_the_next_conversation():
    queue = QueueFactory()
    now = timezone.now()
    recent = RepresentativeFactory(queues=[queue], last_routed_at=now - dt.timedelta(minutes=1))
    idle = RepresentativeFactory(queues=[queue], last_routed_at=now - dt.timedelta(minutes=30))
    assert _start(queue, "A").representative == idle
    assert _start(queue, "B").representative == recent  # fewest ongoing first
    assert _start(queue, "C").representative == idle  # one each: idle got A before recent got B


@pytest.mark.django_db
def test_supervisors_are_not_routed_to():
    queue = QueueFactory()
    SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    assert _start(queue).representative is None


@pytest.mark.django_db
def test_a_transfer_to_a_queue_offers_it_there_and_fills_the_old_representatives_place():
    billing, tech = QueueFactory(), QueueFactory()
    rita = RepresentativeFactory(queues=[billing], capacity=1)
    raj = RepresentativeFactory(queues=[tech])
    moving = _start(billing, "Moving")
    waiting = _start(billing, "Waiting")
    assert moving.representative == rita and waiting.representative is None

    moved = conversation_transfer(conversation=moving, queue=tech)

    assert moved.representative == raj and moved.queue == tech
    waiting.refresh_from_db()
    assert waiting.representative == rita


@pytest.mark.django_db
def test_a_manual_reassignment_frees_the_first_representatives_place():
    queue = QueueFactory()
    rita = RepresentativeFactory(queues=[queue], capacity=1)
    sam = RepresentativeFactory(queues=[queue], presence=Presence.AWAY)
    mine, waiting = _start(queue, "Mine"), _start(queue, "Waiting")
    conversation_assign(conversation=mine, representative=sam)
    waiting.refresh_from_db()
    assert waiting.representative == rita


@pytest.mark.django_db
def test_take_next_gives_the_oldest_waiting_conversation_whatever_the_capacity():
    queue, other = QueueFactory(), QueueFactory()
    rita = RepresentativeFactory(queues=[queue], presence=Presence.BUSY, capacity=0)
    _start(other, "Elsewhere")
    older, newer = _start(queue, "Older"), _start(queue, "Newer")
    taken = conversation_take_next(staff=rita)
    assert taken.pk == older.pk and taken.representative == rita
    assert queue_position(Conversation.objects.get(pk=newer.pk)) == 1
    assert conversation_take_next(staff=rita).pk == newer.pk
    assert conversation_take_next(staff=rita) is None


# --- what the screens hear ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_customer_hears_their_place_then_the_agents_name_and_the_representative_gets_the_session():
    def setup():
        queue = QueueFactory()
        rita = RepresentativeFactory(queues=[queue], presence=Presence.AWAY, user__first_name="Rita")
        first, second = _start(queue, "First"), _start(queue, "Second")
        return rita, first, second

    rita, first, second = await database_sync_to_async(setup)()
    customer = await chat_socket(second)
    rep = await staff_socket(rita)  # Away is kept when a socket opens
    try:
        await customer.send_json_to({"type": "catch_up", "after_seq": 0})
        state = await next_frame(customer, "chat.updated")
        assert state == {
            "type": "chat.updated",
            "conversation": second.pk,
            "state": "waiting",
            "position": 2,
            "agent": "",
        }

        await rep.send_json_to({"type": "presence.set", "presence": "available"})

        await next_frame(rep, "conversation.assigned", conversation=first.pk)
        session = await next_frame(rep, "conversation.updated", conversation=second.pk, status="active")
        assert session["customer"] == "Second"
        state = await next_frame(customer, "chat.updated", state="with_agent")
        assert state["agent"] == "Rita" and state["position"] is None
    finally:
        await close_all(customer, rep)


@pytest.mark.django_db(transaction=True)
async def test_waiting_customers_move_up_when_the_one_ahead_is_served_and_hear_the_end():
    def setup():
        queue = QueueFactory()
        RepresentativeFactory(queues=[queue], capacity=1)
        served, first, second = _start(queue, "Served"), _start(queue, "First"), _start(queue, "Second")
        return served, first, second

    served, first, second = await database_sync_to_async(setup)()
    customer = await chat_socket(second)
    try:
        await database_sync_to_async(conversation_close)(conversation=served)  # first goes to rita
        state = await next_frame(customer, "chat.updated", position=1)
        assert state["state"] == "waiting" and state["agent"] == ""
        await database_sync_to_async(conversation_close)(conversation=second)
        assert (await next_frame(customer, "chat.updated", state="ended"))["position"] is None
    finally:
        await close_all(customer)


# --- notifications follow the conversation --------------------------------------------------------


def _notified(conversation, supervisor):
    from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert

    alert = SentimentAlert.objects.create(
        conversation=conversation,
        audience=AlertAudience.SUPERVISOR,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-2,
    )
    return NotificationRecipient.objects.create(alert=alert, staff=supervisor)


@pytest.mark.django_db
def test_a_closed_conversations_notifications_are_resolved_and_leave_the_report(client):
    from django.urls import reverse

    queue = QueueFactory()
    RepresentativeFactory(queues=[queue])
    sam = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    conv = _start(queue)
    row = _notified(conv, sam)
    client.force_login(sam.user)
    assert f'data-notification="{row.pk}"' in client.get(reverse("conversations:ongoing")).content.decode()

    conversation_close(conversation=conv)

    row.refresh_from_db()
    assert row.acknowledged_at is not None and row.acknowledged_by is None
    assert (
        f'data-notification="{row.pk}"' not in client.get(reverse("conversations:ongoing")).content.decode()
    )


@pytest.mark.django_db
def test_a_transfer_resolves_the_old_queues_notifications_only():
    billing, tech = QueueFactory(), QueueFactory()
    sam = SupervisorFactory(queues=[billing], presence=Presence.AVAILABLE)
    tess = SupervisorFactory(queues=[tech], presence=Presence.AVAILABLE)
    conv = _start(billing)
    old_queue, new_queue = _notified(conv, sam), _notified(conv, tess)
    conversation_transfer(conversation=conv, queue=tech)
    old_queue.refresh_from_db(), new_queue.refresh_from_db()
    assert old_queue.acknowledged_at is not None and new_queue.acknowledged_at is None


@pytest.mark.django_db(transaction=True)
async def test_the_supervisor_hears_that_the_notification_was_resolved():
    def setup():
        queue = QueueFactory()
        sam = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
        conv = _start(queue)
        return sam, conv, _notified(conv, sam)

    sam, conv, row = await database_sync_to_async(setup)()
    socket = await staff_socket(sam)
    try:
        await database_sync_to_async(conversation_close)(conversation=conv)
        frame = await next_frame(socket, "notification.acknowledged", notification=row.pk)
        assert frame["resolved"] == "closed" and frame["by"] is None
    finally:
        await close_all(socket)
