"""The access-control matrix, as one parametrised test.

Principals: anonymous, representative, supervisor, admin, and a channel integration (Bearer
key). Cases:

- every HTTP endpoint of the URLconf (resolved at collection time, so a new endpoint shows up
  here and fails until its access policy is declared in ``POLICIES``), for every principal,
  against an object in the principal's scope ("own") and out of it ("other");
- every websocket route, for every principal, in scope and out of it, and with a foreign
  Origin (origin checking on: refused);
- every event type a client can send (``realtime.CLIENT_*``) on every websocket route;
- every session-authenticated POST without a CSRF token (``Client(enforce_csrf_checks=True)``).

Representatives see only their conversations, supervisors only their queues' conversations,
admins everything; only admins change settings. Outcomes: ``ok`` (allowed: 2xx, a redirect
that is not to a login page, or a validation error after authorisation), ``denied`` (401,
403 or 404, a refused websocket, an error frame), ``login`` (redirect to a login page).
A 500 is always a failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conversations.models import Presence
from conversations.services.ingest import integration_token_create
from insights.models import (
    AlertAudience,
    AlertKind,
    NotificationRecipient,
    SentimentAlert,
    SentimentSettings,
)
from sentiment_admin import realtime
from sentiment_admin.routing import websocket_urlpatterns
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)

ROOT = Path(__file__).resolve().parent.parent
PRINCIPALS = ("anonymous", "representative", "supervisor", "admin", "integration")
STAFF = ("representative", "supervisor", "admin")
OK, DENIED, LOGIN, ANY = "ok", "denied", "login", "any"

# --------------------------------------------------------------------------- policies
# who: "public" | "staff" | "supervisor" (supervisors and admins) | "admin" | "integration" | "token"
# scope: whether the object in the URL must be visible to the principal (conversations,
# notifications); "own" objects are in scope for everyone allowed, "other" only for admins.


@dataclass(frozen=True)
class Policy:
    who: str
    methods: tuple[str, ...] = ("GET",)
    scoped: bool = False


POLICIES: dict[str, Policy] = {
    "home": Policy("staff"),
    "login": Policy("public", ("GET",)),
    "logout": Policy("public", ("POST",)),
    "insights:home": Policy("admin"),
    "insights:sentiment": Policy("admin", ("GET", "POST")),
    "insights:queue_override": Policy("admin", ("POST",)),
    "insights:integrations": Policy("admin", ("GET", "POST")),
    "insights:webhook_test": Policy("admin", ("POST",)),
    "conversations:workspace": Policy("staff"),
    "conversations:ongoing": Policy("supervisor"),
    "conversations:presence": Policy("staff", ("POST",)),
    "conversations:take_next": Policy("staff", ("POST",)),
    "conversations:monitor": Policy("staff", scoped=True),
    "conversations:route": Policy("supervisor", scoped=True),
    "conversations:assign": Policy("supervisor", ("POST",), scoped=True),
    "conversations:transfer": Policy("supervisor", ("POST",), scoped=True),
    "insights:correct": Policy("staff", ("POST",), scoped=True),
    "insights:corrections": Policy("admin"),
    "insights:dashboard": Policy("supervisor"),
    "insights:dashboard_export": Policy("supervisor"),
    "conversations:chat_start": Policy("public", ("GET", "POST")),
    "conversations:chat": Policy("token"),
    "api:conversations": Policy("integration", ("POST",)),
    "api:conversation": Policy("integration", ("GET",)),
    "api:messages": Policy("integration", ("GET", "POST")),
    "api:replies": Policy("integration", ("POST",)),
    "api:queues": Policy("integration", ("GET",)),
    "api:staff": Policy("integration", ("GET",)),
    "api:channels": Policy("integration", ("GET",)),
    "api:presence": Policy("staff", ("POST",)),
    "api:notification-ack": Policy("staff", ("POST",), scoped=True),
    "api:snooze": Policy("staff", ("POST",), scoped=True),
    # Routing: supervisors of the queue and admins, or a key with the "manage" scope (the
    # matrix's key has every scope; scope refusals are tested in tests/conversations/test_api.py).
    "api:assign": Policy("supervisor+integration", ("POST",), scoped=True),
    "api:transfer": Policy("supervisor+integration", ("POST",), scoped=True),
    "api:close": Policy("staff+integration", ("POST",), scoped=True),
    "api:not-found": Policy("nobody", ("GET",)),
    # Chatwoot's webhook: the connection's secret in the URL is the credential.
    "chatwoot:webhook": Policy("token", ("POST",), scoped=True),
    # Its setup pages (Insights → Integrations → Chatwoot): administrators only.
    "chatwoot:setup": Policy("admin", ("GET", "POST")),
    "chatwoot:connection": Policy("admin", ("GET", "POST")),
    "chatwoot:check": Policy("admin", ("POST",)),
    # Django's admin site: only administrators (is_staff) get in; the rest go to its login.
    "admin:*": Policy("admin"),
}

# Request bodies that are harmless (a validation error at worst) once access is granted.
JSON_BODIES = {
    "api:conversations": {"queue": "__queue__", "customer": {"name": "Matrix"}},
    "api:messages": {"text": "hello from the matrix"},
    "api:replies": {"text": "reply from the matrix"},
    "api:presence": {"presence": "available"},
    "api:snooze": {"minutes": 5},
    "api:assign": {},
    "api:transfer": {},
    "api:close": {},
    "api:notification-ack": {},
}


def _iter_patterns(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _iter_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{namespace}{p.name}" if p.name else None, p


def http_endpoints() -> list[tuple[str, str, tuple[str, ...]]]:
    """(url name, route, kwargs names) of every named endpoint in the URLconf."""
    found = []
    for route, name, pattern in _iter_patterns(get_resolver().url_patterns):
        if route.startswith("django-admin/"):
            # Django's admin site has one gate (is_staff, which only administrators get) and
            # Django's own per-model permissions behind it: its index stands for all of it.
            if name == "admin:index":
                found.append((name, route, ()))
            continue
        if name is None:
            found.append((f"<unnamed {route}>", route, ()))
            continue
        kwargs = tuple(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else ()
        found.append((name, route, kwargs))
    return found


def policy_for(name: str) -> Policy | None:
    if name.startswith("admin:"):
        return POLICIES["admin:*"]
    return POLICIES.get(name)


def expected_http(policy: Policy, principal: str, target: str) -> str:
    who = policy.who
    if who == "public":
        return ANY if principal in PRINCIPALS else OK
    if who == "token":
        return OK if target == "own" else DENIED
    if who == "integration":
        return OK if principal == "integration" else DENIED
    if who == "nobody":
        return DENIED
    if who.endswith("+integration"):
        if principal == "integration":
            return OK
        who = who.removesuffix("+integration")
    # Session endpoints from here on.
    if principal in ("anonymous", "integration"):
        return LOGIN  # pages redirect to the login page; the JSON API answers 401
    allowed = {
        "staff": STAFF,
        "supervisor": ("supervisor", "admin"),
        "admin": ("admin",),
    }[who]
    if principal not in allowed:
        return DENIED
    if policy.scoped and target == "other" and principal != "admin":
        return DENIED
    return OK


# --------------------------------------------------------------------------- websockets


def ws_routes() -> list[str]:
    return [str(p.pattern) for p in websocket_urlpatterns]


def expected_ws_connect(route: str, principal: str, target: str) -> str:
    if not route.lstrip("^").startswith("ws/"):
        return DENIED  # the catch-all: every other path is refused (4404)
    if "integrations" in route:
        return DENIED  # a key, not a session, opens it (tests/insights/test_consumers.py)
    if "chat" in route:
        return OK if target == "own" else DENIED  # the customer token is the credential
    if principal not in STAFF:
        return DENIED
    if "monitor" in route and target == "other" and principal != "admin":
        return DENIED
    return OK


CLIENT_EVENTS = sorted(v for k, v in vars(realtime).items() if k.startswith("CLIENT_"))

# Which client events each route handles; the rest must be refused with ``unknown_type``.
ROUTE_EVENTS = {
    "staff": set(CLIENT_EVENTS),
    "monitor": {realtime.CLIENT_PING, realtime.CLIENT_CATCH_UP},
    "chat": {realtime.CLIENT_PING, realtime.CLIENT_CATCH_UP, realtime.CLIENT_SEND_MESSAGE},
}


def route_kind(route: str) -> str:
    for kind in ROUTE_EVENTS:
        if kind in route:
            return kind
    return route


def expected_ws_event(route: str, event: str, principal: str, target: str) -> str:
    kind = route_kind(route)
    if event not in ROUTE_EVENTS.get(kind, set()):
        return DENIED
    if event == realtime.CLIENT_PING or kind in ("monitor", "chat"):
        return OK  # the socket itself is the scope: it only ever reaches its conversation
    if event == realtime.CLIENT_SET_PRESENCE:
        return OK
    if event == realtime.CLIENT_SEND_MESSAGE:
        # Only the conversation's representative replies to the customer.
        return OK if principal == "representative" and target == "own" else DENIED
    # catch_up, notification.ack, conversation.snooze: scoped to the viewer
    if target == "other" and principal != "admin":
        return DENIED
    return OK


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    kind: str  # http | csrf | ws | ws-origin | undeclared
    principal: str
    target: str  # own | other
    name: str  # url name or websocket route
    method: str = "GET"
    event: str = ""
    expected: str = OK

    @property
    def id(self) -> str:
        what = self.event or self.method
        return f"{self.kind}-{self.name}-{what}-{self.principal}-{self.target}"


def _cases() -> list[Case]:
    cases = []
    for name, _route, kwargs in http_endpoints():
        policy = policy_for(name)
        if policy is None:
            cases.append(Case("undeclared", "-", "-", name))
            continue
        scoped = any(k in ("conversation_id", "notification_id", "token", "seq", "secret") for k in kwargs)
        targets = ("own", "other") if scoped else ("own",)
        for method in policy.methods:
            for principal in PRINCIPALS:
                for target in targets:
                    cases.append(
                        Case(
                            "http",
                            principal,
                            target,
                            name,
                            method,
                            expected=expected_http(policy, principal, target),
                        )
                    )
            session_who = policy.who.removesuffix("+integration")
            if (
                method == "POST"
                and session_who in ("public", "staff", "supervisor", "admin")
                and name != "logout"
            ):
                principal = {
                    "public": "anonymous",
                    "staff": "representative",
                    "supervisor": "supervisor",
                }.get(session_who, "admin")
                cases.append(Case("csrf", principal, "own", name, method, expected=DENIED))
    cases.append(Case("csrf", "anonymous", "own", "login", "POST", expected=DENIED))
    # One case per (route, principal): it opens the route in and out of scope, then sends
    # every client event type in and out of scope (one world per case keeps PostgreSQL's
    # transactional flush off the critical path).
    for route in ws_routes():
        for principal in ("anonymous", *STAFF):
            cases.append(Case("ws", principal, "own+other", route))
        allowed = "anonymous" if "chat" in route else ("admin" if "monitor" in route else "representative")
        cases.append(Case("ws-origin", allowed, "own", route, expected=DENIED))
    return cases


CASES = _cases()


# --------------------------------------------------------------------------- the world


class _NoScorer:
    """Access is what is measured here, not scoring: keep the model out of every socket."""

    def score(self, texts, **kwargs):
        return [{"supported": False, "score": None, "language": None, "model_version": "none"} for _ in texts]


def no_scorer() -> _NoScorer:
    return _NoScorer()


@pytest.fixture
def world(settings):
    settings.SENTIMENT_SCORER = "tests.test_access_matrix.no_scorer"
    SentimentSettings.objects.update_or_create(
        pk=SentimentSettings.SINGLETON_PK, defaults={"monitoring_enabled": False}
    )
    queue, other_queue = QueueFactory(name="Matrix A"), QueueFactory(name="Matrix B")
    rep = RepresentativeFactory(queues=[queue])
    sup = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    admin = AdminFactory()
    other_rep = RepresentativeFactory(queues=[other_queue])
    other_sup = SupervisorFactory(queues=[other_queue])
    own = ConversationFactory(queue=queue, representative=rep)
    other = ConversationFactory(queue=other_queue, representative=other_rep)
    for c in (own, other):
        MessageFactory(conversation=c, seq=1, text="my parcel is late")
        type(c).objects.filter(pk=c.pk).update(last_seq=1)
    own_alert = SentimentAlert.objects.create(
        conversation=own, audience=AlertAudience.SUPERVISOR, kind=AlertKind.THRESHOLD, level=-2, threshold=-2
    )
    other_alert = SentimentAlert.objects.create(
        conversation=other,
        audience=AlertAudience.SUPERVISOR,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-2,
    )
    notifications = {
        s: NotificationRecipient.objects.create(alert=own_alert, staff=m).pk
        for s, m in (("representative", rep), ("supervisor", sup), ("admin", admin))
    }
    other_notification = NotificationRecipient.objects.create(alert=other_alert, staff=other_sup).pk
    _token, key = integration_token_create(name="matrix", scopes=["ingest", "manage", "read_sentiment"])
    from insights.chatwoot.models import ChatwootConnection

    chatwoot = ChatwootConnection.objects.create(
        base_url="http://chatwoot.invalid", account_id=1, api_access_token="t", default_queue=queue
    )
    return {
        "queue": queue,
        "staff": {"representative": rep, "supervisor": sup, "admin": admin},
        "own": own,
        "other": other,
        "notifications": notifications,
        "other_notification": other_notification,
        "key": key,
        "chatwoot_secret": chatwoot.endpoint_secret,
        "chatwoot_id": chatwoot.pk,
    }


def _kwargs(world, name: str, kwargs_names, principal: str, target: str) -> dict:
    conversation = world["own"] if target == "own" else world["other"]
    out = {}
    for k in kwargs_names:
        if k == "conversation_id":
            out[k] = conversation.pk
        elif k == "seq":
            out[k] = 1
        elif k == "token":
            out[k] = conversation.customer_token if target == "own" else "no-such-token-" + "x" * 20
        elif k == "notification_id":
            mine = world["notifications"].get(principal, world["notifications"]["supervisor"])
            out[k] = mine if target == "own" else world["other_notification"]
        elif k == "secret":
            out[k] = world["chatwoot_secret"] if target == "own" else "no-such-secret-" + "x" * 20
        elif k == "connection_id":
            out[k] = world["chatwoot_id"]
        elif k == "app_label":
            out[k] = "conversations"
        else:
            raise AssertionError(f"the matrix does not know how to fill <{k}> in {name}")
    return out


def _classify(response) -> str:
    status = response.status_code
    assert status < 500, f"server error {status}: {response.content[:500]!r}"
    if status in (301, 302, 303):
        location = response.headers.get("Location", "")
        return LOGIN if "/login/" in location else OK
    if status in (401, 403, 404):
        return DENIED
    return OK


def _http(world, case: Case, *, csrf: bool = False):
    import json

    from django.urls import reverse

    names = {name: kwargs for name, _route, kwargs in http_endpoints()}
    url = reverse(case.name, kwargs=_kwargs(world, case.name, names[case.name], case.principal, case.target))
    client = Client(enforce_csrf_checks=csrf)
    headers = {}
    if case.principal in STAFF:
        client.force_login(world["staff"][case.principal].user)
    elif case.principal == "integration":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world['key']}"
    if case.method == "GET":
        return client.get(url, **headers)
    if case.name.startswith("api:"):
        body = dict(JSON_BODIES.get(case.name, {}))
        if body.get("queue") == "__queue__":
            body["queue"] = world["queue"].pk
        return client.post(url, data=json.dumps(body), content_type="application/json", **headers)
    return client.post(url, data={}, **headers)


async def _ws_connect(world, case: Case, *, origin: bytes = b"http://testserver"):
    from tests.conversations.wsutil import _session_cookie

    route = case.name
    conversation = world["own"] if case.target == "own" else world["other"]
    path = "/" + route.replace("<int:conversation_id>", str(conversation.pk))
    if "chat" in route:
        token = conversation.customer_token if case.target == "own" else "no-such-token-" + "x" * 20
        path = f"/ws/chat/{token}/"
    headers = [(b"origin", origin)]
    if case.principal in STAFF:
        cookie = await database_sync_to_async(_session_cookie)(world["staff"][case.principal].user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    from sentiment_admin.asgi import application
    from tests.conversations.wsutil import open_socket

    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await open_socket(comm, timeout=10)
    return comm, connected


def _event_frame(world, case: Case) -> dict:
    conversation = world["own"] if case.target == "own" else world["other"]
    if case.event == realtime.CLIENT_SEND_MESSAGE:
        return {
            "type": case.event,
            "conversation": conversation.pk,
            "text": "matrix says hi",
            "client_id": "m-1",
        }
    if case.event == realtime.CLIENT_CATCH_UP:
        return {"type": case.event, "conversation": conversation.pk, "after_seq": 0}
    if case.event == realtime.CLIENT_SET_PRESENCE:
        return {"type": case.event, "presence": Presence.AVAILABLE}
    if case.event == realtime.CLIENT_ACK_NOTIFICATION:
        mine = world["notifications"].get(case.principal, world["notifications"]["supervisor"])
        return {
            "type": case.event,
            "notification": mine if case.target == "own" else world["other_notification"],
        }
    if case.event == realtime.CLIENT_SNOOZE:
        return {"type": case.event, "conversation": conversation.pk, "minutes": 5}
    return {"type": case.event}


async def _ws_event(comm, world, case: Case) -> str:
    """Send the event, then a ping; the consumer handles frames in order, so everything it
    answered to the event arrives before the pong."""
    await comm.send_json_to(_event_frame(world, case))
    if case.event != realtime.CLIENT_PING:
        await comm.send_json_to({"type": realtime.CLIENT_PING})
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=10)
        frames.append(frame)
        if frame.get("type") == realtime.PONG:
            break
    errors = [f for f in frames if f.get("type") == realtime.ERROR]
    for error in errors:
        assert error.get("code") and error.get("message"), f"an error frame without code/message: {error}"
    return DENIED if errors else OK


async def _ws_case(world, case: Case) -> None:
    if case.kind == "ws-origin":
        comm, connected = await _ws_connect(world, case, origin=b"http://evil.example")
        if connected:
            await comm.disconnect()
        assert not connected, f"{case.name} accepted a websocket from a foreign Origin"
        return
    mismatches = []
    for target in ("own", "other"):
        sub = Case("ws-connect", case.principal, target, case.name)
        expected = expected_ws_connect(case.name, case.principal, target)
        comm, connected = await _ws_connect(world, sub)
        if connected:
            await comm.disconnect()
        if (OK if connected else DENIED) != expected:
            mismatches.append(
                f"connect {target}: expected {expected}, got {'accepted' if connected else 'refused'}"
            )
    if expected_ws_connect(case.name, case.principal, "own") == OK:
        targets = ("own", "other") if route_kind(case.name) == "staff" else ("own",)
        comm, connected = await _ws_connect(world, Case("ws-connect", case.principal, "own", case.name))
        assert connected
        try:
            for event in CLIENT_EVENTS:
                for target in targets:
                    sub = Case("ws-event", case.principal, target, case.name, event=event)
                    expected = expected_ws_event(case.name, event, case.principal, target)
                    outcome = await asyncio.wait_for(_ws_event(comm, world, sub), timeout=30)
                    if outcome != expected:
                        mismatches.append(f"{event} ({target}): expected {expected}, got {outcome}")
        finally:
            await comm.disconnect()
    assert not mismatches, f"{case.name} as {case.principal}: " + "; ".join(mismatches)


# Websocket cases run the consumers' database calls in other threads: they need committed
# data (transaction=True). HTTP cases run in the test's transaction, which is much faster.
PARAMS = [
    pytest.param(c, id=c.id, marks=pytest.mark.django_db(transaction=c.kind.startswith("ws"))) for c in CASES
]


@pytest.mark.parametrize("case", PARAMS)
def test_access(case: Case, world):
    if case.kind == "undeclared":
        pytest.fail(f"{case.name} has no access policy: declare who may use it in POLICIES")
    if case.kind.startswith("ws"):
        async_to_sync(_ws_case)(world, case)
        return
    if case.kind in ("http", "csrf"):
        response = _http(world, case, csrf=case.kind == "csrf")
        if case.kind == "csrf":
            assert response.status_code == 403, f"{case.name} accepted a POST without a CSRF token"
            return
        outcome = _classify(response)
        if case.expected != ANY:
            # A refusal is a refusal: pages send anonymous users (and the admin site sends
            # non-admins) to a login page, the JSON API answers 401/403/404.
            refused = {LOGIN: DENIED}
            assert refused.get(outcome, outcome) == refused.get(case.expected, case.expected), (
                f"{case.method} {case.name} as {case.principal} ({case.target}): "
                f"expected {case.expected}, got {response.status_code} {response.content[:300]!r}"
            )


def test_production_settings_use_secure_cookies_and_strict_transport(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.DEBUG, "
        "s.SECURE_HSTS_SECONDS > 0, s.SECURE_PROXY_SSL_HEADER is not None)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="sentiment_admin.settings.production",
        DJANGO_SECRET_KEY="s" * 30 + "-Qz8!" + "t4" * 20,
        DJANGO_ALLOWED_HOSTS="center.example.com",
        SENTIMENT_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-6:] == ["True", "True", "True", "False", "True", "True"]


def test_every_websocket_route_checks_the_origin():
    from channels.security.websocket import OriginValidator

    from sentiment_admin.asgi import application

    # Wrappers that only start things (the scoring runtime) may sit outside it; the origin check
    # must come before any authentication or routing.
    app = application.application_mapping["websocket"]
    while not isinstance(app, OriginValidator) and type(app).__name__ == "StartScoringRuntime":
        app = app.app
    assert isinstance(app, OriginValidator)


@pytest.mark.django_db
def test_supervisors_assign_only_to_representatives_of_their_queues_through_the_api_too(world):
    """The Assign page refuses a representative outside the supervisor's queues; the REST
    endpoint must refuse the same thing (one rule, whichever door)."""
    import json

    from django.urls import reverse

    from conversations.models import Conversation

    outsider = RepresentativeFactory(queues=[QueueFactory(name="Matrix elsewhere")])
    client = Client()
    client.force_login(world["staff"]["supervisor"].user)
    response = client.post(
        reverse("api:assign", args=[world["own"].pk]),
        data=json.dumps({"representative": outsider.pk}),
        content_type="application/json",
    )
    assert response.status_code in (400, 403), response.content
    assert (
        Conversation.objects.get(pk=world["own"].pk).representative_id == world["staff"]["representative"].pk
    )


# --------------------------------------------------------------------------- access changes on open sockets
# Sign-out, deactivation, a change of role or of queue membership after a socket connected:
# the socket closes (4401 when the sign-in ended, 4403 for a monitor whose conversation is no
# longer visible) or stops receiving, and refuses catch-up.


async def _close_code(comm, timeout: float = 10) -> int:
    """Read until the server closes the socket; the close code (frames before it are kept)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"the socket stayed open; frames: {comm.pending}"
        output = await comm.receive_output(timeout=remaining)
        if output["type"] == "websocket.close":
            return output["code"]
        import json as _json

        comm.pending.append(_json.loads(output["text"]))


