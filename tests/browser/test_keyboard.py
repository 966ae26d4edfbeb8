"""Each role's everyday work with the keyboard alone, in Chromium against a real Daphne, with the
focus asserted after each action (it must land somewhere sensible, never on the page's top).

Each test makes its own queue and staff (unique names), so the demo staff the other browser
tests use are not touched.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import close_all, conversation, team

pytestmark = [pytest.mark.browser, pytest.mark.live]


def focused(page) -> str:
    return page.evaluate("() => document.activeElement ? document.activeElement.outerHTML.slice(0, 160) : ''")


def focus_is(page, selector: str) -> bool:
    return page.evaluate(
        "(s) => Boolean(document.activeElement && document.activeElement.matches(s))", selector
    )


def tab_to(page, selector: str, *, limit: int = 60, back: bool = False) -> int:
    """Press Tab (Shift+Tab with ``back``) until the focus is on ``selector``; returns the presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if focus_is(page, selector):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} presses; the focus is on {focused(page)}")


def test_a_representative_switches_session_reads_the_sentiment_corrects_and_replies_by_keyboard(
    actors, server
):
    names = team(server)
    calm = conversation(server, names, f"Calm {secrets.token_hex(2)}", level=0)
    angry = conversation(server, names, f"Angry {secrets.token_hex(2)}", level=-2)
    try:
        rep = actors.staff(names["rep"], f"/workspace/?c={calm}")

        # Switch session: Tab reaches the selected tab, an arrow key moves to the other one.
        tab_to(rep, f"#tab-{calm}")
        rep.keyboard.press("ArrowRight")
        assert focus_is(rep, f"#tab-{angry}[aria-selected=true]"), focused(rep)
        expect(rep.locator(f"#panel-{angry}")).to_be_visible()
        expect(rep.locator(f"#panel-{calm}")).to_be_hidden()

        # Read the sentiment: the focused tab says it, and so does the panel's polite region.
        expect(rep.locator(f"#tab-{angry}")).to_contain_text("Negative")
        expect(rep.locator(f"#panel-{angry} .comm-sentiment[aria-live=polite]")).to_contain_text("Negative")

        # Correct the message's sentiment: open "Wrong sentiment?", pick a level, save.
        tab_to(rep, f"#panel-{angry} details.correct summary")
        rep.keyboard.press("Enter")
        rep.keyboard.press("Tab")
        assert focus_is(rep, f"#correct-{angry}-1"), focused(rep)
        expect(rep.locator(f"#correct-{angry}-1")).to_have_value("-2")  # starts at the model's level
        rep.keyboard.press("ArrowDown")
        expect(rep.locator(f"#correct-{angry}-1")).to_have_value("-1")
        rep.keyboard.press("Tab")
        rep.keyboard.press("Enter")
        expect(rep.locator(f"#panel-{angry} .correct-status")).to_have_text(
            re.compile("^Saved: Slightly negative")
        )
        assert focus_is(rep, f"#panel-{angry} .correct-form button"), focused(rep)

        # Reply: Enter sends, the box empties and keeps the focus for the next line.
        tab_to(rep, f"#reply-{angry}")
        rep.keyboard.type("Sorry about that, I am fixing the invoice now.")
        rep.keyboard.press("Enter")
        expect(rep.locator(f"#panel-{angry} .msg-representative .msg-text")).to_have_text(
            "Sorry about that, I am fixing the invoice now.", timeout=5_000
        )
        assert focus_is(rep, f"#reply-{angry}"), focused(rep)
        expect(rep.locator(f"#reply-{angry}")).to_have_value("")

        # End the conversation: the question takes the focus; once ended, the focus goes to the
        # remaining session's tab and the result is announced.
        tab_to(rep, f"#panel-{angry} .end-button", back=True)
        rep.keyboard.press("Enter")
        assert focus_is(rep, f"#panel-{angry} .end-no"), focused(rep)
        rep.keyboard.press("Shift+Tab")
        assert focus_is(rep, f"#panel-{angry} .end-yes"), focused(rep)
        rep.keyboard.press("Enter")
        expect(rep.locator(f"#tab-{angry}")).to_have_count(0, timeout=5_000)
        assert focus_is(rep, f"#tab-{calm}"), focused(rep)
        expect(rep.locator("#workspace-status")).to_contain_text("ended")
    finally:
        close_all(server, [calm, angry])


