"""The process's scoring runtime: its one batcher (in-process mode), or the hand-over to the
scoring workers (worker mode); where and when it starts, and ``scoring_enqueue``, the door
ingest hands stored messages through.

Started by ``sentiment_admin.asgi`` when a websocket opens on the serving loop (cheap after
the first), by a scoring worker at its first channel message, and by ``scoring_enqueue`` from
a sync view under the server's loop. The process's outbox sender (``insights.sender``: webhook
events, calls to Chatwoot) starts and stops with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Sequence

from asgiref.sync import SyncToAsync, async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from insights.pipeline.batcher import ScoringBatcher, sweep_forever
from insights.pipeline.claim import pending_message_ids
from insights.pipeline.transport import send_to_workers
from insights.sender import outbox_sender_start, outbox_sender_stop
from sentiment_admin import realtime
from sentiment_admin.broadcast import send_soon

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_batcher: ScoringBatcher | None = None
_requeued_loops: weakref.WeakSet = weakref.WeakSet()
_worker_mode_sweepers: list[asyncio.Task] = []


def _batcher_for_running_loop() -> ScoringBatcher:
    global _batcher
    loop = asyncio.get_running_loop()
    with _lock:
        if _batcher is None or _batcher.loop is not loop or not _batcher.alive():
            _batcher = ScoringBatcher(loop)
            _batcher.start()
        return _batcher


def scoring_mode() -> str:
    return settings.SENTIMENT_SCORING_MODE


async def scoring_runtime_start() -> ScoringBatcher | None:
    """Make sure this process scores: called on the serving loop whenever a websocket opens
    (``StartScoringRuntime``; cheap after the first). In worker mode a Daphne process only
    re-queues what was left pending, once per loop; workers do the scoring."""
    outbox_sender_start(owner_loop=asyncio.get_running_loop())
    if scoring_mode() == "worker":
        loop = asyncio.get_running_loop()
        if loop not in _requeued_loops:
            _requeued_loops.add(loop)
            _worker_mode_sweepers.append(
                loop.create_task(
                    sweep_forever(send_to_workers), name="sentiment-sweeper", context=contextvars.Context()
                )
            )
            try:
                ids = await database_sync_to_async(pending_message_ids)()
                await send_to_workers(ids or [])  # an empty message still wakes a worker up
            except Exception:  # a full or unreachable layer must not refuse the socket
                logger.exception("could not hand pending messages to the scoring workers")
        return None
    return _batcher_for_running_loop()


async def scoring_worker_batcher() -> ScoringBatcher:
    """The batcher of a ``runworker sentiment-scoring`` process (whatever the mode setting)."""
    outbox_sender_start(owner_loop=asyncio.get_running_loop())
    return _batcher_for_running_loop()


async def scoring_runtime_stop() -> None:
    """Cancel this process's batcher and stop its outbox sender (tests, shutdown)."""
    global _batcher
    batcher = _batcher
    _batcher = None
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(outbox_sender_stop, owner_loop=loop)
    if batcher is not None and batcher.loop is loop:
        await batcher.stop()
    for task in list(_worker_mode_sweepers):
        if task.get_loop() is loop:
            task.cancel()
            _worker_mode_sweepers.remove(task)
        elif task.done():
            _worker_mode_sweepers.remove(task)


def scoring_runtime_current() -> ScoringBatcher | None:
    return _batcher


class StartScoringRuntime:
    """ASGI middleware around the websocket routes (``sentiment_admin.asgi``): the process
    scores from the moment a socket opens on its loop, whichever consumer serves it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        await scoring_runtime_start()
        return await self.app(scope, receive, send)


async def _start_and_submit(message_ids: list[int]) -> None:
    batcher = await scoring_runtime_start()
    if batcher is not None:
        batcher.submit_nowait(message_ids)


def scoring_enqueue(message_ids: Sequence[int], *, conversation_id: int | None = None) -> None:
    """Hand stored messages to the scoring runtime. Sync; call after commit.

    In worker mode the channel send is scheduled on the serving loop, not waited for (after
    the conversation's ``message.created`` when ``conversation_id`` is given); a send that
    fails leaves the messages pending, and the sweepers queue them again."""
    ids = [int(i) for i in message_ids]
    if not ids:
        return
    if scoring_mode() == "worker":

        async def send() -> None:
            try:
                await send_to_workers(ids)
            except Exception:
                logger.exception("could not reach the scoring workers; %d message(s) stay pending", len(ids))

        send_soon(
            send,
            order_key=None if conversation_id is None else realtime.conversation_order(conversation_id),
            what="messages to the scoring workers",
        )
        return
    batcher = _batcher
    if batcher is not None and batcher.alive():
        batcher.loop.call_soon_threadsafe(batcher.submit_nowait, ids)
        return
    if getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None:
        # A sync view or database_sync_to_async under the server's loop: start it there.
        async_to_sync(_start_and_submit)(ids)
        return
    logger.info(
        "no scoring runtime in this process; %d message(s) stay pending until the server starts", len(ids)
    )
