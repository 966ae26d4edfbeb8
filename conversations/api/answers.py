"""The JSON the endpoints answer (``docs/events.md``, *REST*)."""

from __future__ import annotations

from conversations.models import Conversation, StaffMember
from insights import for_conversations
from insights.levels import level_fields


def iso(value) -> str | None:
    return value.isoformat() if value else None


def staff_json(member: StaffMember | None) -> dict | None:
    if member is None:
        return None
    return {
        "id": member.pk,
        "name": member.display_name,
        "email": member.user.email,
        "external_id": member.external_id,
    }


def message_json(message, *, sentiment: bool) -> dict:
    data = {
        "id": message.pk,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": iso(message.created_at),
        "author": message.author.display_name if message.author_id else "",
        "client_id": message.client_id,
    }
    if sentiment:
        level = message.sentiment_level
        data["scoring_status"] = message.scoring_status
        data["sentiment"] = (
            {
                "score": message.sentiment_score,
                **level_fields(level),
                "confidence": message.confidence,
                "language": message.language,
            }
            if message.sentiment_score is not None
            else None
        )
    return data


def conversation_created_json(request, conversation: Conversation) -> dict:
    scheme = "wss" if request.is_secure() else "ws"
    path = f"/ws/chat/{conversation.customer_token}/"
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "queue": conversation.queue_id,
        "status": conversation.status,
        "customer_token": conversation.customer_token,
        "chat_ws_url": f"{scheme}://{request.get_host()}{path}",
        "chat_ws_path": path,
        "scoring_opt_out": conversation.scoring_opt_out,
        "replayed": conversation.replayed,
    }


def conversation_detail_json(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "queue": conversation.queue_id,
        "queue_name": conversation.queue.name,
        "status": conversation.status,
        "channel": conversation.channel,
        "subject": conversation.subject,
        "representative": staff_json(conversation.representative),
        "customer": {"name": conversation.customer.name, "external_id": conversation.customer.external_id},
        "language": conversation.language,
        "scoring_opt_out": conversation.scoring_opt_out,
        "created_at": iso(conversation.created_at),
        "accepted_at": iso(conversation.accepted_at),
        "closed_at": iso(conversation.closed_at),
        "last_message_at": iso(conversation.last_message_at),
        "last_seq": conversation.last_seq,
        "sentiment": {
            "score": conversation.sentiment_score,
            **level_fields(conversation.sentiment_level),
            "trend": conversation.sentiment_trend,
        },
        **for_conversations.alert_summary(conversation),
    }


def stored_message_json(message, conversation: Conversation, *, reply: bool = False) -> dict:
    """What a POST of a message or reply answers (``replayed`` for a repeated ``client_id``)."""
    data = {
        "id": message.pk,
        "conversation": conversation.pk,
        "seq": message.seq,
        "created_at": iso(message.created_at),
    }
    if reply:
        data["sender"] = message.sender
        data["author"] = message.author.display_name if message.author_id else ""
    data["replayed"] = message.replayed
    return data


def routed_json(conversation: Conversation) -> dict:
    return {
        "conversation": conversation.pk,
        "queue": conversation.queue_id,
        "representative": conversation.representative_id,
        "status": conversation.status,
    }
