"""The production topology spread over several hosts (docs/operations.md, "Several hosts").

``bin/center-production`` runs one host kind per invocation: web processes only
(``--workers 0``), scoring workers only (``--web 0``), or both. The steps before starting
depend on the kind: static files where web processes serve them, the model where workers
score, migrations once per release from one place.

The multi-host test runs three runners on this machine as three "hosts" that share nothing
but PostgreSQL and Redis: each has its own working directory, HOME, temporary, var, static and
model directories, log directory and port. It needs the production topology, so it is skipped
unless DATABASE_URL points at PostgreSQL and REDIS_URL is set (as ``tests/test_faults.py``).
The worker host scores with the stand-in scorer of ``tests/fault_settings.py``; the web hosts
are given no usable model at all, since a web-only host needs none.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from conversations.models import Message, ScoringStatus, Sender
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import session_cookie
from tests.live_process import ROOT, LiveProcess, free_port, shared_database_url

RUNNER = ROOT / "bin" / "center-production"
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
needs_topology = pytest.mark.skipif(
    not (REDIS_URL and ON_POSTGRES),
    reason="several hosts share PostgreSQL and Redis: set DATABASE_URL (PostgreSQL) and REDIS_URL",
)


def _runner_module():
    """``bin/center-production`` as a module (a script without the .py suffix)."""
    name = "center_production"
    if name not in sys.modules:
        loader = importlib.machinery.SourceFileLoader(name, str(RUNNER))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
        sys.modules[name] = module  # before running it: its dataclasses look their module up
        loader.exec_module(module)
    return sys.modules[name]


# --------------------------------------------------------------------------- per host kind


def _steps(**kwargs) -> list[str]:
    options = {"skip_setup": False, "skip_migrate": False, "skip_model": False} | kwargs
    return _runner_module().setup_steps(**options)


def test_a_web_only_host_collects_static_files_and_neither_builds_nor_loads_the_model():
    assert _steps(web=2, workers=0) == ["migrate", "collectstatic"]
    assert _steps(web=2, workers=0, skip_migrate=True) == ["collectstatic"]
    assert _steps(web=2, workers=0, skip_setup=True) == []


def test_a_worker_only_host_builds_and_checks_the_model_and_collects_no_static_files():
    assert _steps(web=0, workers=2) == ["migrate", "sentiment_build", "preflight"]
    assert _steps(web=0, workers=2, skip_migrate=True) == ["sentiment_build", "preflight"]
    # Started without setup, a worker host still refuses a model that does not load.
    assert _steps(web=0, workers=2, skip_setup=True) == ["preflight"]


def test_a_host_running_both_kinds_does_every_step():
    assert _steps(web=2, workers=2) == ["migrate", "collectstatic", "sentiment_build", "preflight"]


@pytest.mark.parametrize("web,workers", [(0, 0), (-1, 2), (2, -1)])
def test_the_runner_refuses_a_host_without_any_process(monkeypatch, capsys, web, workers):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    code = _runner_module().main(["--web", str(web), "--workers", str(workers), "--skip-setup"])
    assert code == 2
    assert "--web and --workers" in capsys.readouterr().err


# --------------------------------------------------------------------------- several hosts


class Host:
    """One ``bin/center-production`` in a directory of its own, as on a machine of its own."""

    STARTED = re.compile(r"started (\S+) \(pid (\d+)\)")

    def __init__(self, base: Path, name: str, argv: list[str], env: dict) -> None:
        self.name = name
        self.dir = base / name
        self.logs = self.dir / "logs"
        for sub in ("home", "tmp", "var", "static", "models", "logs"):
            (self.dir / sub).mkdir(parents=True)
        self.log = self.dir / "runner.log"
        self.proc = LiveProcess(
            [sys.executable, str(RUNNER), *argv, "--log-dir", str(self.logs), "--grace", "3"],
            env=env | self._own_dirs(),
            log=self.log,
            cwd=self.dir,
        )

    def _own_dirs(self) -> dict:
        return {
            "HOME": str(self.dir / "home"),
            "TMPDIR": str(self.dir / "tmp"),
            "SENTIMENT_VAR_DIR": str(self.dir / "var"),
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "SENTIMENT_MODEL_DIR": str(self.dir / "models"),
        }

    def output(self) -> str:
        text = self.log.read_text(errors="replace")
        for child in sorted(self.logs.glob("*.log")):
            text += f"\n--- {child.name}\n" + child.read_text(errors="replace")
        return text

    def children(self) -> dict[str, int]:
        """The runner's processes by name (web.1, scoring.1, ...): the last pid of each."""
        return {name: int(pid) for name, pid in self.STARTED.findall(self.log.read_text(errors="replace"))}

    def wait_for(self, text: str, *, in_log: str | None = None, timeout: float = 90) -> None:
        path = self.logs / in_log if in_log else self.log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"host {self.name}: {text!r} did not appear:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM to the runner (it stops its children), then SIGKILL to whatever is left,
        the runner's own children included: nothing outlives the test."""
        self.proc.stop(grace=10)
        # Each child runs in a session of its own, out of reach of the runner's.
        for pid in self.children().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def hosts(tmp_path):
    started: list[Host] = []

    def start(name: str, argv: list[str], **extra: str) -> Host:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST", "DJANGO_", "SENTIMENT_", "FAULT_", "CHANNELS_"))
        }
        # What every host must share: the database, Redis and its key prefix, the secret key
        # (the session cookies made here are checked against it), the settings.
        env.update(
            DATABASE_URL=shared_database_url(),
            REDIS_URL=REDIS_URL,
            CHANNELS_PREFIX=django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
            **extra,
        )
        host = Host(tmp_path, name, ["--settings", "tests.fault_settings", "--skip-setup", *argv], env)
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


