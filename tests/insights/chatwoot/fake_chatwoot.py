"""A real HTTP server in the test process playing Chatwoot's API: it records every call, keeps
each conversation's labels, and can answer 500 or hang (a timeout)."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatwoot:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict | None, dict]] = []  # (method, path, json body, headers)
        self.labels: dict[int, list[str]] = {}
        self.fail_with: int | None = None
        self.hang_seconds = 0.0
        self.token: str | None = None  # when set, other tokens get a 401
        self.account = {
            "inboxes": {
                "payload": [
                    {"id": 3, "name": "Website", "channel_type": "Channel::WebWidget"},
                    {"id": 4, "name": "WhatsApp", "channel_type": "Channel::Whatsapp"},
                ]
            },
            "teams": [{"id": 12, "name": "VIP"}],
            "agents": [
                {"id": 31, "name": "Ana Agent", "email": "ana@example.com", "role": "agent"},
                {"id": 99, "name": "Temp Agent", "email": "temp@elsewhere.example", "role": "agent"},
            ],
        }
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((method, self.path, body, dict(self.headers)))
                if fake.hang_seconds:
                    time.sleep(fake.hang_seconds)
                if fake.fail_with:
                    self.send_response(fake.fail_with)
                    self.end_headers()
                    return
                match = re.match(r"^/api/v1/accounts/\d+/conversations/(\d+)/(\w+)$", self.path)
                answer: dict | list = {}
                listing = re.match(r"^/api/v1/accounts/\d+/(inboxes|teams|agents)$", self.path)
                if listing:
                    answer = fake.account[listing.group(1)]
                if fake.token and self.headers.get("api_access_token") != fake.token:
                    self.send_response(401)
                    self.end_headers()
                    return
                if match and match.group(2) == "labels":
                    conv = int(match.group(1))
                    if method == "POST":
                        fake.labels[conv] = list(body["labels"])
                    answer = {"payload": fake.labels.get(conv, [])}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._answer("GET")

            def do_POST(self):  # noqa: N802
                self._answer("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def outbox_sender_join(timeout: float = 30.0) -> None:
    """Wait until no call to Chatwoot is pending, and for a sender started by a commit (one
    that stops when idle) until it stopped, so that it holds no database connection when the
    test's database is flushed. A scoring runtime's sender stops with the runtime."""
    from django.db import close_old_connections

    from insights.chatwoot.models import CallStatus, ChatwootCall
    from insights.sender import outbox_sender_current

    deadline = time.monotonic() + timeout
    try:
        while ChatwootCall.objects.filter(status=CallStatus.PENDING).exists():
            assert time.monotonic() < deadline, "calls to Chatwoot are still pending"
            time.sleep(0.05)
    finally:
        close_old_connections()
    sender = outbox_sender_current()
    if sender is not None and not sender.persistent:
        sender.join(max(0.0, deadline - time.monotonic()))
        assert not sender.alive(), "the outbox sender is still running"
