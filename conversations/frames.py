"""The JSON frames the conversations app sends (``docs/events.md``), built in one place so that
live events and catch-up replies are identical; sentiment frames are ``insights.frames``.
Payloads are built while the service's transaction is open; ``conversations.events`` sends
them after commit."""

from __future__ import annotations

from conversations.models import ConversationStatus, Message
from insights import for_conversations
from insights.levels import level_fields
from sentiment_admin import realtime
from sentiment_admin.text import display_text


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
        "text": display_text(message.text),
        "created_at": _iso(message.created_at),
        "author": author,
    }
    if not for_customer:
        payload["queue"] = message.conversation.queue_id
        payload["scoring_status"] = message.scoring_status
    return payload


def sentiment_fields(conversation) -> dict:
    """A conversation's sentiment as every staff frame and page row carries it."""
    return {
        "conversation_score": conversation.sentiment_score,
        **level_fields(conversation.sentiment_level, prefix="conversation_"),
        "trend": conversation.sentiment_trend,
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
        "channel_label": str(conversation.get_channel_display()),
        "status_label": str(conversation.get_status_display()),
        "language": conversation.language,
        "language_name": for_conversations.language_name(conversation.language),
        "scoring_opt_out": conversation.scoring_opt_out,
        "last_message_at": _iso(conversation.last_message_at),
        "last_seq": conversation.last_seq,
        "created_at": _iso(conversation.created_at),
        "accepted_at": _iso(conversation.accepted_at),
    }
    payload.update(sentiment_fields(conversation))
    return payload


def assigned_payload(*, conversation_id: int, queue_id: int, representative_id: int | None) -> dict:
    """``conversation.assigned``: open a session tab for the new representative."""
    return {
        "type": realtime.CONVERSATION_ASSIGNED,
        "conversation": conversation_id,
        "queue": queue_id,
        "representative": representative_id,
    }


def presence_payload(*, staff_id: int, presence: str, label: str, name: str) -> dict:
    """``presence.changed``."""
    return {
        "type": realtime.PRESENCE_CHANGED,
        "staff": staff_id,
        "presence": presence,
        "label": label,
        "name": name,
    }


# Server-internal group events: consumers act on them and never forward them as they are.


def conversation_access_event(conversation_id: int) -> dict:
    """``conversation.access_changed``: monitors of the conversation re-check they may see it."""
    return {"type": realtime.CONVERSATION_ACCESS_CHANGED, "conversation": conversation_id}


def staff_access_event(*, signed_out_session: str = "") -> dict:
    """``staff.access_changed`` to a staff member's sockets: re-check access now (the socket then
    sends the page ``access_changed_frame``). ``signed_out_session``: a signed-out session's digest."""
    return {"type": realtime.STAFF_ACCESS_CHANGED, "signed_out_session": signed_out_session}


CHAT_WAITING = "waiting"
CHAT_WITH_AGENT = "with_agent"
CHAT_ENDED = "ended"


def chat_payload(conversation, *, position: int | None) -> dict:
    """``chat.updated``: what the customer's chat page says about the conversation: waiting
    (with its place in the queue), with an agent (their first name), or ended. No sentiment."""
    rep = conversation.representative
    if conversation.status == ConversationStatus.CLOSED:
        state = CHAT_ENDED
    elif rep is not None:
        state = CHAT_WITH_AGENT
    else:
        state = CHAT_WAITING
    agent = ""
    if rep is not None:
        agent = rep.user.first_name or rep.display_name
    return {
        "type": realtime.CHAT_UPDATED,
        "conversation": conversation.pk,
        "state": state,
        "position": position if state == CHAT_WAITING else None,
        "agent": agent if state == CHAT_WITH_AGENT else "",
    }


# --- replies to a socket's own frames ----------------------------------------------------------


def error_frame(code: str, message: str, **extra) -> dict:
    """``error``: a client frame was refused; the socket stays open."""
    return {"type": realtime.ERROR, "code": code, "message": message, **extra}


def pong_frame() -> dict:
    return {"type": realtime.PONG}


def staff_message_ack(*, conversation_id: int, seq: int, client_id) -> dict:
    """``message.ack`` on a staff socket: the reply is stored as ``seq``."""
    return {"type": realtime.MESSAGE_ACK, "conversation": conversation_id, "seq": seq, "client_id": client_id}


def customer_message_ack(message, *, client_id) -> dict:
    """``message.ack`` on the customer's socket (its conversation is the socket's)."""
    return {
        "type": realtime.MESSAGE_ACK,
        "seq": message.seq,
        "client_id": client_id,
        "created_at": _iso(message.created_at),
    }


def snoozed_frame(*, conversation_id: int, until) -> dict:
    """``conversation.snoozed``: the caller's snooze (``until`` None: lifted)."""
    return {"type": realtime.CONVERSATION_SNOOZED, "conversation": conversation_id, "until": _iso(until)}


def removed_frame(conversation_id: int) -> dict:
    """``conversation.removed``: the socket hears no more of this conversation."""
    return {"type": realtime.CONVERSATION_REMOVED, "conversation": conversation_id}


def access_changed_frame(role: str) -> dict:
    """``staff.access_changed`` to the page: the staff member's role or queues changed."""
    return {"type": realtime.STAFF_ACCESS_CHANGED, "role": role}


def catch_up_done(*, conversation_id: int, last_seq: int) -> dict:
    """``catch_up.done``: the replay is complete up to ``last_seq``."""
    return {"type": realtime.CATCH_UP_DONE, "conversation": conversation_id, "last_seq": last_seq}


# --- catch-up (the same frames as live, read back from the store) ---------------------------

CATCH_UP_LIMIT = 1000


def catch_up_frames(*, conversation, after_seq: int, for_customer: bool = False) -> tuple[list[dict], int]:
    """The frames a client missed after ``after_seq``: each message as ``message.created``
    and, for staff, each scored customer message's ``conversation.scored`` (with the
    conversation's sentiment as it was after that message), then, for staff, one
    ``alert.state`` with the alerts that hold now. Returns (frames, last_seq): the last
    message sent, or for nothing new the smaller of ``after_seq`` and the conversation's
    last seq."""
    messages = list(
        Message.objects.filter(conversation=conversation, seq__gt=after_seq)
        .select_related("author__user")
        .order_by("seq")[:CATCH_UP_LIMIT]
    )
    for message in messages:
        message.conversation = conversation
    scored: dict[int, dict] = {}
    if not for_customer:
        scored = for_conversations.scored_catch_up(
            conversation=conversation, messages=messages, after_seq=after_seq
        )
    frames: list[dict] = []
    # Never past the conversation: a cursor from elsewhere is corrected, not echoed.
    last_seq = min(after_seq, conversation.last_seq)
    for message in messages:
        last_seq = max(last_seq, message.seq)
        frames.append(message_payload(message, for_customer=for_customer))
        if message.seq in scored:
            frames.append(scored[message.seq])
    if not for_customer:
        frames.append(for_conversations.alert_state_frame(conversation.pk))
    return frames, last_seq
