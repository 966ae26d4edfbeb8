"""The one way the apps send to the channel layer.

``conversations.events`` and ``insights.events`` build their payloads and send them from
``transaction.on_commit`` callbacks, which run on a database thread (a sync view under Daphne,
``database_sync_to_async`` in a consumer or in the scoring batcher). Every send runs on the
server's event loop, which is what the in-memory layer needs: it is not thread-safe.

Two ways to send:

- ``send_soon`` (and ``group_send_soon``): schedule the send on the loop and return. The busy
  events (``message.created``, the hand-over to the scoring workers, ``conversation.scored``,
  alerts and notifications) go this way: a web process has one database thread, and it used to
  wait for Redis round trips after every commit (38% of its time at 40 msg/s; half of a scoring
  worker's store). Sends with the same ``order_key`` (a conversation) run one after the other,
  in the order they were scheduled; a screen that still misses a frame catches up by sequence
  number, and ``conversation.scored`` stays in the outbox until its send succeeded.
- ``group_send_many``: send and wait for the outcome, after every send this process scheduled
  before it, so that a rarer event never overtakes a busy one scheduled earlier.

Without a serving loop (a management command, a sync test) both send at once, as before.

Sends go to the screens' layer (``realtime.SCREENS_LAYER``): with Redis, its pub/sub layer.
A send there succeeds when Redis took it; a socket that missed it is told to catch up.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable, Hashable, Iterable

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

from sentiment_admin import realtime

logger = logging.getLogger(__name__)

# Scheduled sends not finished yet: the loop keeps only weak references to its tasks.
_in_flight: set[asyncio.Task] = set()
# The last scheduled send of each order key (per loop). Only touched on the loop's thread.
_last_by_key: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task] = {}


def group_send_many(groups: Iterable[str], payload: dict) -> bool:
    """Send ``payload`` once to each distinct group. Returns False if any send failed.

    A full or unreachable layer (Redis restarting) must not break the caller's request or the
    scoring pipeline, so failures are logged, not raised; callers whose events must not be lost
    (``conversation.scored``) keep them in the outbox until a send succeeds.
    """
    layer = get_channel_layer(realtime.SCREENS_LAYER)
    if layer is None:
        return True
    return async_to_sync(_send_after_scheduled)(layer, list(dict.fromkeys(groups)), payload)


def group_send_soon(
    groups: Iterable[str],
    payload: dict,
    *,
    order_key: Hashable | None = None,
    on_delivered: Callable[[], None] | None = None,
) -> None:
    """Schedule ``payload`` to each distinct group on the serving loop and return at once.

    ``on_delivered`` runs when every group got it: on the loop's thread (it must not block),
    or on the caller's without a serving loop. Failures are logged, as ``group_send_many``
    does."""
    layer = get_channel_layer(realtime.SCREENS_LAYER)
    loop = _serving_loop()
    if layer is None or loop is None:
        if group_send_many(groups, payload) and on_delivered is not None:
            on_delivered()
        return
    groups = list(dict.fromkeys(groups))

    async def send() -> None:
        if await _send_to_groups(layer, groups, payload) and on_delivered is not None:
            on_delivered()

    _schedule(loop, send, order_key, payload.get("type", "an event"))


def send_soon(
    send: Callable[[], Awaitable[object]], *, order_key: Hashable | None = None, what: str = "an event"
) -> None:
    """Run the coroutine function ``send`` on the serving loop, after the previous send of the
    same ``order_key``, without waiting for it. Its exceptions are logged."""
    loop = _serving_loop()
    if loop is None:
        try:
            async_to_sync(send)()
        except Exception:
            logger.exception("could not send %s", what)
        return
    _schedule(loop, send, order_key, what)


def _schedule(loop, send, order_key, what) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _start(loop, send, order_key, what)
    else:
        loop.call_soon_threadsafe(_start, loop, send, order_key, what)


def _serving_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread works for: its own, or the one a sync view or
    ``database_sync_to_async`` call runs under."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def _start(loop, send, order_key, what) -> None:
    key = (loop, order_key)
    previous = _last_by_key.get(key) if order_key is not None else None
    # A context of its own: the scheduling thread's (a database thread's) would make its
    # database_sync_to_async calls refuse to run.
    task = loop.create_task(_run_after(previous, send, what), context=contextvars.Context())
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    if order_key is not None:
        _last_by_key[key] = task
        task.add_done_callback(lambda done: _last_by_key.get(key) is done and _last_by_key.pop(key))


async def _run_after(previous: asyncio.Task | None, send, what: str) -> None:
    if previous is not None and not previous.done():
        await asyncio.wait([previous])  # its outcome is its own: logged there
    try:
        await send()
    except Exception:
        logger.exception("could not send %s", what)


async def _send_after_scheduled(layer, groups: list[str], payload: dict) -> bool:
    loop = asyncio.get_running_loop()
    earlier = [task for task in _in_flight if task.get_loop() is loop]
    if earlier:
        await asyncio.wait(earlier)
    return await _send_to_groups(layer, groups, payload)


async def _send_to_groups(layer, groups: list[str], payload: dict) -> bool:
    # The groups' sends side by side: one event costs one Redis round trip's wait, not one per group.
    outcomes = await asyncio.gather(
        *(layer.group_send(group, payload) for group in groups), return_exceptions=True
    )
    delivered = True
    for group, outcome in zip(groups, outcomes, strict=False):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):  # cancellation and the like are not send failures
                raise outcome
            delivered = False
            logger.error("could not send %s to %s: %s", payload.get("type"), group, outcome)
    return delivered
