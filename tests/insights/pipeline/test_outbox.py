"""The scoring outbox on the Redis layer: a score that a full channel dropped is not
delivered; it stays in the outbox and is sent again once the channel has room. Needs a real
Redis (REDIS_URL)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from conversations.models import Message, ScoringStatus
from insights.pipeline.outbox import scored_announcements_resend
from insights.pipeline.store import scoring_results_store
from sentiment_admin import broadcast, realtime
from tests.conversations.factories import ConversationFactory, MessageFactory, RepresentativeFactory
from tests.insights.standin_scorer import result_for
from tests.sentiment_admin.layerutil import needs_redis, redis_layer

pytestmark = needs_redis


@pytest.mark.django_db(transaction=True)
def test_a_score_a_full_channel_dropped_stays_in_the_outbox_until_the_channel_has_room(monkeypatch):
    layer = redis_layer(capacity=1)
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    rep = RepresentativeFactory()
    conversation = ConversationFactory(representative=rep, last_seq=1)
    message = MessageFactory(
        conversation=conversation, seq=1, text="level:1", scoring_status=ScoringStatus.PENDING
    )
    # The representative's socket, in a process that has not read its last event yet.
    socket = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.staff_group(rep.pk), socket)
    try:
        unread = {"type": realtime.PRESENCE_CHANGED}
        assert broadcast.group_send_many([realtime.staff_group(rep.pk)], unread) is True

        assert scoring_results_store([(message.pk, result_for("level:1"))]) == 1
        assert Message.objects.get(pk=message.pk).announce_pending is True
        assert scored_announcements_resend(older_than_seconds=0) == 0  # still full

        assert async_to_sync(layer.receive)(socket)["type"] == realtime.PRESENCE_CHANGED
        assert scored_announcements_resend(older_than_seconds=0) == 1
        frame = async_to_sync(layer.receive)(socket)
        assert (frame["type"], frame["seq"], frame["level_value"]) == (realtime.CONVERSATION_SCORED, 1, 1)
        assert Message.objects.get(pk=message.pk).announce_pending is False
    finally:
        async_to_sync(layer.flush)()
