"""bench/profile_split.py: each py-spy sample goes to the library whose code it is in."""

from __future__ import annotations

import pytest

from bench.profile_split import library_of, split

LOOP = "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:83)"


@pytest.mark.parametrize(
    ("stack", "library"),
    [
        # Standard library under a library counts as that library (json for channels_redis).
        (
            "run (asyncio/events.py:84);group_send (channels_redis/pubsub.py:120);"
            "serialize (channels_redis/serializers.py:30);dumps (json/__init__.py:231)",
            "channels_redis + redis client",
        ),
        # The innermost library wins: the ORM waiting on psycopg is the client's time.
        (
            f"{LOOP};message_ingest (conversations/services/ingest.py:40);"
            "save (django/db/models/base.py:800);execute (psycopg/cursor.py:97)",
            "PostgreSQL client (psycopg)",
        ),
        (
            f"{LOOP};message_ingest (conversations/services/ingest.py:40);"
            "save (django/db/models/base.py:800)",
            "Django ORM",
        ),
        # The lockstep detector runs NumPy: still language detection, not the model.
        (
            "score (insights/scoring/engine.py:10);detect (insights/scoring/ngram_detector.py:90);"
            "_prod (numpy/core/fromnumeric.py:88)",
            "language detection (langdetect, lockstep n-grams)",
        ),
        (
            "score (insights/scoring/engine.py:10);forward (torch/nn/modules/module.py:1500)",
            "model (torch, transformers, tokenizers)",
        ),
        # Under Daphne's reactor with nothing else in between: the loop itself.
        (
            "AsyncioSelectorReactor.run (twisted/internet/asyncioreactor.py:255);"
            "BaseEventLoop._run_once (asyncio/base_events.py:1922);Handle._run (asyncio/events.py:80)",
            "asyncio event loop and socket I/O",
        ),
        (
            "AsyncioSelectorReactor.run (twisted/internet/asyncioreactor.py:255);"
            "Handle._run (asyncio/events.py:80);onMessage (autobahn/websocket/protocol.py:10)",
            "ASGI server (daphne, twisted, autobahn)",
        ),
        (f"{LOOP};levels (insights/levels.py:12)", "this project's code"),
        (LOOP, "python (stdlib)"),
        # Absolute paths (a file py-spy could not place on sys.path) are read past site-packages.
        (
            "recv (/srv/venv/lib/python3.11/site-packages/autobahn/websocket/protocol.py:10)",
            "ASGI server (daphne, twisted, autobahn)",
        ),
    ],
)
def test_a_sample_goes_to_the_innermost_library_in_its_stack(stack, library):
    assert library_of(stack.split(";")) == library


def test_a_raw_profile_is_counted_by_samples(tmp_path):
    raw = tmp_path / "web.txt"
    raw.write_text(
        "thread (1): MainThread;forward (torch/nn/modules/module.py:1500) 3\n"
        "thread (1): MainThread;save (django/db/models/base.py:800) 1\n"
        "garbage line\n"
    )
    assert split(raw) == {"model (torch, transformers, tokenizers)": 3, "Django ORM": 1}
