"""A shallower student distilled from the served encoder (an experiment; docs/model.md, "Fewer layers").

The student is the first ``depth`` layers of the served encoder (the committed adapters merged,
fp32). New low-rank adapters on those layers and a new head over their last four pooled layers
are trained to match the served 12-layer model's class probabilities (KL divergence at a
softening temperature, Hinton et al. 2015), mixed with the true labels where they are trusted.
The adapters are then stacked onto the committed ones (rank 16 + 16 = 32, the same ``B @ A``
format), so the encoder loads as before; the head is thrown away and retrained over the int8
student features, as ``bench/layers.py`` measures.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .adapters import LoRALinear, add_adapters
from .head import SentimentHead, pool_hidden_states
from .training import _schedule


def teacher_logits(backend, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """The served model's head logits (before its temperature) for ``texts``, in input order."""
    lengths = backend.token_lengths(texts)
    order = sorted(range(len(texts)), key=lambda k: lengths[k])
    out = np.zeros((len(texts), 3), np.float32)
    for i in range(0, len(order), batch_size):
        chunk = order[i : i + batch_size]
        with torch.inference_mode():
            out[chunk] = backend.head(backend.features([texts[k] for k in chunk])).numpy()
    return out


def make_student(encoder, depth: int, *, rank: int = 16, alpha: float = 32.0):
    """Cut ``encoder`` (fp32, in place) to its first ``depth`` layers, freeze it, and add
    trainable rank-``rank`` adapters to every linear of those layers."""
    encoder.encoder.layer = encoder.encoder.layer[:depth]
    encoder.config.num_hidden_layers = depth
    for p in encoder.parameters():
        p.requires_grad_(False)
    for layer in encoder.encoder.layer:
        add_adapters(layer, rank=rank, alpha=alpha)
    return encoder


def distill(
    student,
    pad_id: int,
    ids: Sequence[list[int]],
    teacher: np.ndarray,
    targets: np.ndarray,
    label_weights: np.ndarray,
    *,
    mix: float = 0.7,
    softening: float = 2.0,
    steps: int | None = None,
    epochs: float = 1.0,
    seconds: float | None = None,
    batch_size: int = 32,
    adapter_lr: float = 5e-4,
    head_lr: float = 1e-3,
    seed: int = 0,
    log: Callable[[str], None] = lambda msg: None,
):
    """Train the student's adapters and a new head. Per text the loss is
    ``mix * T^2 * KL(teacher_T || student_T) + (1 - mix) * w * CE(targets, student)``,
    ``targets`` rows of class probabilities and ``w`` their weight (0: teacher only).
    The number of steps is ``steps``, else ``epochs`` passes, cut to fit ``seconds`` after
    timing a few batches. Returns the head."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    depth = student.config.num_hidden_layers
    pooled = list(range(depth - 3, depth + 1))
    head = SentimentHead(2 * student.config.hidden_size * len(pooled), dropout=0.3)
    t_probs = torch.softmax(torch.from_numpy(teacher) / softening, -1)
    y = torch.from_numpy(np.asarray(targets, np.float32))
    w = torch.from_numpy(np.asarray(label_weights, np.float32))

    def batch(idx):
        width = max(len(ids[i]) for i in idx)
        x = torch.full((len(idx), width), pad_id, dtype=torch.long)
        m = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            x[row, : len(ids[i])] = torch.tensor(ids[i])
            m[row, : len(ids[i])] = 1
        return x, m

    def features(idx):
        x, m = batch(idx)
        out = student(input_ids=x, attention_mask=m, output_hidden_states=True)
        return pool_hidden_states(out.hidden_states, m, pooled)

    def batches():  # similar lengths together, batches in random order
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]) + rng.random() * 8)
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(chunks)
        return chunks

    with torch.no_grad():  # the head standardises with the untrained student's feature ranges
        sample = rng.sample(range(len(ids)), min(2048, len(ids)))
        feats = torch.cat([features(sample[i : i + 128]) for i in range(0, len(sample), 128)])
        head.mean.copy_(feats.mean(0))
        head.scale.copy_(feats.std(0).clamp(min=1e-4))

    adapters = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": adapters, "lr": adapter_lr}, {"params": head.parameters(), "lr": head_lr}],
        weight_decay=0.01,
    )
    per_epoch = math.ceil(len(ids) / batch_size)
    total = steps or max(1, int(epochs * per_epoch))
    plan = batches()
    if seconds and not steps:  # time a few forward-backward passes (no update) and fit the budget
        started = time.monotonic()
        for idx in plan[:6]:
            F.cross_entropy(head(features(idx)), y[idx]).backward()
        opt.zero_grad()
        per_step = (time.monotonic() - started) / 6
        total = min(total, max(1, int(0.95 * (seconds - (time.monotonic() - started)) / per_step)))
        log(f"{per_step:.2f} s a step: {total} steps ({total / per_epoch:.2f} epochs of {per_epoch})")
    sched = _schedule(opt, [adapter_lr, head_lr], total)
    student.train()
    head.train()
    started, running = time.monotonic(), []
    for step in range(total):
        if not plan:
            plan = batches()
        idx = plan.pop()
        logits = head(features(idx))
        log_p = F.log_softmax(logits / softening, -1)
        kl = (t_probs[idx] * (torch.log(t_probs[idx].clamp(min=1e-8)) - log_p)).sum(-1)
        ce = -(y[idx] * F.log_softmax(logits, -1)).sum(-1)
        loss = (mix * softening**2 * kl + (1 - mix) * w[idx] * ce).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == total:
            log(f"step {step + 1}/{total}: loss {np.mean(running):.4f} ({time.monotonic() - started:.0f} s)")
            running = []
    student.eval()
    head.eval()
    return head


def stacked_adapters(student, committed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The committed adapters with the student's new ones stacked onto its layers: ``B @ A`` of
    the result is the sum of both updates (ranks add up), in the format ``merge_adapters`` loads."""
    state = dict(committed)
    for index, layer in enumerate(student.encoder.layer):
        for name, module in layer.named_modules():
            if not isinstance(module, LoRALinear):
                continue
            a, b = module.delta()
            key = f"{index}.{name}"
            if key + ".a" in state:
                a = torch.cat([state[key + ".a"].float(), a])
                b = torch.cat([state[key + ".b"].float(), b], dim=1)
            state[key + ".a"], state[key + ".b"] = a.clone(), b.clone()
    return state
