"""The center's channel layers: Channels' in-memory layer (the embedded default) and
channels_redis (``REDIS_URL``): its list layer, which carries the scoring workers' channel,
and its pub/sub layer, which carries the sockets' fan-out (``RedisPubSubChannelLayer``).

In the in-memory and list layers, a group send that could not reach a member because its
channel was full raises ``ChannelFull`` (after sending to every other member) instead of
dropping the message silently. ``sentiment_admin.broadcast.group_send_many`` then does not
count it as delivered, and the scoring outbox keeps the score until a later send reaches
everyone. The pub/sub layer cannot know who received a frame: it tells the sockets that may
have missed one to catch up instead.
"""

from __future__ import annotations

import asyncio
import logging
import time

from channels import layers
from channels.exceptions import ChannelFull
from channels_redis import core as redis_core
from channels_redis import pubsub
from channels_redis import utils as redis_utils
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub

from sentiment_admin import realtime

logger = logging.getLogger(__name__)


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


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """channels_redis's pub/sub layer for the sockets' fan-out: one PUBLISH per group send,
    which Redis pushes to every subscribed process, instead of a Lua script that writes a copy
    into every member's sorted set and a BZPOPMIN per socket to read it back.

    Pub/sub delivers at most once: a frame published while a process's subscription is down
    (Redis restarting, a dropped connection) is gone, and a process that stops reading would
    otherwise grow its queues without bound. Sockets already catch up by sequence number, so
    instead of losing frames silently the layer tells each socket that may have missed one
    with a ``layer.resync`` event (``sentiment_admin.realtime.LAYER_RESYNC``): after a
    reconnect of the subscription, every socket of the process; when a socket's queue reaches
    ``capacity``, that socket. The socket closes and its client catches up.
    """

    def __init__(self, *args, capacity: int = 1000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _ResyncingLoopLayer(
                *self._args, **self._kwargs, channel_layer=self, capacity=self.capacity
            )
            self._layers[loop] = layer
            redis_utils._wrap_close(self, loop)
        return layer


class _ResyncingLoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *, capacity: int, **kwargs) -> None:
        super().__init__(hosts, **kwargs)
        self.capacity = capacity
        self._shards = [_ResyncingShard(host, self) for host in redis_utils.decode_hosts(hosts)]

    def resync(self, channel_names) -> None:
        """Replace what each channel's queue holds with one ``layer.resync`` notice."""
        notice = self.channel_layer.serialize({"type": realtime.LAYER_RESYNC})
        for name in channel_names:
            queue = self.channels.get(name)
            if queue is None:
                continue
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(notice)


class _ReconnectAwarePubSub(PubSub):
    """redis-py calls ``on_connect`` on a reconnect only (the first connect registers it), after
    which it subscribes again; what was published in between never arrives."""

    def __init__(self, *args, resubscribed, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resubscribed = resubscribed

    async def on_connect(self, connection) -> None:
        await super().on_connect(connection)
        self._resubscribed()


class _ResyncingShard(pubsub.RedisSingleShardConnection):
    def _ensure_redis(self) -> None:
        if self._redis is None:
            self._redis = aioredis.Redis(connection_pool=redis_utils.create_pool(self.host))
            self._pubsub = _ReconnectAwarePubSub(self._redis.connection_pool, resubscribed=self._resubscribed)

    def _resubscribed(self) -> None:
        # Every socket of the process, not only those whose channel hashes to this shard: a
        # socket's groups may be subscribed here even where its own channel is not.
        channels = list(self.channel_layer.channels)
        logger.warning("pub/sub subscription to Redis reconnected: %d sockets catch up", len(channels))
        self.channel_layer.resync(channels)

    def _receive_message(self, message) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            targets = (name,)
        else:
            targets = [channel for channel in layer.groups.get(name, ()) if channel in layer.channels]
        full = []
        for channel in targets:
            queue = layer.channels[channel]
            if queue.qsize() >= layer.capacity:
                full.append(channel)
            else:
                queue.put_nowait(message["data"])
        if full:
            logger.warning("%d sockets stopped reading their frames: they catch up", len(full))
            layer.resync(full)
