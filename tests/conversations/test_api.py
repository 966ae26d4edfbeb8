"""REST endpoints: token-authenticated integration API and session-authenticated staff API."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.core.management.base import CommandError
from django.test import AsyncClient, Client

from conversations.models import Conversation, ConversationStatus, Message, Presence, ScoringStatus
from conversations.services.ingest import integration_token_create
from insights.models import AlertAudience, NotificationRecipient, SentimentAlert
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import ANGRY_EN, close_all, next_frame, scoring_runtime, staff_socket  # noqa: F401


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def token(db):
    _token, raw = integration_token_create(name="test integration")
    return raw


@pytest.fixture
def api(token):
    """A client that enforces CSRF like a browser would: token endpoints must not need it."""
    client = Client(enforce_csrf_checks=True)

    def call(method: str, path: str, body=None, **extra):
        kwargs = {**bearer(token), **extra}
        if body is not None:
            kwargs["data"] = body if isinstance(body, str) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(client, method)(path, **kwargs)

    return call


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_integration_endpoints_need_a_valid_token(header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().post("/api/conversations/", data="{}", content_type="application/json", **extra)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.django_db
def test_create_conversation_returns_its_customer_token_and_chat_url(api):
    queue = QueueFactory(name="Billing")
    response = api(
        "post",
        "/api/conversations/",
        {
            "queue": "Billing",
            "customer": {"name": "Ana", "email": "ana@example.com", "external_id": "c1"},
            "channel": "sms",
            "scoring_opt_out": True,
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    conversation = Conversation.objects.get(pk=data["id"])
    assert conversation.queue == queue and conversation.channel == "sms" and conversation.scoring_opt_out
    assert data["customer_token"] == conversation.customer_token
    assert data["chat_ws_url"] == f"ws://testserver/ws/chat/{conversation.customer_token}/"
    by_id = api("post", "/api/conversations/", {"queue": queue.pk, "customer": {"name": "Bo"}})
    assert by_id.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, code",
    [
        ({"queue": "Nope", "customer": {"name": "A"}}, "invalid_queue"),
        ({"queue": "Billing", "customer": "A"}, "invalid"),
        ({"queue": "Billing", "customer": {"name": "A"}, "channel": "fax"}, "invalid_channel"),
        ({"queue": "Billing", "customer": {"name": "A"}, "scoring_opt_out": "yes"}, "invalid"),
        ("{broken", "invalid_json"),
    ],
)
def test_create_conversation_validation(api, body, code):
    QueueFactory(name="Billing")
    response = api("post", "/api/conversations/", body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_post_messages_and_replies_then_read_them_back(api):
    conversation = ConversationFactory()
    url = f"/api/conversations/{conversation.pk}"
    first = api("post", f"{url}/messages/", {"text": "Where is my parcel?"})
    assert first.status_code == 201 and first.json()["seq"] == 1
    reply = api("post", f"{url}/replies/", {"text": "Let me check.", "sender": "bot"})
    assert reply.status_code == 201 and reply.json()["seq"] == 2
    api("post", f"{url}/messages/", {"text": "<b>thanks</b>"})
    listing = api("get", f"{url}/messages/?after_seq=1").json()
    assert [m["seq"] for m in listing["messages"]] == [2, 3] and listing["last_seq"] == 3
    assert listing["messages"][1]["text"] == "<b>thanks</b>"
    assert "score" not in listing["messages"][0]
    stored = Message.objects.get(conversation=conversation, seq=1)
    assert stored.scoring_status == ScoringStatus.PENDING  # stored first; scored by the runtime


@pytest.mark.django_db
def test_message_errors_are_clear(api, settings):
    settings.MESSAGE_MAX_CHARS = 20
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 1
    conversation = ConversationFactory()
    url = f"/api/conversations/{conversation.pk}/messages/"
    assert api("post", url, {"text": "  "}).json()["error"]["code"] == "empty"
    too_long = api("post", url, {"text": "x" * 21})
    assert too_long.status_code == 400 and "20" in too_long.json()["error"]["message"]
    assert api("post", url, {"text": "ok"}).status_code == 201
    limited = api("post", url, {"text": "again"})
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    assert api("post", "/api/conversations/999999/messages/", {"text": "hi"}).status_code == 404
    assert api("get", f"{url}?after_seq=abc").status_code == 400
    closed = ConversationFactory(status=ConversationStatus.CLOSED)
    assert api("post", f"/api/conversations/{closed.pk}/messages/", {"text": "hi"}).status_code == 409


@pytest.mark.django_db(transaction=True)
async def test_a_message_posted_over_rest_reaches_the_representative_scored(scoring_runtime, token):  # noqa: F811
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep)
    rep_ws = await staff_socket(rep)
    try:
        response = await AsyncClient().post(
            f"/api/conversations/{conversation.pk}/messages/",
            data=json.dumps({"text": ANGRY_EN}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201
        scored = await next_frame(rep_ws, "conversation.scored", seq=1)
        assert scored["level_value"] < 0
    finally:
        await close_all(rep_ws)


# --- staff endpoints ------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_endpoints_need_a_session():
    response = Client().post("/api/presence/", data='{"presence": "away"}', content_type="application/json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_presence_over_the_api_with_csrf():
    rep = RepresentativeFactory(presence=Presence.AVAILABLE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep.user)
    refused = client.post("/api/presence/", data='{"presence": "away"}', content_type="application/json")
    assert refused.status_code == 403  # the session API keeps CSRF protection
    client.get("/login/")
    csrf = client.cookies["csrftoken"].value
    ok = client.post(
        "/api/presence/", data='{"presence": "away"}', content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert ok.status_code == 200 and ok.json() == {"staff": rep.pk, "presence": "away", "label": "Away"}
    bad = client.post(
        "/api/presence/", data='{"presence": "gone"}', content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_presence"


@pytest.fixture
def staff_client():
    def make(staff):
        client = Client()
        client.force_login(staff.user)
        return client

    return make


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


@pytest.mark.django_db
def test_acknowledge_and_snooze(staff_client):
    queue = QueueFactory()
    sup = SupervisorFactory(queues=[queue])
    conversation = ConversationFactory(queue=queue)
    alert = SentimentAlert.objects.create(
        conversation=conversation, audience=AlertAudience.SUPERVISOR, kind="threshold", level=-2, threshold=-2
    )
    row = NotificationRecipient.objects.create(alert=alert, staff=sup)
    client = staff_client(sup)
    acked = post(client, f"/api/notifications/{row.pk}/ack/")
    assert acked.status_code == 200 and acked.json()["by"] == sup.pk
    assert post(client, "/api/notifications/999999/ack/").status_code == 404
    snoozed = post(client, f"/api/conversations/{conversation.pk}/snooze/", {"minutes": 10})
    assert snoozed.status_code == 200 and snoozed.json()["until"]
    assert post(client, f"/api/conversations/{conversation.pk}/snooze/", {"minutes": -5}).status_code == 400
    elsewhere = ConversationFactory()
    assert post(client, f"/api/conversations/{elsewhere.pk}/snooze/", {"minutes": 10}).status_code == 404
    rep_client = staff_client(RepresentativeFactory())
    assert post(rep_client, f"/api/notifications/{row.pk}/ack/").status_code == 403


@pytest.mark.django_db
def test_assign_and_transfer_are_for_supervisors_of_the_queue(staff_client):
    queue, other = QueueFactory(), QueueFactory()
    sup = SupervisorFactory(queues=[queue])
    rep = RepresentativeFactory(queues=[queue])
    conversation = ConversationFactory(queue=queue, representative=rep)
    rep2 = RepresentativeFactory(queues=[queue])
    client = staff_client(sup)
    assigned = post(client, f"/api/conversations/{conversation.pk}/assign/", {"representative": rep2.pk})
    assert assigned.status_code == 200 and assigned.json()["representative"] == rep2.pk
    assert (
        post(
            staff_client(rep2), f"/api/conversations/{conversation.pk}/assign/", {"representative": rep.pk}
        ).status_code
        == 403
    )
    moved = post(client, f"/api/conversations/{conversation.pk}/transfer/", {"queue": other.pk})
    assert (
        moved.status_code == 200
        and moved.json()["queue"] == other.pk
        and moved.json()["representative"] is None
    )
    # It left the supervisor's queues: no longer theirs.
    assert (
        post(client, f"/api/conversations/{conversation.pk}/transfer/", {"queue": queue.pk}).status_code
        == 404
    )


@pytest.mark.django_db
def test_integration_token_command_creates_lists_and_revokes_exactly_one_key_by_id():
    from io import StringIO

    from django.core.management import call_command

    from conversations.models import IntegrationToken

    out = StringIO()
    call_command("integration_token", "create", "Web chat", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    assert (
        Client()
        .post("/api/conversations/", data="{}", content_type="application/json", **bearer(raw))
        .status_code
        == 400
    )
    _other, other_raw = integration_token_create(name="CRM")
    listing = StringIO()
    call_command("integration_token", "list", stdout=listing)
    assert "Web chat\tingest\tactive" in listing.getvalue() and raw not in listing.getvalue()
    web_chat = IntegrationToken.objects.get(name="Web chat")
    with pytest.raises(CommandError):  # a prefix is not an id: nothing is revoked by accident
        call_command("integration_token", "revoke", raw[:10], stdout=StringIO())
    call_command("integration_token", "revoke", str(web_chat.pk), stdout=StringIO())
    assert (
        Client()
        .post("/api/conversations/", data="{}", content_type="application/json", **bearer(raw))
        .status_code
        == 401
    )
    assert (
        Client()
        .post("/api/conversations/", data="{}", content_type="application/json", **bearer(other_raw))
        .status_code
        == 400
    )


@pytest.mark.django_db
def test_the_readme_key_command_works_as_written_with_scopes():
    from io import StringIO

    from django.core.management import call_command

    from conversations.models import IntegrationToken

    out = StringIO()
    call_command(
        "integration_token",
        "create",
        "--name",
        "crm",
        "--scope",
        "ingest",
        "--scope",
        "manage,read_sentiment",
        stdout=out,
        stderr=StringIO(),
    )
    token = IntegrationToken.objects.get(name="crm")
    assert token.scope_list == ["ingest", "manage", "read_sentiment"]
    assert out.getvalue().strip().startswith("sc_")
    plain = StringIO()
    call_command("integration_token", "create", "--name", "web", stdout=plain, stderr=StringIO())
    assert IntegrationToken.objects.get(name="web").scope_list == ["ingest"]
    with pytest.raises(CommandError, match="Unknown scope 'admin'"):
        call_command(
            "integration_token",
            "create",
            "--name",
            "x",
            "--scope",
            "admin",
            stdout=StringIO(),
            stderr=StringIO(),
        )


@pytest.mark.django_db
def test_an_integration_retrying_with_the_same_client_id_gets_the_same_seq_and_200_not_201(api):
    conversation = ConversationFactory()
    url = f"/api/conversations/{conversation.pk}/messages/"
    first = api("post", url, {"text": "Where is my parcel?", "client_id": "crm-77"})
    retry = api("post", url, {"text": "Where is my parcel?", "client_id": "crm-77"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert (first.json()["replayed"], retry.json()["replayed"]) == (False, True)
    assert first.json()["seq"] == retry.json()["seq"] == 1
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert api("post", url, {"text": "hi", "client_id": {"no": 1}}).json()["error"]["code"] == "invalid"