@database_sync_to_async
def _world():
    from conversations.services.ingest import integration_token_create

    queue = QueueFactory(name="Topology")
    rep = RepresentativeFactory(queues=[queue])
    supervisor = SupervisorFactory(queues=[queue])
    conversation = ConversationFactory(queue=queue, representative=rep)
    _token, key = integration_token_create(name="topology")
    return rep, supervisor, conversation, key


class _Socket:
    """A browser's socket to one host: counts the ``conversation.scored`` frames per (conversation, seq)."""

    def __init__(self, port: int, path: str, cookie: str) -> None:
        self.url = f"ws://127.0.0.1:{port}{path}"
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie = f"{django_settings.SESSION_COOKIE_NAME}={cookie}"
        self.scored: dict[tuple[int, int], int] = {}
        self.ws = None
        self.task: asyncio.Task | None = None

    async def open(self) -> _Socket:
        import websockets

        # Returns once the consumer accepted: it joined its groups before that.
        self.ws = await websockets.connect(
            self.url, origin=self.origin, additional_headers={"Cookie": self.cookie}, open_timeout=20
        )
        self.task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("type") == "conversation.scored":
                key = (frame["conversation"], frame["seq"])
                self.scored[key] = self.scored.get(key, 0) + 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def _stored(conversation_id: int) -> list[dict]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, sender=Sender.CUSTOMER).values(
            "seq", "scoring_status", "scoring_claimed_by", "model_version", "sentiment_level"
        )
    )


@needs_topology
@pytest.mark.live
@pytest.mark.django_db(transaction=True)
async def test_a_message_posted_to_one_web_host_is_scored_by_the_worker_host_and_shown_once_on_each(hosts):
    rep, supervisor, conversation, key = await _world()
    port_a, port_b = free_port(), free_port()
    # The web hosts have no usable model: a web-only host neither builds nor loads one (a
    # host with workers would refuse to start with it, exit code 3).
    no_model = {"FAULT_REAL_SCORER": "1", "SENTIMENT_MODEL": "/nonexistent/model"}
    web_a = hosts("web-a", ["--web", "1", "--workers", "0", "--port", str(port_a)], **no_model)
    web_b = hosts("web-b", ["--web", "1", "--workers", "0", "--port", str(port_b)], **no_model)
    worker = hosts("worker", ["--web", "0", "--workers", "1"], FAULT_SCORER_DELAY="0.05")
    for host in (web_a, web_b, worker):
        await asyncio.to_thread(host.wait_for, "ready:")
    await asyncio.to_thread(worker.wait_for, "Running worker for channels", in_log="scoring.1.log")

    rep_cookie, sup_cookie = await session_cookie(rep), await session_cookie(supervisor)
    sockets = {
        "representative's workspace on B": _Socket(port_b, "/ws/staff/", rep_cookie),
        "supervisor's Ongoing page on A": _Socket(port_a, "/ws/staff/", sup_cookie),
        "supervisor's monitor on A": _Socket(port_a, f"/ws/monitor/{conversation.pk}/", sup_cookie),
    }
    try:
        for sock in sockets.values():
            await sock.open()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}", timeout=30) as client:
            posted = await client.post(
                f"/api/conversations/{conversation.pk}/messages/",
                json={"text": "my parcel is late again"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert posted.status_code == 201, posted.text
        wanted = (conversation.pk, posted.json()["seq"])

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(wanted in s.scored for s in sockets.values()):
            await asyncio.sleep(0.05)
        # Longer than the outbox's re-send delay (3 s, every 2 s): a second announcement
        # from any process would arrive within this.
        await asyncio.sleep(4.0)
    finally:
        for sock in sockets.values():
            await sock.close()

    shown = {name: sock.scored.get(wanted, 0) for name, sock in sockets.items()}
    assert shown == dict.fromkeys(sockets, 1), f"conversation.scored per socket: {shown}"

    stored = await database_sync_to_async(_stored)(conversation.pk)
    assert len(stored) == 1, stored
    assert stored[0]["scoring_status"] == ScoringStatus.SCORED
    assert stored[0]["model_version"] == "fault-stand-in"
    # Who leased and scored it: host name and process id of the worker host's scoring process.
    scorer_pid = worker.children()["scoring.1"]
    assert stored[0]["scoring_claimed_by"] == f"{socket.gethostname()[:40]}:{scorer_pid}", (
        stored[0]["scoring_claimed_by"],
        {"web-a": web_a.children(), "web-b": web_b.children(), "worker": worker.children()},
    )
    for host in (web_a, web_b):
        assert "model unavailable" not in host.output(), "a web host tried to score"
