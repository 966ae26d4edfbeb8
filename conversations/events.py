"""Everything the conversations app sends to the channel layer.

Services call these ``broadcast_*`` functions inside ``transaction.on_commit`` (never
directly), so nobody hears of a change that was rolled back. Payloads are built by the
``*_payload`` functions while the transaction is still open and passed in as plain dicts, so
sending does no database work. Group names and event types come from
``sentiment_admin.realtime``; the payload fields are the contract in ``docs/events.md``.

Sending: ``async_to_sync(layer.group_send)``. Called from a thread that runs under the
server's event loop (a sync view under Daphne, ``database_sync_to_async`` in a consumer or in
the scoring batcher) this runs the send *on that loop*, which is what the in-memory layer
needs (it is not thread-safe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from insights.levels import level_label, level_slug
from sentiment_admin import realtime

logger = logging.getLogger(__name__)


def _group_send_many(groups: Iterable[str], payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    seen: set[str] = set()
    for group in groups:
        if group in seen:
            continue
        seen.add(group)
        try:
            async_to_sync(layer.group_send)(group, payload)
        except Exception:  # a full or unreachable layer must not break the caller's request
            logger.exception("could not send %s to %s", payload.get("type"), group)


def conversation_audience(*, conversation_id: int, queue_id: int, representative_id: int | None) -> list[str]:
    """Staff who follow a conversation: its representative, its queue's supervisors, monitors."""
    groups = [realtime.queue_group(queue_id), realtime.conversation_group(conversation_id)]
    if representative_id:
        groups.insert(0, realtime.staff_group(representative_id))
    return groups


# --- payloads (built inside the transaction) ---------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def message_payload(message, *, for_customer: bool = False) -> dict:
    """``message.created``. The customer's version never carries sentiment (it carries none)."""
    author = message.author.display_name if message.author_id and message.author else ""
    payload = {
        "type": realtime.MESSAGE_CREATED,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": _iso(message.created_at),
        "author": author,
    }
    if not for_customer:
        payload["queue"] = message.conversation.queue_id
        payload["scoring_status"] = message.scoring_status
    return payload


def sentiment_fields(conversation) -> dict:
    level = conversation.sentiment_level
    return {
        "conversation_score": conversation.sentiment_score,
        "conversation_level": level_slug(level),
        "conversation_level_value": level,
        "conversation_label": level_label(level),
        "trend": conversation.sentiment_trend,
    }


def scored_payload(message, *, conversation_score, conversation_level, trend) -> dict:
    """``conversation.scored`` for one customer message and the conversation after it."""
    level = message.sentiment_level
    return {
        "type": realtime.CONVERSATION_SCORED,
        "conversation": message.conversation_id,
        "queue": message.conversation.queue_id,
        "seq": message.seq,
        "score": message.sentiment_score,
        "level": level_slug(level),
        "level_value": level,
        "label": level_label(level),
        "confidence": message.confidence,
        "language": message.language,
        "supported": message.scoring_status == "scored",
        "trend": trend,
        "conversation_score": conversation_score,
        "conversation_level": level_slug(conversation_level),
        "conversation_level_value": conversation_level,
        "conversation_label": level_label(conversation_level),
    }


def conversation_payload(conversation) -> dict:
    """``conversation.updated``: one row of the Ongoing conversations report."""
    rep = conversation.representative
    payload = {
        "type": realtime.CONVERSATION_UPDATED,
        "conversation": conversation.pk,
        "queue": conversation.queue_id,
        "queue_name": conversation.queue.name,
        "status": conversation.status,
        "representative": conversation.representative_id,
        "representative_name": rep.display_name if rep else "",
        "customer": conversation.customer.name,
        "channel": conversation.channel,
        "language": conversation.language,
        "scoring_opt_out": conversation.scoring_opt_out,
        "last_message_at": _iso(conversation.last_message_at),
        "last_seq": conversation.last_seq,
        "created_at": _iso(conversation.created_at),
        "accepted_at": _iso(conversation.accepted_at),
    }
    payload.update(sentiment_fields(conversation))
    return payload


# --- broadcasts (called inside transaction.on_commit) ---------------------------------------


