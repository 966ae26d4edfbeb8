"""The center → Chatwoot: on a crossing or a recovery of a conversation that came from
Chatwoot, tell Chatwoot through its REST API (``api_access_token``):

- the label ``sentiment-negative`` or ``sentiment-very-negative`` while an alert is raised
  (the other one removed), both removed on recovery;
- the conversation custom attribute ``sentiment_level`` (the level's slug);
- optionally a private note naming the customer messages (by ``seq`` and level) that drove it.

Calls are stored first (``ChatwootCall``, the outbox) in the transaction that stores the alert
(``insights.services.alerts`` calls ``chatwoot_alert_enqueue``), then sent after the commit by
a daemon thread; a failure (Chatwoot down, a 5xx, a timeout) is retried with backoff
(``RETRY_BACKOFF_SECONDS``) until ``MAX_ATTEMPTS``; nothing is lost while Chatwoot is down, and
every attempt's outcome is on the row. Never sent: scores of individual agents, anything about
a conversation opted out of scoring (it has no alerts).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import httpx
from django.db import close_old_connections, transaction
from django.utils import timezone

from conversations.models import Message, ScoringStatus, Sender
from insights.chatwoot.models import CallStatus, ChatwootCall, ChatwootConnection
from insights.levels import level_label, level_slug
from insights.models import SentimentAlert
from insights.selectors import alert_states
from insights.services.addresses import address_refusal

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
    refusal = address_refusal(call.connection.base_url, what="Chatwoot")  # checked before each call
    if refusal:
        raise ValueError(refusal)
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
        body = {"content": _note_text(call), "message_type": "outgoing", "private": True}
        return client.post(_url(call, "messages"), json=body, headers=headers)
    raise ValueError(f"unknown call kind {call.kind!r}")


def chatwoot_outbox_send_due(*, client: httpx.Client | None = None) -> int:
    """Try every pending call whose time has come, oldest first. Returns how many were sent."""
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT_SECONDS)
    sent = 0
    try:
        due = ChatwootCall.objects.select_related("connection").filter(
            status=CallStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        for call in list(due[:200]):
            call.attempts += 1
            try:
                response = _perform(call, client)
                call.last_status_code = response.status_code
                ok = 200 <= response.status_code < 300
                call.last_error = "" if ok else f"HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                ok = False
                call.last_status_code = getattr(getattr(exc, "response", None), "status_code", None)
                call.last_error = f"{type(exc).__name__}: {exc}"[:255]
            if ok:
                call.status, call.sent_at = CallStatus.SENT, timezone.now()
                sent += 1
            elif call.attempts >= MAX_ATTEMPTS:
                call.status = CallStatus.FAILED
                logger.warning(
                    "chatwoot call %s failed after %d attempts: %s", call.pk, call.attempts, call.last_error
                )
            else:
                call.next_attempt_at = timezone.now() + timedelta(
                    seconds=RETRY_BACKOFF_SECONDS[call.attempts - 1]
                )
            call.save(
                update_fields=[
                    "attempts",
                    "status",
                    "sent_at",
                    "next_attempt_at",
                    "last_status_code",
                    "last_error",
                ]
            )
    finally:
        if own:
            client.close()
    return sent


_sender_lock = threading.Lock()
_sender: list[threading.Thread] = []


def chatwoot_outbox_kick() -> None:
    """Make sure this process's sender thread runs: it sends what is due, sleeps until the next
    retry, and stops when nothing is pending."""
    with _sender_lock:
        if _sender and _sender[0].is_alive():
            return
        thread = threading.Thread(target=_sender_loop, name="chatwoot-outbox", daemon=True)
        _sender[:] = [thread]
        thread.start()


def _sender_loop() -> None:
    try:
        while True:
            chatwoot_outbox_send_due()
            upcoming = (
                ChatwootCall.objects.filter(status=CallStatus.PENDING)
                .order_by("next_attempt_at")
                .values_list("next_attempt_at", flat=True)
                .first()
            )
            if upcoming is None:
                return
            time.sleep(min(60.0, max(0.2, (upcoming - timezone.now()).total_seconds())))
    except Exception:
        logger.exception("the chatwoot outbox sender stopped; the next alert restarts it")
    finally:
        close_old_connections()
