"""Faults: a scoring worker killed mid-batch, Redis restarted during traffic, a model that
fails to load. Every stored message must end up scored and delivered; sequence numbers make
the representative's screen show each score exactly once.

The process tests need the production topology (PostgreSQL + Redis): they are skipped unless
DATABASE_URL points at PostgreSQL and REDIS_URL is set, as in CI's second run. They start real
``runworker sentiment-scoring`` processes (and, for the Redis restart, ``bin/center-production``)
against the test database, with ``tests/fault_settings.py``: a slow stand-in scorer, so that a
batch is reliably in flight when the worker is killed. Every process is started in its own
process group and killed with it at teardown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from conversations.models import Message, ScoringStatus, Sender
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
)
from tests.conversations.wsutil import (
    chat_socket,
    close_all,
    next_frame,
    scoring_runtime,  # noqa: F401  (fixture)
    send,
    staff_socket,
)
from tests.live_process import ROOT, LiveProcess, free_port, shared_database_url

REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
needs_topology = pytest.mark.skipif(
    not (REDIS_URL and ON_POSTGRES),
    reason="process faults need the production topology: set DATABASE_URL (PostgreSQL) and REDIS_URL",
)
# Restarting Redis disturbs everyone else using it on the machine (other developers' test runs,
# benchmarks): that test runs in CI (CI=true, which owns the machine) or when asked for.
restarts_redis = pytest.mark.skipif(
    not (os.environ.get("CI") or os.environ.get("FAULTS_RESTART_REDIS")),
    reason="restarts the machine's shared Redis: runs in CI (CI=true) or with FAULTS_RESTART_REDIS=1",
)
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


# --------------------------------------------------------------------------- processes


class Processes:
    """The test's processes, started on the suite's database and Redis as production runs them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[LiveProcess] = []
        self.marker_dir = tmp_path / "marker"
        self.marker_dir.mkdir()

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.fault_settings",
            DATABASE_URL=shared_database_url(),
            REDIS_URL=REDIS_URL,
            CHANNELS_PREFIX=django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            SENTIMENT_SCORING_MODE="worker",
            FAULT_MARKER_DIR=str(self.marker_dir),
            FAULT_SCORER_DELAY="0.1",
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        env.update(extra)
        return env

    def start(self, name: str, argv: list[str], env: dict) -> LiveProcess:
        proc = LiveProcess(argv, env=env, log=self.tmp_path / f"{name}-{len(self.running)}.log")
        self.running.append(proc)
        return proc

    def worker(self, **extra: str) -> LiveProcess:
        proc = self.start(
            "worker", [sys.executable, "manage.py", "runworker", "sentiment-scoring"], self.env(**extra)
        )
        proc.wait_for_output("Running worker for channels")
        return proc

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.stop()


@pytest.fixture
def procs(tmp_path):
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


# --------------------------------------------------------------------------- helpers


@database_sync_to_async
def _world(conversations: int = 3):
    queue = QueueFactory(name="Faults")
    rep = RepresentativeFactory(queues=[queue])
    convs = [ConversationFactory(queue=queue, representative=rep) for _ in range(conversations)]
    return rep, convs


def _statuses(conversation_ids) -> dict[tuple[int, int], str]:
    return {
        (c, s): st
        for c, s, st in Message.objects.filter(
            conversation_id__in=list(conversation_ids), sender=Sender.CUSTOMER
        ).values_list("conversation_id", "seq", "scoring_status")
    }


