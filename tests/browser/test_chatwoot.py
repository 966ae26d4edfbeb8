"""The Chatwoot adapter in Chromium against a real Daphne, with a real HTTP server in the test
process playing Chatwoot's API (``tests/insights/chatwoot/fake_chatwoot.py``; the test
settings allow its 127.0.0.1 address):

- an admin sets a connection up on Insights → Integrations → Chatwoot, sees the webhook URL
  to paste into Chatwoot and checks the connection;
- a Chatwoot webhook with an angry Spanish customer message leads to a live alert in the
  representative's workspace, a notification on the supervisor's Ongoing page, and a
  ``sentiment-negative`` label call to Chatwoot's API.
"""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_live_views import row, tab
from tests.insights.chatwoot import payloads as cw
from tests.insights.chatwoot.fake_chatwoot import FakeChatwoot

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def fake():
    server = FakeChatwoot()
    yield server
    server.close()


def test_an_admin_sets_up_a_chatwoot_connection_and_sees_the_webhook_url(actors, fake):
    fake.token = "cw-browser-token"
    admin = actors.staff("admin", "/insights/integrations/")
    admin.get_by_role("link", name="Chatwoot").click()
    name = f"Helpdesk {secrets.token_hex(3)}"
    admin.get_by_label("Name", exact=True).fill(name)
    admin.get_by_label("Chatwoot base URL").fill(fake.url)
    admin.get_by_label("Account id").fill("7")
    admin.get_by_label("API access token").fill("cw-browser-token")
    admin.get_by_label("Default queue").select_option(label="Billing")
    admin.get_by_label("Chatwoot inbox id, row 1").fill("3")
    admin.get_by_label("Queue, row 1").first.select_option(label="Technical support")
    admin.get_by_role("button", name="Save connection").click()

    expect(admin.locator(".flash")).to_contain_text("Paste its webhook URL into Chatwoot")
    expect(admin.get_by_role("heading", level=1)).to_contain_text(name)
    webhook_url = admin.locator("#chatwoot-webhook-url")
    expect(webhook_url).to_have_text(
        re.compile(r"^http://127\.0\.0\.1:\d+/integrations/chatwoot/[\w-]{20,}/$")
    )
    expect(admin.locator("body")).not_to_contain_text("cw-browser-token")  # write-only
    expect(admin.locator(".audit-log")).to_contain_text("inbox 3 → Technical support")

    admin.get_by_role("button", name="Check connection").click()
    expect(admin.locator("#check-result")).to_contain_text("Token: OK.")
    expect(admin.locator("#check-result")).to_contain_text("Website")
    # Chatwoot's webhook URL answers: an unknown event is recorded and shown on the page.
    assert httpx.post(webhook_url.inner_text(), json={"event": "webwidget_triggered"}).status_code == 200
    admin.reload()
    expect(admin.locator("#chatwoot-inbound")).to_contain_text("ignored: webwidget_triggered")


def test_an_angry_spanish_chatwoot_message_alerts_live_and_labels_the_chatwoot_conversation(
    scored, actors, server, fake
):
    secret = server.orm(
        "from conversations.models import Queue\n"
        "from insights.chatwoot.models import ChatwootConnection\n"
        "c = ChatwootConnection.objects.create(name='Browser e2e', base_url='" + fake.url + "',"
        " account_id=7, api_access_token='cw-token', default_queue=Queue.objects.get(name='Billing'))\n"
        "print(c.endpoint_secret)"
    ).splitlines()[-1]
    rep = actors.staff("rita", "/workspace/")
    sam = actors.staff("sam", "/ongoing/")
    customer = f"Lucía {secrets.token_hex(3)}"
    conv_id = 40_000 + secrets.randbelow(50_000)
    agent = {**cw.AGENT, "email": "rita@example.com", "name": "Rita Rep"}
    created = cw.conversation_event("conversation_created", conv_id, assignee=agent)
    contact = {**cw.CONTACT, "id": conv_id, "name": customer, "email": f"{conv_id}@example.com"}
    created["meta"]["sender"] = dict(contact)
    message = cw.message(conv_id * 10, cw.ANGRY_ES, conv_id=conv_id, assignee=agent, sender=contact)
    message["conversation"]["meta"]["sender"] = dict(contact)
    url = f"{server.url}/integrations/chatwoot/{secret}/"

    # Rita is the assignee (queue routing may have given it to her already: "up to date").
    assert httpx.post(url, json=created, timeout=10).json()["outcome"] in (
        "assigned to Rita Rep",
        "up to date",
    )
    expect(tab(rep, customer)).to_be_visible(timeout=5_000)
    expect(row(sam, customer)).to_be_visible(timeout=5_000)
    assert httpx.post(url, json=message, timeout=10).json()["outcome"] == "stored as seq 1 (customer)"

    tab(rep, customer).click()
    expect(rep.locator(".session-panel:not([hidden]) .panel-alert")).to_contain_text("Alert", timeout=10_000)
    expect(sam.locator(".toast", has_text=customer)).to_be_visible(timeout=10_000)  # Ongoing page

    deadline = time.monotonic() + 30  # the outbox sender runs in its own thread
    labelled = []
    while time.monotonic() < deadline and not labelled:
        labelled = [
            body
            for method, path, body, _h in fake.calls
            if method == "POST" and path == f"/api/v1/accounts/7/conversations/{conv_id}/labels"
        ]
        time.sleep(0.1)
    assert labelled, fake.calls
    # sentiment-negative, or sentiment-very-negative when the model puts it at Very negative.
    assert {"sentiment-negative", "sentiment-very-negative"} & set(labelled[-1]["labels"])
