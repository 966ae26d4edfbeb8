"""Data loading, evaluation and head training (used by the management commands and bench/)."""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

LABEL_NAMES = ("negative", "neutral", "positive")
CUSTOMER_SERVICE_EXAMPLES = Path(__file__).resolve().parent / "data" / "customer_service.tsv"
_LABEL_ALIASES = {
    "0": 0, "negative": 0, "neg": 0, "-1": 0,
    "1": 1, "neutral": 1, "neu": 1,
    "2": 2, "positive": 2, "pos": 2,
}


@dataclass
class Example:
    text: str
    label: int
    group: str  # the language directory in the UMSAB layout, or "csv" / "customer_service"


def parse_label(value: str) -> int:
    key = str(value).strip().lower()
    if key not in _LABEL_ALIASES:
        raise ValueError(f"unknown label {value!r}: use 0/1/2 or negative/neutral/positive")
    return _LABEL_ALIASES[key]


def load_split(directory: Path, split: str) -> dict[str, list[Example]]:
    """UMSAB layout: <dir>/<language>/<split>_text.txt and <split>_labels.txt, line-aligned."""
    directory = Path(directory)
    out: dict[str, list[Example]] = {}
    for lang_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        text_file = lang_dir / f"{split}_text.txt"
        label_file = lang_dir / f"{split}_labels.txt"
        if not (text_file.exists() and label_file.exists()):
            continue
        texts = text_file.read_text("utf-8").split("\n")
        labels = label_file.read_text("utf-8").split("\n")
        if texts and texts[-1] == "" and labels and labels[-1] == "":
            texts, labels = texts[:-1], labels[:-1]
        if len(texts) != len(labels):
            raise ValueError(f"{lang_dir}: {len(texts)} texts but {len(labels)} labels for {split}")
        out[lang_dir.name] = [Example(t, parse_label(l), lang_dir.name) for t, l in zip(texts, labels)]
    if not out:
        raise ValueError(f"no <language>/{split}_text.txt + {split}_labels.txt under {directory}")
    return out


def load_csv(path: Path) -> list[Example]:
    """A CSV of text,label (a header row naming them is optional; label 0/1/2 or names)."""
    rows = list(csv.reader(Path(path).open(encoding="utf-8", newline="")))
    if rows and rows[0][:2] and rows[0][0].strip().lower() == "text":
        rows = rows[1:]
    return [Example(r[0], parse_label(r[1]), "csv") for r in rows if len(r) >= 2 and r[0].strip()]


def load_customer_service_examples() -> list[Example]:
    out = []
    for line in CUSTOMER_SERVICE_EXAMPLES.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, label = line.rsplit("\t", 1)
        out.append(Example(text, parse_label(label), "customer_service"))
    return out


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int = 3) -> float:
    """Macro-averaged F1 over the classes, in percent."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in range(n_classes):
        tp = int(((y_pred == c) & (y_true == c)).sum())
        fp = int(((y_pred == c) & (y_true != c)).sum())
        fn = int(((y_pred != c) & (y_true == c)).sum())
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return 100.0 * float(np.mean(scores))


def train_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    hidden: int = 256,
    epochs: int = 40,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    dropout: float = 0.3,
    batch_size: int = 128,
    seed: int = 0,
    log: Callable[[str], None] = lambda msg: None,
):
    """Train a :class:`SentimentHead` on precomputed features; keep the best epoch on val."""
    import torch

    from .head import SentimentHead

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.asarray(x_train, dtype=np.float32))
    y = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    w = torch.from_numpy(np.ones(len(y), np.float32) if weights is None else weights.astype(np.float32))
    head = SentimentHead(x.shape[1], hidden=hidden, dropout=dropout)
    head.mean.copy_(x.mean(0))
    head.scale.copy_(x.std(0).clamp(min=1e-4))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    best = (-1.0, None, 0)
    for epoch in range(epochs):
        head.train()
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            idx = torch.from_numpy(order[start : start + batch_size])
            loss = torch.nn.functional.cross_entropy(head(x[idx]), y[idx], reduction="none")
            loss = (loss * w[idx]).sum() / w[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if x_val is not None:
            f1 = macro_f1(y_val, predict(head, x_val).argmax(1))
            if f1 > best[0]:
                best = (f1, {k: v.clone() for k, v in head.state_dict().items()}, epoch + 1)
    if best[1] is not None:
        head.load_state_dict(best[1])
        log(f"best val macro-F1 {best[0]:.2f} at epoch {best[2]}/{epochs}")
    head.eval()
    return head, (best[2] if best[1] is not None else epochs)


def predict(head, features: np.ndarray) -> np.ndarray:
    import torch

    head.eval()
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.asarray(features, dtype=np.float32)))
        return torch.softmax(logits, dim=-1).numpy()


def shuffled(items: Iterable, seed: int = 0) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def extract_features(backend, texts: Sequence[str], *, batch_size: int = 32,
                     progress: Callable[[Iterable], Iterable] | None = None) -> np.ndarray:
    """Pooled encoder features of ``texts`` (a :class:`BundledBackend`), in input order."""
    lengths = backend.token_lengths(texts)
    order = sorted(range(len(texts)), key=lambda k: lengths[k])
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = None
    for chunk in (progress(chunks) if progress else chunks):
        feats = backend.features([texts[k] for k in chunk]).numpy()
        if out is None:
            out = np.zeros((len(texts), feats.shape[1]), dtype=np.float32)
        out[chunk] = feats
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
