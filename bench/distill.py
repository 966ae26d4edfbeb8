"""Distil a shallower student from the served model, into a weights directory for bench/layers.py.

    .venv/bin/python bench/distill.py --out var/student6 --depth 6 --minutes 30
    .venv/bin/python bench/layers.py --weights var/student6 --layers 6

Teacher: the served model (12 layers, committed adapters and head, calibrated int8). Texts:
UMSAB train (Hindi too: its texts get the teacher's probabilities, not its labels), the
customer-service examples and the graded fit messages (never the held-out halves). The student
(``insights/scoring/distill.py``) trains new adapters on layers 1..depth; the directory gets
the committed adapters with the new ones stacked on, the int8 ranges measured on the student,
and the committed head files (unused: bench/layers.py trains its own head).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_admin.settings.local")

CALIBRATION_TEXTS = 1500  # as sentiment_train


def main(argv=None) -> int:
    from model import DATA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="weights directory to write")
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--minutes", type=float, default=None, help="cut the steps to fit this")
    parser.add_argument("--mix", type=float, default=0.7, help="weight of the teacher's KL term")
    parser.add_argument("--softening", type=float, default=2.0)
    parser.add_argument("--customer-service-weight", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="exactly this many steps")
    parser.add_argument("--limit", type=int, default=None, help="a random sample of the texts (a trial)")
    args = parser.parse_args(argv)

    import django

    django.setup()
    import numpy as np
    import torch

    from insights.scoring.adapters import load_adapters, merge_adapters, save_adapters
    from insights.scoring.distill import distill, make_student, stacked_adapters, teacher_logits
    from insights.scoring.engine import BundledBackend, _threads
    from insights.scoring.head import HEAD_META, HEAD_WEIGHTS, WEIGHTS_DIR
    from insights.scoring.intensity import GRADE_TARGETS, GRADE_WEIGHTS, load_intensity_examples
    from insights.scoring.model import bundled_model_path, default_model_dir, load_bundled_encoder
    from insights.scoring.quantization import calibrate, load_calibration, save_calibration
    from insights.scoring.training import (
        LEFT_OUT_TRAIN_GROUPS,
        load_customer_service_examples,
        load_split,
        shuffled,
    )

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    torch.set_num_threads(_threads())
    umsab = [e for g in load_split(DATA, "train").values() for e in g]
    extra = load_customer_service_examples()
    fit = load_intensity_examples("fit")
    texts = [e.text for e in umsab + extra] + [e.text for e in fit]
    targets = np.concatenate(
        [
            np.eye(3, dtype=np.float32)[[e.label for e in umsab + extra]],
            np.array([GRADE_TARGETS[e.level] for e in fit], np.float32).reshape(-1, 3),
        ]
    )
    label_weights = np.concatenate(
        [
            [0.0 if e.group in LEFT_OUT_TRAIN_GROUPS else 1.0 for e in umsab],
            np.full(len(extra), args.customer_service_weight),
            [GRADE_WEIGHTS[e.level] for e in fit],
        ]
    )

    if args.limit:
        keep = np.random.default_rng(args.seed).permutation(len(texts))[: args.limit]
        texts = [texts[k] for k in keep]
        targets, label_weights = targets[keep], label_weights[keep]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    served = BundledBackend(default_model_dir(), head_dir=WEIGHTS_DIR)
    cached = out / "teacher_logits.npy"  # reused by a rerun on the same texts
    if cached.exists() and len(np.load(cached)) == len(texts):
        teacher = np.load(cached)
    else:
        teacher = teacher_logits(served, texts)
        np.save(cached, teacher)
    ids = [e.ids for e in served._encode(texts)]
    pad_id = served.pad_id
    log(f"teacher logits of {len(texts)} texts in {time.monotonic() - started:.0f} s")
    del served

    committed = load_adapters(WEIGHTS_DIR)
    encoder, _, _ = load_bundled_encoder(bundled_model_path(default_model_dir()))
    merge_adapters(encoder, committed)
    student = make_student(encoder, args.depth)
    started = time.monotonic()
    head = distill(
        student,
        pad_id,
        ids,
        teacher,
        targets,
        label_weights,
        mix=args.mix,
        softening=args.softening,
        steps=args.steps,
        epochs=args.epochs,
        seconds=args.minutes * 60 if args.minutes else None,
        seed=args.seed,
        log=log,
    )
    trained = time.monotonic() - started
    save_adapters(stacked_adapters(student, committed), out)
    shutil.copy(WEIGHTS_DIR / HEAD_WEIGHTS, out / HEAD_WEIGHTS)
    meta = json.loads((WEIGHTS_DIR / HEAD_META).read_text("utf-8"))
    meta.update(
        adapted_layers=list(range(1, 13)),
        adapter_rank=None,
        student={
            "depth": args.depth,
            "mix": args.mix,
            "softening": args.softening,
            "texts": len(texts),
            "seconds": round(trained),
        },
    )
    (out / HEAD_META).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    torch.save(head.state_dict(), out / "student_head.pt")

    exact = BundledBackend(default_model_dir(), head_dir=out, quantize=False)
    exact.encoder.encoder.layer = exact.encoder.encoder.layer[: args.depth]  # layers above are unused
    exact.layers = [args.depth]
    train = [e for e in umsab if e.group not in LEFT_OUT_TRAIN_GROUPS]
    sample = [e.text for e in shuffled(train + extra, args.seed)[:CALIBRATION_TEXTS]]
    stats = calibrate(exact.encoder, lambda: exact.calibration_batches(sample))
    stats.update(  # the layers above the student's keep the committed ranges (never run)
        {k: v for k, v in load_calibration(WEIGHTS_DIR).items() if int(k.split(".")[0]) >= args.depth}
    )
    save_calibration(stats, out)
    log(f"student in {out}: distilled in {trained:.0f} s, calibrated on {len(sample)} texts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