def test_a_supervisor_acknowledges_snoozes_and_opens_monitor_by_keyboard(actors, server):
    names = team(server)
    first = conversation(server, names, f"Older {secrets.token_hex(2)}", level=-2, notify=True)
    second = conversation(server, names, f"Newer {secrets.token_hex(2)}", level=-3, notify=True)
    try:
        sup = actors.staff(names["sup"], "/ongoing/")

        # The presence select commits only with Set: arrowing through it changes nothing.
        tab_to(sup, "#presence-select")
        sup.keyboard.press("ArrowDown")
        sup.keyboard.press("ArrowDown")
        sup.wait_for_timeout(500)
        stored = server.orm(
            f"from conversations.models import StaffMember\nprint(StaffMember.objects.get(user__username={names['sup']!r}).presence)"
        )
        assert stored == "available"
        sup.keyboard.press("ArrowUp")
        sup.keyboard.press("ArrowUp")

        # The notifications come before the table: few presses to the first Acknowledge (the
        # newest notification's), not one per table cell.
        presses = tab_to(sup, ".notification .ack-button")
        assert presses <= 16, presses
        assert focus_is(sup, f".notification[data-conversation='{second}'] .ack-button"), focused(sup)

        # Acknowledge: the focus moves on to the next waiting notification's Acknowledge.
        sup.keyboard.press("Enter")
        expect(sup.locator(f".notification[data-conversation='{second}']")).to_contain_text("Acknowledged")
        assert focus_is(sup, f".notification[data-conversation='{first}'] .ack-button"), focused(sup)
        expect(sup.locator("#ongoing-status")).to_contain_text("Acknowledged the alert about")

        # Snooze for 30 minutes: the choice, then the button; the notification and the row say
        # until when, the result is announced, and the focus stays in the notifications.
        sup.keyboard.press("Tab")
        sup.keyboard.press("ArrowDown")
        sup.keyboard.press("Tab")
        assert focus_is(sup, f".notification[data-conversation='{first}'] .snooze-button"), focused(sup)
        sup.keyboard.press("Enter")
        item = sup.locator(f".notification[data-conversation='{first}']")
        expect(item.locator(".snoozed")).to_contain_text("Snoozed until", timeout=5_000)
        expect(sup.locator(f"tr[data-conversation='{first}'] .row-snoozed")).to_be_visible()
        expect(sup.locator("#ongoing-status")).to_contain_text("snoozed until")
        assert focus_is(sup, "#notif-heading, .notification .ack-button"), focused(sup)

        # Open Monitor from the report's row.
        tab_to(sup, f"tr[data-conversation='{first}'] a[href$='/monitor/']")
        sup.keyboard.press("Enter")
        sup.wait_for_url(re.compile(f"/conversations/{first}/monitor/$"))
        expect(sup.get_by_role("heading", level=1)).to_contain_text("Older")
    finally:
        close_all(server, [first, second])


def test_an_admin_changes_a_threshold_by_keyboard(actors, server):
    admin = actors.staff("admin", "/insights/sentiment/")
    label = "Send notifications when a customer's sentiment decreases to or below"
    try:
        tab_to(admin, "#" + admin.get_by_label(label).get_attribute("id"))
        before = admin.get_by_label(label).input_value()
        admin.keyboard.press("ArrowDown")
        after = admin.get_by_label(label).input_value()
        assert after != before
        tab_to(admin, "form.settings-form button[type=submit]")
        admin.keyboard.press("Enter")
        expect(admin.locator(".flash")).to_contain_text("saved")
        stored = server.orm(
            "from insights.selectors import sentiment_settings_get\nprint(sentiment_settings_get().supervisor_threshold)"
        )
        assert stored == after
    finally:
        server.orm(
            "from django.contrib.auth import get_user_model\n"
            "from insights.services.settings import sentiment_settings_update\n"
            "sentiment_settings_update(actor=get_user_model().objects.get(username='admin'),"
            " representative_threshold=-1, supervisor_threshold=-1)\n"
        )
