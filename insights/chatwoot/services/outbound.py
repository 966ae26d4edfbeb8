"""The center → Chatwoot: on a crossing or a recovery of a conversation that came from
Chatwoot, tell Chatwoot through its REST API (``api_access_token``):

- the label ``sentiment-negative`` or ``sentiment-very-negative`` while an alert is raised
  (the other one removed), both removed on recovery;
- the conversation custom attribute ``sentiment_level`` (the level's slug);
- optionally a private note naming the customer messages (by ``seq`` and level) that drove it.

Calls are stored first (``ChatwootCall``, the outbox) in the transaction that stores the alert
(``insights.services.alerts`` calls ``chatwoot_alert_enqueue``), then sent after the commit by
the process's outbox sender (``insights.sender``, the kind ``CHATWOOT_OUTBOX``: leased, a
bounded number at a time); a failure (Chatwoot down, a 5xx, a timeout) is retried with backoff
(``RETRY_BACKOFF_SECONDS``) until ``MAX_ATTEMPTS``; nothing is lost while Chatwoot is down or
the center restarts, and every attempt's outcome is on the row. A host that resolves to a
private address (without ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``) fails the call at once (the
webhook's rule: ``address_refused_outcome``). Never sent: scores of individual agents,
anything about a conversation opted out of scoring (it has no alerts).
"""

from __future__ import annotations

import logging

import httpx
from django.db import transaction
from django.utils import timezone

from conversations.models import Message, ScoringStatus, Sender
from insights.chatwoot.models import CallStatus, ChatwootCall, ChatwootConnection
from insights.levels import level_label, level_slug
from insights.models import SentimentAlert
from insights.selectors import alert_states
from insights.sender import OutboxKind, SendOutcome, outbox_send_due, outbox_wake
from insights.services.addresses import address_refused_outcome

logger = logging.getLogger(__name__)

LABEL_NEGATIVE = "sentiment-negative"
LABEL_VERY_NEGATIVE = "sentiment-very-negative"
RETRY_BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_BACKOFF_SECONDS) + 1
TIMEOUT_SECONDS = 10.0
NOTE_MESSAGES = 3


def chatwoot_conversation_of(conversation) -> tuple[ChatwootConnection, int] | None:
    """(connection, Chatwoot conversation id) when the conversation came from Chatwoot."""
    parts = (conversation.external_id or "").split("-")
    if len(parts) != 3 or parts[0] != "chatwoot" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    connection = ChatwootConnection.objects.filter(pk=int(parts[1]), active=True).first()
    return (connection, int(parts[2])) if connection else None


def _note_text(call: ChatwootCall) -> str:
    """The private note, written when sent (the messages' scores are committed by then)."""
    rows = list(
        Message.objects.filter(
            conversation__external_id=f"chatwoot-{call.connection_id}-{call.chatwoot_conversation}",
            sender=Sender.CUSTOMER,
            scoring_status=ScoringStatus.SCORED,
            seq__lte=call.payload["up_to_seq"],
        )
        .order_by("-seq")
        .values_list("seq", "sentiment_level")[:NOTE_MESSAGES]
    )
    driven = ", ".join(f"#{seq} ({level_label(level)})" for seq, level in reversed(rows))
    return f"Customer sentiment: {level_label(call.payload['level'])}. Driven by messages {driven}."


