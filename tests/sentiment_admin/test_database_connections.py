"""Persistent database connections (DB_CONN_MAX_AGE, on by default): async code reuses one
PostgreSQL backend instead of opening one per operation, and a backend that the server
dropped (a restart, an idle timeout, an operator's pg_terminate_backend) is replaced on the
next operation instead of failing it. The suite itself closes connections after each use
(settings/test.py), so these tests turn persistence on for their own connections."""

from __future__ import annotations

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

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


def _persistent(enabled: bool) -> None:
    connection.settings_dict["CONN_MAX_AGE"] = settings.DB_CONN_MAX_AGE if enabled else 0
    if not enabled:
        connection.close()


def _terminate(pid: int) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
async def persistent_connections():
    # database_sync_to_async runs on asgiref's one thread: its connection is the one to set.
    await database_sync_to_async(_persistent)(True)
    yield
    await database_sync_to_async(_persistent)(False)


async def test_async_database_calls_reuse_one_backend(persistent_connections):
    assert settings.DB_CONN_MAX_AGE > 0  # the default
    first = await database_sync_to_async(_backend_pid)()
    second = await database_sync_to_async(_backend_pid)()
    assert first == second


async def test_a_backend_dropped_by_the_server_is_replaced_on_the_next_call(persistent_connections):
    dropped = await database_sync_to_async(_backend_pid)()
    _terminate(dropped)
    replacement = await database_sync_to_async(_backend_pid)()
    assert replacement != dropped
