"""Chatwoot → the center: one webhook delivery in, through the same services as the REST API.

Events (Chatwoot's account webhooks):

- ``message_created``: an incoming (customer) message is stored and scored
  (``message_ingest``); an outgoing one by an agent is stored as a representative reply. Private
  notes, bot and template/activity messages, and messages without text (attachments only) are
  ignored. Chatwoot's message id is the ``client_id`` (``cw-<id>``), so a duplicate delivery
  stores nothing.
- ``conversation_created`` / ``conversation_updated``: the conversation exists (idempotent by
  ``external_id`` ``chatwoot-<connection>-<conversation id>``), in the queue its team maps to,
  else its inbox's, else the connection's default; the assignee becomes the representative
  (matched by e-mail; unknown agents are recorded for the admin); a team change is a transfer.
- ``conversation_status_changed``: ``resolved`` closes the conversation.

Events may come out of order: whichever arrives first creates the conversation. Every outcome
is a short string (recorded as a ``ChatwootDelivery``; each connection keeps its newest
``DELIVERIES_KEPT``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from conversations.models import Channel, Conversation, ConversationStatus, Queue, Sender, StaffMember
from conversations.services.assignment import conversation_assign, conversation_close, conversation_transfer
from conversations.services.ingest import (
    MessageRejected,
    conversation_create,
    message_ingest,
    representative_reply,
)
from insights.chatwoot.models import ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent

INCOMING, OUTGOING = "incoming", "outgoing"
# Chatwoot's message_type as a number (older payloads) or a name.
_MESSAGE_TYPES = {0: INCOMING, 1: OUTGOING, 2: "activity", 3: "template"}
# The setup page shows the last 10 deliveries, the admin the rest. Outcomes name no customer and
# no score (not sentiment data, so not the retention's), but the log must not grow forever.
DELIVERIES_KEPT = 1000
# Trimmed on every DELIVERIES_TRIM_STEP-th delivery (by id), not on each: a query more per
# delivery would cost more than recording it. A connection holds about KEPT + STEP at most (an
# id a rollback skipped only puts a trim off to the next step).
DELIVERIES_TRIM_STEP = 100


def conversation_external_id(connection: ChatwootConnection, chatwoot_conversation_id) -> str:
    return f"chatwoot-{connection.pk}-{int(chatwoot_conversation_id)}"


def chatwoot_event_handle(*, connection: ChatwootConnection, payload: dict) -> str:
    """Apply one webhook delivery; returns what happened (never raises for a bad event)."""
    event = str(payload.get("event") or "")
    try:
        if event == "message_created":
            outcome = _message_created(connection, payload)
        elif event in ("conversation_created", "conversation_updated"):
            conversation = _conversation(connection, payload)
            outcome = (
                _sync_routing(connection, conversation, payload)
                if conversation
                else "ignored: no conversation id"
            )
        elif event == "conversation_status_changed":
            conversation = _conversation(connection, payload)
            if conversation is None:
                outcome = "ignored: no conversation id"
            elif payload.get("status") == "resolved":
                conversation_close(conversation=conversation)
                outcome = "closed"
            else:
                outcome = f"status {str(payload.get('status'))[:20]}: nothing to do"
        else:
            outcome = f"ignored: {event[:40] or 'no event'}"
    except (ValidationError, MessageRejected, KeyError, TypeError, ValueError) as exc:
        outcome = f"refused: {type(exc).__name__}: {exc}"[:120]
    _delivery_record(connection, event=event[:60], outcome=outcome[:120])
    return outcome


def _delivery_record(connection: ChatwootConnection, *, event: str, outcome: str) -> None:
    delivery = ChatwootDelivery.objects.create(connection=connection, event=event, outcome=outcome)
    if delivery.pk % DELIVERIES_TRIM_STEP == 0:
        chatwoot_deliveries_trim()


def chatwoot_deliveries_trim() -> int:
    """Delete all but each connection's newest ``DELIVERIES_KEPT`` deliveries (every
    connection's: the one that reaches the step may not be the one that grew). Returns how
    many were deleted."""
    deleted = 0
    for connection_id in ChatwootConnection.objects.values_list("pk", flat=True):
        ours = ChatwootDelivery.objects.filter(connection_id=connection_id)
        oldest_kept = list(
            ours.order_by("-id").values_list("id", flat=True)[DELIVERIES_KEPT - 1 : DELIVERIES_KEPT]
        )
        if oldest_kept:
            deleted += ours.filter(id__lt=oldest_kept[0]).delete()[0]
    return deleted


# --- conversations -----------------------------------------------------------------------------


def _meta(conv: dict) -> dict:
    meta = conv.get("meta")
    return meta if isinstance(meta, dict) else {}


def _queue_for(connection: ChatwootConnection, conv: dict) -> Queue:
    team = _meta(conv).get("team") or {}
    candidates = []
    if isinstance(team, dict) and team.get("id") is not None:
        candidates.append(connection.team_queues.get(str(team["id"])))
    if conv.get("inbox_id") is not None:
        candidates.append(connection.inbox_queues.get(str(conv["inbox_id"])))
    for queue_id in candidates:
        if queue_id is not None:
            queue = Queue.objects.filter(pk=queue_id).first()
            if queue is not None:
                return queue
    return connection.default_queue


def _channel(conv: dict) -> str:
    kind = str(conv.get("channel") or "").lower()
    if "sms" in kind or "twilio" in kind:
        return Channel.SMS
    if "email" in kind:
        return Channel.EMAIL
    if any(s in kind for s in ("whatsapp", "facebook", "instagram", "telegram", "line", "twitter", "tiktok")):
        return Channel.SOCIAL
    return Channel.CHAT


def _conversation(connection: ChatwootConnection, conv: dict) -> Conversation | None:
    """The center's conversation for a Chatwoot conversation object, created on first sight."""
    if not isinstance(conv, dict) or conv.get("id") is None:
        return None
    external_id = conversation_external_id(connection, conv["id"])
    existing = Conversation.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing
    contact = _meta(conv).get("sender") or {}
    contact = contact if isinstance(contact, dict) else {}
    return conversation_create(
        queue=_queue_for(connection, conv),
        customer_name=str(contact.get("name") or ""),
        customer_email=str(contact.get("email") or "")[:254],
        customer_external_id=f"chatwoot-{connection.pk}-contact-{contact['id']}" if contact.get("id") else "",
        customer_phone=str(contact.get("phone_number") or "")[:40],
        channel=_channel(conv),
        external_id=external_id,
    )


