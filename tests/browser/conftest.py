"""Browser tests: Playwright driving Debian's Chromium against a real Daphne.

Skipped (with the reason) when /usr/bin/chromium is missing; ``./run.sh test`` installs it.
"""

from __future__ import annotations

import os
import re
import secrets

import pytest

from tests.browser.server import CHROMIUM, LiveServer, launch_chromium

DEMO_PASSWORD = "demo1234"


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="package")
def live_server_proc():
    server = LiveServer().start()
    # Both thresholds at Slightly negative, so the flows do not hang on the model's calibration
    # of "Negative" for a given angry sentence.
    server.orm(
        "from django.contrib.auth import get_user_model\n"
        "from insights.services.settings import sentiment_settings_update\n"
        "sentiment_settings_update(actor=get_user_model().objects.get(username='admin'),"
        " representative_threshold=-1, supervisor_threshold=-1)\n"
        # Every flow starts chats with the same demo representatives and leaves them open: room
        # for all of them, so queue routing gives each new chat to the queue's representative.
        "from conversations.models import StaffMember\n"
        "StaffMember.objects.filter(role='representative').update(capacity=50)\n"
    )
    yield server
    server.stop()


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and pytest-asyncio cannot run the async tests after it until it stops.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def server(live_server_proc):
    return live_server_proc


@pytest.fixture(scope="package")
def scoring_ready(live_server_proc):
    """Warm the server's own scorer with one message (so the first timed message does not pay
    for loading the model) and say whether scoring works here ("ok" or the reason it does not)."""
    url = live_server_proc.url
    out = live_server_proc.orm(f"""
import time, httpx
from websockets.sync.client import connect
from conversations.models import Conversation, Message
from conversations.services.ingest import integration_token_create
_, key = integration_token_create(name="browser tests warm-up")
headers = {{"Authorization": "Bearer " + key}}
c = httpx.post("{url}/api/conversations/", json={{"queue": "Billing", "customer": {{"name": "Warm-up"}}}}, headers=headers).json()
with connect("ws" + "{url}"[4:] + c["chat_ws_path"], origin="{url}"):
    pass
httpx.post("{url}/api/conversations/%d/messages/" % c["id"], json={{"text": "Thank you, that was very helpful!"}}, headers=headers)
deadline = time.monotonic() + 120
status = "pending"
while time.monotonic() < deadline:
    status = Message.objects.get(conversation_id=c["id"], seq=1).scoring_status
    if status != "pending":
        break
    time.sleep(0.3)
Conversation.objects.filter(pk=c["id"]).update(status="closed")
print("ok" if status == "scored" else "unavailable: the warm-up message stayed " + status)
""")
    result = out.splitlines()[-1] if out else "unavailable"
    if result != "ok":
        reasons = [
            line for line in live_server_proc.log().splitlines() if "unavailable" in line or "missing" in line
        ]
        if reasons:
            result += " (" + reasons[-1][-200:] + ")"
    return result


@pytest.fixture
def scored(scoring_ready):
    if scoring_ready != "ok":
        pytest.skip(f"the sentiment model is not available here: {scoring_ready}")


class Actors:
    """Signed-in pages for the demo staff, and anonymous customer pages."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.contexts = []

    def _context(self):
        context = self.browser.new_context(base_url=self.server.url, viewport={"width": 1280, "height": 860})
        self.contexts.append(context)
        return context

    def staff(self, username: str, path: str, *, clock: bool = False):
        """A signed-in page at ``path``; with ``clock``, its timers run on Playwright's clock (the
        test moves time on with ``page.clock.fast_forward``)."""
        page = self._context().new_page()
        if clock:
            page.clock.install()
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name=re.compile("sign in|log in", re.I)).click()
        page.wait_for_load_state()
        page.goto(path)
        if page.locator("#conn-status").count():
            page.locator('#conn-status[data-state="live"]').wait_for(timeout=10_000)
        return page

    def customer(self, *, queue: str = "Billing", name: str | None = None):
        """Start a chat as a new customer; returns (page, customer name)."""
        name = name or f"Cliente {secrets.token_hex(3)}"
        page = self._context().new_page()
        page.goto("/chat/")
        page.get_by_label("Your name").fill(name)
        page.get_by_label("Topic").select_option(label=queue)
        page.get_by_role("button", name="Start chat").click()
        page.locator('#conn-status[data-state="live"]').wait_for(timeout=10_000)
        return page, name

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def actors(browser, server):
    a = Actors(browser, server)
    yield a
    a.close()


def say(page, text: str) -> None:
    """The customer types a message and sends it."""
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send").click()


def set_presence(page, presence: str) -> None:
    """Choose a presence and commit it with the Set button (the select alone commits nothing)."""
    page.get_by_label("Presence").select_option(presence)
    page.get_by_role("button", name="Set presence").click()


def team(server, *, rep_presence: str = "available") -> dict:
    """A queue of its own with a representative and a supervisor; names in the returned dict."""
    suffix = secrets.token_hex(3)
    names = {"queue": f"Keys {suffix}", "rep": f"kbrep{suffix}", "sup": f"kbsup{suffix}"}
    server.orm(
        "from conversations.models import Queue\n"
        "from conversations.services.staff import staff_create\n"
        f"q = Queue.objects.create(name={names['queue']!r})\n"
        f"staff_create(username={names['rep']!r}, password={DEMO_PASSWORD!r}, role='representative',"
        f" first_name='Kay', last_name='Board', queues=[q], presence={rep_presence!r})\n"
        f"staff_create(username={names['sup']!r}, password={DEMO_PASSWORD!r}, role='supervisor',"
        " first_name='Sue', last_name='Keys', queues=[q], presence='available')\n"
    )
    return names


def conversation(server, names: dict, customer: str, *, level: int, notify: bool = False) -> int:
    """An active conversation of the team's representative with one scored customer message (and,
    with ``notify``, a notification for the team's supervisor), stored as the pipeline leaves it."""
    out = server.orm(
        "from conversations.models import Conversation, Customer, Message, Queue, StaffMember\n"
        "from insights.models import NotificationRecipient, SentimentAlert\n"
        f"rep = StaffMember.objects.get(user__username={names['rep']!r})\n"
        f"c = Conversation.objects.create(queue=Queue.objects.get(name={names['queue']!r}), representative=rep,"
        f" status='active', customer=Customer.objects.create(name={customer!r}), last_seq=1,"
        f" sentiment_level={level}, sentiment_score={level / 4}, sentiment_trend='falling')\n"
        "Message.objects.create(conversation=c, seq=1, sender='customer', text='My invoice is wrong again.',"
        f" scoring_status='scored', sentiment_level={level}, sentiment_score={level / 4}, confidence=0.8, language='en')\n"
        + (
            "a = SentimentAlert.objects.create(conversation=c, audience='supervisor', kind='threshold',"
            f" level={level}, threshold=-1)\n"
            f"NotificationRecipient.objects.create(alert=a, staff=StaffMember.objects.get(user__username={names['sup']!r}))\n"
            if notify
            else ""
        )
        + "print(c.pk)\n"
    )
    return int(out.splitlines()[-1])


def close_all(server, ids) -> None:
    server.orm(
        f"from conversations.models import Conversation\nConversation.objects.filter(pk__in={list(ids)!r}).update(status='closed')\n"
    )
