"""The center's Redis channel layer: a group send that a full channel dropped raises
``ChannelFull`` after every other member got it. Needs a real Redis (REDIS_URL)."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull

from tests.sentiment_admin.layerutil import needs_redis, redis_layer

pytestmark = needs_redis


async def test_a_group_send_to_a_full_member_raises_after_the_others_got_it():
    sender, reader = redis_layer(capacity=1), redis_layer(capacity=1)
    try:
        reader.prefix = sender.prefix  # another process of the same center
        stuck = await sender.new_channel()  # a socket whose process stopped reading
        live = await reader.new_channel()
        for channel in (stuck, live):
            await sender.group_add("staff.1", channel)
        first = {"type": "conversation.scored", "seq": 1}
        await sender.group_send("staff.1", first)
        assert (await asyncio.wait_for(reader.receive(live), timeout=2))["seq"] == 1
        second = {"type": "conversation.scored", "seq": 2}
        with pytest.raises(ChannelFull, match="1 of 2 channels of staff.1 are full"):
            await sender.group_send("staff.1", second)
        assert (await asyncio.wait_for(reader.receive(live), timeout=2))["seq"] == 2
        # The stuck one holds the first; once it reads, there is room again.
        assert (await asyncio.wait_for(sender.receive(stuck), timeout=2))["seq"] == 1
        await sender.group_send("staff.1", second)
    finally:
        await sender.flush()
        await reader.flush()
