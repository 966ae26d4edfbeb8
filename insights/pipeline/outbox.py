"""Outbox: a stored score, or a message stored as ``failed``, stays announce-pending
(``Message.announce_pending``, set in the storing transaction) until its ``conversation.scored``
reached the channel layer. Screens drop a score they already have: the same (conversation, seq)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from datetime import timedelta
from functools import partial

from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Message
from insights import events, frames

logger = logging.getLogger(__name__)

# The sweepers send again what is still announce-pending after this long.
ANNOUNCE_RETRY_AGE_SECONDS = 3.0


def announce_scored(
    payload: dict, representative_id: int | None, message_id: int, delivered: list[int]
) -> None:
    """Schedule one ``conversation.scored`` (an ``on_commit`` callback) and return; it leaves
    the outbox once it reached the layer. Without a serving loop it is sent at once and noted
    in ``delivered``, which the caller clears."""
    events.broadcast_conversation_scored_soon(
        payload=payload,
        representative_id=representative_id,
        on_delivered=partial(_note_announced, message_id, delivered),
    )


# Scores announced on the loop, not yet cleared from the outbox (appended on the loop's
# thread, taken on the database thread).
_announced_lock = threading.Lock()
_announced: list[int] = []
_clearing: set[asyncio.Task] = set()
# The loop whose clear is waiting to run, if any.
_clear_scheduled_on: asyncio.AbstractEventLoop | None = None

# How long announced scores gather before one UPDATE clears them all. Over pub/sub a send
# finishes before the next one's, so clearing at once made an UPDATE and a commit of nearly
# every score (16% of a worker's database thread at 100 msg/s). Clearing later costs
# nothing: until then, only a crash makes the sweeper send a score again, which screens drop.
CLEAR_DELAY_SECONDS = 0.25


def _note_announced(message_id: int, delivered: list[int]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # sent at once, on the storing thread
        delivered.append(message_id)
        return
    global _clear_scheduled_on
    with _announced_lock:
        _announced.append(message_id)
        if _clear_scheduled_on is loop:
            return  # a clear is on its way and takes this one too
        # Also after a loop closed with its clear still waiting (tests, a restart in-process).
        _clear_scheduled_on = loop
    loop.call_later(CLEAR_DELAY_SECONDS, _start_clear, loop)


def _start_clear(loop: asyncio.AbstractEventLoop) -> None:
    task = loop.create_task(database_sync_to_async(_clear_announced)(), context=contextvars.Context())
    _clearing.add(task)
    task.add_done_callback(_clearing.discard)


def _clear_announced() -> None:
    global _clear_scheduled_on
    with _announced_lock:
        ids = _announced[:]
        _announced.clear()
        _clear_scheduled_on = None
    outbox_clear(ids)


def outbox_clear(message_ids: list[int]) -> None:
    if not message_ids:
        return
    try:
        Message.objects.filter(pk__in=message_ids).update(announce_pending=False)
    except Exception:  # the sweeper announces them again; screens drop a repeated (conversation, seq)
        logger.exception("could not clear %d announced score(s) from the outbox", len(message_ids))


def scored_announcements_resend(*, older_than_seconds: float | None = None, limit: int = 500) -> int:
    """Announce again the scores whose ``conversation.scored`` never reached the channel layer
    (a send failed while Redis restarted, or the process died between commit and send).
    Oldest first; stops at the first failure, the layer being still down. Returns how many
    went out. Screens drop a score they already have: the same (conversation, seq)."""
    age = ANNOUNCE_RETRY_AGE_SECONDS if older_than_seconds is None else older_than_seconds
    delivered = _announce_as_of(
        Message.objects.filter(announce_pending=True, scored_at__lt=timezone.now() - timedelta(seconds=age)),
        limit=limit,
    )
    if delivered:
        logger.info("announced %d score(s) again that had not reached the channel layer", delivered)
    return delivered


def announce_stored(message_ids: list[int]) -> int:
    """Announce messages stored outside a scoring batch (``failed``) from what is stored, an
    ``on_commit`` callback; what does not reach the layer stays in the outbox."""
    return _announce_as_of(Message.objects.filter(pk__in=message_ids, announce_pending=True))


def _announce_as_of(messages, *, limit: int | None = None) -> int:
    """Send each one's ``conversation.scored`` as of its message, oldest first, until the
    first send that fails (the layer being still down); clear what went out."""
    delivered: list[int] = []
    for message in messages.select_related("conversation").order_by("scored_at", "id")[:limit]:
        payload = frames.scored_payload_as_of(message)
        if not events.broadcast_conversation_scored(
            payload=payload, representative_id=message.conversation.representative_id
        ):
            break
        delivered.append(message.pk)
    outbox_clear(delivered)
    return len(delivered)
