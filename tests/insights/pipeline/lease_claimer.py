"""One claimer process for the lease race in ``test_claim``: waits for the start signal, then
claims the given pending messages in small chunks, as a sweeping process does, and prints
the ids it got as JSON.

Run as ``python -m tests.insights.pipeline.lease_claimer NAME WORK_DIR START``; ``WORK_DIR``
holds ``ids.json``, this claimer writes ``ready-NAME`` and waits for ``go``. It goes through
all the chunks from chunk ``START`` on, wrapping around: two claimers starting half-way apart
each claim from the start, and race over every chunk once they reach the other's, however the
machine schedules them (both starting at the first chunk, a claimer scheduled late on a
loaded machine found every message taken and the race never happened)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

CHUNK = 4


def main(name: str, work_dir: Path, start_chunk: int) -> None:
    import django

    django.setup()
    from insights.pipeline.claim import scoring_claim

    ids = json.loads((work_dir / "ids.json").read_text())
    scoring_claim([], claimer=name)  # connect and read the settings before the start
    (work_dir / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (work_dir / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal")
        time.sleep(0.001)
    chunks = [ids[k : k + CHUNK] for k in range(0, len(ids), CHUNK)]
    got: list[int] = []
    for chunk in chunks[start_chunk:] + chunks[:start_chunk]:
        jobs, _ = scoring_claim(chunk, claimer=name)
        got.extend(job.message_id for job in jobs)
    print(json.dumps(got))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
