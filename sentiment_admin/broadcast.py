"""The one way the apps send to the channel layer.

``conversations.events`` and ``insights.events`` build their payloads and call
``group_send_many`` from ``transaction.on_commit`` callbacks. ``async_to_sync`` runs the send on
the server's event loop when called from a thread under it (a sync view under Daphne,
``database_sync_to_async`` in a consumer or in the scoring batcher), which is what the
in-memory layer needs: it is not thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_send_many(groups: Iterable[str], payload: dict) -> bool:
    """Send ``payload`` once to each distinct group. Returns False if any send failed.

    A full or unreachable layer (Redis restarting) must not break the caller's request or the
    scoring pipeline, so failures are logged, not raised; callers whose events must not be lost
    (``conversation.scored``) keep them in the outbox until a send succeeds.
    """
    layer = get_channel_layer()
    if layer is None:
        return True
    delivered = True
    for group in dict.fromkeys(groups):
        try:
            async_to_sync(layer.group_send)(group, payload)
        except Exception as exc:
            delivered = False
            logger.error("could not send %s to %s: %s", payload.get("type"), group, exc)
    return delivered
