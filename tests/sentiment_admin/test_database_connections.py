"""PostgreSQL connections per process: persistent by default (DB_CONN_MAX_AGE), from a pool
with DB_POOL=1. Either way async code reuses backends instead of opening one per operation,
and a backend that the server dropped (a restart, an idle timeout, an operator's
pg_terminate_backend) is replaced on the next operation instead of failing it. The suite
itself closes connections after each use and has no pool (settings/test.py), so the
in-process tests turn each mode on for their own connections. The live test starts a Daphne
in each mode and counts its backends under concurrent requests: each request's thread closes
its connection at its end (sentiment_admin/connections.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import httpx
import psutil
import psycopg
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from tests.live_process import LiveProcess, free_port, shared_database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="backends and their termination are PostgreSQL's: set DATABASE_URL",
    ),
]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _mode(mode: str | None) -> None:
    """Persistent connections, the pool as production configures it, or neither (None)."""
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = settings.DB_CONN_MAX_AGE if mode == "persistent" else 0
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if mode == "pooled":
        options["pool"] = {
            "min_size": settings.DB_POOL_MIN_SIZE,
            "max_size": settings.DB_POOL_MAX_SIZE,
            "timeout": settings.DB_POOL_TIMEOUT,
        }
    elif "pool" in options:
        connection.close_pool()
        del options["pool"]


def _terminate(pids) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(pids)])


@pytest.fixture(params=["pooled", "persistent"])
async def reused_connections(request):
    # database_sync_to_async runs on asgiref's one thread: its connection is the one to set.
    await database_sync_to_async(_mode)(request.param)
    yield request.param
    await database_sync_to_async(_mode)(None)


async def _pids(calls: int) -> list[int]:
    return [await database_sync_to_async(_backend_pid)() for _ in range(calls)]


async def test_async_database_calls_reuse_backends(reused_connections):
    pids = await _pids(12)
    if reused_connections == "persistent":
        assert len(set(pids)) == 1, pids
    else:
        # The pool may open a connection beyond its minimum while the first ones start.
        assert len(set(pids)) <= min(settings.DB_POOL_MAX_SIZE, 4), pids


async def test_a_backend_dropped_by_the_server_is_replaced_on_the_next_call(reused_connections):
    dropped = set(await _pids(4))
    _terminate(dropped)
    replacement = await database_sync_to_async(_backend_pid)()
    assert replacement not in dropped


# --------------------------------------------------------------------------- a live Daphne

REDIS_URL = os.environ.get("REDIS_URL", "")
CONCURRENT, ROUNDS = 16, 5


def _backends_of(pid: int) -> int:
    """The process's backends in pg_stat_activity: matched by the client port of each of its
    TCP connections to the server, so the test process's own connections do not count."""
    server_port = int(connection.settings_dict["PORT"] or 5432)
    ports = [
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == server_port
    ]
    if not ports:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY(%s)",
            [ports],
        )
        return cursor.fetchone()[0]


@database_sync_to_async
def _conversation_and_key():
    from conversations.services.ingest import integration_token_create
    from tests.conversations.factories import ConversationFactory, QueueFactory, RepresentativeFactory

    queue = QueueFactory(name="Connections")
    conversation = ConversationFactory(queue=queue, representative=RepresentativeFactory(queues=[queue]))
    _token, key = integration_token_create(name="connections")
    return conversation.pk, key


@pytest.fixture(params=[False, True], ids=["persistent", "pooled"])
def daphne(request, tmp_path):
    """One Daphne with the settings of the processes that the fault tests start (production's
    database settings, or the pool: DB_POOL=1), on the test database and the suite's Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DB_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.fault_settings",
        DATABASE_URL=shared_database_url(),
        REDIS_URL=REDIS_URL,
        CHANNELS_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        SENTIMENT_SCORING_MODE="worker",
        # One conversation takes every request here.
        CUSTOMER_RATE_LIMIT_PER_MINUTE="100000",
        DB_POOL="1" if request.param else "0",
    )
    port = free_port()
    proc = LiveProcess(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "sentiment_admin.asgi:application",
        ],
        env=env,
        log=tmp_path / "daphne.log",
    )
    try:
        proc.wait_for_port(port)
        yield port, proc, request.param
    finally:
        proc.kill()


async def _settled(pid: int, at_most: int, timeout: float = 3.0) -> int:
    """The process's backends once its requests have ended (a response reaches the client just
    before the request's thread closes its connection)."""
    deadline = time.monotonic() + timeout
    while True:
        count = await database_sync_to_async(_backends_of)(pid)
        if count <= at_most or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


@pytest.mark.live
@pytest.mark.skipif(not REDIS_URL, reason="the web process sends to the scoring workers: set REDIS_URL")
async def test_a_web_process_holds_its_connections_to_its_requests_in_flight_or_its_pool(daphne):
    port, proc, pooled = daphne
    conversation, key = await _conversation_and_key()
    # With the pool, at most its size; without, one per request in flight plus the threads that
    # live on (the sockets' database thread, the outbox sender), none once the requests ended.
    in_flight, settled = (
        (settings.DB_POOL_MAX_SIZE, settings.DB_POOL_MAX_SIZE) if pooled else (CONCURRENT + 2, 2)
    )
    peak, sampling = 0, True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, await database_sync_to_async(_backends_of)(proc.pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
        limits=httpx.Limits(max_connections=CONCURRENT),
    ) as client:
        for round_ in range(ROUNDS):
            posted = await asyncio.gather(
                *(
                    client.post(
                        f"/api/conversations/{conversation}/messages/",
                        json={"text": f"round {round_} message {i}"},
                    )
                    for i in range(CONCURRENT)
                )
            )
            assert [r.status_code for r in posted] == [201] * CONCURRENT, posted[0].text
    sampling = False
    await sampler
    # Each request runs on a thread of its own (asgiref's ThreadSensitiveContext): a persistent
    # connection kept per thread piled up to one per request until garbage collection (48 here).
    after = await _settled(proc.pid, settled)
    assert after <= settled, f"{after} backends after the requests ended"
    assert peak <= in_flight, f"{peak} backends with {CONCURRENT} requests at a time"
