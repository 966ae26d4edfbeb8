"""bench/pipeline.py's CPU accounting: per message by process kind, only the bench's
database counted on a shared PostgreSQL server, and the peak of the center's connections."""

from __future__ import annotations

import pytest

from bench.cpu_accounting import ProcessSampler, per_message, postgresql_counts


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


def test_the_sampler_keeps_the_largest_connection_count_and_survives_a_failed_count():
    counts = iter([3, 7, None, 5])

    def connections() -> int:
        value = next(counts, 2)
        if value is None:
            raise OSError("server busy")
        return value

    sampler = ProcessSampler(database=None, connections=connections)
    for _ in range(5):
        sampler._sample()
    assert sampler.peak_connections == 7


def test_without_a_counter_the_sampler_reports_no_connection_peak():
    sampler = ProcessSampler(database=None)
    sampler._sample()
    assert sampler.peak_connections is None
