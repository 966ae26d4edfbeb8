"""Processes the suite starts for real (Daphne, scoring workers, the production runner) and the
ports they listen on: one way to start them, wait for them and make sure none outlives its test.

Each process runs in a session of its own, so stopping it stops whatever it started too, and
writes its output to a log file that a failing test prints.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port no one listens on now (the OS picks it; a process started next may take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_database_url() -> str:
    """The suite's test database as a URL, for processes that must see the rows a test made."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class LiveProcess:
    """One started process: its pid, its output so far, and waits that fail with that output."""

    def __init__(self, argv: list[str], *, env: dict, log: Path, cwd: Path = ROOT) -> None:
        self.argv = argv
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _failure(self, what: str) -> AssertionError:
        ended = "" if self.poll() is None else f" (it exited with {self.poll()})"
        return AssertionError(f"{Path(self.argv[0]).name}: {what}{ended}:\n{self.output()[-3000:]}")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.poll() is not None:
                break
            time.sleep(0.1)
        raise self._failure(f"{text!r} did not appear")

    def wait_for_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise self._failure(f"nothing listened on {port}")

    def send_signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10) -> None:
        """``sig`` to the process's session (sent even when the process itself has ended: what it
        started may not have), and SIGKILL to it if it has not ended after ``grace``."""
        self.send_signal(sig)
        try:
            self.wait(grace)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            self.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
