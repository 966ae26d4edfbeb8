"""The scoring worker (``python manage.py runworker sentiment-scoring``) and the integrations'
event stream (``ws/integrations/events/``).

Ingest (in worker mode) sends ``{"type": "score.messages", "message_ids": [...]}`` to the
``sentiment-scoring`` channel; this consumer hands the ids to the process's micro-batcher
(``insights.pipeline.batcher.ScoringBatcher``), which scores in a thread and stores the
results. Run as many workers as you like: the channel layer spreads messages among them.
"""

from __future__ import annotations

import logging

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async

from conversations.consumers.base import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, BaseConsumer
from conversations.models import IntegrationScope
from conversations.services.ingest import integration_token_authenticate
from insights.pipeline.runtime import scoring_worker_batcher
from sentiment_admin import realtime

logger = logging.getLogger(__name__)


class ScoringWorkerConsumer(AsyncConsumer):
    async def score_messages(self, message: dict) -> None:
        raw = message.get("message_ids") or []
        ids = [int(i) for i in raw if isinstance(i, int) or (isinstance(i, str) and i.isdigit())]
        # Started (and the model loaded) even by an empty message: a Daphne process sends one
        # when it starts, so the first customer does not wait for the model to load.
        batcher = await scoring_worker_batcher()
        if ids:
            batcher.submit_nowait(ids)
        elif raw:
            logger.warning("score.messages without usable message ids: %r", raw)


def _bearer_key(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, raw = value.decode("latin1").partition(" ")
            return raw.strip() if kind.lower() == "bearer" else ""
    return ""


class IntegrationEventsConsumer(BaseConsumer):
    """``ws/integrations/events/``: every ``conversation.scored``, ``alert.raised`` and
    ``alert.recovered`` of every conversation, for a key with the ``read_sentiment`` scope
    (``Authorization: Bearer <key>`` on the handshake). Read-only: ``ping`` is its one frame.
    Missing or wrong key → close 4401; a key without the scope → 4403."""

    handlers = {realtime.CLIENT_PING: "on_ping"}

    async def connect(self):
        token = await database_sync_to_async(integration_token_authenticate)(_bearer_key(self.scope))
        if token is None:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        if not token.has_scope(IntegrationScope.READ_SENTIMENT):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.join(realtime.INTEGRATIONS_GROUP)
        await self.accept()

    async def disconnect(self, code):
        await self.leave_all()

    async def message_created(self, event):  # not part of this stream
        return

    async def conversation_scored(self, event):
        await self.send_json(event)

    async def alert_raised(self, event):
        await self.send_json(event)

    async def alert_recovered(self, event):
        await self.send_json(event)
