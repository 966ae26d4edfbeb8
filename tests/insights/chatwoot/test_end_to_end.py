"""End to end through the real router and the real model: a Chatwoot webhook carrying an angry
Spanish customer message leads to a live alert on the representative's socket, a notification
on the supervisor's, and a ``sentiment-negative`` label call to (a real HTTP server playing)
Chatwoot's API. Runs on the embedded default and on PostgreSQL + Redis (worker scoring)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from conversations.models import Presence
from insights.chatwoot.models import CallStatus, ChatwootCall, ChatwootConnection
from insights.selectors import sentiment_settings_get
from tests.conversations.factories import QueueFactory, RepresentativeFactory, SupervisorFactory
from tests.conversations.wsutil import ANGRY_ES, close_all, next_frame, scoring_runtime, staff_socket  # noqa: F401
from tests.insights.chatwoot import payloads as cw
from tests.insights.chatwoot.fake_chatwoot import FakeChatwoot, outbox_sender_join

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("scoring_runtime")]


@database_sync_to_async
def make_world(fake_url: str):
    queue = QueueFactory(name="Soporte")
    rep = RepresentativeFactory(queues=[queue], user__email="ana@example.com")
    sup = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    org = sentiment_settings_get()
    org.representative_threshold = -1
    org.supervisor_threshold = -1
    org.save()
    connection = ChatwootConnection.objects.create(
        base_url=fake_url, account_id=7, api_access_token="cw-token", default_queue=queue
    )
    return rep, sup, connection


async def test_an_angry_spanish_chatwoot_message_alerts_live_and_labels_the_chatwoot_conversation():
    fake = FakeChatwoot()
    rep_ws = sup_ws = None
    try:
        rep, sup, connection = await make_world(fake.url)
        rep_ws, sup_ws = await staff_socket(rep), await staff_socket(sup)
        client = AsyncClient()
        url = f"/integrations/chatwoot/{connection.endpoint_secret}/"
        created = cw.conversation_event("conversation_created", assignee=cw.AGENT)
        assert (
            await client.post(url, data=json.dumps(created), content_type="application/json")
        ).status_code == 200
        response = await client.post(
            url, data=json.dumps(cw.message(7001, ANGRY_ES)), content_type="application/json"
        )
        assert response.json()["outcome"] == "stored as seq 1 (customer)"

        alert = await next_frame(rep_ws, "alert.raised", seq=1)
        assert alert["audience"] == "representative" and alert["level_value"] <= -1
        notification = await next_frame(sup_ws, "notification.created")
        assert notification["customer"] == "Lucía Pérez" and notification["representative_id"] == rep.pk

        for _ in range(600):  # the outbox sender runs in its own thread (30 s at most)
            labelled = [c for c in fake.calls if c[0] == "POST" and c[1].endswith("/conversations/42/labels")]
            if labelled:
                break
            await asyncio.sleep(0.05)
        assert labelled and set(labelled[-1][2]["labels"]) & {"sentiment-negative", "sentiment-very-negative"}
        await asyncio.to_thread(outbox_sender_join)
        calls = await database_sync_to_async(
            lambda: list(ChatwootCall.objects.values_list("kind", "status"))
        )()
        assert ("labels", CallStatus.SENT) in calls
        assert all(status == CallStatus.SENT for _kind, status in calls)
    finally:
        await close_all(*(s for s in (rep_ws, sup_ws) if s is not None))
        fake.close()