async def _wait_all_scored(conversation_ids, expected: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        statuses = await database_sync_to_async(_statuses)(conversation_ids)
        if len(statuses) == expected and all(s != ScoringStatus.PENDING for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            pending = sorted(k for k, s in statuses.items() if s == ScoringStatus.PENDING)
            raise AssertionError(
                f"{len(pending)} of {len(statuses)} stored messages still pending after "
                f"{timeout:.0f}s: {pending[:20]}"
            )
        await asyncio.sleep(0.2)


async def _screen(comm, keys: set, timeout: float) -> dict:
    """What the representative's screen shows: conversation.scored frames per (conversation, seq)."""
    seen: dict[tuple[int, int], int] = {}
    deadline = time.monotonic() + timeout
    while set(seen) < keys and time.monotonic() < deadline:
        try:
            frame = await comm.receive_json_from(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        if frame.get("type") == "conversation.scored":
            key = (frame["conversation"], frame["seq"])
            seen[key] = seen.get(key, 0) + 1
    # A little longer, to catch late duplicates.
    while not await comm.receive_nothing(timeout=0.5):
        frame = await comm.receive_json_from()
        if frame.get("type") == "conversation.scored":
            key = (frame["conversation"], frame["seq"])
            seen[key] = seen.get(key, 0) + 1
    return seen


async def _send_messages(chats, count: int, start: int = 0) -> list[tuple[int, int]]:
    """Send ``count`` messages round-robin over the chat sockets; returns their (conversation, seq)."""
    keys = []
    for i in range(start, start + count):
        conv, comm = chats[i % len(chats)]
        await send(comm, type="message.send", text=f"my parcel is late ({i})", client_id=i)
        ack = await next_frame(comm, "message.ack", client_id=i)
        keys.append((conv.pk, ack["seq"]))
    return keys


def _wait_marker(procs: Processes, pid: int, timeout: float = 20) -> None:
    marker = procs.marker_dir / "batch"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text() == str(pid):
            return
        time.sleep(0.01)
    raise AssertionError("the worker never started a batch")


# --------------------------------------------------------------------------- worker killed


async def _kill_worker_mid_batch(procs: Processes, *, more_traffic: bool) -> None:
    rep, convs = await _world()
    ids = [c.pk for c in convs]
    worker = await asyncio.to_thread(procs.worker, FAULT_SCORER_DELAY="3")
    screen = await staff_socket(rep)
    chats = [(c, await chat_socket(c)) for c in convs]
    try:
        keys = await _send_messages(chats, 12)
        await asyncio.to_thread(_wait_marker, procs, worker.pid)
        await asyncio.to_thread(worker.kill)  # SIGKILL while it holds a batch
        statuses = await database_sync_to_async(_statuses)(ids)
        assert any(s == ScoringStatus.PENDING for s in statuses.values()), "nothing was in flight"

        await asyncio.to_thread(procs.worker, FAULT_SCORER_DELAY="0.05")
        if more_traffic:
            keys += await _send_messages(chats, 6, start=12)
        statuses = await _wait_all_scored(ids, len(keys), timeout=30)
        assert set(statuses) == set(keys)
        shown = await _screen(screen, set(keys), timeout=15)
    finally:
        await close_all(screen, *(c for _, c in chats))
    missing = set(keys) - set(shown)
    duplicated = {k: n for k, n in shown.items() if n > 1}
    assert not missing, f"scores never reached the representative: {sorted(missing)}"
    assert not duplicated, f"scores shown more than once: {duplicated}"

    # A reconnecting screen catches up on every score once, from the sequence numbers.
    screen = await staff_socket(rep)
    try:
        for conv in convs:
            await send(screen, type="catch_up", conversation=conv.pk, after_seq=0)
            await next_frame(screen, "catch_up.done", conversation=conv.pk)
        frames = [f for f in screen.pending if f.get("type") == "conversation.scored"]
    finally:
        await close_all(screen)
    caught = [(f["conversation"], f["seq"]) for f in frames]
    assert sorted(caught) == sorted(keys)


@needs_topology
@pytest.mark.django_db(transaction=True)
async def test_a_worker_killed_mid_batch_and_restarted_scores_everything_exactly_once(procs):
    await _kill_worker_mid_batch(procs, more_traffic=True)


@needs_topology
@pytest.mark.django_db(transaction=True)
async def test_a_restarted_worker_recovers_the_killed_batch_without_new_traffic(procs):
    """The last messages of a conversation must not wait for someone else's next message."""
    await _kill_worker_mid_batch(procs, more_traffic=False)


# --------------------------------------------------------------------------- model fails


@needs_topology
@pytest.mark.django_db(transaction=True)
async def test_a_worker_whose_model_fails_to_load_says_so_and_keeps_messages_pending(procs, tmp_path):
    rep, convs = await _world(conversations=1)
    ids = [convs[0].pk]
    broken = await asyncio.to_thread(
        procs.worker,
        FAULT_REAL_SCORER="1",
        SENTIMENT_MODEL=str(tmp_path / "no-such-model"),
    )
    chat = await chat_socket(convs[0])
    try:
        keys = await _send_messages([(convs[0], chat)], 3)
        await asyncio.to_thread(broken.wait_for_output, "model unavailable", 60)
        await asyncio.sleep(1.0)
        statuses = await database_sync_to_async(_statuses)(ids)
        assert set(statuses) == set(keys)
        assert set(statuses.values()) == {ScoringStatus.PENDING}, "messages must stay pending, not be dropped"
        assert broken.poll() is None, (
            "the worker must stay up (and keep the messages) while the model is broken"
        )
        log = broken.output()
        assert "no-such-model" in log or "SENTIMENT_MODEL" in log, "the error must say which model failed"

        # Fix the model (a healthy worker): the kept messages are scored, none lost.
        broken.kill()
        await asyncio.to_thread(procs.worker)
        keys += await _send_messages([(convs[0], chat)], 1, start=3)
        statuses = await _wait_all_scored(ids, len(keys), timeout=30)
    finally:
        await close_all(chat)
    assert set(statuses.values()) == {ScoringStatus.SCORED}


class _BrokenScorer:
    def warm_up(self):
        from insights.scoring import ModelUnavailable

        raise ModelUnavailable("the model directory /nowhere is empty: run `manage.py sentiment_build`")

    def score(self, texts, **kwargs):
        self.warm_up()


def broken_scorer() -> _BrokenScorer:
    return _BrokenScorer()


class _GoodScorer:
    def score(self, texts, **kwargs):
        return [
            {
                "language": "en",
                "supported": True,
                "score": -0.45,
                "level": -1,  # insights.levels: -0.45 is slightly negative
                "confidence": 0.9,
                "probabilities": {"negative": 0.45},
                "model_version": "fault-good",
            }
            for _ in texts
        ]


def good_scorer() -> _GoodScorer:
    return _GoodScorer()


@pytest.mark.django_db(transaction=True)
async def test_in_process_scoring_with_a_broken_model_logs_a_clear_error_and_keeps_messages(settings):
    """The embedded default (and any mode): nothing is dropped while the model is broken."""
    from insights.pipeline.runtime import scoring_runtime_start, scoring_runtime_stop

    settings.SENTIMENT_SCORING_MODE = "inprocess"
    settings.SENTIMENT_SCORER = "tests.test_faults.broken_scorer"
    rep, convs = await _world(conversations=1)
    ids = [convs[0].pk]
    records: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: records.append(record.getMessage())
    scoring_logger = logging.getLogger("insights.pipeline")
    scoring_logger.addHandler(handler)
    chat = await chat_socket(convs[0])
    try:
        keys = await _send_messages([(convs[0], chat)], 3)
        deadline = time.monotonic() + 15
        while not records and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        text = "\n".join(records)
        assert "unavailable" in text and "sentiment_build" in text, text
        await asyncio.sleep(0.5)
        statuses = await database_sync_to_async(_statuses)(ids)
        assert set(statuses) == set(keys) and set(statuses.values()) == {ScoringStatus.PENDING}

        # The model comes back (a restart with a good model): every kept message is scored.
        await scoring_runtime_stop()
        settings.SENTIMENT_SCORER = "tests.test_faults.good_scorer"
        await scoring_runtime_start()
        statuses = await _wait_all_scored(ids, len(keys), timeout=20)
    finally:
        scoring_logger.removeHandler(handler)
        await close_all(chat)
        await scoring_runtime_stop()
    assert set(statuses.values()) == {ScoringStatus.SCORED}


# --------------------------------------------------------------------------- Redis restarted


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _restart_redis(down_for: float) -> None:
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=15
    )
    time.sleep(down_for)
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(REDIS_START, check=True, capture_output=True, timeout=15)
    deadline = time.monotonic() + 15
    while not _redis_up():
        if time.monotonic() > deadline:
            raise AssertionError("Redis did not come back")
        time.sleep(0.1)


@pytest.fixture
def redis_guard():
    """Whatever happens in the test, Redis is running afterwards."""
    yield
    if not _redis_up():
        os.makedirs("/var/lib/redis", exist_ok=True)
        os.makedirs("/var/log/redis", exist_ok=True)
        subprocess.run(REDIS_START, capture_output=True, timeout=15)


class _Screen:
    """A representative's browser tab: reconnects, catches up, and keeps one score per
    (conversation, seq) — the sequence numbers make a re-sent score land on the same row."""

    def __init__(self, url: str, cookie: str, conversations: list[int]) -> None:
        self.url, self.cookie, self.conversations = url, cookie, conversations
        self.rows: dict[tuple[int, int], dict] = {}
        self.created: set[tuple[int, int]] = set()
        self.duplicates_per_connection = 0
        self.connections = 0
        self.stop = asyncio.Event()

    def _after_seq(self, conversation: int) -> int:
        unscored = [s for (c, s) in self.created if c == conversation and (c, s) not in self.rows]
        if unscored:
            return min(unscored) - 1
        seqs = [s for (c, s) in self.rows if c == conversation]
        return max(seqs, default=0)

    async def run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        while not self.stop.is_set():
            try:
                origin = "http://" + self.url.split("://", 1)[1].split("/", 1)[0]
                async with connect(
                    self.url, origin=origin, open_timeout=5, additional_headers={"Cookie": self.cookie}
                ) as ws:
                    self.connections += 1
                    this_connection: set[tuple[int, int]] = set()
                    for conv in self.conversations:
                        await ws.send(
                            json.dumps(
                                {"type": "catch_up", "conversation": conv, "after_seq": self._after_seq(conv)}
                            )
                        )
                    while not self.stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                        except TimeoutError:
                            continue
                        frame = json.loads(raw)
                        key = (frame.get("conversation"), frame.get("seq"))
                        if frame.get("type") == "message.created":
                            self.created.add(key)
                        elif frame.get("type") == "conversation.scored":
                            if key in this_connection:
                                self.duplicates_per_connection += 1
                            this_connection.add(key)
                            self.rows[key] = frame
            except (TimeoutError, OSError, WebSocketException):
                await asyncio.sleep(0.3)


@needs_topology
@restarts_redis
@pytest.mark.django_db(transaction=True)
async def test_redis_restarted_during_traffic_loses_nothing(procs, redis_guard):
    from tests.conversations.wsutil import session_cookie

    rep, convs = await _world(conversations=3)
    ids = [c.pk for c in convs]
    port = free_port()
    center = procs.start(
        "center",
        [
            sys.executable,
            str(ROOT / "bin" / "center-production"),
            "--skip-setup",
            "--settings",
            "tests.fault_settings",
            "--web",
            "1",
            "--workers",
            "1",
            "--port",
            str(port),
            "--grace",
            "3",
        ],
        procs.env(FAULT_SCORER_DELAY="0.05"),
    )
    await asyncio.to_thread(center.wait_for_output, "ready:", 60)
    base = f"ws://127.0.0.1:{port}"
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={await session_cookie(rep)}"
    screen = _Screen(f"{base}/ws/staff/", cookie, ids)
    screen_task = asyncio.create_task(screen.run())

    acked: dict[int, tuple[int, int]] = {}
    refused: list[dict] = []

    async def customer(conv, offset: int, count: int) -> None:
        """Sends ``count`` messages at 5/s; an unacknowledged message is re-sent after a
        reconnect only if it was not stored (the catch-up tells), so nothing is stored twice."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        i = 0
        while i < count:
            client_id = offset + i
            try:
                async with connect(
                    f"{base}/ws/chat/{conv.customer_token}/", origin="http" + base[2:], open_timeout=5
                ) as ws:
                    while i < count:
                        client_id = offset + i
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "message.send",
                                    "text": f"late parcel {client_id}",
                                    "client_id": client_id,
                                }
                            )
                        )
                        while True:
                            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                            if frame.get("client_id") == client_id:
                                break
                        if frame["type"] == "message.ack":
                            acked[client_id] = (conv.pk, frame["seq"])
                        else:
                            refused.append(frame)
                        i += 1
                        await asyncio.sleep(0.2)
            except (TimeoutError, OSError, WebSocketException):
                # Did the message we were waiting for get stored? Then it is not sent again.
                texts = await database_sync_to_async(
                    lambda: dict(
                        Message.objects.filter(conversation=conv, sender=Sender.CUSTOMER).values_list(
                            "text", "seq"
                        )
                    )
                )()
                if f"late parcel {client_id}" in texts:
                    acked[client_id] = (conv.pk, texts[f"late parcel {client_id}"])
                    i += 1
                await asyncio.sleep(0.3)

    senders = [asyncio.create_task(customer(c, n * 1000, 15)) for n, c in enumerate(convs)]
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(_restart_redis, 1.0)  # during the traffic
        await asyncio.wait_for(asyncio.gather(*senders), timeout=60)
        stored = await database_sync_to_async(_statuses)(ids)
        statuses = await _wait_all_scored(ids, len(stored), timeout=40)
        deadline = time.monotonic() + 20
        while set(statuses) - set(screen.rows) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        for task in senders:
            task.cancel()
        screen.stop.set()
        await asyncio.gather(screen_task, *senders, return_exceptions=True)
    assert not refused, refused
    assert set(acked.values()) <= set(statuses), "an acknowledged message was not stored"
    assert len(statuses) == 45, f"{len(statuses)} stored for 45 sent: lost or duplicated"
    missing = set(statuses) - set(screen.rows)
    assert not missing, f"stored but never on the representative's screen: {sorted(missing)}"
    assert screen.duplicates_per_connection == 0
    assert screen.connections >= 2, "the screen was expected to reconnect after the restart"


def test_the_production_runner_refuses_to_start_with_a_model_that_fails_to_load(tmp_path):
    """A clear error at start, and no process started that would take messages it cannot score."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.fault_settings",
        FAULT_REAL_SCORER="1",
        SENTIMENT_MODEL=str(tmp_path / "no-such-model"),
        DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/unused",
        REDIS_URL=REDIS_URL or "redis://127.0.0.1:6379/0",
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bin" / "center-production"),
            "--skip-setup",
            "--web",
            "1",
            "--workers",
            "1",
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 3, result.stderr
    assert "the sentiment model failed to load" in result.stderr
    assert "no-such-model" in result.stderr
    assert "started web" not in result.stderr and "started scoring" not in result.stderr


def test_the_production_runner_setup_collects_static_files_under_production_settings(tmp_path):
    """`bin/center-production` runs collectstatic with the production (manifest) storage: a
    static file that references a missing file stops the whole center from starting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="sentiment_admin.settings.production",
        DJANGO_SECRET_KEY="k" * 30 + "-Zq7!" + "w3" * 20,
        DJANGO_ALLOWED_HOSTS="center.example.com",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        SENTIMENT_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-1500:]
    assert (tmp_path / "static" / "staticfiles.json").exists()