def _agent(connection: ChatwootConnection, agent) -> StaffMember | None:
    """The staff member Chatwoot's agent is (by e-mail); an unknown one is recorded."""
    if not isinstance(agent, dict) or agent.get("id") is None:
        return None
    email = str(agent.get("email") or "").strip()
    matches = list(StaffMember.objects.filter(user__email__iexact=email)[:2]) if email else []
    if len(matches) == 1:
        return matches[0]
    ChatwootUnknownAgent.objects.update_or_create(
        connection=connection,
        agent_id=int(agent["id"]),
        defaults={"email": email[:254], "name": str(agent.get("name") or "")[:150]},
    )
    return None


def _sync_routing(connection: ChatwootConnection, conversation: Conversation, conv: dict) -> str:
    """Assignee → representative; team (or inbox) → queue. A queue change is a transfer."""
    if conversation.status == ConversationStatus.CLOSED:
        return "closed: routing unchanged"
    assignee = _meta(conv).get("assignee")
    rep = _agent(connection, assignee)
    queue = _queue_for(connection, conv)
    if queue.pk != conversation.queue_id:
        conversation_transfer(conversation=conversation, queue=queue, representative=rep)
        return f"transferred to {queue.name}" + (f", {rep.display_name}" if rep else "")
    if rep is not None and rep.pk != conversation.representative_id:
        conversation_assign(conversation=conversation, representative=rep)
        return f"assigned to {rep.display_name}"
    if assignee and rep is None:
        return "unknown agent recorded"
    return "up to date"


# --- messages ----------------------------------------------------------------------------------


def _message_created(connection: ChatwootConnection, message: dict) -> str:
    kind = message.get("message_type")
    kind = _MESSAGE_TYPES.get(kind, kind) if isinstance(kind, int) else str(kind or "")
    if message.get("private"):
        return "ignored: private note"
    if kind not in (INCOMING, OUTGOING):
        return f"ignored: {kind[:20] or 'unknown'} message"
    text = message.get("content")
    if not isinstance(text, str) or not text.strip():
        return "ignored: no text"
    sender = message.get("sender") if isinstance(message.get("sender"), dict) else {}
    if kind == OUTGOING and sender.get("type") not in ("user", "User"):
        return "ignored: bot or automation message"
    conversation = _conversation(connection, message.get("conversation") or {})
    if conversation is None:
        return "ignored: no conversation"
    client_id = f"cw-{int(message['id'])}"
    try:
        if kind == INCOMING:
            stored = message_ingest(conversation=conversation.pk, text=text, client_id=client_id)
        else:
            agent = _agent(connection, sender)
            author = agent if agent is not None and agent.pk == conversation.representative_id else None
            stored = representative_reply(
                conversation=conversation.pk,
                text=text,
                author=author,
                sender=Sender.REPRESENTATIVE,
                client_id=client_id,
            )
    except MessageRejected as exc:
        return f"not stored: {exc.code}"
    if stored.replayed:
        return f"duplicate of seq {stored.seq}"
    return f"stored as seq {stored.seq} ({'customer' if kind == INCOMING else 'reply'})"
