"""Worker transport: message ids to the ``sentiment-scoring`` channel, served by
``manage.py runworker sentiment-scoring`` (``insights.consumers.ScoringWorkerConsumer``)."""

from __future__ import annotations

from channels.layers import get_channel_layer

from sentiment_admin import realtime

# Ids per channel message: well under a channel layer's message size.
MAX_IDS_PER_MESSAGE = 500


async def send_to_workers(message_ids: list[int]) -> None:
    """Hand ids to the scoring workers; an empty list still wakes one up (it loads the model)."""
    layer = get_channel_layer(realtime.WORKERS_LAYER)
    if not message_ids:
        await layer.send(realtime.SCORING_CHANNEL, {"type": realtime.SCORE_MESSAGES, "message_ids": []})
        return
    for start in range(0, len(message_ids), MAX_IDS_PER_MESSAGE):
        await layer.send(
            realtime.SCORING_CHANNEL,
            {
                "type": realtime.SCORE_MESSAGES,
                "message_ids": message_ids[start : start + MAX_IDS_PER_MESSAGE],
            },
        )
