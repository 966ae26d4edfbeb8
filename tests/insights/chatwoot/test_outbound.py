"""The center → Chatwoot: on a crossing or a recovery, a label, a custom attribute and
(optionally) a private note, through a stored outbox with retries. Against a real HTTP server."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from conversations.services.ingest import message_ingest
from insights.chatwoot.models import CallStatus, ChatwootCall, ChatwootConnection
from insights.chatwoot.services.outbound import chatwoot_outbox_send_due
from insights.pipeline.claim import scoring_claim
from insights.pipeline.store import scoring_results_store
from tests.conversations.factories import ConversationFactory, QueueFactory
from tests.insights.chatwoot.fake_chatwoot import FakeChatwoot, outbox_sender_join
from tests.insights.standin_scorer import result_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    server = FakeChatwoot()
    yield server
    server.close()


@pytest.fixture
def connection(fake):
    return ChatwootConnection.objects.create(
        base_url=fake.url,
        account_id=7,
        api_access_token="cw-token",
        default_queue=QueueFactory(name="Web"),
        private_notes=True,
    )


def score(conversation, text: str) -> None:
    message = message_ingest(conversation=conversation, text=text)
    jobs, _ = scoring_claim([message.pk])
    scoring_results_store([(j.message_id, result_for(text)) for j in jobs])


def chatwoot_conversation(connection, chatwoot_id: int = 42, **kwargs):
    return ConversationFactory(
        queue=connection.default_queue, external_id=f"chatwoot-{connection.pk}-{chatwoot_id}", **kwargs
    )


def send_now(fake) -> int:
    with httpx.Client(timeout=2) as client:
        return chatwoot_outbox_send_due(client=client)


def test_a_crossing_labels_the_chatwoot_conversation_sets_its_level_and_notes_why(
    fake, connection, monkeypatch
):
    monkeypatch.setattr(
        "insights.chatwoot.services.outbound.chatwoot_outbox_kick", lambda: None
    )  # sent by the test
    fake.labels[42] = ["billing"]
    conversation = chatwoot_conversation(connection)
    score(conversation, "level:-3")
    kinds = sorted(ChatwootCall.objects.values_list("kind", flat=True))
    assert kinds == ["custom_attributes", "labels", "private_note"]  # once, though two audiences crossed
    assert send_now(fake) == 3
    assert fake.labels[42] == ["billing", "sentiment-very-negative"]
    posted = {path.rsplit("/", 1)[1]: body for method, path, body, _h in fake.calls if method == "POST"}
    assert posted["custom_attributes"] == {"custom_attributes": {"sentiment_level": "very_negative"}}
    assert posted["messages"]["private"] is True and "#1 (Very negative)" in posted["messages"]["content"]
    assert all(h.get("api_access_token") == "cw-token" for _m, _p, _b, h in fake.calls)

    score(conversation, "level:3")  # recovery
    score(conversation, "level:3")
    send_now(fake)
    assert fake.labels[42] == ["billing"]
    assert ChatwootCall.objects.filter(status=CallStatus.SENT).count() == ChatwootCall.objects.count()


def test_a_chatwoot_that_is_down_loses_nothing(fake, connection, monkeypatch):
    monkeypatch.setattr("insights.chatwoot.services.outbound.chatwoot_outbox_kick", lambda: None)
    conversation = chatwoot_conversation(connection)
    score(conversation, "level:-2")
    fake.fail_with = 500
    assert send_now(fake) == 0
    pending = list(ChatwootCall.objects.all())
    assert all(c.status == CallStatus.PENDING and c.attempts == 1 for c in pending)
    assert all(c.next_attempt_at > timezone.now() for c in pending)  # backed off
    assert send_now(fake) == 0  # not due yet: nothing tried
    assert all(c.attempts == 1 for c in ChatwootCall.objects.all())
    fake.fail_with = None
    ChatwootCall.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert send_now(fake) == len(pending)
    assert fake.labels[42] == ["sentiment-negative"]


def test_a_timeout_is_recorded_and_retried(fake, connection, monkeypatch):
    monkeypatch.setattr("insights.chatwoot.services.outbound.chatwoot_outbox_kick", lambda: None)
    score(chatwoot_conversation(connection), "level:-2")
    fake.hang_seconds = 3
    with httpx.Client(timeout=0.3) as client:
        assert chatwoot_outbox_send_due(client=client) == 0
    call = ChatwootCall.objects.filter(kind="custom_attributes").get()
    assert call.status == CallStatus.PENDING and "Timeout" in call.last_error


def test_a_call_to_a_private_address_is_refused_before_it_is_sent_and_not_retried(
    fake, connection, monkeypatch, settings
):
    monkeypatch.setattr("insights.chatwoot.services.outbound.chatwoot_outbox_kick", lambda: None)
    score(chatwoot_conversation(connection), "level:-2")
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # the fake runs on 127.0.0.1
    assert send_now(fake) == 0
    assert fake.calls == []
    calls = list(ChatwootCall.objects.all())
    # Given up at the first attempt, as a refused webhook is: the same address cannot pass later.
    assert calls and all(c.status == CallStatus.FAILED and c.attempts == 1 for c in calls)
    assert all("private, loopback" in c.last_error for c in calls)


def test_a_chatwoot_host_that_does_not_resolve_is_retried(connection, monkeypatch, settings):
    monkeypatch.setattr("insights.chatwoot.services.outbound.chatwoot_outbox_kick", lambda: None)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # else the address is never looked up
    connection.base_url = "http://chatwoot.invalid"  # .invalid never resolves (RFC 6761)
    connection.save()
    score(chatwoot_conversation(connection), "level:-2")
    with httpx.Client(timeout=2) as client:
        assert chatwoot_outbox_send_due(client=client) == 0
    calls = list(ChatwootCall.objects.all())
    assert calls and all(c.status == CallStatus.PENDING and c.attempts == 1 for c in calls)
    assert all(c.next_attempt_at > timezone.now() for c in calls)


def test_conversations_not_from_chatwoot_and_opted_out_ones_send_nothing(fake, connection):
    score(ConversationFactory(), "level:-3")
    score(chatwoot_conversation(connection, 77, scoring_opt_out=True), "level:-3")
    assert not ChatwootCall.objects.exists()


def test_chatwoot_check_verifies_the_token_and_maps_inboxes_teams_and_agents(fake, connection):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.conversations.factories import RepresentativeFactory

    vip = QueueFactory(name="VIP")
    connection.team_queues = {"12": vip.pk}
    connection.save()
    rep = RepresentativeFactory(user__email="ana@example.com")
    fake.token = "cw-token"
    out = StringIO()
    call_command("chatwoot_check", stdout=out)
    text = out.getvalue()
    assert "token: OK" in text
    assert "inbox 3 'Website' → queue Web" in text and "team 12 'VIP' → queue VIP" in text
    assert f"agent 31 Ana Agent <ana@example.com> → {rep.display_name}" in text
    assert "agent 99 Temp Agent <temp@elsewhere.example> → no staff member with this e-mail" in text
    fake.token = "another"
    with pytest.raises(CommandError):
        call_command("chatwoot_check", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_pending_call_left_behind_is_sent_when_chatwoot_next_delivers(fake, connection):
    import json
    import time

    from django.test import Client

    from tests.insights.chatwoot import payloads as cw

    ChatwootCall.objects.create(
        connection=connection,
        chatwoot_conversation=42,
        kind="custom_attributes",
        payload={"custom_attributes": {"sentiment_level": "negative"}},
        next_attempt_at=timezone.now(),
    )
    Client().post(
        f"/integrations/chatwoot/{connection.endpoint_secret}/",
        data=json.dumps(cw.message(1, "hola")),
        content_type="application/json",
    )
    deadline = time.monotonic() + 30
    while ChatwootCall.objects.filter(status=CallStatus.PENDING).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    outbox_sender_join()
    assert ChatwootCall.objects.get().status == CallStatus.SENT
    assert any(path.endswith("/conversations/42/custom_attributes") for _m, path, _b, _h in fake.calls)
