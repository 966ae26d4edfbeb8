"""Optional signed webhooks: threshold crossings, sharp drops and recoveries POSTed as JSON.

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

from insights.levels import level_label, level_slug
from insights.models import AlertKind, SentimentAlert, WebhookDelivery
from insights.selectors import sentiment_settings_get

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 4.0, 16.0)
SIGNATURE_HEADER = "X-Sentiment-Signature"
TIMESTAMP_HEADER = "X-Sentiment-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300


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
        "event": "sentiment.recovered" if alert.kind == AlertKind.RECOVERED else "sentiment.alert",
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


def webhook_deliver(*, alert_id: int, delays: tuple[float, ...] = RETRY_DELAYS, client: httpx.Client | None = None) -> bool:
    """Deliver one alert (blocking, with retries). Returns True on a 2xx answer."""
    org = sentiment_settings_get()
    if not org.webhook_url:
        return False
    alert = SentimentAlert.objects.select_related("conversation__queue", "message").get(pk=alert_id)
    body = json.dumps(webhook_body(alert), separators=(",", ":"), sort_keys=True).encode("utf-8")
    own_client = client is None
    client = client or httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        for attempt, delay in enumerate((*delays, None), start=1):
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
            if org.webhook_secret:
                headers[SIGNATURE_HEADER] = webhook_signature(secret=org.webhook_secret, timestamp=timestamp, body=body)
            status_code, error = None, ""
            try:
                response = client.post(org.webhook_url, content=body, headers=headers)
                status_code = response.status_code
                ok = 200 <= status_code < 300
                if not ok:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"[:255]
            WebhookDelivery.objects.create(
                alert=alert, url=org.webhook_url, attempt=attempt, status_code=status_code, error=error, succeeded=ok
            )
            if ok:
                return True
            if delay is None:
                logger.warning("webhook for alert %s failed after %d attempts: %s", alert_id, attempt, error)
                return False
            time.sleep(delay)
    finally:
        if own_client:
            client.close()
    return False


def webhook_dispatch(*, alert_id: int) -> threading.Thread:
    """Deliver in a daemon thread (call after commit)."""

    def run() -> None:
        try:
            webhook_deliver(alert_id=alert_id)
        except Exception:
            logger.exception("webhook delivery for alert %s crashed", alert_id)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run, name=f"webhook-{alert_id}", daemon=True)
    thread.start()
    return thread
