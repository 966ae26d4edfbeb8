"""The embedded default's channel layer: Channels' in-memory layer, except that a group send
that could not reach a member because its channel was full raises ``ChannelFull`` (after
sending to every other member) instead of dropping the message silently, so
``sentiment_admin.broadcast.group_send_many`` does not count it as delivered and the scoring
outbox keeps the score until a later send reaches everyone.
"""

from __future__ import annotations

import asyncio

from channels import layers
from channels.exceptions import ChannelFull


class InMemoryChannelLayer(layers.InMemoryChannelLayer):
    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        channels = list(self.groups.get(group, {}).keys())
        outcomes = await asyncio.gather(
            *(self.send(channel, message) for channel in channels), return_exceptions=True
        )
        full = [
            channel
            for channel, outcome in zip(channels, outcomes, strict=False)
            if isinstance(outcome, ChannelFull)
        ]
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, ChannelFull):
                raise outcome
        if full:
            raise ChannelFull(f"{len(full)} of {len(channels)} channels of {group} are full")
