"""The integrations' event stream (``ws/integrations/events/``): every scored message and
every alert crossing, for a key with the ``read_sentiment`` scope."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from conversations.services.ingest import integration_token_create
from tests.conversations.factories import ConversationFactory, RepresentativeFactory
from tests.conversations.wsutil import (  # noqa: F401
    ANGRY_EN,
    close_all,
    connect,
    integration_socket,
    next_frame,
    scoring_runtime,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def key_with(*scopes: str) -> str:
    _token, raw = await database_sync_to_async(integration_token_create)(name="stream", scopes=scopes)
    return raw


async def test_the_stream_refuses_a_missing_key_4401_and_a_key_without_read_sentiment_4403():
    await connect("/ws/integrations/events/", origin=False, expect=False, close_code=4401)
    await connect("/ws/integrations/events/", key="sc_wrong", origin=False, expect=False, close_code=4401)
    await connect(
        "/ws/integrations/events/",
        key=await key_with("ingest", "manage"),
        origin=False,
        expect=False,
        close_code=4403,
    )


async def test_a_browser_page_elsewhere_cannot_open_the_stream_even_with_a_key():
    from channels.testing import WebsocketCommunicator

    from sentiment_admin.asgi import application

    key = await key_with("read_sentiment")
    comm = WebsocketCommunicator(
        application,
        "/ws/integrations/events/",
        headers=[(b"origin", b"http://evil.example"), (b"authorization", f"Bearer {key}".encode())],
    )
    connected, _code = await comm.connect(timeout=10)
    assert not connected


async def test_the_stream_carries_every_scored_message_and_crossing(scoring_runtime):  # noqa: F811
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep)
    _ingest, ingest_key = await database_sync_to_async(integration_token_create)(name="in", scopes=["ingest"])
    stream = await integration_socket(await key_with("read_sentiment"))
    try:
        await send(stream, type="ping")
        await next_frame(stream, "pong")
        response = await AsyncClient().post(
            f"/api/conversations/{conversation.pk}/messages/",
            data=json.dumps({"text": ANGRY_EN}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {ingest_key}"},
        )
        assert response.status_code == 201
        scored = await next_frame(stream, "conversation.scored", conversation=conversation.pk, seq=1)
        assert scored["level_value"] < 0 and scored["queue"] == conversation.queue_id
        raised = await next_frame(
            stream, "alert.raised", conversation=conversation.pk, audience="representative"
        )
        assert raised["seq"] == 1 and raised["kind"] == "threshold"
        assert [f for f in stream.pending if f["type"] == "message.created"] == []  # transcripts stay out
    finally:
        await close_all(stream)
