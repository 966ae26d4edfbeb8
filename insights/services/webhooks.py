"""Optional signed webhooks: threshold crossings, sharp drops and recoveries POSTed as JSON,
and (when the Insights setting asks for it) every scored customer message; plus a test-send.

Signature (Stripe-style, so receivers can reject replays):

    X-Sentiment-Timestamp: <unix seconds>
    X-Sentiment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

    X-Sentiment-Delivery: <id>   (also the body's "id"; the same on every retry of one event)

``webhook_verify`` is the receiver-side check (constant-time compare, a tolerance window
against replays); it answers False for any malformed header and never raises.

Where a webhook may POST (``webhook_url_check`` when it is saved, ``webhook_address_refusal``
again before each delivery, as DNS can change): only to public addresses, by the one rule of
``insights.services.addresses``. A webhook without a
signing secret cannot be turned on (``insights.services.settings``). Delivery runs in a background daemon thread (``webhook_dispatch``), so the
scoring pipeline never waits on a customer's server: up to ``len(RETRY_DELAYS) + 1`` attempts
with exponential backoff; every attempt is recorded as a ``WebhookDelivery`` row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid

import httpx
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from conversations.models import Message
from insights.levels import level_label, level_slug
from insights.models import AlertKind, SentimentAlert, WebhookDelivery
from insights.selectors import sentiment_settings_get
from insights.services.addresses import address_check, address_refusal

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 4.0, 16.0)
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


def webhook_address_refusal(url: str, *, resolve_failure_refuses: bool = True) -> str | None:
    """Why a webhook may not POST to ``url`` (None when it may): ``insights.services.addresses``."""
    return address_refusal(url, what="webhook", resolve_failure_refuses=resolve_failure_refuses)


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


def _delivery_id(record: dict) -> str:
    """The event's id, the same on every attempt and after a restart: receivers de-duplicate
    by it (an alert or a scored message is one event; a test-send is always a new one)."""
    if record.get("alert") is not None:
        return f"alert-{record['alert'].pk}"
    if record.get("message_id") is not None:
        return f"scored-{record['message_id']}"
    return f"test-{uuid.uuid4().hex}"


def _deliver(*, body: dict, record: dict, delays: tuple[float, ...], client: httpx.Client | None) -> bool:
    """POST one event with retries; each attempt is a ``WebhookDelivery`` (``record`` names
    the alert or message). True on a 2xx answer."""
    org = sentiment_settings_get()
    if not org.webhook_url:
        return False
    body = {"id": _delivery_id(record), **body}
    raw = _encode(body)
    refusal = webhook_address_refusal(org.webhook_url)
    if refusal:  # no retries: the address will not become allowed by waiting
        logger.warning("webhook %s %s refused: %s", body["event"], record, refusal)
        WebhookDelivery.objects.create(
            event=body["event"],
            url=org.webhook_url,
            attempt=1,
            error=refusal[:255],
            succeeded=False,
            **record,
        )
        return False
    own_client = client is None
    client = client or httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        for attempt, delay in enumerate((*delays, None), start=1):
            ok, status_code, error = _post_signed(
                client=client,
                url=org.webhook_url,
                secret=org.webhook_secret,
                body=raw,
                delivery_id=body["id"],
            )
            WebhookDelivery.objects.create(
                event=body["event"],
                url=org.webhook_url,
                attempt=attempt,
                status_code=status_code,
                error=error,
                succeeded=ok,
                **record,
            )
            if ok:
                return True
            if delay is None:
                logger.warning(
                    "webhook %s %s failed after %d attempts: %s", body["event"], record, attempt, error
                )
                return False
            time.sleep(delay)
    finally:
        if own_client:
            client.close()
    return False


def webhook_deliver(
    *, alert_id: int, delays: tuple[float, ...] = RETRY_DELAYS, client: httpx.Client | None = None
) -> bool:
    """Deliver one alert (blocking, with retries). Returns True on a 2xx answer."""
    if not sentiment_settings_get().webhook_url:
        return False
    alert = SentimentAlert.objects.select_related("conversation__queue", "message").get(pk=alert_id)
    return _deliver(body=webhook_body(alert), record={"alert": alert}, delays=delays, client=client)


def webhook_deliver_scored(
    *, payloads: list[dict], delays: tuple[float, ...] = RETRY_DELAYS, client: httpx.Client | None = None
) -> int:
    """Deliver scored messages (``conversation.scored`` payloads), in order. Returns how many
    were accepted. A message deleted meanwhile (retention) is skipped."""
    accepted = 0
    for payload in payloads:
        message_id = (
            Message.objects.filter(conversation_id=payload["conversation"], seq=payload["seq"])
            .values_list("pk", flat=True)
            .first()
        )
        if message_id is None:
            continue
        body = scored_webhook_body(payload)
        accepted += _deliver(body=body, record={"message_id": message_id}, delays=delays, client=client)
    return accepted


def webhook_test_send(*, client: httpx.Client | None = None) -> WebhookDelivery | None:
    """Send one ``sentiment.test`` event now (one attempt, no retries), signed like the real
    ones, and return its recorded delivery (None when no URL is set). For the Insights page."""
    org = sentiment_settings_get()
    if not org.webhook_url:
        return None
    body = {"event": EVENT_TEST, "created_at": timezone.now().isoformat()}
    _deliver(body=body, record={}, delays=(), client=client)
    return WebhookDelivery.objects.filter(event=EVENT_TEST).order_by("-created_at", "-id").first()


def _in_background(name: str, work) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("webhook delivery %s crashed", name)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def webhook_dispatch(*, alert_id: int) -> threading.Thread:
    """Deliver an alert in a daemon thread (call after commit)."""
    return _in_background(f"webhook-{alert_id}", lambda: webhook_deliver(alert_id=alert_id))


def webhook_dispatch_scored(*, payloads: list[dict]) -> threading.Thread:
    """Deliver a scoring batch's scored messages in one daemon thread (call after commit)."""
    return _in_background("webhook-scored", lambda: webhook_deliver_scored(payloads=list(payloads)))
