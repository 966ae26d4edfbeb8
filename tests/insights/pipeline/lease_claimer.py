"""One claimer process for the lease race in ``test_claim``: waits for the start signal, then
claims the given pending messages in small chunks, as a sweeping process does, and prints
the ids it got as JSON.

Run as ``python -m tests.insights.pipeline.lease_claimer NAME WORK_DIR``; ``WORK_DIR`` holds
``ids.json``, this claimer writes ``ready-NAME`` and waits for ``go``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

CHUNK = 4


def main(name: str, work_dir: Path) -> None:
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
    got: list[int] = []
    for start in range(0, len(ids), CHUNK):
        jobs, _ = scoring_claim(ids[start : start + CHUNK], claimer=name)
        got.extend(job.message_id for job in jobs)
    print(json.dumps(got))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
