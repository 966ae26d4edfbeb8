"""The scoring lease: processes that sweep pending messages never score one at the same time,
and a crashed claimer's messages are taken over once its lease expires."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Message, ScoringStatus
from insights.pipeline.claim import pending_message_ids, scoring_claim, scoring_release
from insights.pipeline.store import scoring_results_store
from insights.selectors import sentiment_settings_get
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.insights.pipeline.lease_claimer import CHUNK
from tests.insights.standin_scorer import result_for

ROOT = Path(__file__).resolve().parents[3]


def _pending(count: int, *, per_conversation: int = 10) -> list[int]:
    ids = []
    for start in range(0, count, per_conversation):
        conversation = ConversationFactory()
        for seq in range(1, min(per_conversation, count - start) + 1):
            message = MessageFactory(
                conversation=conversation, seq=seq, text="level:-1", scoring_status=ScoringStatus.PENDING
            )
            ids.append(message.pk)
    return ids


def _claimed(ids, claimer, now) -> list[int]:
    jobs, _ = scoring_claim(ids, claimer=claimer, now=now)
    return sorted(job.message_id for job in jobs)


@pytest.mark.django_db
def test_a_crashed_claimers_messages_are_taken_over_once_its_lease_expires(settings):
    settings.SENTIMENT_SCORING_LEASE_SECONDS = 30
    ids = _pending(3)
    t0 = timezone.now()
    assert _claimed(ids, "a", t0) == ids
    # "a" crashes while scoring. Until its lease expires nobody else scores them, and the
    # sweeps do not offer them again.
    almost = t0 + timedelta(seconds=29)
    assert _claimed(ids, "b", almost) == []
    assert pending_message_ids(now=almost) == []
    assert pending_message_ids(now=almost, claimer="a") == ids  # its own, were it back
    expired = t0 + timedelta(seconds=31)
    assert pending_message_ids(now=expired) == ids
    assert _claimed(ids, "b", expired) == ids
    assert set(Message.objects.filter(pk__in=ids).values_list("scoring_claimed_by", flat=True)) == {"b"}
    # "a" was only slow, not dead: it no longer gets them (its store would be a no-op anyway).
    assert _claimed(ids, "a", expired + timedelta(seconds=1)) == []
    # The holder's own retry renews its lease past the first expiry.
    renewed = expired + timedelta(seconds=20)
    assert _claimed(ids, "b", renewed) == ids
    assert _claimed(ids, "a", expired + timedelta(seconds=35)) == []


@pytest.mark.django_db
def test_a_stored_message_is_claimed_by_nobody_even_after_its_lease_expired():
    ids = _pending(2)
    t0 = timezone.now()
    assert _claimed(ids, "a", t0) == ids
    scoring_results_store([(ids[0], result_for("level:-1"))])
    later = t0 + timedelta(hours=1)
    assert _claimed(ids, "b", later) == [ids[1]]
    assert pending_message_ids(now=later) == []  # ids[1] is b's now


@pytest.mark.django_db
def test_a_claimer_without_a_model_releases_its_lease_for_another_at_once():
    ids = _pending(2)
    t0 = timezone.now()
    assert _claimed(ids, "a", t0) == ids
    scoring_release(ids, claimer="b")  # not b's to release
    assert _claimed(ids, "b", t0) == []
    scoring_release(ids, claimer="a")
    assert _claimed(ids, "b", t0) == ids


def _database_url(tmp_path: Path) -> str:
    """A database the claimer processes share with this test: PostgreSQL's test database, or
    a file copy of SQLite's in-memory test database (which other processes cannot open)."""
    if connection.vendor == "sqlite":
        path = tmp_path / "claims.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        # WAL before the claimers open it: each connection's init_command switches the
        # journal mode, which needs the file to itself, so two claimers connecting at once
        # failed with "database is locked" (27 of 200 tries), busy timeout or not.
        target.execute("PRAGMA journal_mode=WAL")
        target.close()
        return f"sqlite:///{path}"
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_claimers_racing_over_the_same_pending_messages_never_both_get_one(tmp_path):
    sentiment_settings_get()  # the settings row exists before the race
    ids = _pending(240)
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="sentiment_admin.settings.test",
        DATABASE_URL=_database_url(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    names = ("claimer-1", "claimer-2")
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.insights.pipeline.lease_claimer",
                name,
                str(tmp_path),
                str(k * len(ids) // (CHUNK * len(names))),  # the claimers half-way apart
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, name in enumerate(names)
    }
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{name}").exists() for name in names):
            assert time.monotonic() < deadline, "the claimers never got ready"
            exited = {name: p for name, p in procs.items() if p.poll() is not None}
            assert not exited, {name: p.communicate()[1][-2000:] for name, p in exited.items()}
            time.sleep(0.02)
        (tmp_path / "go").touch()
        outputs = {name: p.communicate(timeout=60) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for name, (_out, err) in outputs.items():
        assert procs[name].returncode == 0, err
    got = {name: json.loads(out.strip().splitlines()[-1]) for name, (out, _) in outputs.items()}
    first, second = (set(got[name]) for name in names)
    assert first & second == set(), "a message was claimed by both"
    assert first | second == set(ids)
    assert len(got[names[0]]) + len(got[names[1]]) == len(ids)
    # Both took part (otherwise nothing raced).
    assert first and second, {name: len(v) for name, v in got.items()}
