"""The contract test: ``docs/events.md`` read as a specification and checked against the code.

The REST tables are parsed: every documented endpoint must exist (and every endpoint must be
documented), every documented success answer is driven and must have exactly the documented
status and top-level fields, and every documented error (status and code, in the tables and in
the prose) is provoked and must come back exactly so, as JSON. Refused websockets must close
with the documented codes. A change to the docs without the code (or the reverse) fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

from conversations.models import ConversationStatus, Message, ScoringStatus, Sender
from conversations.services.ingest import integration_token_create
from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import connect, session_cookie

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
REST = DOC[DOC.index("## REST endpoints") : DOC.index("### Versioning and deprecation")]
INTEGRATION = REST[REST.index("### Channel integrations") : REST.index("### Staff")]
STAFF = REST[REST.index("### Staff") :]


# --- reading the docs --------------------------------------------------------------------------


def _columns(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _top_level_fields(inside: str) -> list[str]:
    """``a, b: [{x, y}], c ({d} or null), e {f}`` → ``[a, b, c, e]``."""
    fields, depth, current = [], 0, ""
    for ch in inside + ",":
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        if ch == "," and depth == 0:
            name = re.match(r"\s*([a-z_]+)", current)
            assert name, f"cannot read a field name in {current!r}"
            fields.append(name.group(1))
            current = ""
        else:
            current += ch
    return fields


def _shape(answer: str) -> tuple[int, list[str]]:
    """The documented success answer of a table row: ``NNN {fields}`` (braces balanced)."""
    start = re.search(r"`(\d{3}) \{", answer)
    assert start, f"no documented answer in {answer!r}"
    depth, i = 0, start.end() - 1
    for j in range(i, len(answer)):
        depth += {"{": 1, "}": -1}.get(answer[j], 0)
        if depth == 0:
            return int(start.group(1)), _top_level_fields(answer[i + 1 : j])
    raise AssertionError(f"unbalanced braces in {answer!r}")


def _errors_in(text: str) -> set[tuple[int, str]]:
    """Every ``NNN code`` / ``NNN code / code`` written in backticks."""
    found = set()
    for status, codes in re.findall(r"`([45]\d\d) ([a-z_]+(?: / [a-z_]+)*)`", text):
        found |= {(int(status), code) for code in codes.split(" / ")}
    return found


def documented_endpoints(section: str) -> dict[str, tuple[int, list[str]]]:
    """``"METHOD /path/<id>/..."`` → (status, fields) of each table row of a section."""
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(GET|POST) (/api/[^`?]*)(\?[^`]*)?`", line)
        if match:
            rows[f"{match.group(1)} {match.group(2)}"] = _shape(_columns(line)[-1])
    return rows


def documented_errors() -> set[tuple[int, str]]:
    errors = _errors_in(REST)
    for line in REST.splitlines():  # the error table: | 400 | `empty` | …
        match = re.match(r"\| ([45]\d\d) \| `([a-z_]+)`(?: / `([a-z_]+)`)? \|", line)
        if match:
            errors |= {(int(match.group(1)), c) for c in match.groups()[1:] if c}
    return errors


INTEGRATION_ENDPOINTS = documented_endpoints(INTEGRATION)
STAFF_ENDPOINTS = documented_endpoints(STAFF)


def test_every_api_route_is_documented_and_every_documented_route_exists():
    code_routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/":
            continue
        for sub in pattern.url_patterns:
            if isinstance(sub, URLPattern) and sub.name != "not-found":
                code_routes.add("/api/" + re.sub(r"<int:[a-z_]+>", "<id>", str(sub.pattern)))
    doc_routes = {key.split(" ", 1)[1] for key in {**INTEGRATION_ENDPOINTS, **STAFF_ENDPOINTS}}
    assert doc_routes == code_routes


def test_the_docs_were_read():
    """Guards the parser: if the tables change shape, the contract must not pass vacuously."""
    assert len(INTEGRATION_ENDPOINTS) == 11 and len(STAFF_ENDPOINTS) == 6
    assert INTEGRATION_ENDPOINTS["GET /api/conversations/<id>/messages/"] == (
        200,
        ["conversation", "messages", "last_seq", "more"],
    )
    assert len(documented_errors()) >= 19


# --- the world the calls run in ------------------------------------------------------------------


@dataclass
class World:
    queue: object
    rep: object
    other_rep: object
    sup: object
    conversation: object
    closed: object
    notification: int
    keys: dict[str, str]

    def key(self, *scopes: str) -> Callable:
        raw = self.keys[" ".join(scopes)]

        def call(method: str, path: str, body=None, raw_body: str | None = None):
            kwargs = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
            if body is not None or raw_body is not None:
                kwargs["data"] = raw_body if raw_body is not None else json.dumps(body)
                kwargs["content_type"] = "application/json"
            return getattr(Client(enforce_csrf_checks=True), method)(path, **kwargs)

        return call

    def staff(self, member, *, csrf: bool = True) -> Callable:
        client = Client(enforce_csrf_checks=True)
        client.force_login(member.user)
        client.get("/login/")
        token = client.cookies["csrftoken"].value

        def call(method: str, path: str, body=None):
            headers = {"HTTP_X_CSRFTOKEN": token} if csrf else {}
            return getattr(client, method)(
                path, data=json.dumps(body or {}), content_type="application/json", **headers
            )

        return call


SCOPE_SETS = ("ingest manage read_sentiment", "ingest", "manage", "read_sentiment")


@pytest.fixture
def world(db, settings):
    settings.MESSAGE_MAX_CHARS = 50
    queue = QueueFactory(name="Billing")
    rep = RepresentativeFactory(queues=[queue], user__email="ana@example.com", external_id="agent-1")
    other_rep = RepresentativeFactory(queues=[queue], user__email="bo@example.com")
    sup = SupervisorFactory(queues=[queue])
    AdminFactory()
    conversation = ConversationFactory(
        queue=queue, representative=rep, last_seq=1, sentiment_level=-2, sentiment_score=-0.6
    )
    MessageFactory(
        conversation=conversation,
        seq=1,
        text="my parcel is late",
        scoring_status=ScoringStatus.SCORED,
        sentiment_score=-0.6,
        sentiment_level=-2,
        confidence=0.8,
        language="en",
    )
    closed = ConversationFactory(queue=queue, status=ConversationStatus.CLOSED)
    alert = SentimentAlert.objects.create(
        conversation=conversation,
        audience=AlertAudience.SUPERVISOR,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-2,
    )
    notification = NotificationRecipient.objects.create(alert=alert, staff=sup).pk
    keys = {s: integration_token_create(name=s, scopes=s.split())[1] for s in SCOPE_SETS}
    return World(queue, rep, other_rep, sup, conversation, closed, notification, keys)


def _id(path: str, world: World, conversation=None) -> str:
    return path.replace("<id>", str((conversation or world.conversation).pk))


# --- every documented success answer -----------------------------------------------------------

INTEGRATION_CALLS: dict[str, Callable[[World], object]] = {
    "POST /api/conversations/": lambda w: w.key("ingest")(
        "post", "/api/conversations/", {"queue": "billing", "customer": {"name": "Ana"}, "external_id": "t-1"}
    ),
    "GET /api/conversations/<id>/": lambda w: w.key("read_sentiment")(
        "get", _id("/api/conversations/<id>/", w)
    ),
    "POST /api/conversations/<id>/messages/": lambda w: w.key("ingest")(
        "post", _id("/api/conversations/<id>/messages/", w), {"text": "still waiting", "client_id": "m-1"}
    ),
    "POST /api/conversations/<id>/replies/": lambda w: w.key("ingest")(
        "post", _id("/api/conversations/<id>/replies/", w), {"text": "On it", "client_id": "r-1"}
    ),
    "GET /api/conversations/<id>/messages/": lambda w: w.key("ingest")(
        "get", _id("/api/conversations/<id>/messages/?after_seq=0", w)
    ),
    "POST /api/conversations/<id>/assign/": lambda w: w.key("manage")(
        "post", _id("/api/conversations/<id>/assign/", w), {"representative": {"email": "bo@example.com"}}
    ),
    "POST /api/conversations/<id>/transfer/": lambda w: w.key("manage")(
        "post",
        _id("/api/conversations/<id>/transfer/", w),
        {"queue": "Billing", "representative": {"external_id": "agent-1"}},
    ),
    "POST /api/conversations/<id>/close/": lambda w: w.key("manage")(
        "post", _id("/api/conversations/<id>/close/", w)
    ),
    "GET /api/queues/": lambda w: w.key("ingest")("get", "/api/queues/"),
    "GET /api/staff/": lambda w: w.key("manage")("get", "/api/staff/"),
    "GET /api/channels/": lambda w: w.key("ingest")("get", "/api/channels/"),
}

STAFF_CALLS: dict[str, Callable[[World], object]] = {
    "POST /api/presence/": lambda w: w.staff(w.rep)("post", "/api/presence/", {"presence": "away"}),
    "POST /api/notifications/<id>/ack/": lambda w: w.staff(w.sup)(
        "post", f"/api/notifications/{w.notification}/ack/"
    ),
    "POST /api/conversations/<id>/snooze/": lambda w: w.staff(w.sup)(
        "post", _id("/api/conversations/<id>/snooze/", w), {"minutes": 15}
    ),
    "POST /api/conversations/<id>/assign/": lambda w: w.staff(w.sup)(
        "post", _id("/api/conversations/<id>/assign/", w), {"representative": w.other_rep.pk}
    ),
    "POST /api/conversations/<id>/transfer/": lambda w: w.staff(w.sup)(
        "post",
        _id("/api/conversations/<id>/transfer/", w),
        {"queue": w.queue.pk, "representative": w.other_rep.pk},
    ),
    "POST /api/conversations/<id>/close/": lambda w: w.staff(w.sup)(
        "post", _id("/api/conversations/<id>/close/", w)
    ),
}


def _json(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:300]
    return response.json()


@pytest.mark.parametrize("endpoint", sorted(INTEGRATION_ENDPOINTS))
def test_integration_endpoint_answers_exactly_as_documented(world, endpoint):
    status, fields = INTEGRATION_ENDPOINTS[endpoint]
    response = INTEGRATION_CALLS[endpoint](world)
    assert response.status_code == status, response.content[:300]
    assert list(_json(response)) == fields


@pytest.mark.parametrize("endpoint", sorted(STAFF_ENDPOINTS))
def test_staff_endpoint_answers_exactly_as_documented(world, endpoint):
    status, fields = STAFF_ENDPOINTS[endpoint]
    response = STAFF_CALLS[endpoint](world)
    assert response.status_code == status, response.content[:300]
    assert list(_json(response)) == fields


def test_documented_nested_shapes(world):
    messages = world.key("read_sentiment")("get", _id("/api/conversations/<id>/messages/", world)).json()[
        "messages"
    ]
    assert list(messages[0]) == [
        "id",
        "seq",
        "sender",
        "text",
        "created_at",
        "author",
        "client_id",
        "scoring_status",
        "sentiment",
    ]
    assert list(messages[0]["sentiment"]) == [
        "score",
        "level",
        "level_value",
        "label",
        "confidence",
        "language",
    ]
    detail = world.key("read_sentiment")("get", _id("/api/conversations/<id>/", world)).json()
    assert list(detail["sentiment"]) == ["score", "level", "level_value", "label", "trend"]
    assert list(detail["representative"]) == ["id", "name", "email", "external_id"]
    assert detail["alert_state"] == {"representative": "clear", "supervisor": "raised"}
    assert list(detail["customer"]) == ["name", "external_id"]
    assert list(detail["last_alert"]) == [
        "alert",
        "audience",
        "kind",
        "level",
        "level_value",
        "label",
        "threshold",
        "created_at",
    ]
    assert re.search(r"\+00:00$", detail["created_at"])  # "Timestamps are ISO 8601 in UTC with their offset"
    plain = world.key("ingest")("get", _id("/api/conversations/<id>/messages/", world)).json()["messages"]
    assert list(plain[0]) == ["id", "seq", "sender", "text", "created_at", "author", "client_id"]


def test_documented_replays_answer_200_with_replayed_true(world):
    create = INTEGRATION_CALLS["POST /api/conversations/"]
    message = INTEGRATION_CALLS["POST /api/conversations/<id>/messages/"]
    reply = INTEGRATION_CALLS["POST /api/conversations/<id>/replies/"]
    for call in (create, message, reply):
        first, again = call(world), call(world)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["replayed"] is True and list(again.json()) == list(first.json())


# --- every documented error ---------------------------------------------------------------------

CONV = "/api/conversations/<id>/"
MESSAGES, REPLIES = CONV + "messages/", CONV + "replies/"


def _ingest(w: World, method: str, path: str, body=None, raw_body=None, conversation=None):
    return w.key("ingest")(method, _id(path, w, conversation), body, raw_body)


def _rate_limited(w: World):
    from django.conf import settings

    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 1
    _ingest(w, "post", MESSAGES, {"text": "one"})
    return _ingest(w, "post", MESSAGES, {"text": "two"})


def _conflict(w: World):
    _ingest(w, "post", MESSAGES, {"text": "first", "client_id": "dup"})
    return _ingest(w, "post", MESSAGES, {"text": "second", "client_id": "dup"})


ERROR_CALLS: dict[tuple[int, str], Callable[[World], object]] = {
    (400, "invalid_queue"): lambda w: _ingest(w, "post", "/api/conversations/", {"queue": "Nowhere"}),
    (400, "invalid_channel"): lambda w: _ingest(
        w, "post", "/api/conversations/", {"queue": "Billing", "channel": "fax"}
    ),
    (400, "invalid"): lambda w: _ingest(w, "post", MESSAGES, {"text": "hi", "client_id": "x" * 101}),
    (400, "invalid_json"): lambda w: _ingest(w, "post", MESSAGES, raw_body="[1, 2"),
    (400, "too_large"): lambda w: _ingest(
        w, "post", MESSAGES, raw_body=json.dumps({"text": "x" * (256 * 1024)})
    ),
    (400, "empty"): lambda w: _ingest(w, "post", MESSAGES, {"text": "   "}),
    (400, "too_long"): lambda w: _ingest(w, "post", REPLIES, {"text": "x" * 51}),
    (400, "invalid_sender"): lambda w: _ingest(w, "post", REPLIES, {"text": "hi", "sender": "customer"}),
    (400, "invalid_representative"): lambda w: _ingest(
        w, "post", REPLIES, {"text": "hi", "representative": w.other_rep.pk}
    ),
    (400, "invalid_presence"): lambda w: w.staff(w.rep)("post", "/api/presence/", {"presence": "gone"}),
    (401, "unauthenticated"): lambda w: Client().post(
        _id(MESSAGES, w), data="{}", content_type="application/json"
    ),
    (403, "insufficient_scope"): lambda w: w.key("ingest")("get", _id(CONV, w)),
    (403, "csrf_failed"): lambda w: w.staff(w.sup, csrf=False)("post", _id(CONV + "close/", w)),
    (403, "forbidden"): lambda w: w.staff(w.rep)("post", f"/api/notifications/{w.notification}/ack/"),
    (404, "not_found"): lambda w: _ingest(w, "post", "/api/conversations/999999/messages/", {"text": "hi"}),
    (405, "method_not_allowed"): lambda w: _ingest(w, "get", "/api/conversations/"),
    (409, "conversation_closed"): lambda w: _ingest(
        w, "post", MESSAGES, {"text": "hi"}, conversation=w.closed
    ),
    (409, "client_id_conflict"): _conflict,
    (429, "rate_limited"): _rate_limited,
}


@pytest.mark.parametrize("status, code", sorted(documented_errors()))
def test_documented_error_answers_exactly_as_documented(world, status, code):
    assert (status, code) in ERROR_CALLS, (
        f"documented error {status} {code} is not driven by the contract test"
    )
    response = ERROR_CALLS[(status, code)](world)
    assert response.status_code == status, response.content[:300]
    body = _json(response)
    assert list(body) == ["error"] and body["error"]["code"] == code and body["error"]["message"]
    if code == "rate_limited":
        assert response["Retry-After"] == "60" and body["error"]["retry_after"] == 60
    if code == "unauthenticated":  # driven on an integration endpoint
        assert response["WWW-Authenticate"] == "Bearer"


def test_every_driven_error_is_documented():
    assert set(ERROR_CALLS) <= documented_errors()


def test_an_error_documented_in_the_prose_is_a_real_answer_too(world):
    """ "401 unauthenticated" for staff endpoints without a session, not a redirect or HTML."""
    response = Client(enforce_csrf_checks=True).post(
        "/api/presence/", data="{}", content_type="application/json"
    )
    assert response.status_code == 401 and _json(response)["error"]["code"] == "unauthenticated"
    assert Message.objects.filter(sender=Sender.CUSTOMER).count() == 1


def test_the_cursor_rules_as_documented(world):
    url = _id(MESSAGES, world)
    assert world.key("ingest")("get", url + "?after_seq=1000").json()["last_seq"] == 1
    assert world.key("ingest")("get", url + "?after_seq=-1").json()["error"]["code"] == "invalid"


# --- refused websockets --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_refused_websockets_close_with_the_documented_codes():
    from channels.db import database_sync_to_async

    for statement in ("no staff session → **4401**", "any other `ws/` path → **4404**", "(`/ws/chat/nope/`)"):
        assert statement in DOC
    conversation = await database_sync_to_async(ConversationFactory)()
    closed = await database_sync_to_async(ConversationFactory)(status=ConversationStatus.CLOSED)
    stranger = await database_sync_to_async(RepresentativeFactory)()
    cookie = await session_cookie(stranger)
    cases = [
        ("/ws/staff/", None, 4401),
        (f"/ws/monitor/{conversation.pk}/", None, 4401),
        (f"/ws/monitor/{conversation.pk}/", cookie, 4404),
        ("/ws/monitor/999999/", cookie, 4404),
        ("/ws/chat/unknown-token-0123456789/", None, 4404),
        (f"/ws/chat/{closed.customer_token}/", None, 4404),
        ("/ws/chat/nope/", None, 4404),
        ("/ws/elsewhere/", None, 4404),
    ]
    for path, with_cookie, code in cases:
        comm = await connect(path, cookie=with_cookie, expect=False, close_code=code)
        await comm.disconnect()
    # The integrations' event stream: "no key or a wrong one → 4401, a key without read_sentiment → 4403".
    assert "no key or a wrong one → **4401**, a key without\n`read_sentiment` → **4403**" in DOC
    _token, ingest_key = await database_sync_to_async(integration_token_create)(
        name="c", scopes=["ingest", "manage"]
    )
    for key, code in ((None, 4401), ("sc_not-a-key", 4401), (ingest_key, 4403)):
        comm = await connect("/ws/integrations/events/", key=key, origin=False, expect=False, close_code=code)
        await comm.disconnect()
