"""The Chatwoot setup pages (Insights → Integrations → Chatwoot): admins add and change a
connection with its queue maps, every change audited, the token write-only, the base URL under
the webhook address rule; the page shows the webhook URL, checks the connection against a real
HTTP server, and lists unknown agents and the last deliveries each way."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from insights.chatwoot.models import (
    CallStatus,
    ChatwootCall,
    ChatwootConnection,
    ChatwootDelivery,
    ChatwootUnknownAgent,
)
from insights.models import SettingsAuditEntry
from tests.conversations.factories import AdminFactory, QueueFactory, RepresentativeFactory, SupervisorFactory
from tests.insights.chatwoot.fake_chatwoot import FakeChatwoot

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    server = FakeChatwoot()
    yield server
    server.close()


def _rows(prefix: str, rows: list[tuple], total: int | None = None) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(total or len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        chatwoot_id, queue = row[0], row[1]
        data[f"{prefix}-{i}-chatwoot_id"] = "" if chatwoot_id is None else str(chatwoot_id)
        data[f"{prefix}-{i}-queue"] = "" if queue is None else str(queue)
        if len(row) > 2 and row[2]:
            data[f"{prefix}-{i}-DELETE"] = "on"
    return data


def _form(queue, *, inboxes=(), teams=(), **overrides) -> dict:
    data = {
        "name": "Support desk",
        "base_url": "https://chat.example.com",
        "account_id": "7",
        "api_access_token": "cw-secret-token",
        "default_queue": str(queue.pk),
        "active": "on",
    }
    data.update(_rows("inbox", list(inboxes)))
    data.update(_rows("team", list(teams)))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_an_admin_adds_a_connection_with_its_queue_maps_and_sees_its_webhook_url(login):
    web, billing, vip = QueueFactory(name="Web"), QueueFactory(name="Billing"), QueueFactory(name="VIP")
    client = login(AdminFactory())

    response = client.post(
        reverse("chatwoot:setup"),
        _form(web, inboxes=[(3, billing.pk), (None, None)], teams=[(12, vip.pk)]),
    )

    connection = ChatwootConnection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("chatwoot:connection", args=[connection.pk])
    assert (connection.base_url, connection.account_id, connection.api_access_token) == (
        "https://chat.example.com",
        7,
        "cw-secret-token",
    )
    assert connection.inbox_queues == {"3": billing.pk} and connection.team_queues == {"12": vip.pk}
    body = client.get(response["Location"]).content.decode()
    assert f"http://testserver/integrations/chatwoot/{connection.endpoint_secret}/" in body
    assert "cw-secret-token" not in body


def test_every_change_is_audited_and_the_token_never_shown(login):
    web, billing = QueueFactory(name="Web"), QueueFactory(name="Billing")
    admin = AdminFactory()
    client = login(admin)
    client.post(reverse("chatwoot:setup"), _form(web))
    connection = ChatwootConnection.objects.get()
    SettingsAuditEntry.objects.all().delete()

    client.post(
        reverse("chatwoot:connection", args=[connection.pk]),
        _form(web, inboxes=[(3, billing.pk)], account_id="8", api_access_token="new-token"),
    )

    entries = {
        e.field: (e.old_value, e.new_value, e.actor_id, e.scope) for e in SettingsAuditEntry.objects.all()
    }
    scope = f"Chatwoot connection {connection.pk}"
    assert entries == {
        "account id": ("7", "8", admin.user.pk, scope),
        "inbox queues": ("(none)", "inbox 3 → Billing", admin.user.pk, scope),
        "access token": ("(set)", "(changed)", admin.user.pk, scope),
    }
    body = client.get(reverse("chatwoot:connection", args=[connection.pk])).content.decode()
    assert "new-token" not in body and "cw-secret-token" not in body
    assert "inbox 3 → Billing" in body  # the change history on the page


def test_a_blank_token_keeps_the_current_one_and_an_unchanged_form_audits_nothing(login):
    web = QueueFactory(name="Web")
    client = login(AdminFactory())
    client.post(reverse("chatwoot:setup"), _form(web))
    connection = ChatwootConnection.objects.get()
    before = SettingsAuditEntry.objects.count()

    response = client.post(
        reverse("chatwoot:connection", args=[connection.pk]), _form(web, api_access_token="")
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.api_access_token == "cw-secret-token"
    assert SettingsAuditEntry.objects.count() == before


def test_a_new_connection_needs_a_token(login):
    response = login(AdminFactory()).post(
        reverse("chatwoot:setup"), _form(QueueFactory(), api_access_token="")
    )
    assert response.status_code == 400
    assert not ChatwootConnection.objects.exists()


@pytest.mark.parametrize(
    "inboxes, message",
    [
        ([(3, None)], "Give both the Chatwoot id and the queue, or neither."),
        ([(3, "__queue__"), (3, "__queue__")], "Chatwoot id 3 is mapped twice."),
        ([("0", "__queue__")], "Ensure this value is greater than or equal to 1."),
    ],
)
def test_invalid_map_rows_are_refused_in_place_and_nothing_is_saved(login, inboxes, message):
    queue = QueueFactory(name="Web")
    rows = [(i, queue.pk if q == "__queue__" else q) for i, q in inboxes]
    response = login(AdminFactory()).post(reverse("chatwoot:setup"), _form(queue, inboxes=rows))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ChatwootConnection.objects.exists()
    assert not SettingsAuditEntry.objects.exists()


def test_a_removed_map_row_is_dropped(login):
    web, billing = QueueFactory(name="Web"), QueueFactory(name="Billing")
    client = login(AdminFactory())
    client.post(reverse("chatwoot:setup"), _form(web, inboxes=[(3, billing.pk), (4, web.pk)]))
    connection = ChatwootConnection.objects.get()

    client.post(
        reverse("chatwoot:connection", args=[connection.pk]),
        _form(web, inboxes=[(3, billing.pk, True), (4, web.pk)]),
    )

    connection.refresh_from_db()
    assert connection.inbox_queues == {"4": web.pk}


def test_a_private_base_url_is_refused_unless_private_addresses_are_allowed(login, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    queue = QueueFactory()
    client = login(AdminFactory())

    response = client.post(reverse("chatwoot:setup"), _form(queue, base_url="http://127.0.0.1:3000"))

    assert response.status_code == 400
    assert "private, loopback, link-local or metadata address" in response.content.decode()
    assert not ChatwootConnection.objects.exists()
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    client.post(reverse("chatwoot:setup"), _form(queue, base_url="http://127.0.0.1:3000"))
    assert ChatwootConnection.objects.get().base_url == "http://127.0.0.1:3000"


def _connection(fake, **kwargs) -> ChatwootConnection:
    return ChatwootConnection.objects.create(
        base_url=fake.url,
        account_id=7,
        api_access_token="cw-token",
        default_queue=QueueFactory(name="Web"),
        **kwargs,
    )


def test_check_connection_lists_inboxes_teams_and_agents_with_their_mapping(login, fake):
    ana = RepresentativeFactory(user__email="ana@example.com")
    fake.token = "cw-token"
    vip = QueueFactory(name="VIP")
    connection = _connection(fake, team_queues={"12": vip.pk})

    response = login(AdminFactory()).post(reverse("chatwoot:check", args=[connection.pk]))

    body = response.content.decode()
    assert response.status_code == 200 and "Token: OK." in body
    assert "Website" in body and "WhatsApp" in body
    assert re.search(r"<td>team</td><td>12</td><td>VIP</td><td>VIP</td>", body)
    assert f"<td>ana@example.com</td><td>{ana.display_name}</td>" in body
    assert "<td>temp@elsewhere.example</td><td>no staff member with this e-mail</td>" in body
    assert [path for _m, path, _b, _h in fake.calls] == [
        "/api/v1/accounts/7/inboxes",
        "/api/v1/accounts/7/teams",
        "/api/v1/accounts/7/agents",
    ]


def test_check_connection_says_when_the_token_is_refused(login, fake):
    fake.token = "another-token"
    connection = _connection(fake)
    body = login(AdminFactory()).post(reverse("chatwoot:check", args=[connection.pk])).content.decode()
    assert "Check failed:" in body and "the access token was refused (HTTP 401)" in body


def test_check_connection_refuses_a_private_address_before_calling(login, fake, settings):
    connection = _connection(fake)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    body = login(AdminFactory()).post(reverse("chatwoot:check", args=[connection.pk])).content.decode()
    assert "Check failed:" in body and "private, loopback" in body
    assert fake.calls == []


def test_the_page_shows_unknown_agents_and_the_last_deliveries_each_way(login, fake):
    connection = _connection(fake)
    ChatwootDelivery.objects.create(
        connection=connection, event="message_created", outcome="stored as seq 1 (customer)"
    )
    ChatwootUnknownAgent.objects.create(
        connection=connection, agent_id=9, email="temp@x.example", name="Temp"
    )
    ChatwootCall.objects.create(
        connection=connection,
        chatwoot_conversation=42,
        kind="labels",
        payload={"add": ["sentiment-negative"], "remove": []},
        status=CallStatus.FAILED,
        attempts=7,
        last_status_code=500,
        last_error="HTTP 500",
        next_attempt_at="2026-01-01T00:00:00Z",
    )
    body = login(AdminFactory()).get(reverse("chatwoot:connection", args=[connection.pk])).content.decode()
    assert "stored as seq 1 (customer)" in body and "temp@x.example" in body
    assert "<code>labels</code>" in body and "failed (HTTP 500)" in body
    assert "cw-token" not in body


@pytest.mark.parametrize("factory", [RepresentativeFactory, SupervisorFactory])
def test_representatives_and_supervisors_cannot_open_or_change_the_setup(login, fake, factory):
    connection = _connection(fake)
    client = login(factory())
    assert client.get(reverse("chatwoot:setup")).status_code == 403
    assert client.post(reverse("chatwoot:setup"), _form(connection.default_queue)).status_code == 403
    assert client.get(reverse("chatwoot:connection", args=[connection.pk])).status_code == 403
    assert client.post(reverse("chatwoot:check", args=[connection.pk])).status_code == 403
    assert fake.calls == [] and ChatwootConnection.objects.count() == 1
