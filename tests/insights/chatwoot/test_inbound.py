"""Chatwoot → the center: every event and message type of the inbound webhook."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from conversations.models import Conversation, ConversationStatus, Message, Presence, ScoringStatus, Sender
from insights.chatwoot.models import ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent
from tests.conversations.factories import QueueFactory, RepresentativeFactory
from tests.insights.chatwoot import payloads as cw

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    default, billing, vip = QueueFactory(name="Web"), QueueFactory(name="Billing"), QueueFactory(name="VIP")
    connection = ChatwootConnection.objects.create(
        base_url="http://chatwoot.invalid",
        account_id=7,
        api_access_token="t",
        default_queue=default,
        inbox_queues={"3": billing.pk},
        team_queues={"12": vip.pk},
    )
    # Away: the center's own queue routing does not pick them, so assignments come from Chatwoot.
    rep = RepresentativeFactory(queues=[billing, vip], user__email="ANA@example.com", presence=Presence.AWAY)
    return {"connection": connection, "default": default, "billing": billing, "vip": vip, "rep": rep}


def deliver(setup, body: dict, *, secret: str | None = None):
    url = f"/integrations/chatwoot/{secret or setup['connection'].endpoint_secret}/"
    return Client(enforce_csrf_checks=True).post(url, data=json.dumps(body), content_type="application/json")


def outcome(response) -> str:
    assert response.status_code == 200, response.content
    return response.json()["outcome"]


def the_conversation(conv_id: int = 42) -> Conversation:
    return Conversation.objects.get(external_id__endswith=f"-{conv_id}", external_id__startswith="chatwoot-")


def test_a_request_without_the_connections_secret_is_a_404(setup):
    for secret in ("nope", "x" * 32):
        response = deliver(setup, cw.message(1, "hola"), secret=secret)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    setup["connection"].active = False
    setup["connection"].save()
    assert deliver(setup, cw.message(1, "hola")).status_code == 404
    assert not Message.objects.exists()


def test_a_new_conversation_lands_in_its_inboxs_queue_with_its_assignee(setup):
    assert (
        outcome(deliver(setup, cw.conversation_event("conversation_created", assignee=cw.AGENT)))
        == "assigned to " + setup["rep"].display_name
    )
    conversation = the_conversation()
    assert conversation.queue == setup["billing"] and conversation.representative == setup["rep"]
    assert conversation.customer.name == "Lucía Pérez" and conversation.customer.email == "lucia@example.com"
    assert conversation.channel == "chat"
    assert deliver(setup, cw.conversation_event("conversation_created", assignee=cw.AGENT)).status_code == 200
    assert Conversation.objects.count() == 1  # a duplicate delivery creates nothing


def test_an_unknown_inbox_goes_to_the_default_queue_and_an_unknown_agent_is_listed(setup):
    body = cw.conversation_event("conversation_created", conv_id=43, inbox_id=404, assignee=cw.STRANGER)
    assert outcome(deliver(setup, body)) == "unknown agent recorded"
    conversation = the_conversation(43)
    assert conversation.queue == setup["default"] and conversation.representative is None
    agent = ChatwootUnknownAgent.objects.get()
    assert (agent.agent_id, agent.email, agent.name) == (99, "temp@elsewhere.example", "Temp Agent")


def test_an_incoming_message_is_stored_for_scoring_once_however_often_it_is_delivered(setup):
    first = outcome(deliver(setup, cw.message(9001, cw.ANGRY_ES)))
    again = outcome(deliver(setup, cw.message(9001, cw.ANGRY_ES)))
    assert first == "stored as seq 1 (customer)" and again == "duplicate of seq 1"
    stored = Message.objects.get()
    assert stored.sender == Sender.CUSTOMER and stored.client_id == "cw-9001"
    assert stored.scoring_status == ScoringStatus.PENDING and stored.text == cw.ANGRY_ES


def test_an_agents_outgoing_message_is_a_reply_and_notes_bots_templates_and_attachments_are_ignored(setup):
    deliver(setup, cw.conversation_event("conversation_created", assignee=cw.AGENT))
    assert (
        outcome(
            deliver(
                setup, cw.message(1, "Lo siento, lo reviso ahora.", message_type="outgoing", sender=cw.AGENT)
            )
        )
        == "stored as seq 1 (reply)"
    )
    reply = Message.objects.get()
    assert reply.sender == Sender.REPRESENTATIVE and reply.author == setup["rep"]
    ignored = {
        "private note": cw.message(
            2, "internal: refund approved", message_type="outgoing", private=True, sender=cw.AGENT
        ),
        "bot": cw.message(
            3, "I am a bot", message_type="outgoing", sender={"id": 5, "name": "Bot", "type": "agent_bot"}
        ),
        "automation": cw.message(4, "Auto reply", message_type="outgoing", sender={}),
        "template": cw.message(5, "Rate us", message_type="template"),
        "activity": cw.message(6, "Conversation was assigned", message_type="activity"),
        "attachments only": cw.message(
            7, None, attachments=[{"id": 1, "file_type": "image", "data_url": "http://x/y.png"}]
        ),
        "empty text": cw.message(8, "   "),
        "edited": cw.message(
            1, "Lo siento, corregido.", message_type="outgoing", sender=cw.AGENT, event="message_updated"
        ),
    }
    for name, body in ignored.items():
        assert outcome(deliver(setup, body)).startswith("ignored"), name
    assert Message.objects.count() == 1 and Message.objects.get().text == "Lo siento, lo reviso ahora."


def test_events_out_of_order_make_one_conversation(setup):
    assert outcome(deliver(setup, cw.message(10, "¿Hola?"))) == "stored as seq 1 (customer)"
    deliver(setup, cw.conversation_event("conversation_created", assignee=cw.AGENT))
    conversation = the_conversation()
    assert Conversation.objects.count() == 1 and conversation.representative == setup["rep"]
    assert conversation.messages.count() == 1


def test_a_team_change_is_a_transfer_and_resolved_closes(setup):
    deliver(setup, cw.conversation_event("conversation_created", assignee=cw.AGENT))
    moved = outcome(
        deliver(
            setup,
            cw.conversation_event("conversation_updated", assignee=cw.AGENT, team={"id": 12, "name": "VIP"}),
        )
    )
    assert moved.startswith("transferred to VIP")
    conversation = the_conversation()
    assert conversation.queue == setup["vip"] and conversation.representative == setup["rep"]
    assert (
        outcome(deliver(setup, cw.conversation_event("conversation_status_changed", status="resolved")))
        == "closed"
    )
    assert the_conversation().status == ConversationStatus.CLOSED
    late = outcome(deliver(setup, cw.message(11, "una cosa más")))
    assert late == "not stored: conversation_closed"
    assert ChatwootDelivery.objects.filter(event="conversation_status_changed", outcome="closed").exists()


def test_a_non_json_body_is_a_400_and_an_unknown_event_is_recorded_as_ignored(setup):
    url = f"/integrations/chatwoot/{setup['connection'].endpoint_secret}/"
    assert Client().post(url, data="[1,", content_type="application/json").status_code == 400
    assert outcome(deliver(setup, {"event": "webwidget_triggered"})) == "ignored: webwidget_triggered"


def test_each_connection_keeps_only_its_newest_deliveries(setup, monkeypatch):
    monkeypatch.setattr("insights.chatwoot.services.inbound.DELIVERIES_KEPT", 3)
    monkeypatch.setattr("insights.chatwoot.services.inbound.DELIVERIES_TRIM_STEP", 1)  # every delivery
    other = ChatwootConnection.objects.create(
        base_url="http://other.invalid", account_id=8, api_access_token="t", default_queue=setup["default"]
    )
    ChatwootDelivery.objects.bulk_create(
        ChatwootDelivery(connection=other, event=f"other_{n}", outcome="up to date") for n in range(5)
    )
    for n in range(5):
        deliver(setup, {"event": f"event_{n}"})
    kept = ChatwootDelivery.objects.filter(connection=setup["connection"])
    assert [d.event for d in kept] == ["event_4", "event_3", "event_2"]  # newest first, as the page shows
    # Another connection's are trimmed too, to its own newest three.
    assert [d.event for d in ChatwootDelivery.objects.filter(connection=other)] == [
        "other_4",
        "other_3",
        "other_2",
    ]


def test_deliveries_are_trimmed_every_step_not_on_each(setup, monkeypatch):
    monkeypatch.setattr("insights.chatwoot.services.inbound.DELIVERIES_KEPT", 2)
    monkeypatch.setattr("insights.chatwoot.services.inbound.DELIVERIES_TRIM_STEP", 4)
    ChatwootDelivery.objects.bulk_create(
        ChatwootDelivery(connection=setup["connection"], event="earlier", outcome="up to date")
        for _ in range(2)
    )
    counts = []
    for n in range(8):
        deliver(setup, {"event": f"event_{n}"})
        counts.append(ChatwootDelivery.objects.count())
    assert counts.count(2) == 2  # trimmed back to 2 twice in 8 deliveries, by the 4th id each time
    assert max(counts) < 2 + 4
