"""Assign, transfer, close: each moves the conversation between the right screens."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from conversations.models import ConversationStatus, Presence
from conversations.services.assignment import (
    conversation_assign,
    conversation_close,
    conversation_transfer,
)
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import (
    DEFAULT_TIMEOUT,
    close_all,
    drain,
    monitor_socket,
    next_frame,
    send,
    staff_socket,
)
from tests.insights.standin_scorer import store_levels

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def world():
    billing, tech = QueueFactory(), QueueFactory()
    return {
        "billing": billing,
        "tech": tech,
        "rita": RepresentativeFactory(queues=[billing]),
        "raj": RepresentativeFactory(queues=[tech]),
        "sam": SupervisorFactory(queues=[billing], presence=Presence.AVAILABLE),
        "tess": SupervisorFactory(queues=[tech], presence=Presence.AVAILABLE),
        "conversation": ConversationFactory(
            queue=billing, representative=None, status=ConversationStatus.OPEN
        ),
    }


async def test_assign_then_reassign_moves_the_session_between_representatives():
    w = await world()
    conv = w["conversation"]
    rita = await staff_socket(w["rita"])
    raj = await staff_socket(w["raj"])
    sam = await staff_socket(w["sam"])
    try:
        await database_sync_to_async(conversation_assign)(conversation=conv, representative=w["rita"])
        assigned = await next_frame(rita, "conversation.assigned", conversation=conv.pk)
        assert assigned["representative"] == w["rita"].pk and assigned["queue"] == w["billing"].pk
        updated = await next_frame(rita, "conversation.updated", conversation=conv.pk)
        assert updated["status"] == "active" and updated["representative_name"] == w["rita"].display_name
        await next_frame(sam, "conversation.assigned", conversation=conv.pk)
        await next_frame(sam, "conversation.updated", conversation=conv.pk)

        await database_sync_to_async(conversation_assign)(conversation=conv, representative=w["raj"])
        await next_frame(rita, "conversation.removed", conversation=conv.pk)
        await next_frame(raj, "conversation.assigned", conversation=conv.pk, representative=w["raj"].pk)
        # Rita hears nothing more about it.
        await drain(rita)
        await database_sync_to_async(conversation_close)(conversation=conv)
        assert not [f for f in await drain(rita) if f.get("conversation") == conv.pk]
        closed = await next_frame(raj, "conversation.updated", conversation=conv.pk, status="closed")
        assert closed["queue"] == w["billing"].pk
    finally:
        await close_all(rita, raj, sam)


async def test_transfer_to_another_queue_moves_it_between_supervisors():
    w = await world()
    conv = w["conversation"]
    await database_sync_to_async(conversation_assign)(conversation=conv, representative=w["rita"])
    rita = await staff_socket(w["rita"])
    sam = await staff_socket(w["sam"])
    tess = await staff_socket(w["tess"])
    try:
        await database_sync_to_async(conversation_transfer)(conversation=conv, queue=w["tech"])
        await next_frame(sam, "conversation.removed", conversation=conv.pk)
        await next_frame(rita, "conversation.removed", conversation=conv.pk)
        moved = await next_frame(tess, "conversation.updated", conversation=conv.pk)
        assert (
            moved["queue"] == w["tech"].pk and moved["status"] == "open" and moved["representative"] is None
        )
        await database_sync_to_async(conversation_transfer)(conversation=conv, representative=w["raj"])
        await next_frame(tess, "conversation.assigned", conversation=conv.pk, representative=w["raj"].pk)
        assert not [
            f
            for f in await drain(sam)
            if f.get("conversation") == conv.pk and f["type"] != "conversation.removed"
        ]
    finally:
        await close_all(rita, sam, tess)


@pytest.mark.django_db
def test_transfer_needs_a_target_and_closed_conversations_stay_closed():
    conv = ConversationFactory()
    with pytest.raises(ValidationError):
        conversation_transfer(conversation=conv)
    conversation_close(conversation=conv)
    with pytest.raises(ValidationError):
        conversation_assign(conversation=conv, representative=RepresentativeFactory())


# --- the alert state follows the conversation -------------------------------------------------


async def _closed(comm, code):
    """Wait for the socket to be closed with ``code``; frames before it go to ``comm.pending``."""
    while True:
        message = await comm.receive_output(timeout=DEFAULT_TIMEOUT)
        if message["type"] == "websocket.close":
            assert message.get("code") == code
            return
        comm.pending.append(json.loads(message["text"]))


async def test_a_transfer_below_the_threshold_alerts_the_new_representative_and_the_new_queue():
    w = await world()
    conv = w["conversation"]
    await database_sync_to_async(conversation_assign)(conversation=conv, representative=w["rita"])
    await database_sync_to_async(store_levels)(conv, [-3])  # Very negative: Rita alerted, Sam notified
    raj, tess = await staff_socket(w["raj"]), await staff_socket(w["tess"])
    rita, sam = await staff_socket(w["rita"]), await staff_socket(w["sam"])
    rita_monitor, sam_monitor = (
        await monitor_socket(w["rita"], conv.pk),
        await monitor_socket(w["sam"], conv.pk),
    )
    try:
        await database_sync_to_async(conversation_transfer)(
            conversation=conv, queue=w["tech"], representative=w["raj"]
        )
        alert = await next_frame(raj, "alert.raised", conversation=conv.pk, audience="representative")
        assert alert["level_value"] == -3 and alert["kind"] == "threshold"
        notification = await next_frame(tess, "notification.created", conversation=conv.pk)
        assert notification["queue"] == w["tech"].pk and notification["representative_id"] == w["raj"].pk
        # The monitors of those who lost it hear that, and nothing more: the socket closes.
        for monitor in (rita_monitor, sam_monitor):
            await _closed(monitor, 4403)
            assert [f["type"] for f in monitor.pending if f.get("conversation") == conv.pk][
                -1
            ] == "conversation.removed"
        # Their staff sockets' catch-up refuses it; the new representative's replays the alert.
        for socket in (rita, sam):
            await send(socket, type="catch_up", conversation=conv.pk, after_seq=0)
            await next_frame(socket, "error", code="not_found")
        await send(raj, type="catch_up", conversation=conv.pk, after_seq=0)
        state = await next_frame(raj, "alert.state", conversation=conv.pk)
        assert {a["audience"] for a in state["alerts"]} == {"representative", "supervisor"}
        # A new score reaches the new owners only.
        await drain(rita)
        await drain(sam)
        await database_sync_to_async(store_levels)(conv, [-2])
        await next_frame(raj, "conversation.scored", conversation=conv.pk)
        await next_frame(tess, "conversation.scored", conversation=conv.pk)
        for socket in (rita, sam):
            assert not [f for f in await drain(socket, quiet=0.5) if f.get("conversation") == conv.pk]
    finally:
        await close_all(raj, tess, rita, sam, rita_monitor, sam_monitor)


async def test_a_hand_over_above_the_threshold_raises_nothing():
    w = await world()
    conv = w["conversation"]
    await database_sync_to_async(conversation_assign)(conversation=conv, representative=w["rita"])
    await database_sync_to_async(store_levels)(conv, [2])
    raj, tess = await staff_socket(w["raj"]), await staff_socket(w["tess"])
    try:
        await database_sync_to_async(conversation_transfer)(
            conversation=conv, queue=w["tech"], representative=w["raj"]
        )
        await next_frame(raj, "conversation.assigned", conversation=conv.pk)
        frames = [*await drain(raj, quiet=0.5), *await drain(tess, quiet=0.1)]
        assert not [f for f in frames if f["type"] in ("alert.raised", "notification.created")]
    finally:
        await close_all(raj, tess)


@pytest.mark.django_db
def test_a_new_queue_whose_threshold_is_not_reached_re_arms_the_alert_instead():
    from insights.models import AlertKind, QueueSentimentOverride, SentimentAlert
    from insights.selectors import alerts_holding

    billing, tech = QueueFactory(), QueueFactory()
    QueueSentimentOverride.objects.create(queue=tech, representative_threshold=-3, supervisor_threshold=-3)
    conv = ConversationFactory(queue=billing, representative=RepresentativeFactory(queues=[billing]))
    store_levels(conv, [-1])  # Slightly negative: the organisation's representative threshold
    assert [a.audience for a in alerts_holding([conv.pk])[conv.pk]] == ["representative"]
    conversation_transfer(conversation=conv, queue=tech, representative=RepresentativeFactory(queues=[tech]))
    assert alerts_holding([conv.pk]).get(conv.pk) is None
    assert SentimentAlert.objects.filter(conversation=conv).first().kind == AlertKind.RECOVERED
