"""End-to-end: alerts reach the right person (issue "Alerts reach the right person, every
time"), in Chromium against a real Daphne.

Each test starts its own customers (unique names); presences and thresholds changed by a
test are put back at its end.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import say
from tests.browser.test_live_views import ANGRY_EN, tab

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
    expect(panel.locator(".comm-sentiment .sentiment")).to_have_attribute("data-level-value", re.compile("^[123]$"), timeout=8_000)
    expect(panel.locator(".panel-alert")).to_be_hidden()

    say(chat, ANGRY_EN)
    # The mean of the six is still positive; the outburst takes the conversation to Negative.
    expect(panel.locator(".panel-alert")).to_be_visible(timeout=10_000)  # a loaded 2-core box
    expect(panel.locator(".panel-alert")).to_contain_text("Alert")
    expect(panel.locator(".comm-sentiment .sentiment")).to_have_attribute("data-level-value", re.compile("^-[23]$"))
