"""The pages on a 390 × 844 phone screen, as each role would use them: no page is wider than
the screen, no control is smaller than 24 × 24 px (WCAG 2.5.8; links inside a line of text
are exempt), the workspace's reply box is on the first screen with a short conversation, and
the Ongoing report's sort control stays in sight when the table turns into cards."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, close_all, conversation, team

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = {"width": 390, "height": 844}

SMALL_TARGETS = """() => [...document.querySelectorAll('a[href], button, select, input:not([type=hidden]), textarea, summary')]
  .filter((e) => e.offsetParent !== null && !e.closest('.visually-hidden, .skip-link'))
  .filter((e) => !(e.tagName === 'A' && e.closest('p, .breadcrumb, td, dd')))  // inline in text
  .map((e) => { const r = e.getBoundingClientRect(); return {what: e.outerHTML.slice(0, 80), w: r.width, h: r.height}; })
  .filter((r) => r.w < 24 || r.h < 24)"""


def on_phone(actors, username: str):
    context = actors.browser.new_context(base_url=actors.server.url, viewport=PHONE)
    actors.contexts.append(context)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def problems(page) -> list[str]:
    found = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        found.append(f"{page.url} is {width} px wide")
    found += [
        f"{page.url}: {t['what']} is {t['w']:.0f} × {t['h']:.0f} px" for t in page.evaluate(SMALL_TARGETS)
    ]
    return found


def test_the_workspace_on_a_phone_has_the_reply_box_on_the_first_screen(actors, server):
    names = team(server)
    only = conversation(server, names, f"Phone {secrets.token_hex(2)}", level=-1)
    try:
        page = on_phone(actors, names["rep"])
        page.goto("/workspace/")
        reply = page.locator(f"#reply-{only}")
        expect(reply).to_be_visible()
        box = reply.bounding_box()
        assert box["y"] + box["height"] <= PHONE["height"], box
        assert not problems(page), "\n".join(problems(page))
    finally:
        close_all(server, [only])


def test_the_ongoing_report_on_a_phone_keeps_its_sort_control_and_big_enough_targets(actors, server):
    names = team(server)
    ids = [
        conversation(server, names, f"Card {i} {secrets.token_hex(2)}", level=-2, notify=True)
        for i in range(3)
    ]
    try:
        page = on_phone(actors, names["sup"])
        page.goto("/ongoing/")
        expect(page.locator("#report tbody tr")).to_have_count(3)
        expect(page.get_by_role("button", name="Most negative first")).to_be_visible()
        assert not problems(page), "\n".join(problems(page))
    finally:
        close_all(server, ids)


@pytest.mark.parametrize(
    ("username", "paths"),
    [
        ("sam", ["/dashboard/"]),
        ("admin", ["/insights/", "/insights/sentiment/", "/insights/integrations/", "/corrections/"]),
    ],
)
def test_the_other_pages_fit_a_phone(actors, username, paths):
    page = on_phone(actors, username)
    found = []
    for path in paths:
        page.goto(path)
        found += problems(page)
    assert not found, "\n".join(found)
