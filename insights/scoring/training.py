"""Data loading, evaluation and head training (used by the management commands and bench/)."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_admin.exports import csv_text_unquote

LABEL_NAMES = ("negative", "neutral", "positive")
CUSTOMER_SERVICE_EXAMPLES = Path(__file__).resolve().parent / "data" / "customer_service.tsv"
# UMSAB training groups left out by default. Hindi's labels teach nothing the model can use on
# Hindi (models trained on them alone score at chance in the XLM-T paper), and they hurt: the
# head retrained over the same encoder without them read our own held-out graded Hinglish at
# the exact level 33% of the time instead of 21% (right direction 48% instead of 39%) and
# Devanagari Hindi 74% instead of 68%, the other seven languages' val within noise. Hindi is
# still scored: the encoder and the graded Hindi and Hinglish messages carry it.
LEFT_OUT_TRAIN_GROUPS = frozenset({"hindi"})
_LABEL_ALIASES = {
    "0": 0,
    "negative": 0,
    "neg": 0,
    "-1": 0,
    "1": 1,
    "neutral": 1,
    "neu": 1,
    "2": 2,
    "positive": 2,
    "pos": 2,
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
        out[lang_dir.name] = [
            Example(t, parse_label(l), lang_dir.name) for t, l in zip(texts, labels, strict=False)
        ]
    if not out:
        raise ValueError(f"no <language>/{split}_text.txt + {split}_labels.txt under {directory}")
    return out


def load_csv(path: Path) -> list[Example]:
    """A CSV of text,label (a header row naming them is optional; label 0/1/2 or names)."""
    rows = list(csv.reader(Path(path).open(encoding="utf-8", newline="")))
    if rows and rows[0][:2] and rows[0][0].strip().lower() == "text":
        rows = rows[1:]
    # Our own exports neutralise formula-like cells (sentiment_admin.exports): read the text back.
    return [
        Example(csv_text_unquote(r[0]), parse_label(r[1]), "csv")
        for r in rows
        if len(r) >= 2 and r[0].strip()
    ]


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
    members: int = 1,
    log: Callable[[str], None] = lambda msg: None,
):
    """Train a :class:`SentimentHead` on precomputed features, keeping the best epoch on val.

    With ``members`` > 1 each member is trained on its own (seed ``seed + k``, its own batches
    and its own best epoch) and the head averages them. Measured on halves of UMSAB val (one
    half picking epochs, the other scoring): five such members +0.8 macro-F1 over a typical
    single one; five trained in one loop with a shared epoch, nothing. Returns (head, best
    epoch per member).
    """
    import torch

    from .head import SentimentHead

    trained = []
    for k in range(members):
        one, epoch = _train_one_head(
            x_train,
            y_train,
            weights=weights,
            x_val=x_val,
            y_val=y_val,
            hidden=hidden,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            batch_size=batch_size,
            seed=seed + k,
            log=log,
        )
        trained.append((one, epoch))
    if members == 1:
        return trained[0][0], [trained[0][1]]
    head = SentimentHead(trained[0][0].in_features, hidden=hidden, dropout=dropout, members=members)
    state = {
        name: torch.cat([one.state_dict()[name] for one, _ in trained])
        for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")
    }
    state.update(mean=trained[0][0].mean, scale=trained[0][0].scale)
    head.load_state_dict(state)
    head.eval()
    if x_val is not None:
        log(
            f"val macro-F1 of the {members} members averaged: "
            f"{macro_f1(y_val, predict(head, x_val).argmax(1)):.2f}"
        )
    return head, [epoch for _, epoch in trained]


def _train_one_head(
    x_train,
    y_train,
    *,
    weights,
    x_val,
    y_val,
    hidden,
    epochs,
    lr,
    weight_decay,
    dropout,
    batch_size,
    seed,
    log,
):
    import torch

    from .head import SentimentHead

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.asarray(x_train, dtype=np.float32))
    y_train = np.asarray(y_train)
    # class indices, or rows of class probabilities (graded messages: insights/scoring/intensity.py)
    y = torch.from_numpy(y_train.astype(np.float32) if y_train.ndim == 2 else y_train.astype(np.int64))
    w = torch.from_numpy(np.ones(len(y), np.float32) if weights is None else weights.astype(np.float32))
    head = SentimentHead(x.shape[1], hidden=hidden, dropout=dropout)
    head.mean.copy_(x.mean(0))
    head.scale.copy_(x.std(0).clamp(min=1e-4))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(y) / batch_size)
    sched = _schedule(opt, lr, steps)
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
        log(f"seed {seed}: best val macro-F1 {best[0]:.2f} at epoch {best[2]}/{epochs}")
    head.eval()
    return head, (best[2] if best[1] is not None else epochs)


def _schedule(opt, max_lr, total_steps: int):
    """One-cycle (10% warm-up, cosine decay); constant for runs too short for one."""
    import torch

    if total_steps < 20:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps, pct_start=0.1)


def predict(head, features: np.ndarray) -> np.ndarray:
    import torch

    head.eval()
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.asarray(features, dtype=np.float32)))
        return torch.softmax(logits, dim=-1).numpy()


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The softmax temperature that minimises the validation negative log-likelihood (Guo et al.
    2017): a fine-tuned model is overconfident, and probabilities are shown as confidence and
    drive the levels. Dividing logits by one positive number never changes the predicted class."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    best_nll, best_t = float("inf"), 1.0
    for t in np.arange(0.25, 8.0001, 0.05):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -log_probs[np.arange(len(labels)), labels].mean()
        if nll < best_nll:
            best_nll, best_t = nll, float(t)
    return round(best_t, 2)


def shuffled(items: Iterable, seed: int = 0) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def extract_features(
    backend,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> np.ndarray:
    """Pooled encoder features of ``texts`` (a :class:`BundledBackend`), in input order."""
    lengths = backend.token_lengths(texts)
    order = sorted(range(len(texts)), key=lambda k: lengths[k])
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = None
    for chunk in progress(chunks) if progress else chunks:
        feats = backend.features([texts[k] for k in chunk]).numpy()
        if out is None:
            out = np.zeros((len(texts), feats.shape[1]), dtype=np.float32)
        out[chunk] = feats
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def finetune_top_layers(
    backend,
    train: Sequence[Example],
    val: Sequence[Example],
    *,
    n_layers: int,
    weights: Sequence[float],
    epochs: int = 3,
    layer_lr: float = 4e-5,
    head_lr: float = 1e-3,
    hidden: int = 256,
    dropout: float = 0.3,
    batch_size: int = 32,
    seed: int = 0,
    adapter_rank: int = 0,
    adapter_alpha: float = 32.0,
    progress: Callable[[Iterable], Iterable] | None = None,
    log: Callable[[str], None] = lambda msg: None,
):
    """Fine-tune the encoder's top ``n_layers`` layers together with a new head.

    The layers below stay frozen: their output is computed once and cached per text, so an
    epoch costs only the top layers' forward and backward. ``backend`` is an fp32
    :class:`BundledBackend` of the plain encoder (``head_dir=None, quantize=False``): the tuned
    layers start as copies of its own. With ``adapter_rank``
    the layers' own weights stay frozen and only low-rank adapters on their linears are trained
    (see :mod:`.adapters`), small enough to commit for all twelve layers. Returns (state dict
    keyed "<layer index>.<param>" -- the layers' parameters, or the adapters' A and B --, head,
    best epoch, val macro-F1).
    """
    import copy

    import torch

    from .head import LAYERS, SentimentHead, pool_hidden_states

    if getattr(backend, "precision", "fp32") != "fp32":
        raise ValueError("fine-tuning starts from the fp32 encoder: build the backend with quantize=False")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    n_total = backend.encoder.config.num_hidden_layers
    start = n_total - n_layers
    frozen_layers = [layer for layer in LAYERS if layer <= start]
    tuned_layers = [layer for layer in LAYERS if layer > start]

    def cache(texts):
        lengths = backend.token_lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        tokens, frozen = [None] * len(texts), [None] * len(texts)
        chunks = [order[i : i + 64] for i in range(0, len(order), 64)]
        for chunk in progress(chunks) if progress else chunks:
            hs, mask = backend.hidden_states([texts[i] for i in chunk])
            with torch.inference_mode():
                pooled = (
                    pool_hidden_states(hs, mask, frozen_layers)
                    if frozen_layers
                    else torch.zeros(len(chunk), 0)
                )
            for row, i in enumerate(chunk):
                tokens[i] = hs[start][row, : lengths[i]].clone().half()
                frozen[i] = pooled[row].clone()
        return tokens, torch.stack(frozen)

    log(f"caching layer {start} outputs")
    t_train, f_train = cache([e.text for e in train])
    t_val, f_val = cache([e.text for e in val])
    y_train = torch.tensor([e.label for e in train])
    y_val = np.array([e.label for e in val])
    w_train = torch.tensor(list(weights), dtype=torch.float32)

    top = torch.nn.ModuleList(
        [copy.deepcopy(backend.encoder.encoder.layer[i]) for i in range(start, n_total)]
    )
    if adapter_rank:
        from .adapters import adapter_state, add_adapters

        for layer in top:
            add_adapters(layer, rank=adapter_rank, alpha=adapter_alpha)
    tuned_params = [p for p in top.parameters() if p.requires_grad]
    log(
        f"training {sum(p.numel() for p in tuned_params):,} encoder parameters in layers {start + 1}-{n_total}"
    )
    head = SentimentHead(2 * 384 * len(LAYERS), hidden=hidden, dropout=dropout)

    def pad(tokens, idx):
        width = max(tokens[i].shape[0] for i in idx)
        x = torch.zeros(len(idx), width, tokens[idx[0]].shape[1])
        m = torch.zeros(len(idx), width, dtype=torch.long)
        for row, i in enumerate(idx):
            n = tokens[i].shape[0]
            x[row, :n] = tokens[i].float()
            m[row, :n] = 1
        return x, m

    def features(layers, x, m, frozen):
        ext = (1.0 - m[:, None, None, :].float()) * torch.finfo(torch.float32).min
        states = {start: x}
        for k, layer in enumerate(layers):
            out = layer(x, attention_mask=ext)
            x = out[0] if isinstance(out, tuple) else out
            states[start + 1 + k] = x
        return torch.cat([frozen, pool_hidden_states(states, m, tuned_layers)], -1)

    by_length = sorted(range(len(train)), key=lambda i: t_train[i].shape[0])
    val_by_length = sorted(range(len(val)), key=lambda i: t_val[i].shape[0])
    with torch.no_grad():
        top.eval()
        feats = []
        for s in range(0, len(train), 128):
            idx = by_length[s : s + 128]
            x, m = pad(t_train, idx)
            feats.append(features(top, x, m, f_train[idx]))
        feats = torch.cat(feats)
        head.mean.copy_(feats.mean(0))
        head.scale.copy_(feats.std(0).clamp(min=1e-4))

    def evaluate(layers):
        layers.eval()
        head.eval()
        probs = np.zeros((len(val), 3))
        with torch.inference_mode():
            for s in range(0, len(val), 128):
                idx = val_by_length[s : s + 128]
                x, m = pad(t_val, idx)
                probs[idx] = torch.softmax(head(features(layers, x, m, f_val[idx])), -1).numpy()
        return macro_f1(y_val, probs.argmax(1))

    opt = torch.optim.AdamW(
        [{"params": tuned_params, "lr": layer_lr}, {"params": head.parameters(), "lr": head_lr}],
        weight_decay=0.01,
    )
    lengths = [t.shape[0] for t in t_train]
    per_epoch = math.ceil(len(train) / batch_size)
    sched = _schedule(opt, [layer_lr, head_lr], epochs * per_epoch)
    best = (-1.0, None, 0)
    for epoch in range(epochs):
        top.train()
        head.train()
        order = sorted(range(len(train)), key=lambda i: lengths[i] + rng.random() * 8)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(batches)
        for idx in progress(batches) if progress else batches:
            x, m = pad(t_train, idx)
            loss = torch.nn.functional.cross_entropy(
                head(features(top, x, m, f_train[idx])), y_train[idx], reduction="none"
            )
            loss = (loss * w_train[idx]).sum() / w_train[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        f1 = evaluate(top)
        log(f"epoch {epoch + 1}/{epochs}: val macro-F1 {f1:.2f}")
        if f1 > best[0]:
            best = (f1, (copy.deepcopy(top.state_dict()), copy.deepcopy(head.state_dict())), epoch + 1)
    top.load_state_dict(best[1][0])
    head.load_state_dict(best[1][1])
    head.eval()
    state = {}
    for k, layer_number in enumerate(range(start, n_total)):
        if adapter_rank:
            state.update(adapter_state(top[k], prefix=f"{layer_number}."))
            continue
        for name, value in top[k].state_dict().items():
            state[f"{layer_number}.{name}"] = value
    return state, head, best[2], best[0]
