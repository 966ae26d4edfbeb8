"""group_send_many: every distinct group gets the payload once; a failing group is reported, not raised."""

from __future__ import annotations

import asyncio

import pytest
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
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    payload = {"type": "conversation.scored", "conversation": 3}
    assert broadcast.group_send_many(["staff.1", "queue.2", "staff.1", "conversation.3"], payload) is True
    for channel in channels.values():
        assert _received(layer, channel) == payload
    with pytest.raises(asyncio.TimeoutError):  # staff.1 was named twice, sent once
        _received(layer, channels["staff.1"])


def test_a_group_that_cannot_be_reached_is_reported_and_the_others_still_get_it(monkeypatch, caplog):
    layer = PartlyDownLayer(failing="queue.2")
    channels = _listen(layer, ["staff.1", "conversation.3"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    payload = {"type": "conversation.scored", "conversation": 3}
    assert broadcast.group_send_many(["staff.1", "queue.2", "conversation.3"], payload) is False
    assert _received(layer, channels["staff.1"]) == payload
    assert _received(layer, channels["conversation.3"]) == payload
    assert "could not send conversation.scored to queue.2" in caplog.text


def test_a_send_dropped_by_a_full_channel_does_not_count_as_delivered(monkeypatch):
    from sentiment_admin.layers import InMemoryChannelLayer as CenterLayer

    layer = CenterLayer(capacity=1)
    channels = _listen(layer, ["staff.1", "queue.2"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    first = {"type": "conversation.scored", "conversation": 3, "seq": 1}
    assert broadcast.group_send_many(["staff.1", "queue.2"], first) is True
    # staff.1's channel still holds the first event (capacity 1): the second cannot get in.
    assert _received(layer, channels["queue.2"]) == first
    second = {"type": "conversation.scored", "conversation": 3, "seq": 2}
    assert broadcast.group_send_many(["staff.1", "queue.2"], second) is False
    assert _received(layer, channels["queue.2"]) == second  # the others still got it
    assert _received(layer, channels["staff.1"]) == first
    assert broadcast.group_send_many(["staff.1"], second) is True  # room again: delivered
