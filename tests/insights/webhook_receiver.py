"""A real HTTP server in the test process playing a webhook receiver: it records every request,
can fail the first ones or answer slowly, and counts how many requests it holds at once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from insights.selectors import sentiment_settings_get

SECRET = "s3cret"


class Receiver:
    def __init__(self, *, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.requests: list[tuple[dict, bytes]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append((dict(self.headers), body))
                    failing = len(receiver.requests) <= receiver.failures
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    self.send_response(500 if failing else 204)
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _headers, body in list(self.requests)]

    def delivery_ids(self) -> list[str]:
        return [body["id"] for body in self.bodies()]

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} requests within {timeout}s")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure_webhook(url: str, secret: str = SECRET) -> None:
    """Point the center's webhook at ``url``, signed with ``secret``."""
    org = sentiment_settings_get()
    org.webhook_url = url
    org.webhook_secret = secret
    org.save()


@pytest.fixture
def receiver():
    """Make receivers (``receiver(failures=1, delay=0.3)``); all are closed after the test."""
    made = []

    def make(**kwargs):
        r = Receiver(**kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
