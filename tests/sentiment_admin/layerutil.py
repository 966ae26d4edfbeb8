"""Redis channel layers of their own for the tests that need a real Redis (REDIS_URL)."""

from __future__ import annotations

import os
import uuid

import pytest

from sentiment_admin.layers import RedisChannelLayer, RedisPubSubChannelLayer

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set REDIS_URL")


def redis_layer(capacity: int) -> RedisChannelLayer:
    """A layer with a fresh key prefix on the suite's Redis database (``flush`` it after)."""
    return RedisChannelLayer(hosts=[REDIS_URL], prefix=f"test-{uuid.uuid4().hex[:8]}", capacity=capacity)


def redis_pubsub_layer(capacity: int = 1000, prefix: str | None = None) -> RedisPubSubChannelLayer:
    """A pub/sub layer on the suite's Redis; two with one ``prefix`` are two processes of one
    center (``flush`` each after)."""
    return RedisPubSubChannelLayer(
        hosts=[REDIS_URL], prefix=prefix or f"test-{uuid.uuid4().hex[:8]}.", capacity=capacity
    )
