"""Screenshots of every view for docs/screenshots/, against a real Daphne with demo traffic.

    .venv/bin/python -m tests.browser.screenshots [--seconds 40]

Starts a throwaway server (its own SQLite file), back-fills two weeks of history, plays demo
traffic through the REST API, then signs in as each role and photographs its pages.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from tests.browser.server import ROOT, LiveServer, launch_chromium

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "demo1234"


def login(browser, server, username, *, width=1366, height=900):
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def settle(page, ms=600):
    if page.locator("#conn-status").count():
        page.locator('#conn-status[data-state="live"]').wait_for(timeout=10_000)
    page.wait_for_timeout(ms)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40, help="demo traffic to play before the shots")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    server = LiveServer(settings_module="sentiment_admin.settings.local").start()
    traffic = None
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = launch_chromium(p)
            # Staff pages open first: their sockets keep the demo staff Available for routing.
            rita = login(browser, server, "rita")
            rita.goto("/workspace/")
            sam = login(browser, server, "sam")
            sam.goto("/ongoing/")
            settle(rita), settle(sam)
            traffic = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "demo_traffic",
                    "--url",
                    server.url,
                    "--rate",
                    "4",
                    "--concurrent",
                    "8",
                    "--seed",
                    "3",
                    "--history-days",
                    "14",
                ],
                cwd=ROOT,
                env=server.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(args.seconds)

            # A customer's own chat page, with an answer from the representative.
            chat = browser.new_context(base_url=server.url, viewport={"width": 900, "height": 800}).new_page()
            chat.goto("/chat/")
            chat.screenshot(path=str(OUT / "chat-start.png"))
            chat.fill("#chat-name", "Lucía Fernández")
            chat.select_option("#chat-queue", label="Billing")
            chat.click("button[type=submit]")
            settle(chat)
            for text in (
                "Hola, no puedo acceder a mi factura.",
                "¡Llevo una semana esperando y nadie me ayuda! Es una vergüenza, estoy furiosa.",
            ):
                chat.fill("#chat-text", text)
                chat.click("#chat-form button[type=submit]")
                chat.wait_for_timeout(1500)
            rita.locator(".session-tab", has_text="Lucía Fernández").click()
            panel = rita.locator(".session-panel:not([hidden])")
            panel.locator("textarea").fill("Lo siento mucho, Lucía. Ya estoy revisando tu cuenta.")
            panel.locator(".reply-form button[type=submit]").click()
            chat.wait_for_timeout(1500)
            chat.screenshot(path=str(OUT / "chat.png"))

            rita.wait_for_timeout(1000)
            rita.screenshot(path=str(OUT / "workspace.png"), full_page=True)
            sam.wait_for_timeout(500)
            sam.screenshot(path=str(OUT / "ongoing.png"))

            conversation = sam.locator("#report tbody tr").first.get_attribute("data-conversation")
            worst = sam.locator(
                '#report tbody tr[data-level-value="-3"], #report tbody tr[data-level-value="-2"]'
            )
            if worst.count():
                conversation = worst.first.get_attribute("data-conversation")
            monitor = login(browser, server, "sam")
            monitor.goto(f"/conversations/{conversation}/monitor/")
            settle(monitor, 1500)
            monitor.screenshot(path=str(OUT / "monitor.png"), full_page=True)
            monitor.goto(f"/conversations/{conversation}/route/")
            monitor.screenshot(path=str(OUT / "assign-transfer.png"))

            admin = login(browser, server, "admin", height=1700)
            admin.goto("/dashboard/")
            admin.wait_for_timeout(1500)
            admin.screenshot(path=str(OUT / "dashboard.png"))
            admin.goto("/insights/sentiment/")
            admin.screenshot(path=str(OUT / "insights-settings.png"), full_page=True)

            # A correction from the monitor view, then the admins' list.
            monitor.goto(f"/conversations/{conversation}/monitor/")
            settle(monitor)
            first = monitor.locator("details.correct").first
            if first.count():
                first.locator("summary").click()
                first.locator("select").select_option("0")
                first.locator("button[type=submit]").click()
                monitor.wait_for_timeout(800)
            admin.goto("/corrections/")
            admin.screenshot(path=str(OUT / "corrections.png"))

            phone = login(browser, server, "sam", width=390, height=844)
            phone.goto("/ongoing/")
            settle(phone, 1000)
            phone.screenshot(path=str(OUT / "ongoing-mobile.png"), full_page=True)
            # The representative's phone: the first screen, as it shows (the reply box on it).
            phone_rep = login(browser, server, "rita", width=390, height=844)
            phone_rep.goto("/workspace/")
            settle(phone_rep, 1000)
            lucia = phone_rep.locator(".session-tab", has_text="Lucía Fernández")
            if lucia.count():
                lucia.click()
                phone_rep.wait_for_timeout(500)
            phone_rep.screenshot(path=str(OUT / "workspace-mobile.png"))
            browser.close()
    finally:
        if traffic is not None:
            traffic.terminate()
            traffic.wait(timeout=10)
        server.stop()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
