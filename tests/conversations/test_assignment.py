"""Assign, transfer, close: each moves the conversation between the right screens."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from conversations.models import ConversationStatus, Presence
from conversations.services.assignment import conversation_assign, conversation_close, conversation_transfer
from tests.conversations.factories import ConversationFactory, QueueFactory, RepresentativeFactory, SupervisorFactory
from tests.conversations.wsutil import close_all, drain, next_frame, staff_socket

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
        "conversation": ConversationFactory(queue=billing, representative=None, status=ConversationStatus.OPEN),
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
        assert moved["queue"] == w["tech"].pk and moved["status"] == "open" and moved["representative"] is None
        await database_sync_to_async(conversation_transfer)(conversation=conv, representative=w["raj"])
        await next_frame(tess, "conversation.assigned", conversation=conv.pk, representative=w["raj"].pk)
        assert not [f for f in await drain(sam) if f.get("conversation") == conv.pk and f["type"] != "conversation.removed"]
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
