"""Optional signed webhooks: threshold crossings, sharp drops and recoveries POSTed as JSON,
and (when the Insights setting asks for it) every scored customer message; plus a test-send.

Signature (Stripe-style, so receivers can reject replays):

    X-Sentiment-Timestamp: <unix seconds>
    X-Sentiment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

    X-Sentiment-Delivery: <id>   (also the body's "id"; the same on every retry of one event)

``webhook_verify`` is the receiver-side check (constant-time compare, a tolerance window
against replays); it answers False for any malformed header and never raises.

Where a webhook may POST (``webhook_url_check`` when it is saved, ``address_refused_outcome``
again before each delivery, as DNS can change): only to public addresses, by the one rule of
``insights.services.addresses``. A webhook without a signing secret cannot be turned on
(``insights.services.settings``).

Delivery goes through a stored outbox: each event is a ``WebhookEvent`` row stored in the
transaction of the alert or score that caused it (``webhook_alert_enqueue``,
``webhook_scored_enqueue``), with its body and delivery id fixed then; the commit only wakes
the process's outbox sender (``insights.sender``), which sends it to the webhook URL set at
that time, a bounded number at a time, retried with backoff (``webhook_backoff_seconds``) up
to ``WEBHOOK_MAX_ATTEMPTS`` attempts, then given up (``failed``). Rows survive a restart; every
attempt is recorded as a ``WebhookDelivery`` row (the Integrations page).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Message
from insights.levels import level_label, level_slug
from insights.models import AlertKind, SentimentAlert, SentimentSettings, WebhookDelivery, WebhookEvent
from insights.selectors import sentiment_settings_get
from insights.sender import OutboxKind, SendOutcome, outbox_send_now, outbox_wake
from insights.services.addresses import address_check, address_refused_outcome

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sentiment-Signature"
TIMESTAMP_HEADER = "X-Sentiment-Timestamp"
DELIVERY_HEADER = "X-Sentiment-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300
EVENT_ALERT = "sentiment.alert"
EVENT_RECOVERED = "sentiment.recovered"
EVENT_SCORED = "sentiment.scored"
EVENT_TEST = "sentiment.test"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={mac}"


def webhook_verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is not older than ``tolerance``.
    Any malformed header (not ASCII, a timestamp of hundreds of digits, a MAC that is not 64
    hex digits, missing parts) is False; this function never raises."""
    try:
        if not isinstance(header, str) or len(header) > _MAX_HEADER:
            return False
        parts = dict(item.strip().split("=", 1) for item in header.split(","))
        t, given = parts["t"], parts["v1"]
        if not _TIMESTAMP_RE.fullmatch(t) or not _MAC_RE.fullmatch(given):
            return False
        timestamp = int(t)
        now = time.time() if now is None else now
        if abs(now - timestamp) > tolerance:
            return False
        expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
        return hmac.compare_digest(expected, given)
    except Exception:  # a receiver's check must fail closed, never crash the receiver
        return False


_MAX_HEADER = 512
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_MAC_RE = re.compile(r"[0-9a-f]{64}")


def webhook_url_check(url: str) -> None:
    """Raise ValidationError when a webhook may not be saved with ``url``."""
    address_check(url, field="webhook_url", what="webhook")


def webhook_body(alert: SentimentAlert) -> dict:
    conversation = alert.conversation
    return {
        "event": EVENT_RECOVERED if alert.kind == AlertKind.RECOVERED else EVENT_ALERT,
        "alert": alert.pk,
        "kind": alert.kind,
        "audience": alert.audience,
        "conversation": conversation.pk,
        "queue": conversation.queue_id,
        "queue_name": conversation.queue.name,
        "level": level_slug(alert.level),
        "level_value": alert.level,
        "label": level_label(alert.level),
        "threshold": alert.threshold,
        "seq": alert.message.seq if alert.message_id and alert.message else None,
        "created_at": alert.created_at.isoformat(),
    }


def scored_webhook_body(payload: dict) -> dict:
    """A ``conversation.scored`` frame as a webhook body: the same fields, ``event`` instead of ``type``."""
    return {"event": EVENT_SCORED, **{k: v for k, v in payload.items() if k != "type"}}


def _encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _post_signed(
    *, client: httpx.Client, url: str, secret: str, body: bytes, delivery_id: str
) -> tuple[bool, int | None, str]:
    """One signed POST: (succeeded, HTTP status or None, error). Success is any 2xx."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery_id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:255]
    ok = 200 <= response.status_code < 300
    return ok, response.status_code, "" if ok else f"HTTP {response.status_code}"


def webhook_backoff_seconds(failed_attempts: int) -> float:
    """The wait after the n-th failed attempt: base * 4^(n-1), at most 15 minutes."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 4 ** max(0, failed_attempts - 1), 900.0)


