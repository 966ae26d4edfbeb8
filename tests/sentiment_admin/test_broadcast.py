"""group_send_many: every distinct group gets the payload once; a failing group is reported, not
raised. group_send_soon: the database thread does not wait, and one conversation's sends keep
their order."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer

from sentiment_admin import broadcast


class PartlyDownLayer(InMemoryChannelLayer):
    """An in-memory layer whose sends to one group fail, as Redis does while it restarts."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    async def group_send(self, group, message):
        if group == self.failing:
            raise ConnectionError("layer unreachable")
        await super().group_send(group, message)


def _listen(layer, groups):
    channels = {}

    async def join():
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])

    asyncio.run(join())
    return channels


def _received(layer, channel):
    async def take():
        return await asyncio.wait_for(layer.receive(channel), timeout=1)

    return asyncio.run(take())


def test_every_distinct_group_gets_the_payload_once(monkeypatch):
    layer = InMemoryChannelLayer()
    channels = _listen(layer, ["staff.1", "queue.2", "conversation.3"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    payload = {"type": "conversation.scored", "conversation": 3}
    assert broadcast.group_send_many(["staff.1", "queue.2", "staff.1", "conversation.3"], payload) is True
    for channel in channels.values():
        assert _received(layer, channel) == payload
    with pytest.raises(asyncio.TimeoutError):  # staff.1 was named twice, sent once
        _received(layer, channels["staff.1"])


def test_a_group_that_cannot_be_reached_is_reported_and_the_others_still_get_it(monkeypatch, caplog):
    layer = PartlyDownLayer(failing="queue.2")
    channels = _listen(layer, ["staff.1", "conversation.3"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    payload = {"type": "conversation.scored", "conversation": 3}
    assert broadcast.group_send_many(["staff.1", "queue.2", "conversation.3"], payload) is False
    assert _received(layer, channels["staff.1"]) == payload
    assert _received(layer, channels["conversation.3"]) == payload
    assert "could not send conversation.scored to queue.2" in caplog.text


def test_a_send_dropped_by_a_full_channel_does_not_count_as_delivered(monkeypatch):
    from sentiment_admin.layers import InMemoryChannelLayer as CenterLayer

    layer = CenterLayer(capacity=1)
    channels = _listen(layer, ["staff.1", "queue.2"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    first = {"type": "conversation.scored", "conversation": 3, "seq": 1}
    assert broadcast.group_send_many(["staff.1", "queue.2"], first) is True
    # staff.1's channel still holds the first event (capacity 1): the second cannot get in.
    assert _received(layer, channels["queue.2"]) == first
    second = {"type": "conversation.scored", "conversation": 3, "seq": 2}
    assert broadcast.group_send_many(["staff.1", "queue.2"], second) is False
    assert _received(layer, channels["queue.2"]) == second  # the others still got it
    assert _received(layer, channels["staff.1"]) == first
    assert broadcast.group_send_many(["staff.1"], second) is True  # room again: delivered


class GatedLayer(InMemoryChannelLayer):
    """An in-memory layer whose sends wait until the test opens a gate (a slow Redis), and
    which notes the order in which payloads reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[int, asyncio.Event] = {}
        self.order: list[int] = []

    async def group_send(self, group, message):
        gate = self.gates.get(message["seq"])
        if gate is not None:
            await gate.wait()
        self.order.append(message["seq"])
        await super().group_send(group, message)

    def close_gate(self, seq: int) -> None:
        self.gates[seq] = asyncio.Event()
        # Opened anyway after a while: a send that blocked its thread fails the test, not hangs it.
        asyncio.get_running_loop().call_later(3, self.gates[seq].set)


def _from_a_database_thread(fn):
    """Run ``fn`` the way an ``on_commit`` callback runs: on a thread under the serving loop."""
    return sync_to_async(fn, thread_sensitive=True)()


async def test_a_database_thread_does_not_wait_for_a_scheduled_send(monkeypatch):
    layer = GatedLayer()
    channel = await layer.new_channel()
    await layer.group_add("staff.1", channel)
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    layer.close_gate(1)
    delivered = []
    payload = {"type": "message.created", "conversation": 3, "seq": 1}

    await asyncio.wait_for(
        _from_a_database_thread(
            lambda: broadcast.group_send_soon(["staff.1"], payload, on_delivered=lambda: delivered.append(1))
        ),
        timeout=1,
    )  # returned while the layer still holds the send
    assert layer.order == [] and delivered == []
    layer.gates[1].set()
    assert await asyncio.wait_for(layer.receive(channel), timeout=1) == payload
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert delivered == [1]


async def test_scheduled_sends_of_one_conversation_leave_in_the_order_they_were_scheduled(monkeypatch):
    layer = GatedLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    layer.close_gate(1)

    def schedule():
        for seq, key in ((1, "a"), (2, "a"), (3, "b")):
            broadcast.group_send_soon(
                ["conversation.3"], {"type": "message.created", "seq": seq}, order_key=key
            )

    await _from_a_database_thread(schedule)
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert layer.order == [3]  # another conversation's send does not wait; 2 waits for 1
    layer.gates[1].set()
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert layer.order == [3, 1, 2]


async def test_a_waited_send_goes_after_the_sends_scheduled_before_it(monkeypatch):
    layer = GatedLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    layer.close_gate(1)

    def schedule_then_wait():
        broadcast.group_send_soon(["staff.1"], {"type": "message.created", "seq": 1}, order_key="a")
        return broadcast.group_send_many(["staff.1"], {"type": "conversation.assigned", "seq": 2})

    waited = asyncio.ensure_future(_from_a_database_thread(schedule_then_wait))
    await asyncio.sleep(0.05)
    assert not waited.done()
    layer.gates[1].set()
    assert await asyncio.wait_for(waited, timeout=1) is True
    assert layer.order == [1, 2]


def test_without_a_serving_loop_a_scheduled_send_is_sent_at_once(monkeypatch):
    layer = InMemoryChannelLayer()
    channels = _listen(layer, ["staff.1"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda alias: layer)
    delivered = []
    payload = {"type": "message.created", "conversation": 3, "seq": 1}
    broadcast.group_send_soon(["staff.1"], payload, on_delivered=lambda: delivered.append(1))
    assert delivered == [1]
    assert _received(layer, channels["staff.1"]) == payload
