"""The screens' pub/sub layer: a group send reaches every process's subscribed sockets, and a
socket that may have missed frames gets a ``layer.resync`` notice instead of a silent gap.
Needs a real Redis (REDIS_URL)."""

from __future__ import annotations

import asyncio
import uuid

import redis

from sentiment_admin import realtime
from tests.sentiment_admin.layerutil import REDIS_URL, needs_redis, redis_pubsub_layer

pytestmark = needs_redis


def _two_processes(capacity: int = 1000):
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    return redis_pubsub_layer(capacity, prefix), redis_pubsub_layer(capacity, prefix)


async def test_a_group_send_reaches_the_sockets_of_another_process():
    sender, reader = _two_processes()
    try:
        socket = await reader.new_channel()
        await reader.group_add("staff.1", socket)
        await sender.group_send("staff.1", {"type": realtime.CONVERSATION_SCORED, "seq": 1})
        assert (await asyncio.wait_for(reader.receive(socket), timeout=5))["seq"] == 1
    finally:
        await sender.flush()
        await reader.flush()


async def test_a_dropped_subscription_tells_every_socket_to_catch_up_then_delivers_again():
    sender, reader = _two_processes()
    try:
        socket = await reader.new_channel()
        await reader.group_add("staff.1", socket)
        shard = reader._get_layer()._shards[0]
        host, port = shard._pubsub.connection._writer.get_extra_info("sockname")[:2]
        # What Redis does to its subscribers when it restarts, for this one connection.
        redis.Redis.from_url(REDIS_URL).client_kill(f"{host}:{port}")

        assert (await asyncio.wait_for(reader.receive(socket), timeout=10))["type"] == realtime.LAYER_RESYNC
        # Subscribed again: a later frame arrives (published until it does: the resubscription
        # may still be on its way when the notice is read).
        for seq in range(1, 100):
            await sender.group_send("staff.1", {"type": realtime.CONVERSATION_SCORED, "seq": seq})
            try:
                frame = await asyncio.wait_for(reader.receive(socket), timeout=0.1)
            except TimeoutError:
                continue
            assert frame["type"] == realtime.CONVERSATION_SCORED
            break
        else:
            raise AssertionError("the subscription never came back")
    finally:
        await sender.flush()
        await reader.flush()


async def test_a_socket_that_stops_reading_is_told_to_catch_up_instead_of_growing_its_queue():
    sender, reader = _two_processes(capacity=3)
    try:
        slow = await reader.new_channel()
        live = await reader.new_channel()
        for socket in (slow, live):
            await reader.group_add("queue.1", socket)
        for seq in range(1, 6):
            await sender.group_send("queue.1", {"type": realtime.CONVERSATION_SCORED, "seq": seq})
            assert (await asyncio.wait_for(reader.receive(live), timeout=5))["seq"] == seq
        # The live socket got seq 5, so the slow one's queue was handed every frame too.
        queued = reader._get_layer().channels[slow].qsize()
        frames = [await asyncio.wait_for(reader.receive(slow), timeout=5) for _ in range(queued)]
        assert realtime.LAYER_RESYNC in [frame["type"] for frame in frames]
        assert len(frames) <= 3, "the queue never held more than its capacity"
    finally:
        await sender.flush()
        await reader.flush()
