"""The database connections of the HTTP requests that Daphne serves.

Django's ASGI handler runs each request's sync code on a thread of its own (asgiref's
ThreadSensitiveContext), and that thread never runs again. A persistent connection
(``DB_CONN_MAX_AGE`` > 0) opened there stayed open until Python's garbage collector found it:
one Daphne process held 48 PostgreSQL backends after 80 REST posts, 16 at a time, and two busy
ones could exhaust the server's ``max_connections``. So a request's connections are closed
when it ends. The threads that live on keep theirs: the sockets' database thread (every
``database_sync_to_async`` call, where a new backend per customer message cost a fifth of the
throughput, docs/benchmarks.md) and the outbox sender's. With the pool (``DB_POOL``) closing
gives the connection back to it.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished
from django.db import connections


def close_request_connections(**kwargs) -> None:
    for conn in connections.all(initialized_only=True):
        # Never inside a transaction that the request did not open (a test's).
        if conn.connection is not None and not conn.in_atomic_block:
            conn.close()


def close_connections_after_each_request() -> None:
    """Only the requests of Django's ASGI handler (Daphne): the test client's share a thread."""
    request_finished.connect(
        close_request_connections, sender=ASGIHandler, dispatch_uid="sentiment_admin.connections"
    )
