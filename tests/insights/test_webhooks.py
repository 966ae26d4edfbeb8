"""Signed webhooks: HMAC-SHA256 over "<timestamp>.<body>", retried with backoff, every
attempt recorded. Delivered to a real local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from insights.models import AlertAudience, SentimentAlert, WebhookDelivery
from insights.selectors import sentiment_settings_get
from insights.services.webhooks import (
    SIGNATURE_HEADER,
    webhook_deliver,
    webhook_dispatch,
    webhook_signature,
    webhook_verify,
)
from tests.conversations.factories import ConversationFactory

SECRET = "s3cret"


def test_signature_round_trip_and_rejections():
    body = b'{"a":1}'
    now = int(time.time())
    header = webhook_signature(secret=SECRET, timestamp=now, body=body)
    assert webhook_verify(secret=SECRET, header=header, body=body)
    assert not webhook_verify(secret="other", header=header, body=body)  # forged
    assert not webhook_verify(secret=SECRET, header=header, body=b'{"a":2}')  # tampered
    old = webhook_signature(secret=SECRET, timestamp=now - 3600, body=body)
    assert not webhook_verify(secret=SECRET, header=old, body=body)  # replayed later
    assert not webhook_verify(secret=SECRET, header="garbage", body=body)


class Receiver:
    """A local HTTP endpoint that fails the first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = 500 if len(receiver.requests) <= receiver.failures else 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(failures=0):
        r = Receiver(failures)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def configure(url: str) -> None:
    org = sentiment_settings_get()
    org.webhook_url = url
    org.webhook_secret = SECRET
    org.save()


@pytest.mark.django_db
def test_delivery_is_signed_retried_and_recorded(receiver):
    r = receiver(failures=2)
    configure(r.url)
    alert = SentimentAlert.objects.create(
        conversation=ConversationFactory(),
        audience=AlertAudience.SUPERVISOR,
        kind="threshold",
        level=-2,
        threshold=-2,
    )
    assert webhook_deliver(alert_id=alert.pk, delays=(0.01, 0.02, 0.04)) is True
    attempts = list(WebhookDelivery.objects.filter(alert=alert).order_by("attempt"))
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 204, True),
    ]
    headers, body = r.requests[-1]
    assert webhook_verify(secret=SECRET, header=headers[SIGNATURE_HEADER], body=body)
    payload = json.loads(body)
    assert (
        payload["event"] == "sentiment.alert"
        and payload["alert"] == alert.pk
        and payload["level"] == "negative"
    )


@pytest.mark.django_db
def test_gives_up_after_the_last_retry_and_records_each_failure(receiver):
    configure("http://127.0.0.1:9/unreachable")
    alert = SentimentAlert.objects.create(
        conversation=ConversationFactory(),
        audience=AlertAudience.REPRESENTATIVE,
        kind="recovered",
        level=0,
        threshold=-1,
    )
    assert webhook_deliver(alert_id=alert.pk, delays=(0.01,)) is False
    attempts = list(WebhookDelivery.objects.filter(alert=alert))
    assert len(attempts) == 2 and not any(a.succeeded for a in attempts) and attempts[0].error


@pytest.mark.django_db(transaction=True)
def test_threshold_crossing_dispatches_a_webhook_in_the_background(receiver):
    from conversations.services.ingest import message_ingest
    from insights.pipeline.claim import scoring_claim
    from insights.pipeline.store import scoring_results_store
    from tests.insights.standin_scorer import result_for

    r = receiver()
    configure(r.url)
    conversation = ConversationFactory()
    message = message_ingest(conversation=conversation, text="level:-3")
    jobs, _ = scoring_claim([message.pk])
    scoring_results_store([(j.message_id, result_for("level:-3")) for j in jobs])
    deadline = time.monotonic() + 10
    while len(r.requests) < 2 and time.monotonic() < deadline:  # representative + supervisor
        time.sleep(0.05)
    kinds = sorted(json.loads(body)["audience"] for _h, body in r.requests)
    assert kinds == ["representative", "supervisor"]
    thread = webhook_dispatch(alert_id=SentimentAlert.objects.first().pk)
    thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_every_scored_message_is_sent_when_the_setting_asks_for_it(receiver):
    from conversations.services.ingest import message_ingest
    from insights.pipeline.claim import scoring_claim
    from insights.pipeline.store import scoring_results_store
    from tests.insights.standin_scorer import result_for

    r = receiver()
    configure(r.url)
    conversation = ConversationFactory()

    def score(text: str) -> None:
        message = message_ingest(conversation=conversation, text=text)
        jobs, _ = scoring_claim([message.pk])
        scoring_results_store([(j.message_id, result_for(text)) for j in jobs])

    score("level:1")  # off by default: nothing sent for a calm message
    time.sleep(0.3)
    assert r.requests == []
    org = sentiment_settings_get()
    org.webhook_scored_messages = True
    org.save()
    score("level:0")
    deadline = time.monotonic() + 10
    while not r.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    headers, body = r.requests[0]
    assert webhook_verify(secret=SECRET, header=headers[SIGNATURE_HEADER], body=body)
    event = json.loads(body)
    assert (
        event["event"] == "sentiment.scored"
        and event["conversation"] == conversation.pk
        and event["seq"] == 2
    )
    assert event["level"] == "neutral" and "conversation_level" in event and "type" not in event
    deadline = time.monotonic() + 5
    while (
        not WebhookDelivery.objects.filter(event="sentiment.scored").exists() and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    delivery = WebhookDelivery.objects.get(event="sentiment.scored")
    assert delivery.succeeded and delivery.message.seq == 2 and delivery.alert is None


def _documented_verify():
    """The ``verify`` of the standalone receiver sample in docs/events.md (the sample up to its
    HTTP server, executed as written)."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    sample = doc[doc.index("```python\nimport hashlib, hmac, json, time") + len("```python\n") :]
    sample = sample[: sample.index("class Hook")]
    namespace: dict = {}
    exec(compile(sample, "docs/events.md sample", "exec"), namespace)
    return namespace["verify"]


@pytest.mark.django_db
def test_the_documented_standalone_receiver_sample_verifies_a_real_delivery(receiver):
    verify = _documented_verify()
    r = receiver()
    configure(r.url)
    alert = SentimentAlert.objects.create(
        conversation=ConversationFactory(),
        audience=AlertAudience.SUPERVISOR,
        kind="threshold",
        level=-2,
        threshold=-2,
    )
    assert webhook_deliver(alert_id=alert.pk, delays=()) is True
    headers, body = r.requests[0]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify("another secret", headers[SIGNATURE_HEADER], body)
    assert not verify(SECRET, headers[SIGNATURE_HEADER], body + b" ")
    assert not verify(SECRET, headers[SIGNATURE_HEADER], body, now=time.time() + 3600)
