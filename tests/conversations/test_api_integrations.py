"""The integration API a channel runs on: key scopes, routing and discovery with a key,
reading sentiment back, idempotent create and replies, and JSON (never HTML) refusals."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from conversations.models import Conversation, ConversationStatus, Message, Role, ScoringStatus, Sender
from conversations.services.ingest import integration_token_create
from insights.models import AlertAudience, AlertKind, SentimentAlert
from tests.conversations.factories import (
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)


def key_client(*scopes: str):
    """A client (enforcing CSRF like a browser) calling with a key of these scopes."""
    _token, raw = integration_token_create(name="-".join(scopes), scopes=scopes)
    client = Client(enforce_csrf_checks=True)

    def call(method: str, path: str, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(client, method)(path, **kwargs)

    return call


def error_code(response) -> str:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]["code"]


# --- scopes ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_endpoint_needs_its_scope_and_says_which_one():
    conversation = ConversationFactory()
    rep = RepresentativeFactory(queues=[conversation.queue])
    ingest, manage, reader = key_client("ingest"), key_client("manage"), key_client("read_sentiment")
    refused = [
        ingest("get", f"/api/conversations/{conversation.pk}/"),
        ingest("post", f"/api/conversations/{conversation.pk}/assign/", {"representative": rep.pk}),
        ingest("get", "/api/staff/"),
        manage("post", f"/api/conversations/{conversation.pk}/messages/", {"text": "hi"}),
        manage("get", f"/api/conversations/{conversation.pk}/messages/"),
        reader("post", f"/api/conversations/{conversation.pk}/messages/", {"text": "hi"}),
        reader("post", "/api/conversations/", {"queue": conversation.queue.pk}),
        reader("post", f"/api/conversations/{conversation.pk}/close/"),
    ]
    for response in refused:
        assert response.status_code == 403 and error_code(response) == "insufficient_scope", response.content
        assert "insufficient_scope" in response["WWW-Authenticate"]
    assert ingest("get", "/api/queues/").status_code == 200
    assert manage("get", "/api/staff/").status_code == 200
    assert reader("get", f"/api/conversations/{conversation.pk}/").status_code == 200
    assert Conversation.objects.get(pk=conversation.pk).representative_id is None


# --- routing with a key ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_manage_key_assigns_by_email_transfers_by_queue_name_and_external_id_and_closes():
    billing, support = QueueFactory(name="Billing"), QueueFactory(name="Support")
    ana = RepresentativeFactory(queues=[billing], user__email="ana@example.com")
    bo = RepresentativeFactory(queues=[support], external_id="agent-42")
    conversation = ConversationFactory(queue=billing, status=ConversationStatus.OPEN)
    call = key_client("manage")
    url = f"/api/conversations/{conversation.pk}"

    assigned = call("post", f"{url}/assign/", {"representative": {"email": "ANA@example.com"}})
    assert assigned.status_code == 200, assigned.content
    assert assigned.json() == {
        "conversation": conversation.pk,
        "queue": billing.pk,
        "representative": ana.pk,
        "status": "active",
    }

    moved = call(
        "post", f"{url}/transfer/", {"queue": "support", "representative": {"external_id": "agent-42"}}
    )
    assert (
        moved.status_code == 200
        and moved.json()["queue"] == support.pk
        and moved.json()["representative"] == bo.pk
    )

    unknown = call("post", f"{url}/assign/", {"representative": {"email": "nobody@example.com"}})
    assert unknown.status_code == 400 and error_code(unknown) == "invalid_representative"
    bad_queue = call("post", f"{url}/transfer/", {"queue": "Nowhere"})
    assert bad_queue.status_code == 400 and error_code(bad_queue) == "invalid_queue"

    closed = call("post", f"{url}/close/")
    assert closed.status_code == 200 and closed.json() == {
        "conversation": conversation.pk,
        "status": "closed",
    }
    assert (
        call("post", f"{url}/assign/", {"representative": ana.pk}).status_code == 400
    )  # closed stays closed


@pytest.mark.django_db
def test_discovery_lists_queues_staff_and_channels():
    billing = QueueFactory(name="Billing")
    rep = RepresentativeFactory(queues=[billing], external_id="a-1", user__email="rep@example.com")
    SupervisorFactory(queues=[billing])
    call = key_client("ingest", "manage")
    assert call("get", "/api/queues/").json() == {
        "queues": [{"id": billing.pk, "name": "Billing", "description": ""}]
    }
    staff = {s["id"]: s for s in call("get", "/api/staff/").json()["staff"]}
    assert staff[rep.pk] == {
        "id": rep.pk,
        "name": rep.display_name,
        "email": "rep@example.com",
        "external_id": "a-1",
        "role": Role.REPRESENTATIVE,
        "presence": rep.presence,
        "queues": [billing.pk],
    }
    channels = [c["id"] for c in call("get", "/api/channels/").json()["channels"]]
    assert channels == ["chat", "sms", "email", "social", "voice"]


@pytest.mark.django_db
def test_queue_names_are_case_insensitive_when_creating():
    billing = QueueFactory(name="Billing")
    created = key_client("ingest")(
        "post", "/api/conversations/", {"queue": "billing", "customer": {"name": "Ana"}}
    )
    assert created.status_code == 201 and created.json()["queue"] == billing.pk


# --- reading sentiment back ------------------------------------------------------------------


@pytest.mark.django_db
def test_get_a_conversation_with_its_level_trend_and_alert_state():
    rep = RepresentativeFactory(external_id="a-9")
    conversation = ConversationFactory(
        representative=rep, sentiment_score=-0.62, sentiment_level=-2, sentiment_trend="falling", last_seq=4
    )
    raised = SentimentAlert.objects.create(
        conversation=conversation,
        audience=AlertAudience.REPRESENTATIVE,
        kind=AlertKind.THRESHOLD,
        level=-2,
        threshold=-1,
    )
    body = key_client("read_sentiment")("get", f"/api/conversations/{conversation.pk}/").json()
    assert body["sentiment"] == {
        "score": -0.62,
        "level": "negative",
        "level_value": -2,
        "label": "Negative",
        "trend": "falling",
    }
    assert body["alert_state"] == {"representative": "raised", "supervisor": "clear"}
    assert body["last_alert"]["alert"] == raised.pk and body["last_alert"]["kind"] == "threshold"
    assert body["representative"]["external_id"] == "a-9" and body["last_seq"] == 4
    assert body["created_at"].endswith("+00:00")  # UTC, with its offset
    SentimentAlert.objects.create(
        conversation=conversation,
        audience=AlertAudience.REPRESENTATIVE,
        kind=AlertKind.RECOVERED,
        level=0,
        threshold=-1,
    )
    again = key_client("read_sentiment")("get", f"/api/conversations/{conversation.pk}/").json()
    assert again["alert_state"]["representative"] == "clear" and again["last_alert"]["kind"] == "recovered"
    missing = key_client("read_sentiment")("get", "/api/conversations/999999/")
    assert missing.status_code == 404 and error_code(missing) == "not_found"


@pytest.mark.django_db
def test_the_message_list_carries_per_message_sentiment_only_for_read_sentiment_keys():
    conversation = ConversationFactory(last_seq=2)
    MessageFactory(
        conversation=conversation,
        seq=1,
        scoring_status=ScoringStatus.SCORED,
        sentiment_score=-0.8,
        sentiment_level=-3,
        confidence=0.9,
        language="es",
    )
    MessageFactory(
        conversation=conversation, seq=2, sender=Sender.BOT, scoring_status=ScoringStatus.NOT_APPLICABLE
    )
    url = f"/api/conversations/{conversation.pk}/messages/"
    with_sentiment = key_client("read_sentiment")("get", url).json()["messages"]
    assert with_sentiment[0]["sentiment"] == {
        "score": -0.8,
        "level": "very_negative",
        "level_value": -3,
        "label": "Very negative",
        "confidence": 0.9,
        "language": "es",
    }
    assert with_sentiment[0]["scoring_status"] == "scored"
    assert with_sentiment[1]["sentiment"] is None and with_sentiment[1]["scoring_status"] == "n/a"
    plain = key_client("ingest")("get", url).json()["messages"]
    assert "sentiment" not in plain[0] and "scoring_status" not in plain[0]


@pytest.mark.django_db
def test_last_seq_is_a_cursor_that_never_runs_past_the_conversation():
    conversation = ConversationFactory(last_seq=3)
    for seq in (1, 2, 3):
        MessageFactory(conversation=conversation, seq=seq)
    call = key_client("ingest")
    url = f"/api/conversations/{conversation.pk}/messages/"
    assert call("get", f"{url}?after_seq=1000").json()["last_seq"] == 3
    assert call("get", f"{url}?after_seq=3").json() == {
        "conversation": conversation.pk,
        "messages": [],
        "last_seq": 3,
        "more": False,
    }
    assert call("get", f"{url}?after_seq=1").json()["last_seq"] == 3
    negative = call("get", f"{url}?after_seq=-1")
    assert negative.status_code == 400 and error_code(negative) == "invalid"


# --- idempotency ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_a_conversation_twice_with_one_external_id_returns_the_first():
    QueueFactory(name="Billing")
    call = key_client("ingest")
    body = {"queue": "Billing", "customer": {"name": "Ana"}, "external_id": "cw-1001"}
    first, again = call("post", "/api/conversations/", body), call("post", "/api/conversations/", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert first.json()["id"] == again.json()["id"] and first.json()["external_id"] == "cw-1001"
    assert Conversation.objects.filter(external_id="cw-1001").count() == 1
    too_long = call("post", "/api/conversations/", {**body, "external_id": "x" * 101})
    assert too_long.status_code == 400 and error_code(too_long) == "invalid"


@pytest.mark.django_db
def test_replies_are_idempotent_by_client_id_and_a_reused_id_with_new_text_is_a_conflict():
    rep = RepresentativeFactory()
    conversation = ConversationFactory(representative=rep)
    call = key_client("ingest")
    url = f"/api/conversations/{conversation.pk}"
    first = call("post", f"{url}/replies/", {"text": "On its way.", "client_id": "r-1"})
    retry = call("post", f"{url}/replies/", {"text": "On its way.", "client_id": "r-1"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["seq"] == retry.json()["seq"] == 1 and retry.json()["replayed"] is True
    assert first.json()["author"] == rep.display_name and first.json()["sender"] == "representative"
    conflict = call("post", f"{url}/replies/", {"text": "Something else.", "client_id": "r-1"})
    assert conflict.status_code == 409 and error_code(conflict) == "client_id_conflict"
    call("post", f"{url}/messages/", {"text": "Thanks", "client_id": "m-1"})
    message_conflict = call("post", f"{url}/messages/", {"text": "Thanks!!", "client_id": "m-1"})
    assert message_conflict.status_code == 409 and error_code(message_conflict) == "client_id_conflict"
    assert Message.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db
def test_a_rest_reply_is_authored_by_the_conversations_representative_only():
    rep, other = RepresentativeFactory(), RepresentativeFactory()
    conversation = ConversationFactory(representative=rep)
    unassigned = ConversationFactory(representative=None, status=ConversationStatus.OPEN)
    call = key_client("ingest")
    impostor = call(
        "post", f"/api/conversations/{conversation.pk}/replies/", {"text": "hi", "representative": other.pk}
    )
    assert impostor.status_code == 400 and error_code(impostor) == "invalid_representative"
    named = call(
        "post", f"/api/conversations/{conversation.pk}/replies/", {"text": "hi", "representative": rep.pk}
    )
    assert named.status_code == 201 and named.json()["author"] == rep.display_name
    nobody = call("post", f"/api/conversations/{unassigned.pk}/replies/", {"text": "hello"})
    assert nobody.status_code == 201 and nobody.json()["author"] == ""  # unassigned: no author
    bot = call(
        "post",
        f"/api/conversations/{conversation.pk}/replies/",
        {"text": "beep", "sender": "bot", "representative": rep.pk},
    )
    assert bot.status_code == 400 and error_code(bot) == "invalid"


# --- never HTML ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_endpoints_without_csrf_answer_json_401_or_403_never_html():
    conversation = ConversationFactory()
    anonymous = Client(enforce_csrf_checks=True).post(f"/api/conversations/{conversation.pk}/close/")
    assert anonymous.status_code == 401 and error_code(anonymous) == "unauthenticated"
    sup = SupervisorFactory(queues=[conversation.queue])
    client = Client(enforce_csrf_checks=True)
    client.force_login(sup.user)
    for path in (f"/api/conversations/{conversation.pk}/close/", "/api/presence/"):
        refused = client.post(path, data="{}", content_type="application/json")
        assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
    assert Conversation.objects.get(pk=conversation.pk).status != ConversationStatus.CLOSED
    wrong_method = key_client("ingest")("get", "/api/conversations/")
    assert wrong_method.status_code == 405 and error_code(wrong_method) == "method_not_allowed"
    assert wrong_method["Allow"] == "POST"
    nowhere = key_client("ingest")("post", "/api/nowhere/", {})
    assert nowhere.status_code == 404 and error_code(nowhere) == "not_found"


@pytest.mark.django_db
def test_a_proxys_basic_credentials_do_not_turn_a_staff_request_into_a_key_request():
    conversation = ConversationFactory()
    sup = SupervisorFactory(queues=[conversation.queue])
    client = Client()
    client.force_login(sup.user)
    closed = client.post(
        f"/api/conversations/{conversation.pk}/close/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
