"""Optional signed webhooks: threshold crossings, sharp drops and recoveries POSTed as JSON,
and (when the Insights setting asks for it) every scored customer message; plus a test-send.

Signature (Stripe-style, so receivers can reject replays):

    X-Sentiment-Timestamp: <unix seconds>
    X-Sentiment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

``webhook_verify`` is the receiver-side check (constant-time compare, a tolerance window
against replays). Delivery runs in a background daemon thread (``webhook_dispatch``), so the
scoring pipeline never waits on a customer's server: up to ``len(RETRY_DELAYS) + 1`` attempts
with exponential backoff; every attempt is recorded as a ``WebhookDelivery`` row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

import httpx
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from conversations.models import Message
from insights.levels import level_label, level_slug
from insights.models import AlertKind, SentimentAlert, WebhookDelivery
from insights.selectors import sentiment_settings_get

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 4.0, 16.0)
SIGNATURE_HEADER = "X-Sentiment-Signature"
TIMESTAMP_HEADER = "X-Sentiment-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300
EVENT_ALERT = "sentiment.alert"
EVENT_RECOVERED = "sentiment.recovered"
EVENT_SCORED = "sentiment.scored"
EVENT_TEST = "sentiment.test"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={mac}"


def webhook_verify(
    *, secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is not older than ``tolerance``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError, AttributeError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


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


def _post_signed(*, client: httpx.Client, url: str, secret: str, body: bytes) -> tuple[bool, int | None, str]:
    """One signed POST: (succeeded, HTTP status or None, error). Success is any 2xx."""
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
    if secret:
        headers[SIGNATURE_HEADER] = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:255]
    ok = 200 <= response.status_code < 300
    return ok, response.status_code, "" if ok else f"HTTP {response.status_code}"


def _deliver(*, body: dict, record: dict, delays: tuple[float, ...], client: httpx.Client | None) -> bool:
    """POST one event with retries; each attempt is a ``WebhookDelivery`` (``record`` names
    the alert or message). True on a 2xx answer."""
    org = sentiment_settings_get()
    if not org.webhook_url:
        return False
    raw = _encode(body)
    own_client = client is None
    client = client or httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        for attempt, delay in enumerate((*delays, None), start=1):
            ok, status_code, error = _post_signed(client=client, url=org.webhook_url, secret=org.webhook_secret, body=raw)
            WebhookDelivery.objects.create(
                event=body["event"], url=org.webhook_url, attempt=attempt, status_code=status_code, error=error,
                succeeded=ok, **record,
            )
            if ok:
                return True
            if delay is None:
                logger.warning("webhook %s %s failed after %d attempts: %s", body["event"], record, attempt, error)
                return False
            time.sleep(delay)
    finally:
        if own_client:
            client.close()
    return False


def webhook_deliver(*, alert_id: int, delays: tuple[float, ...] = RETRY_DELAYS, client: httpx.Client | None = None) -> bool:
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
