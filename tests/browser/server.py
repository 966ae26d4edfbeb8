"""A real Daphne for the browser tests (and the screenshot script): the in-process scorer, the
demo organisation, and a database of its own: a SQLite file on the embedded default, a fresh
PostgreSQL database (created at start, dropped at stop) when the suite runs on PostgreSQL, or
``BROWSER_DATABASE_URL`` as given. ``REDIS_URL``, when set, is its channel layer.

The server runs the test settings in a subprocess; the tests talk to it only through the
browser and through :meth:`LiveServer.orm`, which runs a snippet of Django code against the
same database in a short-lived process (for setup that has no page, e.g. thresholds).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.live_process import ROOT, LiveProcess, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class LiveServer:
    def __init__(
        self, *, settings_module: str = "sentiment_admin.settings.test", log_name: str = "daphne.log"
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sentiment-browser-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "SENTIMENT_VAR_DIR": str(self.tmp),
            "SENTIMENT_SCORING_MODE": "inprocess",
            "CHANNELS_PREFIX": f"browser{secrets.token_hex(4)}",
            "DEMO_TRAFFIC": "0",
            "PYTHONUNBUFFERED": "1",
        }
        # Never the suite's own database: the tests' transactions would hide the server's rows.
        self.env.pop("DATABASE_URL", None)
        self.own_database: tuple[str, str] | None = None  # (server's admin url, database name)
        if os.environ.get("BROWSER_DATABASE_URL"):
            self.env["DATABASE_URL"] = os.environ["BROWSER_DATABASE_URL"]
        elif _is_postgres(os.environ.get("DATABASE_URL")):
            parts = urlsplit(os.environ["DATABASE_URL"])
            name = f"{parts.path.lstrip('/') or 'postgres'}_browser_{secrets.token_hex(4)}"
            self.env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
            self.own_database = (urlunsplit(parts._replace(path="/postgres")), name)
        self.log_path = self.tmp / log_name
        self.proc: LiveProcess | None = None
        self.peers: list[LiveProcess] = []

    def manage(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def orm(self, code: str) -> str:
        """Run Django code against the server's database; returns what it prints."""
        script = "import django; django.setup()\n" + code
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"orm snippet failed:\n{result.stderr}")
        return result.stdout.strip()

    def start(self) -> LiveServer:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LiveServer:
        if self.own_database:
            _postgres_admin(self.own_database[0], f'CREATE DATABASE "{self.own_database[1]}"')
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo")
        self.proc = self._daphne(self.port, self.log_path)
        return self

    def _daphne(self, port: int, log_path: Path) -> LiveProcess:
        proc = LiveProcess(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "sentiment_admin.asgi:application",
            ],
            env=self.env,
            log=log_path,
        )
        # Listening is not enough: the first page is served once Django has loaded.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).read()
                return proc
            except OSError:
                time.sleep(0.3)
        proc.stop()
        raise RuntimeError(f"daphne did not answer (exit status {proc.poll()}):\n{proc.output()}")

    def second_process(self) -> str:
        """Start a second Daphne process on the same database and channel layer (a second
        machine behind the load balancer) and return its base URL; ``stop`` stops it too.
        Cookies do not depend on the port, so a signed-in browser is signed in on both."""
        port = free_port()
        self.peers.append(self._daphne(port, self.tmp / f"daphne-{port}.log"))
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()
        self.peers = []
        if self.proc:
            self.proc.stop()
        if self.own_database:
            _postgres_admin(
                self.own_database[0], f'DROP DATABASE IF EXISTS "{self.own_database[1]}" WITH (FORCE)'
            )
            self.own_database = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def _is_postgres(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


def _postgres_admin(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
