"""The scoring worker: ``python manage.py runworker sentiment-scoring``.

Ingest (in worker mode) sends ``{"type": "score.messages", "message_ids": [...]}`` to the
``sentiment-scoring`` channel; this consumer hands the ids to the process's micro-batcher
(``insights.services.scoring.ScoringBatcher``), which scores in a thread and stores the
results. Run as many workers as you like: the channel layer spreads messages among them.
"""

from __future__ import annotations

import logging

from channels.consumer import AsyncConsumer

from insights.services.scoring import scoring_worker_batcher

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
