"""End-to-end flows in Chromium against a real Daphne: the pages update live, without reload.

Each test starts its own customers (unique names), so tests do not depend on each other's
conversations; thresholds and presences changed by a test are put back at its end.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import say, set_presence

pytestmark = [pytest.mark.browser, pytest.mark.live]

ANGRY_ES = "¡Esto es una vergüenza! Llevo una semana esperando y nadie me ayuda. ¡Estoy furiosa, es el peor servicio!"
ANGRY_EN = "This is absolutely terrible. I am furious, nobody helps me and I want my money back now!"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
NEGATIVE = re.compile(r"^-[123]$")


def row(page, customer: str):
    return page.locator("#report tbody tr", has=page.locator(".col-customer", has_text=customer))


def tab(page, customer: str):
    return page.locator(".session-tab", has=page.locator(".tab-name", has_text=customer))


def tabs_order(page, first: str, second: str) -> bool:
    """True when ``second``'s tab comes right after ``first``'s."""
    names = page.locator(".session-tab .tab-name").all_inner_texts()
    return names.index(second) == names.index(first) + 1


def set_thresholds(server, *, representative: int, supervisor: int) -> None:
    server.orm(
        "from django.contrib.auth import get_user_model\n"
        "from insights.services.settings import sentiment_settings_update\n"
        "admin = get_user_model().objects.get(username='admin')\n"
        f"sentiment_settings_update(actor=admin, representative_threshold={representative}, supervisor_threshold={supervisor})\n"
    )


def test_an_angry_spanish_message_shows_negative_for_the_representative_and_the_supervisor(scored, actors):
    rep = actors.staff("rita", "/workspace/")
    sup = actors.staff("sam", "/ongoing/")
    chat, customer = actors.customer(queue="Billing")

    # The new conversation opens as a session tab and a report row, without reload.
    expect(tab(rep, customer)).to_be_visible(timeout=5_000)
    expect(row(sup, customer)).to_be_visible(timeout=5_000)
    tab(rep, customer).click()

    say(chat, XSS)  # customers send HTML: it must show as text and never run
    panel = rep.locator(".session-panel:not([hidden])")
    expect(panel.locator(".msg-customer .msg-text").last).to_have_text(XSS, timeout=5_000)

    started = time.monotonic()
    say(chat, ANGRY_ES)
    # Polled on every animation frame, so the timings are not rounded up by retry back-off.
    rep.wait_for_function(
        "() => Number(document.querySelector('.session-panel:not([hidden]) .comm-sentiment .sentiment')"
        ".dataset.levelValue || 0) < 0",
        timeout=5_000,
    )
    rep_seconds = time.monotonic() - started
    sup.wait_for_function(
        "(id) => Number(document.querySelector(`#report tr[data-conversation='${id}'] .sentiment`)"
        ".dataset.levelValue || 0) < 0",
        arg=row(sup, customer).get_attribute("data-conversation"),
        timeout=5_000,
    )
    sup_seconds = time.monotonic() - started
    expect(panel.locator(".comm-sentiment .sentiment")).to_have_attribute("data-level-value", NEGATIVE)
    expect(row(sup, customer).locator(".col-sentiment .sentiment")).to_have_attribute(
        "data-level-value", NEGATIVE
    )
    # The label and icon say it too, not colour alone.
    expect(panel.locator(".comm-sentiment .s-label")).to_have_text(re.compile("negative", re.I))
    expect(panel.locator(".comm-sentiment .s-icon")).to_have_text(re.compile("▼"))
    print(f"angry message → representative panel {rep_seconds:.2f}s, supervisor report {sup_seconds:.2f}s")
    assert rep_seconds < 3.0 and sup_seconds < 3.0  # about a second; slack for a loaded 2-core CI box

    # The representative's reply reaches the customer, and nothing ran from the HTML text.
    panel.get_by_label(re.compile("Reply to")).fill("Lo siento mucho, lo reviso ahora mismo.")
    panel.get_by_role("button", name="Send").click()
    expect(chat.locator(".msg-representative .msg-text")).to_have_text(
        "Lo siento mucho, lo reviso ahora mismo.", timeout=5_000
    )
    for page in (rep, sup, chat):
        assert page.evaluate("window.__xss") is None

    # The page's filter reads each option's level bounds (conversations.views.SentimentFilter).
    sentiment_filter = sup.locator("#filter-sentiment")
    sentiment_filter.select_option(label="Slightly positive or higher")
    expect(row(sup, customer)).to_be_hidden()
    sentiment_filter.select_option(label="Not scored yet")
    expect(row(sup, customer)).to_be_hidden()
    sentiment_filter.select_option(label="Slightly negative or lower")
    expect(row(sup, customer)).to_be_visible()


def test_a_session_not_in_focus_shows_the_alert_on_its_tab(scored, actors):
    rep = actors.staff("rita", "/workspace/")
    chat_a, first = actors.customer(queue="Billing")
    expect(tab(rep, first)).to_be_visible(timeout=5_000)
    chat_b, second = actors.customer(queue="Billing")
    expect(tab(rep, second)).to_be_visible(timeout=5_000)
    tab(rep, first).click()
    expect(tab(rep, first)).to_have_attribute("aria-selected", "true")

    say(chat_b, ANGRY_EN)
    badge = tab(rep, second).locator(".tab-alert")
    expect(badge).to_be_visible(timeout=5_000)
    expect(badge).to_have_text(re.compile("Alert"))
    # Read out once by the page's one assertive announcer (the badge is in no live region).
    expect(rep.locator("#alert-announcer[aria-live=assertive]")).to_contain_text(
        f"Alert in another session: {second}'s sentiment is"
    )
    # The focused session shows no alert; opening the other session shows it in its panel.
    expect(
        rep.locator(f"#panel-{tab(rep, first).get_attribute('data-conversation')} .panel-alert")
    ).to_be_hidden()
    # Keyboard: the session tabs are a tablist (arrow keys move between sessions).
    tab(rep, first).focus()
    assert tabs_order(rep, first, second)  # a new session opens as the last tab
    rep.keyboard.press("ArrowRight")
    expect(tab(rep, second)).to_have_attribute("aria-selected", "true")
    expect(rep.locator(".session-panel:not([hidden]) .panel-alert")).to_be_visible()
    expect(badge).to_be_hidden()


def test_a_toast_stays_while_it_has_the_focus_and_goes_once_the_focus_leaves(scored, actors):
    rep = actors.staff("rita", "/workspace/")
    sup = actors.staff("sam", "/dashboard/", clock=True)  # toasts of the shared staff connection
    sup.locator('#staff-conn[data-state="live"]').wait_for(timeout=10_000)
    chat, customer = actors.customer(queue="Billing")
    say(chat, ANGRY_EN)
    toast = sup.locator("#staff-toasts .toast", has_text=customer)
    expect(toast).to_be_visible(timeout=10_000)
    toast.get_by_role("button", name=re.compile("^Acknowledge")).focus()
    sup.clock.fast_forward(30_000)  # twice the time a toast is shown
    expect(toast).to_be_visible()
    sup.locator("#main").focus()
    sup.mouse.move(1, 1)
    sup.clock.fast_forward(5_000)
    expect(toast).to_have_count(0)
    assert rep  # rita stayed online to take the chat


def test_a_supervisor_away_gets_no_toast_and_back_to_available_gets_the_next(scored, actors, server):
    rep = actors.staff("rita", "/workspace/")
    sup = actors.staff("sam", "/ongoing/")
    try:
        set_presence(sup, "away")
        time.sleep(0.5)  # presence.set round trip
        chat, customer = actors.customer(queue="Billing")
        expect(row(sup, customer)).to_be_visible(timeout=5_000)
        say(chat, ANGRY_EN)
        expect(row(sup, customer).locator(".sentiment")).to_have_attribute(
            "data-level-value", NEGATIVE, timeout=5_000
        )
        sup.wait_for_timeout(800)
        expect(sup.locator(".toast")).to_have_count(0)

        set_presence(sup, "available")
        time.sleep(0.5)
        chat2, customer2 = actors.customer(queue="Billing")
        expect(row(sup, customer2)).to_be_visible(timeout=5_000)
        say(chat2, ANGRY_ES)
        toast = sup.locator(".toast", has_text=customer2)
        expect(toast).to_be_visible(timeout=5_000)
        expect(sup.locator("#notification-list .notification", has_text=customer2)).to_be_visible()
        # One sentence through the assertive announcer; the toast is no live region of its own
        # (it was read twice, controls and all), and its buttons name the customer.
        expect(sup.locator("#alert-announcer[aria-live=assertive]")).to_contain_text(f"Alert: {customer2}")
        assert (
            toast.get_attribute("role") is None and sup.locator("#toasts").get_attribute("aria-live") is None
        )
        expect(
            toast.get_by_role("button", name=re.compile(f"^Acknowledge the alert about {customer2}"))
        ).to_be_visible()
        # Acknowledge from the toast: it leaves the toast stack and is marked in the list.
        toast.get_by_role("button", name="Acknowledge").click()
        acknowledged = sup.locator("#notification-list .notification.acknowledged", has_text=customer2)
        expect(acknowledged).to_be_visible(timeout=5_000)
        expect(acknowledged).to_contain_text("Acknowledged by Sam Supervisor")
    finally:
        server.orm(
            "from conversations.models import StaffMember\n"
            "from conversations.services.presence import presence_set\n"
            "presence_set(staff=StaffMember.objects.get(user__username='sam'), presence='available')\n"
        )
    assert rep  # rita stayed online to take the chats


def test_assign_and_transfer_move_the_conversation_between_the_right_screens(actors):
    rita = actors.staff("rita", "/workspace/")
    raj = actors.staff("raj", "/workspace/")
    sup = actors.staff("sam", "/ongoing/")
    chat, customer = actors.customer(queue="Billing")
    expect(tab(rita, customer)).to_be_visible(timeout=5_000)
    expect(row(sup, customer).locator(".col-rep")).to_have_text("Rita Rep", timeout=5_000)

    # Transfer to the Technical support queue: it leaves Rita's workspace, stays in Sam's report,
    # and queue routing gives it to a representative of Technical support.
    row(sup, customer).get_by_role("link", name="Assign / Transfer").click()
    sup.get_by_label("Queue").select_option(label="Technical support")
    sup.get_by_role("button", name="Transfer").click()
    expect(sup.locator(".flash")).to_contain_text("transferred to Technical support")
    expect(tab(rita, customer)).to_have_count(0, timeout=5_000)
    sup.locator('#conn-status[data-state="live"]').wait_for()
    expect(row(sup, customer).locator(".col-queue")).to_have_text("Technical support")
    expect(row(sup, customer).locator(".col-rep")).to_have_text(re.compile("^(Raj Patel|Marco Rossi)$"))

    # Assign to Raj: it opens in Raj's workspace, live, and the report shows him.
    row(sup, customer).get_by_role("link", name="Assign / Transfer").click()
    assign_select = sup.get_by_label("Representative", exact=True)
    raj_value = assign_select.locator("option", has_text="Raj Patel").get_attribute("value")
    assign_select.select_option(raj_value)
    sup.get_by_role("button", name="Assign").click()
    expect(tab(raj, customer)).to_be_visible(timeout=5_000)
    sup.locator('#conn-status[data-state="live"]').wait_for()
    expect(row(sup, customer).locator(".col-rep")).to_have_text("Raj Patel")
    # And Raj can answer the customer straight away.
    tab(raj, customer).click()
    panel = raj.locator(".session-panel:not([hidden])")
    panel.get_by_label(re.compile("Reply to")).fill("Hi, Raj from technical support here.")
    panel.get_by_role("button", name="Send").click()
    expect(chat.locator(".msg-representative .msg-text")).to_have_text(
        "Hi, Raj from technical support here.", timeout=5_000
    )
    # Ending it closes the session and takes it off the report.
    panel.get_by_role("button", name="End conversation").click()
    panel.get_by_role("button", name="Yes, end it").click()  # it asks first
    expect(tab(raj, customer)).to_have_count(0, timeout=5_000)
    expect(row(sup, customer)).to_have_count(0, timeout=5_000)


def test_an_admin_saves_a_threshold_and_the_next_alert_follows_it(scored, actors, server):
    rep = actors.staff("rita", "/workspace/")
    sup = actors.staff("sam", "/ongoing/")
    admin = actors.staff("admin", "/insights/sentiment/")
    try:
        # Beside the choice, what each threshold catches, as the model measured it.
        reach = admin.locator("#threshold-reach tbody tr")
        expect(reach).to_have_count(3)
        expect(reach.nth(2).locator("th")).to_have_text("Very negative")
        expect(reach.nth(2).locator("td")).to_have_count(4)
        admin.get_by_label(
            "Send notifications when a customer's sentiment decreases to or below"
        ).select_option(label="Don't send notifications")
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator(".flash")).to_contain_text("saved")
        # The open report says so at once, without reload.
        expect(sup.locator("#settings-notice")).to_contain_text(
            "supervisor notifications at off", timeout=5_000
        )
        chat, customer = actors.customer(queue="Billing")
        expect(row(sup, customer)).to_be_visible(timeout=5_000)
        say(chat, ANGRY_EN)
        expect(row(sup, customer).locator(".sentiment")).to_have_attribute(
            "data-level-value", NEGATIVE, timeout=5_000
        )
        sup.wait_for_timeout(800)
        expect(sup.locator(".toast", has_text=customer)).to_have_count(0)

        admin.get_by_label(
            "Send notifications when a customer's sentiment decreases to or below"
        ).select_option(label="Slightly negative")
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator(".flash")).to_contain_text("saved")
        chat2, customer2 = actors.customer(queue="Billing")
        expect(row(sup, customer2)).to_be_visible(timeout=5_000)
        say(chat2, ANGRY_ES)
        expect(sup.locator(".toast", has_text=customer2)).to_be_visible(timeout=5_000)
    finally:
        set_thresholds(server, representative=-1, supervisor=-1)
    assert rep


def test_every_page_runs_without_script_errors_and_the_dashboard_draws_its_charts(scored, actors):
    errors: list[str] = []
    rep = actors.staff("rita", "/workspace/")
    chat, customer = actors.customer(queue="Billing")
    expect(tab(rep, customer)).to_be_visible(timeout=5_000)
    say(chat, "Hello, I would like to ask about my order, please.")  # the first message drives no drop
    say(chat, ANGRY_EN)
    say(chat, "Actually it works now, thank you so much, you are wonderful!")
    sup = actors.staff("sam", "/ongoing/")
    conversation = row(sup, customer).get_attribute("data-conversation")
    pages = [rep, sup, chat]
    for page in pages:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    monitor = actors.staff("sam", f"/conversations/{conversation}/monitor/")
    monitor.on("pageerror", lambda exc: errors.append(str(exc)))
    # The angry message is marked as the one that drove the drop; the thank-you is not.
    expect(monitor.locator(".msg-customer.drove-drop .msg-text")).to_contain_text(
        ["This is absolutely terrible"], timeout=5_000
    )
    dashboard = actors.staff("sam", "/dashboard/")
    dashboard.on("pageerror", lambda exc: errors.append(str(exc)))
    dashboard.reload()
    expect(dashboard.locator(".caveat")).to_contain_text("Not for decisions about employment")
    assert dashboard.evaluate("typeof window.Chart") == "function"
    assert dashboard.evaluate("Object.keys(Chart.instances).length") >= 1
    with dashboard.expect_download() as download:
        dashboard.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert errors == []


def test_the_pages_run_on_postgresql_and_redis_when_the_suite_does(server):
    """On the production topology the browser's server uses its own PostgreSQL database and the
    Redis channel layer; on the embedded default, a SQLite file and the in-memory layer."""
    import os

    vendor, layer = server.orm(
        "from django.db import connection\n"
        "from django.conf import settings\n"
        "print(connection.vendor, settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1])"
    ).split()
    on_postgres = (os.environ.get("DATABASE_URL") or "").startswith(("postgres://", "postgresql://"))
    assert vendor == ("postgresql" if on_postgres else "sqlite")
    assert layer == ("RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer")