@database_sync_to_async
def _signed_in_client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


async def _socket_for(client: Client, path: str):
    from tests.conversations.wsutil import connect

    return await connect(path, cookie=client.cookies[settings.SESSION_COOKIE_NAME].value)


@database_sync_to_async
def _change_world():
    queue = QueueFactory(name="Changes")
    other_queue = QueueFactory(name="Elsewhere")
    rep = RepresentativeFactory(queues=[queue])
    sup = SupervisorFactory(queues=[queue, other_queue])
    conversation = ConversationFactory(queue=queue, representative=rep)
    MessageFactory(conversation=conversation, seq=1)
    type(conversation).objects.filter(pk=conversation.pk).update(last_seq=1)
    return {"queue": queue, "rep": rep, "sup": sup, "conversation": conversation}


@pytest.mark.django_db(transaction=True)
async def test_signing_out_closes_that_sessions_sockets_and_only_those():
    from tests.conversations.wsutil import close_all, next_frame, send

    w = await _change_world()
    signed_out, other_device = await _signed_in_client(w["sup"]), await _signed_in_client(w["sup"])
    staff = await _socket_for(signed_out, "/ws/staff/")
    monitor = await _socket_for(signed_out, f"/ws/monitor/{w['conversation'].pk}/")
    kept = await _socket_for(other_device, "/ws/staff/")
    try:
        response = await database_sync_to_async(signed_out.post)("/logout/")
        assert response.status_code == 302
        assert await _close_code(staff) == 4401
        assert await _close_code(monitor) == 4401
        await send(kept, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        done = await next_frame(kept, "catch_up.done", conversation=w["conversation"].pk)
        assert done["last_seq"] == 1
    finally:
        await close_all(staff, monitor, kept)


@pytest.mark.django_db(transaction=True)
async def test_deactivating_an_account_closes_its_open_sockets():
    w = await _change_world()
    client = await _signed_in_client(w["rep"])
    staff = await _socket_for(client, "/ws/staff/")
    monitor = await _socket_for(client, f"/ws/monitor/{w['conversation'].pk}/")
    user = w["rep"].user
    user.is_active = False
    await database_sync_to_async(user.save)()
    try:
        assert await _close_code(staff) == 4401
        assert await _close_code(monitor) == 4401
    finally:
        from tests.conversations.wsutil import close_all

        await close_all(staff, monitor)


@pytest.mark.django_db(transaction=True)
async def test_catch_up_re_checks_the_sign_in_even_when_no_event_came():
    from django.contrib.auth import get_user_model

    from tests.conversations.wsutil import next_frame, send

    w = await _change_world()
    client = await _signed_in_client(w["rep"])
    for path in ("/ws/staff/", f"/ws/monitor/{w['conversation'].pk}/"):
        comm = await _socket_for(client, path)
        # A change that sends no event (a bulk update): the next catch-up still sees it.
        await database_sync_to_async(get_user_model().objects.filter(pk=w["rep"].user.pk).update)(
            is_active=False
        )
        await send(comm, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        error = await next_frame(comm, "error")
        assert error == {
            "type": "error",
            "code": "unauthenticated",
            "message": "Your sign-in ended; sign in again.",
        }
        assert await _close_code(comm) == 4401
        assert not [f for f in comm.pending if f["type"] == "message.created"], path
        await database_sync_to_async(get_user_model().objects.filter(pk=w["rep"].user.pk).update)(
            is_active=True
        )


@pytest.mark.django_db(transaction=True)
async def test_a_supervisor_made_representative_stops_hearing_the_queues_and_its_monitors_close():
    from conversations.services.staff import staff_role_set
    from tests.conversations.wsutil import close_all, drain, next_frame, send

    w = await _change_world()
    client = await _signed_in_client(w["sup"])
    staff = await _socket_for(client, "/ws/staff/")
    monitor = await _socket_for(client, f"/ws/monitor/{w['conversation'].pk}/")
    try:
        await database_sync_to_async(staff_role_set)(staff=w["sup"], role="representative")
        assert await _close_code(monitor) == 4403
        assert monitor.pending[-1] == {"type": "conversation.removed", "conversation": w["conversation"].pk}
        changed = await next_frame(staff, "staff.access_changed")
        assert changed == {"type": "staff.access_changed", "role": "representative"}
        # The queue's events no longer reach this socket, and catch-up is refused.
        from conversations.models import StaffMember
        from conversations.services.ingest import conversation_create

        # Away, so that queue routing does not make the new chat theirs (which they would hear).
        await database_sync_to_async(StaffMember.objects.filter(pk=w["sup"].pk).update)(presence="away")
        await database_sync_to_async(conversation_create)(queue=w["queue"], customer_name="New")
        assert not [f for f in await drain(staff, quiet=0.5) if f.get("queue") == w["queue"].pk]
        await send(staff, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        error = await next_frame(staff, "error")
        assert error["code"] == "not_found"
    finally:
        await close_all(staff, monitor)


@pytest.mark.django_db(transaction=True)
async def test_leaving_a_queue_takes_effect_on_open_sockets():
    from conversations.services.ingest import conversation_create
    from tests.conversations.wsutil import close_all, drain, next_frame, send

    w = await _change_world()
    client = await _signed_in_client(w["sup"])
    staff = await _socket_for(client, "/ws/staff/")
    monitor = await _socket_for(client, f"/ws/monitor/{w['conversation'].pk}/")
    try:
        await database_sync_to_async(conversation_create)(queue=w["queue"], customer_name="Before")
        before = await next_frame(staff, "conversation.updated", queue=w["queue"].pk)
        assert before["queue"] == w["queue"].pk
        await drain(staff)  # and queue routing's hand-over of it to the queue's representative
        await database_sync_to_async(w["sup"].queues.remove)(w["queue"])
        assert await _close_code(monitor) == 4403
        await next_frame(staff, "staff.access_changed")
        await database_sync_to_async(conversation_create)(queue=w["queue"], customer_name="After")
        assert not [f for f in await drain(staff, quiet=0.5) if f.get("queue") == w["queue"].pk]
        await send(staff, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        assert (await next_frame(staff, "error"))["code"] == "not_found"
        # Joining it again brings it back.
        await database_sync_to_async(w["queue"].staff.add)(w["sup"])
        await next_frame(staff, "staff.access_changed")
        await send(staff, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        assert (await next_frame(staff, "catch_up.done"))["last_seq"] == 1
    finally:
        await close_all(staff, monitor)


# --------------------------------------------------------------------------- sign-in throttles


from tests.conversations.factories import PASSWORD  # noqa: E402

THROTTLED_BODY = "Too many failed sign-ins. Try again in {} seconds."


def _sign_in(client, path: str, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/django-admin/login/"])
def test_failed_sign_ins_are_throttled_per_username(path, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    admin = AdminFactory()
    client = Client()
    for _ in range(3):
        assert _sign_in(client, path, admin.user.username, "wrong").status_code == 200
    refused = _sign_in(client, path, admin.user.username.upper(), PASSWORD)  # the right one, too late
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    assert refused.content.decode() == THROTTLED_BODY.format(retry_after)
    assert "_auth_user_id" not in client.session
    # Another username from the same address is not locked out by these.
    other = RepresentativeFactory()
    assert _sign_in(Client(), "/login/", other.user.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_failed_sign_ins_are_throttled_per_client_address(settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    for i in range(4):
        assert _sign_in(Client(), "/login/", f"guess{i}", "wrong").status_code == 200
    rep = RepresentativeFactory()
    assert _sign_in(Client(), "/login/", rep.user.username, PASSWORD).status_code == 429
    assert (
        _sign_in(Client(), "/login/", rep.user.username, PASSWORD, address="198.51.100.9").status_code == 302
    )


@pytest.mark.django_db
def test_a_successful_sign_in_clears_its_usernames_failures(settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    rep = RepresentativeFactory()
    for _ in range(2):
        _sign_in(Client(), "/login/", rep.user.username, "wrong")
    assert _sign_in(Client(), "/login/", rep.user.username, PASSWORD).status_code == 302
    for _ in range(2):
        assert _sign_in(Client(), "/login/", rep.user.username, "wrong").status_code == 200
    assert _sign_in(Client(), "/login/", rep.user.username, PASSWORD).status_code == 302


# --------------------------------------------------------------------------- origin and CSP


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "host", "scheme", "accepted"),
    [
        ("http://testserver", None, "ws", True),
        ("https://testserver", None, "ws", False),
        ("http://testserver:8080", None, "ws", False),
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("http://localhost:8001", "localhost:8000", "ws", False),
        ("https://localhost:8000", "localhost:8000", "ws", False),
        ("https://localhost", "localhost", "wss", True),
        ("http://localhost", "localhost", "wss", False),
        ("http://127.0.0.1:8000", "localhost:8000", "ws", False),
    ],
)
async def test_the_websocket_origin_check_compares_scheme_host_and_port(
    settings, origin, host, scheme, accepted
):
    from sentiment_admin.asgi import application

    queue = await database_sync_to_async(QueueFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(queue=queue)
    headers = [(b"origin", origin.encode())] + ([(b"host", host.encode())] if host else [])
    comm = WebsocketCommunicator(application, f"/ws/chat/{conversation.customer_token}/", headers=headers)
    comm.scope["scheme"] = scheme
    connected, _ = await comm.connect(timeout=10)
    try:
        assert connected is accepted, (origin, host, scheme)
    finally:
        if connected:
            await comm.disconnect()
