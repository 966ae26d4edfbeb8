"""bench/pipeline.py's CPU accounting: per message by process kind, and only the bench's
database counted on a shared PostgreSQL server."""

from __future__ import annotations

import pytest

from bench.cpu_accounting import per_message, postgresql_counts


def test_the_pipeline_is_every_process_kind_but_the_load_generator():
    measured = {
        "web:8201": 2.0,
        "web:8202": 2.0,
        "scoring-worker.1": 3.0,
        "scoring-worker.2": 1.0,
        "postgresql": 1.0,
        "redis-server": 1.0,
        "bench-client": 5.0,
    }
    cpu = per_message(measured, delivered=100)
    assert cpu["by_kind"] == {
        "client": 50.0,
        "postgresql": 10.0,
        "redis": 10.0,
        "scoring_workers": 40.0,
        "web": 40.0,
    }
    assert cpu["pipeline"] == 100.0


@pytest.mark.parametrize(
    ("title", "counted"),
    [
        ("postgres: 15/main: postgres sentiment_bench 127.0.0.1(41234) idle", True),
        ("postgres: postgres sentiment_bench [local] idle in transaction", True),
        ("postgres: 15/main: postgres someone_elses_db 127.0.0.1(41236) SELECT", False),
        ("postgres: 15/main: checkpointer ", True),
        ("postgres: 15/main: walwriter ", True),
        ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", True),
        ("postgres: 15/main: ", None),
    ],
)
def test_only_the_bench_databases_backends_and_the_servers_own_work_are_counted(title, counted):
    assert postgresql_counts(title, "sentiment_bench") is counted
