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


@pytest.fixture(scope="session")
def live_server_proc():
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def server(live_server_proc):
    return live_server_proc


@pytest.fixture(scope="session")
def scoring_ready(live_server_proc):
    """The sentiment model loads (bundled encoder built and a trained head present), warmed up
    so the first timed message does not pay for loading it."""
    out = live_server_proc.orm(
        "from insights.scoring.engine import get_scorer\n"
        "try:\n"
        "    get_scorer().warm_up(); print('ok')\n"
        "except Exception as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    return out.splitlines()[-1] if out else "unavailable"


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

    def staff(self, username: str, path: str):
        page = self._context().new_page()
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
