"""Benchmark-only settings: the embedded/local settings plus the proposed fix for the
head-of-line blocking found by bench/pipeline.py (see docs/benchmarks.md).

Channels 4.3's ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` before EVERY
handler, group events included; that is ``sync_to_async(close_old_connections)`` on the one
thread-sensitive thread that also runs every ``database_sync_to_async`` call of the process.
Under ingest load, forwarding a ``conversation.scored`` event to a screen waits behind every
queued customer message. Group events do no database work (and ``database_sync_to_async``
already closes stale connections around each call), so the fix is to dispatch directly:

    .venv/bin/python bench/pipeline.py --settings bench.dispatch_fix_settings ...

The real fix belongs in ``conversations.consumers.base.BaseConsumer.dispatch``.
"""

from channels.consumer import AsyncConsumer, get_handler_name

from sentiment_admin.settings.local import *  # noqa: F403


async def _dispatch(self, message):
    handler = getattr(self, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    await handler(message)


AsyncConsumer.dispatch = _dispatch
