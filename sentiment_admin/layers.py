"""The center's channel layers: Channels' in-memory layer (the embedded default) and
channels_redis (``REDIS_URL``), except that a group send that could not reach a member because
its channel was full raises ``ChannelFull`` (after sending to every other member) instead of
dropping the message silently. ``sentiment_admin.broadcast.group_send_many`` then does not
count it as delivered, and the scoring outbox keeps the score until a later send reaches
everyone.
"""

from __future__ import annotations

import asyncio
import time

from channels import layers
from channels.exceptions import ChannelFull
from channels_redis import core as redis_core


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


# channels_redis 4.3's group send script: add the message to each channel's sorted set that
# has room, and return how many had none.
_GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


class RedisChannelLayer(redis_core.RedisChannelLayer):
    """channels_redis's group send, which counts the channels that were full and only logs
    that count; here the count raises ``ChannelFull``. A Daphne process's sockets share one
    Redis key ("full" means that process has stopped reading), as in channels_redis."""

    async def group_send(self, group, message):
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        await connection.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        channel_names = [x.decode("utf8") for x in await connection.zrange(key, 0, -1)]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(channel_names, message)
        full = 0
        for index, channel_keys in by_connection.items():
            connection = self.connection(index)
            pipe = connection.pipeline()
            for channel_key in channel_keys:
                pipe.zremrangebyscore(channel_key, min=0, max=int(time.time()) - int(self.expiry))
            await pipe.execute()
            full += await connection.eval(
                _GROUP_SEND_LUA,
                len(channel_keys),
                *channel_keys,
                *(messages[k] for k in channel_keys),
                *(capacities[k] for k in channel_keys),
                time.time(),
                self.expiry,
            )
        if full:
            raise ChannelFull(f"{full} of {len(channel_names)} channels of {group} are full")
