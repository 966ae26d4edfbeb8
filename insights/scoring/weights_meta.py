"""Where the project's trained weights live, and their metadata, readable without torch (the web
processes show some of it and never load the model)."""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
HEAD_META = "head.json"


def read_head_meta(directory: Path = WEIGHTS_DIR) -> dict:
    """``head.json`` of ``directory`` (written by sentiment_train); {} when missing or unreadable."""
    try:
        meta = json.loads((Path(directory) / HEAD_META).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}