def _event_row(*, delivery_id: str, body: dict, **links) -> WebhookEvent:
    return WebhookEvent(
        delivery_id=delivery_id,
        event=body["event"],
        body={"id": delivery_id, **body},
        next_attempt_at=timezone.now(),
        **links,
    )


def webhook_alert_enqueue(
    *, alert: SentimentAlert, org: SentimentSettings | None = None
) -> WebhookEvent | None:
    """Store the alert's webhook event (``alert-<alert id>``) in the caller's transaction and
    wake the sender on commit. Nothing when no webhook is set."""
    if not (org or sentiment_settings_get()).webhook_url:
        return None
    row = _event_row(delivery_id=f"alert-{alert.pk}", body=webhook_body(alert), alert=alert)
    row.save()
    transaction.on_commit(outbox_wake)
    return row


def webhook_scored_enqueue(*, payloads: list[dict]) -> int:
    """Store one ``sentiment.scored`` event (``scored-<message id>``) per ``conversation.scored``
    payload and wake the sender on commit. A message deleted meanwhile (retention) is skipped,
    one already stored is not stored twice. Returns how many were stored."""
    if not payloads:
        return 0
    keys = Q()
    for payload in payloads:
        keys |= Q(conversation_id=payload["conversation"], seq=payload["seq"])
    ids = {
        (c, seq): pk
        for pk, c, seq in Message.objects.filter(keys).values_list("pk", "conversation_id", "seq")
    }
    rows = [
        _event_row(
            delivery_id=f"scored-{ids[(p['conversation'], p['seq'])]}",
            body=scored_webhook_body(p),
            message_id=ids[(p["conversation"], p["seq"])],
        )
        for p in payloads
        if (p["conversation"], p["seq"]) in ids
    ]
    WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(outbox_wake)
    return len(rows)


@dataclass(frozen=True)
class _WebhookRequest:
    url: str
    secret: str
    body: bytes
    delivery_id: str
    retry: bool


def _webhook_prepare(event: WebhookEvent) -> _WebhookRequest | SendOutcome:
    org = sentiment_settings_get()
    if not org.webhook_url:
        return SendOutcome(ok=False, error="The webhook was turned off.", retry=False)
    return _WebhookRequest(
        url=org.webhook_url,
        secret=org.webhook_secret,
        body=_encode(event.body),
        delivery_id=event.delivery_id,
        retry=event.event != EVENT_TEST,
    )


def _webhook_perform(request: _WebhookRequest, client: httpx.Client) -> SendOutcome:
    """One signed POST, unless its address is refused (``address_refused_outcome``)."""
    refused = address_refused_outcome(request.url, what="webhook")
    if refused:
        return refused
    ok, status_code, error = _post_signed(
        client=client,
        url=request.url,
        secret=request.secret,
        body=request.body,
        delivery_id=request.delivery_id,
    )
    return SendOutcome(ok=ok, status_code=status_code, error=error, retry=request.retry)


def _webhook_record(event: WebhookEvent, request: _WebhookRequest, outcome: SendOutcome) -> None:
    WebhookDelivery.objects.create(
        delivery_id=event.delivery_id,
        event=event.event,
        alert_id=event.alert_id,
        message_id=event.message_id,
        url=request.url,
        attempt=event.attempts,
        status_code=outcome.status_code,
        error=outcome.error[:255],
        succeeded=outcome.ok,
    )


WEBHOOK_OUTBOX = OutboxKind(
    name="webhook",
    model=WebhookEvent,
    prepare=_webhook_prepare,
    perform=_webhook_perform,
    record=_webhook_record,
    max_attempts=lambda: settings.WEBHOOK_MAX_ATTEMPTS,
    backoff_seconds=webhook_backoff_seconds,
    timeout_seconds=lambda: settings.WEBHOOK_TIMEOUT_SECONDS,
)


def webhook_test_send(*, client: httpx.Client | None = None) -> WebhookDelivery | None:
    """Send one ``sentiment.test`` event now, in the caller's thread (one attempt, no retry),
    signed like the real ones, and return its recorded delivery (None when no URL is set).
    For the Insights page."""
    if not sentiment_settings_get().webhook_url:
        return None
    body = {"event": EVENT_TEST, "created_at": timezone.now().isoformat()}
    row = _event_row(delivery_id=f"test-{uuid.uuid4().hex}", body=body)
    row.save()
    outbox_send_now(WEBHOOK_OUTBOX.name, row.pk, client=client)
    return WebhookDelivery.objects.filter(delivery_id=row.delivery_id).order_by("-id").first()
