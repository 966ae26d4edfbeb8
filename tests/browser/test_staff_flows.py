"""Flows that every member of staff depends on, in Chromium against a real Daphne: waiting
chats reach a representative, the customer is told where they stand and when the chat ended.

Each test makes its own queue and representative (unique names), so the demo staff the other
browser tests use are not touched.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, say, set_presence

pytestmark = [pytest.mark.browser, pytest.mark.live]


def tab(page, customer: str):
    return page.locator(".session-tab", has=page.locator(".tab-name", has_text=customer))


def own_queue(server, *, presence: str = "away", capacity: int = 1) -> tuple[str, str]:
    """A queue with one representative of its own; returns (queue name, username)."""
    suffix = secrets.token_hex(3)
    queue, username = f"Routing {suffix}", f"rota{suffix}"
    server.orm(
        "from conversations.models import Queue\n"
        "from conversations.services.staff import staff_create\n"
        f"q = Queue.objects.create(name={queue!r})\n"
        f"m = staff_create(username={username!r}, password={DEMO_PASSWORD!r}, role='representative',"
        f" first_name='Rota', last_name='Tester', queues=[q], presence={presence!r})\n"
        f"m.capacity = {capacity}\n"
        "m.save(update_fields=['capacity'])\n"
    )
    return queue, username


def test_a_waiting_chat_reaches_the_representative_who_becomes_available_and_the_customer_sees_the_end(
    actors, server
):
    queue, username = own_queue(server, presence="away", capacity=1)
    rep = actors.staff(username, "/workspace/")
    expect(rep.locator(".empty-sessions")).to_be_visible()

    first, first_name = actors.customer(queue=queue)
    second, second_name = actors.customer(queue=queue)
    expect(first.locator("#chat-state")).to_have_text("Waiting for an agent. You are number 1 in the queue.")
    expect(second.locator("#chat-state")).to_have_text("Waiting for an agent. You are number 2 in the queue.")

    # Available: the oldest waiting chat comes to the representative at once (capacity 1).
    set_presence(rep, "available")
    expect(tab(rep, first_name)).to_be_visible(timeout=5_000)
    # A session opened live says what a page-rendered one says: labels, not codes.
    expect(tab(rep, first_name).locator(".tab-meta")).to_have_text(f"{queue} · Chat")
    expect(rep.locator(".session-panel:not([hidden]) .comm-meta")).to_have_text(
        re.compile(rf"^{re.escape(queue)} · Chat · (.+ · )?Active$")
    )
    expect(first.locator("#chat-state")).to_have_text("You are chatting with Rota.", timeout=5_000)
    expect(second.locator("#chat-state")).to_have_text(
        "Waiting for an agent. You are number 1 in the queue.", timeout=5_000
    )
    expect(tab(rep, second_name)).to_have_count(0)

    say(first, "Hello, is anyone there?")
    panel = rep.locator(".session-panel:not([hidden])")
    expect(panel.locator(".msg-customer .msg-text").last).to_have_text(
        "Hello, is anyone there?", timeout=5_000
    )
    # Read out once by the polite message log, whichever session it arrived in.
    expect(rep.locator("#message-log[role=log]")).to_have_text(f"{first_name}: Hello, is anyone there?")

    # End conversation asks first; keeping it open changes nothing and gives focus back.
    panel.get_by_role("button", name=re.compile("^End conversation")).click()
    expect(panel.get_by_role("button", name="Keep it open")).to_be_focused()
    rep.keyboard.press("Escape")
    expect(panel.get_by_role("button", name=re.compile("^End conversation"))).to_be_focused()
    panel.get_by_role("button", name=re.compile("^End conversation")).click()
    panel.get_by_role("button", name="Yes, end it").click()

    # The customer sees the end at once and can write no more.
    expect(first.locator("#chat-state")).to_have_text(
        re.compile("This conversation has ended"), timeout=5_000
    )
    expect(first.locator("#chat-text")).to_be_disabled()
    expect(first.locator("#conn-status")).to_have_text("Ended")
    # The freed place goes to the next customer, and focus lands on their session.
    expect(tab(rep, second_name)).to_be_visible(timeout=5_000)
    expect(second.locator("#chat-state")).to_have_text("You are chatting with Rota.", timeout=5_000)
    expect(rep.locator("#workspace-status")).to_have_text(f"Conversation with {first_name} ended.")
    expect(tab(rep, first_name)).to_have_count(0)

    # A reload of the ended chat says so too, without a form.
    first.reload()
    expect(first.locator("#chat-state")).to_have_text(re.compile("This conversation has ended"))
    expect(first.locator("#chat-form")).to_be_hidden()


def test_take_next_gives_a_busy_representative_the_waiting_chat(actors, server):
    queue, username = own_queue(server, presence="busy", capacity=1)
    rep = actors.staff(username, "/workspace/")
    chat, name = actors.customer(queue=queue)
    expect(chat.locator("#chat-state")).to_have_text("Waiting for an agent. You are number 1 in the queue.")
    rep.get_by_role("button", name="Take next").click()
    expect(tab(rep, name)).to_have_attribute("aria-selected", "true", timeout=5_000)
    expect(chat.locator("#chat-state")).to_have_text("You are chatting with Rota.", timeout=5_000)


def test_a_message_that_arrived_live_can_be_corrected_from_the_workspace(scored, actors, server):
    queue, username = own_queue(server, presence="available", capacity=3)
    rep = actors.staff(username, "/workspace/")
    chat, name = actors.customer(queue=queue)
    expect(tab(rep, name)).to_be_visible(timeout=5_000)
    tab(rep, name).click()
    say(chat, "This is absolutely terrible. I am furious, nobody helps me and I want my money back now!")

    message = rep.locator(".session-panel:not([hidden]) li.msg-customer").last
    expect(message).to_have_attribute("data-level-value", re.compile(r"^-?\d$"), timeout=10_000)
    model_level = message.get_attribute("data-level-value")
    message.get_by_text("Wrong sentiment?").click()
    picker = message.get_by_label("Right sentiment")
    expect(picker).to_have_value(model_level)  # it starts at what the model said
    conversation = message.locator("form.correct-form").get_attribute("action").split("/")[2]
    assert conversation == tab(rep, name).get_attribute("data-conversation")  # not conversation 0

    picker.select_option(label="Neutral")
    message.get_by_role("button", name="Save correction").click()
    expect(message.locator(".correct-status")).to_have_text("Saved: Neutral. Thank you.", timeout=5_000)
    stored = server.orm(
        "from insights.models import SentimentCorrection\n"
        f"c = SentimentCorrection.objects.get(message__conversation_id={conversation})\n"
        "print('STORED', c.model_level, c.corrected_level)"
    )
    assert stored.split("STORED", 1)[1].split() == [model_level, "0"]


def test_a_notification_resolves_when_its_conversation_ends(actors, server):
    queue, username = own_queue(server, presence="available", capacity=3)
    supervisor = f"supa{secrets.token_hex(3)}"
    server.orm(
        "from conversations.models import Queue\n"
        "from conversations.services.staff import staff_create\n"
        f"staff_create(username={supervisor!r}, password={DEMO_PASSWORD!r}, role='supervisor',"
        f" queues=[Queue.objects.get(name={queue!r})], presence='available')\n"
    )
    rep = actors.staff(username, "/workspace/")
    chat, name = actors.customer(queue=queue)
    expect(tab(rep, name)).to_be_visible(timeout=5_000)
    conversation = tab(rep, name).get_attribute("data-conversation")
    # A stored supervisor notification for this conversation (as the alert pipeline leaves it).
    server.orm(
        "from conversations.models import StaffMember\n"
        "from insights.models import NotificationRecipient, SentimentAlert\n"
        f"alert = SentimentAlert.objects.create(conversation_id={conversation}, audience='supervisor',"
        " kind='threshold', level=-2, threshold=-2)\n"
        f"NotificationRecipient.objects.create(alert=alert, staff=StaffMember.objects.get(user__username={supervisor!r}))\n"
    )
    sup = actors.staff(supervisor, "/ongoing/")
    item = sup.locator(f"#notification-list [data-conversation='{conversation}']")
    expect(item.get_by_role("button", name=re.compile("Acknowledge"))).to_be_visible()

    tab(rep, name).click()
    panel = rep.locator(".session-panel:not([hidden])")
    panel.get_by_role("button", name=re.compile("^End conversation")).click()
    panel.get_by_role("button", name="Yes, end it").click()

    expect(item).to_contain_text("Resolved: the conversation has ended", timeout=5_000)
    expect(item.get_by_role("button", name=re.compile("Acknowledge"))).to_have_count(0)
    sup.reload()
    expect(sup.locator(f"#notification-list [data-conversation='{conversation}']")).to_have_count(0)


def test_pages_have_a_favicon_and_a_focus_ring_that_stands_out(actors, server):
    failed: list[str] = []
    rep = actors.staff("rita", "/workspace/")
    rep.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    rep.reload()
    icon = rep.locator("link[rel=icon]").get_attribute("href")
    assert rep.request.get(server.url + icon).status == 200
    rep.get_by_role("button", name="Take next").focus()
    rep.keyboard.press("Shift+Tab")
    rep.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
    ring = rep.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert ring == "rgb(27, 31, 36)"  # 16:1 on white; the old amber was 1.87:1
    assert not failed, failed