def broadcast_message_created(*, payload: dict, customer_payload: dict | None, representative_id: int | None) -> None:
    """A stored message: to its staff audience, and to the customer for replies."""
    _group_send_many(
        conversation_audience(
            conversation_id=payload["conversation"], queue_id=payload["queue"], representative_id=representative_id
        ),
        payload,
    )
    if customer_payload is not None:
        _group_send_many([realtime.customer_group(payload["conversation"])], customer_payload)


def broadcast_conversation_scored(*, payload: dict, representative_id: int | None) -> None:
    _group_send_many(
        conversation_audience(
            conversation_id=payload["conversation"], queue_id=payload["queue"], representative_id=representative_id
        ),
        payload,
    )


def broadcast_conversation_updated(*, payload: dict, extra_groups: Iterable[str] = ()) -> None:
    groups = conversation_audience(
        conversation_id=payload["conversation"],
        queue_id=payload["queue"],
        representative_id=payload["representative"],
    )
    _group_send_many([*groups, *extra_groups], payload)


def broadcast_conversation_assigned(*, conversation_id: int, queue_id: int, representative_id: int | None) -> None:
    """To the new representative (all their sessions) and to the queue's supervisors."""
    payload = {
        "type": realtime.CONVERSATION_ASSIGNED,
        "conversation": conversation_id,
        "queue": queue_id,
        "representative": representative_id,
    }
    groups = [realtime.queue_group(queue_id), realtime.conversation_group(conversation_id)]
    if representative_id:
        groups.insert(0, realtime.staff_group(representative_id))
    _group_send_many(groups, payload)


def broadcast_conversation_removed(*, conversation_id: int, groups: Iterable[str]) -> None:
    """To a representative who lost the conversation (or a queue it left)."""
    _group_send_many(groups, {"type": realtime.CONVERSATION_REMOVED, "conversation": conversation_id})


def broadcast_presence_changed(*, staff_id: int, presence: str, label: str, name: str) -> None:
    payload = {
        "type": realtime.PRESENCE_CHANGED,
        "staff": staff_id,
        "presence": presence,
        "label": label,
        "name": name,
    }
    _group_send_many([realtime.staff_group(staff_id), realtime.PRESENCE_GROUP], payload)


# --- catch-up (the same frames as live, read back from the store) ---------------------------

CATCH_UP_LIMIT = 1000


def catch_up_frames(*, conversation, after_seq: int, for_customer: bool = False) -> tuple[list[dict], int]:
    """The frames a client missed after ``after_seq``: each message as ``message.created``
    and, for staff, each scored customer message's ``conversation.scored`` (with the
    conversation's sentiment as it was after that message). Returns (frames, last_seq)."""
    from conversations.models import Message, ScoringStatus, Sender
    from insights import rules

    messages = list(
        Message.objects.filter(conversation=conversation, seq__gt=after_seq)
        .select_related("author__user")
        .order_by("seq")[:CATCH_UP_LIMIT]
    )
    scores: list[float] = []
    if not for_customer:
        earlier = list(
            Message.objects.filter(
                conversation=conversation,
                seq__lte=after_seq,
                sender=Sender.CUSTOMER,
                scoring_status=ScoringStatus.SCORED,
            )
            .order_by("-seq")
            .values_list("sentiment_score", flat=True)[: rules.AGGREGATE_WINDOW]
        )
        scores = list(reversed(earlier))
    frames: list[dict] = []
    last_seq = after_seq
    for message in messages:
        message.conversation = conversation
        last_seq = max(last_seq, message.seq)
        frames.append(message_payload(message, for_customer=for_customer))
        if for_customer or message.sender != Sender.CUSTOMER:
            continue
        if message.scoring_status == ScoringStatus.SCORED:
            scores.append(message.sentiment_score)
        if message.scoring_status in (ScoringStatus.SCORED, ScoringStatus.NOT_SCORED):
            sentiment = rules.conversation_sentiment(scores)
            frames.append(
                scored_payload(
                    message,
                    conversation_score=sentiment.score,
                    conversation_level=sentiment.level,
                    trend=sentiment.trend,
                )
            )
    return frames, last_seq
