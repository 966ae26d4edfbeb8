"""axe-core (bundled by the pinned axe-playwright-python) on every page, as every role would see
it: the sign-in page and the customer's chat, the representative's workspace, the supervisor's
Ongoing report with a notification waiting, Monitor, Assign / Transfer, the dashboard, and the
administrator's Insights, settings, integrations (Chatwoot's setup too) and corrections pages;
and what arrives live: alerts, toasts, and notifications waiting and acknowledged.

The rules are WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices; a page fails on
any violation, whatever its impact (the pages have none: keep it so).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import say

pytestmark = [pytest.mark.browser]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
OPTIONS = {"runOnly": {"type": "tag", "values": [*WCAG_TAGS, "best-practice"]}, "resultTypes": ["violations"]}


def failures(page, within: str | None = None) -> list[str]:
    """axe's violations on the page, or only inside the elements that ``within`` selects (axe
    fails when it selects none, so a part that is gone cannot pass unchecked)."""
    from axe_playwright_python.sync_playwright import Axe

    # Closed disclosures hide content from axe: open them, so their markup is checked too.
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    results = Axe().run(page, context=within, options=OPTIONS).response
    found = []
    for v in results["violations"]:
        targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:4])
        found.append(f"{page.url} — {v['id']} ({v['impact']}): {v['help']} at {targets}")
    return found


@pytest.fixture(scope="module")
def a_conversation(live_server_proc):
    """One Billing conversation with a customer message and a supervisor notification for Sam
    (made directly, so the check does not wait for the model)."""
    out = live_server_proc.orm(
        "from conversations.models import Conversation, Customer, Message, Queue, StaffMember\n"
        "from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert\n"
        "rita = StaffMember.objects.get(user__username='rita')\n"
        "c = Conversation.objects.create(queue=Queue.objects.get(name='Billing'), representative=rita,"
        " status='active', customer=Customer.objects.create(name='Ana Axe', external_id='CRM-4821'),"
        " last_seq=2, sentiment_level=-2, sentiment_score=-0.6, sentiment_trend='falling')\n"
        "Message.objects.create(conversation=c, seq=1, sender='customer', text='Hello, my invoice is wrong.',"
        " scoring_status='scored', sentiment_level=0, sentiment_score=0.0, confidence=0.7, language='en')\n"
        "Message.objects.create(conversation=c, seq=2, sender='customer', text='This is a disgrace!',"
        " scoring_status='scored', sentiment_level=-2, sentiment_score=-0.6, confidence=0.53, language='en')\n"
        "a = SentimentAlert.objects.create(conversation=c, audience=AlertAudience.SUPERVISOR,"
        " kind=AlertKind.THRESHOLD, level=-2, threshold=-1)\n"
        "NotificationRecipient.objects.create(alert=a, staff=StaffMember.objects.get(user__username='sam'))\n"
        "print(c.pk)\n"
    )
    return int(out.splitlines()[-1])


@pytest.fixture(scope="module")
def a_chatwoot_connection(live_server_proc):
    """A Chatwoot connection with a queue map, a delivery each way and an unknown agent, so its
    page shows every table."""
    out = live_server_proc.orm(
        "from django.utils import timezone\n"
        "from conversations.models import Queue\n"
        "from insights.chatwoot.models import ChatwootCall, ChatwootConnection, ChatwootDelivery, ChatwootUnknownAgent\n"
        "q = Queue.objects.get(name='Billing')\n"
        "c = ChatwootConnection.objects.create(name='Axe desk', base_url='https://chat.example.com', account_id=7,"
        " api_access_token='t', default_queue=q, inbox_queues={'3': q.pk})\n"
        "ChatwootDelivery.objects.create(connection=c, event='message_created', outcome='stored as seq 1 (customer)')\n"
        "ChatwootCall.objects.create(connection=c, chatwoot_conversation=42, kind='labels', payload={},"
        " next_attempt_at=timezone.now(), status='failed', attempts=7, last_error='HTTP 500')\n"
        "ChatwootUnknownAgent.objects.create(connection=c, agent_id=9, email='temp@x.example', name='Temp')\n"
        "print(c.pk)\n"
    )
    return int(out.splitlines()[-1])


def pages_for(role: str, conversation: int, chatwoot: int = 0) -> list[str]:
    monitor = f"/conversations/{conversation}/monitor/"
    return {
        "representative": ["/workspace/", monitor],
        "supervisor": ["/ongoing/", monitor, f"/conversations/{conversation}/route/", "/dashboard/"],
        "admin": [
            "/insights/",
            "/insights/sentiment/",
            "/insights/integrations/",
            "/insights/integrations/chatwoot/",
            f"/insights/integrations/chatwoot/{chatwoot}/",
            "/dashboard/",
            "/corrections/",
            "/ongoing/",
        ],
    }[role]


@pytest.mark.parametrize(
    ("role", "username"), [("representative", "rita"), ("supervisor", "sam"), ("admin", "admin")]
)
def test_axe_finds_no_violation_on_any_page_of_a_role(
    actors, a_conversation, a_chatwoot_connection, role, username
):
    found = []
    page = actors.staff(username, "/")
    for path in pages_for(role, a_conversation, a_chatwoot_connection):
        page.goto(path)
        if page.locator("#conn-status, #staff-conn").count():
            page.locator('[data-state="live"]').first.wait_for(timeout=10_000)
        found += failures(page)
    # A page outside the role (the 403 page) is a page of the site too.
    if role == "representative":
        page.goto("/ongoing/")
        found += failures(page)
    assert not found, "\n".join(found)


def test_axe_finds_no_violation_on_the_customer_and_sign_in_pages(actors):
    found = []
    page = actors._context().new_page()
    page.goto("/login/")
    found += failures(page)
    page.goto("/chat/")
    found += failures(page)
    chat, _ = actors.customer(queue="Billing")
    say(chat, "Hello, I have a question about my invoice.")
    chat.locator(".msg-customer:not(.pending)").first.wait_for(timeout=5_000)
    found += failures(chat)
    # As it looks while it is being sent (too brief on loopback to catch otherwise).
    chat.evaluate("document.querySelector('.msg-customer').classList.add('pending')")
    found += failures(chat)
    assert not found, "\n".join(found)


ANGRY = "This is absolutely terrible. I am furious, nobody helps me and I want my money back now!"


@pytest.mark.live
def test_axe_finds_no_violation_in_the_alerts_that_arrive_live(scored, actors):
    """What only the live pipeline draws: the alert in the session in focus, the badge on a
    session tab out of focus, a supervisor's toast and waiting notification, and a notification
    as it looks once acknowledged (faded items have failed the contrast rule before)."""
    rep = actors.staff("rita", "/workspace/")
    sup = actors.staff("sam", "/ongoing/")
    chat_a, in_focus = actors.customer(queue="Billing")
    chat_b, out_of_focus = actors.customer(queue="Billing")
    session = rep.locator(".session-tab", has=rep.locator(".tab-name", has_text=in_focus))
    session.click()
    expect(session).to_have_attribute("aria-selected", "true")
    say(chat_a, ANGRY)
    say(chat_b, ANGRY)
    expect(rep.locator(".session-panel:not([hidden]) .panel-alert")).to_be_visible(timeout=10_000)
    badge = rep.locator(".session-tab", has=rep.locator(".tab-name", has_text=out_of_focus)).locator(
        ".tab-alert"
    )
    expect(badge).to_be_visible(timeout=10_000)
    found = failures(rep)

    item = sup.locator("#notification-list .notification", has_text=in_focus)
    expect(item).to_be_visible(timeout=10_000)
    expect(sup.locator("#toasts .toast").first).to_be_visible()
    found += failures(sup)

    # An acknowledged item stays 4 s, then leaves the list: check that item alone, at once.
    item.locator(".ack-button").click()
    acknowledged = "#notification-list .notification.acknowledged"
    expect(sup.locator(acknowledged, has_text=in_focus)).to_be_visible(timeout=10_000)
    found += failures(sup, within=acknowledged)
    assert not found, "\n".join(found)


def test_the_check_reports_a_button_without_a_name(actors):
    page = actors._context().new_page()
    page.goto("/login/")
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<button></button>')")
    assert any("button-name (critical)" in f for f in failures(page))
