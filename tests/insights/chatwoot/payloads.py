"""Chatwoot webhook payloads, written from Chatwoot's webhook documentation (event name at the
top level, the message or conversation attributes beside it; ``message_type`` as a name;
``meta.sender`` / ``meta.assignee`` / ``meta.team`` on conversations)."""

from __future__ import annotations

import copy

ACCOUNT = {"id": 7, "name": "Acme"}
CONTACT = {
    "id": 501,
    "name": "Lucía Pérez",
    "email": "lucia@example.com",
    "phone_number": "+34600000000",
    "type": "contact",
}
AGENT = {"id": 31, "name": "Ana Agent", "email": "ana@example.com", "type": "user", "available_name": "Ana"}
STRANGER = {"id": 99, "name": "Temp Agent", "email": "temp@elsewhere.example", "type": "user"}


def conversation(
    conv_id: int = 42,
    *,
    inbox_id: int = 3,
    assignee=None,
    team=None,
    status: str = "open",
    channel: str = "Channel::WebWidget",
) -> dict:
    return {
        "id": conv_id,
        "inbox_id": inbox_id,
        "status": status,
        "channel": channel,
        "can_reply": True,
        "additional_attributes": {},
        "custom_attributes": {},
        "labels": [],
        "meta": {
            "sender": copy.deepcopy(CONTACT),
            "assignee": copy.deepcopy(assignee),
            "team": copy.deepcopy(team),
            "hmac_verified": False,
        },
        "account_id": ACCOUNT["id"],
        "timestamp": 1764750000,
    }


def conversation_event(event: str, conv_id: int = 42, **kwargs) -> dict:
    body = {"event": event, **conversation(conv_id, **kwargs)}
    if event == "conversation_updated":
        body["changed_attributes"] = [
            {
                "assignee_id": {
                    "previous_value": None,
                    "current_value": (kwargs.get("assignee") or {}).get("id"),
                }
            }
        ]
    return body


def message(
    message_id: int,
    content,
    *,
    message_type="incoming",
    private: bool = False,
    sender=None,
    conv_id: int = 42,
    attachments=None,
    event: str = "message_created",
    **conv_kwargs,
) -> dict:
    return {
        "event": event,
        "id": message_id,
        "content": content,
        "created_at": "2026-12-03T09:00:00.000Z",
        "message_type": message_type,
        "content_type": "text",
        "content_attributes": {},
        "private": private,
        "source_id": None,
        "sender": copy.deepcopy(sender if sender is not None else CONTACT),
        "inbox": {"id": conv_kwargs.get("inbox_id", 3), "name": "Website"},
        "conversation": conversation(conv_id, **conv_kwargs),
        "account": dict(ACCOUNT),
        "attachments": attachments or [],
    }


ANGRY_ES = (
    "¡Esto es una vergüenza! Llevo tres semanas esperando el reembolso y nadie me contesta. Estoy harta."
)
