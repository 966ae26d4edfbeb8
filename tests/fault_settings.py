"""Settings for the processes that tests/test_faults.py starts (scoring workers, Daphne).

The test settings, plus a slow, deterministic stand-in scorer so that a worker can be killed
*while* it holds a batch: each ``score()`` call writes ``<pid>`` to ``FAULT_MARKER_DIR/batch``
and then takes ``FAULT_SCORER_DELAY`` seconds. ``FAULT_REAL_SCORER=1`` keeps the real scorer
(``SENTIMENT_MODEL`` then decides which model loads, or fails to).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sentiment_admin.settings.test import *

# These processes are killed, not torn down: they keep their connections as production does
# (the pool, or persistent connections with DB_POOL=0).
DATABASES["default"] = PRODUCTION_DATABASE
# A killed worker's leased batch is taken over within the tests' patience.
SENTIMENT_SCORING_LEASE_SECONDS = 5.0

if os.environ.get("FAULT_REAL_SCORER") != "1":
    SENTIMENT_SCORER = "tests.fault_settings.slow_scorer"


class SlowScorer:
    def score(self, texts, *, language_hints=None, multilingual=True, base_language="en"):
        marker = os.environ.get("FAULT_MARKER_DIR")
        if marker:
            Path(marker, "batch").write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("FAULT_SCORER_DELAY", "0.5")))
        out = []
        for text in texts:
            negative = any(word in text.lower() for word in ("angry", "terrible", "late"))
            score = -0.45 if negative else 0.2
            out.append(
                {
                    "language": "en",
                    "supported": True,
                    "probabilities": {
                        "negative": max(0.0, -score),
                        "neutral": 0.5,
                        "positive": max(0.0, score),
                    },
                    "score": score,
                    "level": -1 if negative else 1,  # the bands of insights.levels
                    "confidence": 0.9,
                    "model_version": "fault-stand-in",
                }
            )
        return out


def slow_scorer() -> SlowScorer:
    return SlowScorer()