def chatwoot_alert_enqueue(*, alert: SentimentAlert) -> list[ChatwootCall]:
    """Store the calls that tell Chatwoot about this alert (nothing for other conversations).
    Runs inside the alert's transaction, so the calls are stored with it or not at all."""
    conversation = alert.conversation
    if not (conversation.external_id or "").startswith("chatwoot-") or conversation.scoring_opt_out:
        return []
    target = chatwoot_conversation_of(conversation)
    if target is None:
        return []
    connection, chatwoot_id = target
    raised = bool(alert_states([conversation.pk]).get(conversation.pk))
    level = alert.level  # the conversation's level after the message (saved later in the batch)
    if raised:
        add = [LABEL_VERY_NEGATIVE if level is not None and level <= -3 else LABEL_NEGATIVE]
        remove = [label for label in (LABEL_NEGATIVE, LABEL_VERY_NEGATIVE) if label not in add]
    else:
        add, remove = [], [LABEL_NEGATIVE, LABEL_VERY_NEGATIVE]
    now = timezone.now()
    wanted = [
        ("labels", {"add": add, "remove": remove}),
        ("custom_attributes", {"custom_attributes": {"sentiment_level": level_slug(level)}}),
    ]
    if connection.private_notes and raised:
        up_to_seq = alert.message.seq if alert.message_id else conversation.last_seq
        wanted.append(("private_note", {"level": level, "up_to_seq": up_to_seq}))
    calls = []
    for kind, payload in wanted:
        duplicate = ChatwootCall.objects.filter(
            connection=connection,
            chatwoot_conversation=chatwoot_id,
            kind=kind,
            payload=payload,
            status=CallStatus.PENDING,
        ).exists()
        if not duplicate:  # the representative's and the supervisor's alert of one crossing
            calls.append(
                ChatwootCall.objects.create(
                    connection=connection,
                    chatwoot_conversation=chatwoot_id,
                    kind=kind,
                    payload=payload,
                    next_attempt_at=now,
                )
            )
    if calls:
        transaction.on_commit(chatwoot_outbox_kick)
    return calls


# --- sending -----------------------------------------------------------------------------------


def _url(call: ChatwootCall, tail: str) -> str:
    base = call.connection.base_url.rstrip("/")
    return f"{base}/api/v1/accounts/{call.connection.account_id}/conversations/{call.chatwoot_conversation}/{tail}"


def _perform(call: ChatwootCall, client: httpx.Client) -> httpx.Response:
    headers = {"api_access_token": call.connection.api_access_token}
    if call.kind == "labels":
        current = client.get(_url(call, "labels"), headers=headers)
        current.raise_for_status()
        labels = set((current.json() or {}).get("payload") or [])
        labels = (labels - set(call.payload["remove"])) | set(call.payload["add"])
        return client.post(_url(call, "labels"), json={"labels": sorted(labels)}, headers=headers)
    if call.kind == "custom_attributes":
        return client.post(_url(call, "custom_attributes"), json=call.payload, headers=headers)
    if call.kind == "private_note":
        body = {"content": call.note_text, "message_type": "outgoing", "private": True}
        return client.post(_url(call, "messages"), json=body, headers=headers)
    raise ValueError(f"unknown call kind {call.kind!r}")


def _prepare(call: ChatwootCall) -> ChatwootCall:
    """The database part of a send (the connection comes with the claimed row)."""
    if call.kind == "private_note":
        call.note_text = _note_text(call)
    return call


def _send(call: ChatwootCall, client: httpx.Client) -> SendOutcome:
    refused = address_refused_outcome(call.connection.base_url, what="Chatwoot")
    if refused:
        return refused
    try:
        response = _perform(call, client)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        status_code = getattr(getattr(exc, "response", None), "status_code", None)
        return SendOutcome(ok=False, status_code=status_code, error=f"{type(exc).__name__}: {exc}"[:255])
    ok = 200 <= response.status_code < 300
    return SendOutcome(
        ok=ok, status_code=response.status_code, error="" if ok else f"HTTP {response.status_code}"
    )


CHATWOOT_OUTBOX = OutboxKind(
    name="chatwoot",
    model=ChatwootCall,
    prepare=_prepare,
    perform=_send,
    max_attempts=lambda: MAX_ATTEMPTS,
    backoff_seconds=lambda failed: RETRY_BACKOFF_SECONDS[min(failed, len(RETRY_BACKOFF_SECONDS)) - 1],
    timeout_seconds=lambda: TIMEOUT_SECONDS,
    select_related=("connection",),
)


def chatwoot_outbox_send_due(*, client: httpx.Client | None = None) -> int:
    """Try every pending call whose time has come, oldest first, in the calling thread.
    Returns how many were sent."""
    return outbox_send_due(client=client, kinds=[CHATWOOT_OUTBOX.name])


def chatwoot_outbox_kick() -> None:
    """Calls were committed: wake this process's outbox sender."""
    outbox_wake()
