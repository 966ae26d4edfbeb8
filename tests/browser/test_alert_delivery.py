"""End-to-end: alerts reach the right person (issue "Alerts reach the right person, every
time"), in Chromium against a real Daphne.

Each test starts its own customers (unique names); presences and thresholds changed by a
test are put back at its end.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import say, set_presence
from tests.browser.test_live_views import ANGRY_EN, row, tab

pytestmark = [pytest.mark.browser, pytest.mark.live]

PRAISE = "Thank you so much, everything works perfectly now and you were wonderful!"


def test_an_outburst_after_a_run_of_positive_messages_alerts(scored, actors):
    rep = actors.staff("rita", "/workspace/")
    chat, customer = actors.customer(queue="Billing")
    expect(tab(rep, customer)).to_be_visible(timeout=5_000)
    tab(rep, customer).click()
    panel = rep.locator(".session-panel:not([hidden])")
    for n in range(5):
        say(chat, PRAISE)
        expect(panel.locator(".msg-customer")).to_have_count(n + 1, timeout=5_000)
    expect(panel.locator(".comm-sentiment .sentiment")).to_have_attribute(
        "data-level-value", re.compile("^[123]$"), timeout=8_000
    )
    expect(panel.locator(".panel-alert")).to_be_hidden()

    say(chat, ANGRY_EN)
    # The mean of the six is still positive; the outburst takes the conversation to Negative.
    expect(panel.locator(".panel-alert")).to_be_visible(timeout=10_000)  # a loaded 2-core box
    expect(panel.locator(".panel-alert")).to_contain_text("Alert")
    expect(panel.locator(".comm-sentiment .sentiment")).to_have_attribute(
        "data-level-value", re.compile("^-[23]$")
    )

    # The customer calms down (recovered, in the calm style), then bursts out again: the
    # repeated alert looks like an alert, not like the recovery.
    say(chat, PRAISE)
    expect(panel.locator(".panel-alert.recovered")).to_contain_text("Recovered", timeout=10_000)
    say(chat, ANGRY_EN)
    expect(panel.locator(".panel-alert")).to_contain_text("Alert", timeout=10_000)
    expect(panel.locator(".panel-alert")).not_to_have_class(re.compile("recovered"))


def test_a_reload_keeps_a_tabs_alert(scored, actors):
    rep = actors.staff("rita", "/workspace/")
    chat_a, first = actors.customer(queue="Billing")
    expect(tab(rep, first)).to_be_visible(timeout=5_000)
    chat_b, second = actors.customer(queue="Billing")
    expect(tab(rep, second)).to_be_visible(timeout=5_000)
    tab(rep, first).click()
    say(chat_b, ANGRY_EN)
    expect(tab(rep, second).locator(".tab-alert")).to_be_visible(timeout=10_000)

    rep.reload()
    rep.locator('#conn-status[data-state="live"]').wait_for(timeout=10_000)
    if tab(rep, second).get_attribute("aria-selected") == "true":
        tab(rep, first).click()
    # The customer is still upset: the tab keeps its alert, and opening it shows it in the panel.
    expect(tab(rep, second).locator(".tab-alert")).to_be_visible(timeout=5_000)
    expect(tab(rep, first).locator(".tab-alert")).to_be_hidden()
    tab(rep, second).click()
    expect(rep.locator(".session-panel:not([hidden]) .panel-alert")).to_contain_text("Alert")


def _presence(server, username: str, presence: str) -> None:
    server.orm(
        "from conversations.models import StaffMember\n"
        "from conversations.services.presence import presence_set\n"
        f"presence_set(staff=StaffMember.objects.get(user__username='{username}'), presence='{presence}')\n"
    )


def test_a_transfer_alerts_the_new_representative_and_the_new_queues_supervisor_and_not_the_old(
    scored, actors, server
):
    rita = actors.staff("rita", "/workspace/")
    raj = actors.staff("raj", "/workspace/")
    admin = actors.staff("admin", "/ongoing/")
    try:
        _presence(server, "sam", "away")  # Sam hears of it only as the new queue's supervisor
        chat, customer = actors.customer(queue="Billing")
        expect(tab(rita, customer)).to_be_visible(timeout=5_000)
        conversation = row(admin, customer).get_attribute("data-conversation", timeout=5_000)
        say(chat, ANGRY_EN)
        tab(rita, customer).click()
        expect(rita.locator(".session-panel:not([hidden]) .panel-alert")).to_contain_text(
            "Alert", timeout=10_000
        )
        old_monitor = actors.staff("rita", f"/conversations/{conversation}/monitor/")
        _presence(server, "sam", "available")
        sam = actors.staff("sam", "/ongoing/")

        admin.goto(f"/conversations/{conversation}/route/")
        admin.get_by_label("Queue").select_option(label="Technical support")
        admin.get_by_label("Representative (optional)").select_option(label="Raj Patel")
        admin.get_by_role("button", name="Transfer").click()
        expect(admin.locator(".flash")).to_contain_text("transferred")

        # The new representative is alerted at once; the new queue's supervisor gets a toast.
        expect(tab(raj, customer)).to_be_visible(timeout=5_000)
        tab(raj, customer).click()
        expect(raj.locator(".session-panel:not([hidden]) .panel-alert")).to_contain_text(
            "Alert", timeout=5_000
        )
        expect(sam.locator(".toast", has_text=customer)).to_be_visible(timeout=5_000)
        # The old representative's workspace and monitor let go of it, and hear nothing more.
        expect(tab(rita, customer)).to_have_count(0, timeout=5_000)
        expect(old_monitor.locator("#monitor-status")).to_have_text(
            "No longer yours to monitor", timeout=5_000
        )
        transcript = old_monitor.locator(".transcript li.msg")
        before = transcript.count()
        say(chat, "Is anybody there? Hello?")
        expect(raj.locator(".session-panel:not([hidden]) .msg-customer .msg-text").last).to_have_text(
            "Is anybody there? Hello?", timeout=5_000
        )
        old_monitor.wait_for_timeout(500)
        assert transcript.count() == before
    finally:
        _presence(server, "sam", "available")


def test_a_supervisor_who_moves_to_the_dashboard_then_monitor_still_gets_a_toast(scored, actors, server):
    rep = actors.staff("rita", "/workspace/")
    sam = actors.staff("sam", "/ongoing/")
    try:
        chat, customer = actors.customer(queue="Billing")
        expect(row(sam, customer)).to_be_visible(timeout=5_000)
        conversation = row(sam, customer).get_attribute("data-conversation")

        sam.get_by_role("link", name="Sentiment dashboard").click()
        sam.locator('#staff-conn[data-state="live"]').wait_for(timeout=10_000)
        set_presence(sam, "busy")  # Busy still gets notifications
        sam.wait_for_timeout(500)
        sam.goto(f"/conversations/{conversation}/monitor/")
        sam.locator('#staff-conn[data-state="live"]').wait_for(timeout=10_000)
        expect(sam.get_by_label("Presence")).to_have_value("busy")  # the choice survived the move

        chat2, customer2 = actors.customer(queue="Billing")
        expect(tab(rep, customer2)).to_be_visible(timeout=5_000)
        say(chat2, ANGRY_EN)
        toast = sam.locator("#staff-toasts .toast", has_text=customer2)
        expect(toast).to_be_visible(timeout=10_000)
        toast.get_by_role("button", name="Acknowledge").click()
        expect(toast).to_have_count(0, timeout=5_000)
        state = server.orm(
            "from conversations.models import StaffMember\n"
            "print(StaffMember.objects.get(user__username='sam').presence)"
        )
        assert state == "busy"
    finally:
        _presence(server, "sam", "available")


def test_while_monitoring_is_off_the_open_report_says_so_for_as_long_as_it_is_off(actors, server):
    sam = actors.staff("sam", "/ongoing/")
    admin = actors.staff("admin", "/insights/sentiment/")
    try:
        admin.get_by_label("Monitor real-time customer sentiment").uncheck()
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator(".flash")).to_contain_text("saved")
        banner = sam.locator("#monitoring-off")
        expect(banner).to_be_visible(timeout=5_000)
        expect(sam.locator("body")).to_have_attribute("data-monitoring", "off")
        sam.wait_for_timeout(21_000)  # the old notice went away after 20 s
        expect(banner).to_be_visible()
        sam.goto("/dashboard/")  # and a page opened meanwhile says so too
        expect(sam.locator("#monitoring-off")).to_be_visible()
        admin.get_by_label("Monitor real-time customer sentiment").check()
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(sam.locator("#monitoring-off")).to_be_hidden(timeout=5_000)
        expect(sam.locator("body")).to_have_attribute("data-monitoring", "on")
    finally:
        server.orm(
            "from django.contrib.auth import get_user_model\n"
            "from insights.services.settings import sentiment_settings_update\n"
            "sentiment_settings_update(actor=get_user_model().objects.get(username='admin'), monitoring_enabled=True)\n"
        )


def test_a_supervisors_tabs_on_two_processes_keep_presence_and_get_the_toast(scored, actors, server):
    """Production topology: two Daphne processes behind one address, PostgreSQL and Redis. The
    supervisor's tab on the first process closes; the tab on the second keeps them Available
    and gets the toast of a conversation served by the first."""
    import os

    if not os.environ.get("REDIS_URL"):
        pytest.skip("two Daphne processes share a channel layer only with Redis (REDIS_URL)")
    second = server.second_process()
    rep = actors.staff("rita", "/workspace/")
    sam = actors.staff("sam", "/ongoing/")
    other_tab = sam.context.new_page()
    other_tab.goto(second + "/dashboard/")
    other_tab.locator('#staff-conn[data-state="live"]').wait_for(timeout=10_000)
    sam.close()
    other_tab.wait_for_timeout(1_500)  # well past the grace period (0.2 s in the test settings)
    assert (
        server.orm(
            "from conversations.models import StaffMember\n"
            "print(StaffMember.objects.get(user__username='sam').presence)"
        )
        == "available"
    )

    chat, customer = actors.customer(queue="Billing")
    expect(tab(rep, customer)).to_be_visible(timeout=5_000)
    say(chat, ANGRY_EN)
    expect(other_tab.locator("#staff-toasts .toast", has_text=customer)).to_be_visible(timeout=10_000)
