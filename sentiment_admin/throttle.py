"""Throttles: fixed-window counters in the cache (Redis when ``REDIS_URL`` is set, so every
process shares them; the process's memory otherwise).

- ``throttle_hit(name, key, limit=, window=)`` counts one event and raises ``Throttled`` once
  ``limit`` events happened in the current window (``Throttled.retry_after`` is the number of
  seconds until the window ends);
- ``throttle_check`` raises the same without counting (sign-in: only failures count);
- ``SocketThrottle`` is the in-memory version for one websocket (catch-up, ping).

The settings (environment, safe defaults) are listed in the README's security section.
Keys are hashed, so a username or an address never appears in a cache key as typed.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache

PREFIX = "throttle"


class Throttled(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, int(retry_after))


def _key(name: str, key: str, window: int, now: float) -> tuple[str, int]:
    slot = int(now // window)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    retry_after = math.ceil((slot + 1) * window - now)
    return f"{PREFIX}:{name}:{digest}:{slot}", retry_after


def throttle_count(name: str, key: str, *, window: int) -> tuple[int, int]:
    """(events counted in the current window, seconds until it ends)."""
    cache_key, retry_after = _key(name, key, window, time.time())
    return int(cache.get(cache_key, 0)), retry_after


def throttle_check(name: str, key: str, *, limit: int, window: int, message: str) -> None:
    """Raise Throttled when ``limit`` events already happened in this window (0: no limit)."""
    if not limit:
        return
    count, retry_after = throttle_count(name, key, window=window)
    if count >= limit:
        raise Throttled(message, retry_after)


def throttle_record(name: str, key: str, *, window: int) -> int:
    """Count one event; returns the count in the current window."""
    cache_key, _ = _key(name, key, window, time.time())
    if cache.add(cache_key, 1, timeout=window + 1):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window + 1)
        return 1


def throttle_hit(name: str, key: str, *, limit: int, window: int, message: str) -> None:
    """Check, then count one event."""
    throttle_check(name, key, limit=limit, window=window, message=message)
    throttle_record(name, key, window=window)


def throttle_clear(name: str, key: str, *, window: int) -> None:
    cache_key, _ = _key(name, key, window, time.time())
    cache.delete(cache_key)


class SocketThrottle:
    """At most ``limit`` events per ``window`` seconds on one socket (in memory, a sliding
    window of the last ``limit`` timestamps)."""

    def __init__(self, *, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._times: list[float] = []

    def hit(self, message: str) -> None:
        if not self.limit:
            return
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < self.window]
        if len(self._times) >= self.limit:
            raise Throttled(message, math.ceil(self.window - (now - self._times[0])))
        self._times.append(now)


def client_address(request_or_scope) -> str:
    """The client's address as the server saw it (``REMOTE_ADDR`` / the ASGI ``client``).
    Behind a reverse proxy, configure it to pass the real address (Daphne's
    ``--proxy-headers``), or every client counts as the proxy."""
    meta = getattr(request_or_scope, "META", None)
    if meta is not None:
        return meta.get("REMOTE_ADDR") or "unknown"
    client = request_or_scope.get("client") if isinstance(request_or_scope, dict) else None
    return (client[0] if client else "") or "unknown"
