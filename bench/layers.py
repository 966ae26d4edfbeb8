"""What a shallower encoder would cost in quality: heads over the first k of the 12 layers.

    .venv/bin/python bench/layers.py                    # k = 4, 6, 8, 12; 3 members per head
    .venv/bin/python bench/layers.py --layers 6,12 --members 5

A k-layer student reads what the first k layers of the served encoder compute, so one pass of
the calibrated int8 encoder over every text gives the features of every k at once (layer i's
states do not depend on the layers above it). For each k, a head is trained the way
``sentiment_train --keep-encoder`` trains the served one (UMSAB train without the left-out
groups, the customer-service examples, the graded fit messages, the same weights), over the
pooled layers k-3..k, and measured on UMSAB val and on the held-out graded messages
(``bench/model.py``'s customer targets). No encoder weight is retrained: this is the floor a
distilled k-layer student would start from. Speed: ``bench/model.py --levers``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_admin.settings.local")

POOLED_LAYERS = 4  # the head reads the last four layers it is given
HIDDEN_POOLED = 768  # per layer: the mean over tokens and the first token, 384 each


def layer_columns(features, last_layer: int):
    """The columns of the pooled layers ``last_layer - 3 .. last_layer`` (1-based) in features
    pooled over all layers 1..12, in order."""
    if not POOLED_LAYERS <= last_layer <= features.shape[1] // HIDDEN_POOLED:
        raise ValueError(f"no {POOLED_LAYERS} pooled layers end at layer {last_layer}")
    return features[:, (last_layer - POOLED_LAYERS) * HIDDEN_POOLED : last_layer * HIDDEN_POOLED]


def main(argv=None) -> int:
    from model import DATA, cpu_description, customer_targets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="4,6,8,12", help="encoder depths to measure")
    parser.add_argument("--members", type=int, default=3, help="head members per depth")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--customer-service-weight", type=float, default=6.0)
    parser.add_argument("--graded-weight", type=float, default=16.0)
    parser.add_argument(
        "--weights", default=None, help="weights directory of the encoder (default: the committed one)"
    )
    args = parser.parse_args(argv)
    depths = [int(k) for k in args.layers.split(",")]

    import django

    django.setup()
    import numpy as np
    import torch

    from insights.scoring.engine import BundledBackend, _threads
    from insights.scoring.head import WEIGHTS_DIR
    from insights.scoring.intensity import (
        GRADE_TARGETS,
        GRADE_WEIGHTS,
        agreement,
        fit_exponent,
        load_intensity_examples,
    )
    from insights.scoring.model import default_model_dir
    from insights.scoring.training import (
        LEFT_OUT_TRAIN_GROUPS,
        extract_features,
        fit_temperature,
        load_customer_service_examples,
        load_split,
        macro_f1,
        train_head,
    )

    torch.set_num_threads(_threads())
    train = [
        e for name, g in load_split(DATA, "train").items() if name not in LEFT_OUT_TRAIN_GROUPS for e in g
    ]
    val = [e for g in load_split(DATA, "val").values() for e in g]
    extra = load_customer_service_examples()
    fit, holdout = load_intensity_examples("fit"), load_intensity_examples("holdout")
    backend = BundledBackend(
        default_model_dir(), head_dir=Path(args.weights) if args.weights else WEIGHTS_DIR
    )
    # layer i's states do not depend on the layers above it: run only the deepest measured
    backend.encoder.encoder.layer = backend.encoder.encoder.layer[: max(depths)]
    backend.encoder.config.num_hidden_layers = max(depths)
    backend.layers = list(range(1, backend.encoder.config.num_hidden_layers + 1))
    started = time.monotonic()
    x = {
        name: extract_features(backend, [e.text for e in items]).astype(np.float16)
        for name, items in (("train", train + extra), ("fit", fit), ("val", val), ("holdout", holdout))
    }
    print(
        f"features of {sum(len(v) for v in x.values())} texts in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    targets = np.concatenate(
        [
            np.eye(3, dtype=np.float32)[[e.label for e in train + extra]],
            np.array([GRADE_TARGETS[e.level] for e in fit], np.float32).reshape(-1, 3),
        ]
    )
    weights = np.concatenate(
        [
            np.ones(len(train)),
            np.full(len(extra), args.customer_service_weight),
            [args.graded_weight * GRADE_WEIGHTS[e.level] for e in fit],
        ]
    )
    y_val = np.array([e.label for e in val])
    groups = np.array([e.group for e in val])
    trusted = ~np.isin(groups, list(LEFT_OUT_TRAIN_GROUPS))
    rows = []
    for depth in depths:
        cols = {name: layer_columns(v, depth).astype(np.float32) for name, v in x.items()}
        head, _ = train_head(
            np.concatenate([cols["train"], cols["fit"]]),
            targets,
            weights=weights,
            x_val=cols["val"],
            y_val=y_val,
            epochs=args.epochs,
            dropout=0.3,
            members=args.members,
        )
        with torch.inference_mode():
            logits = {name: head(torch.from_numpy(v)).numpy() for name, v in cols.items() if name != "train"}
        temperature = fit_temperature(logits["val"][trusted], y_val[trusted])
        probs = {
            name: torch.softmax(torch.from_numpy(v) / temperature, -1).double().numpy()
            for name, v in logits.items()
        }
        exponent = fit_exponent(probs["fit"], [e.level for e in fit])
        predicted = logits["val"].argmax(1)
        per_group = {
            g: round(macro_f1(y_val[groups == g], predicted[groups == g]), 2) for g in sorted(set(groups))
        }
        graded = agreement(probs["holdout"], [e.level for e in holdout], exponent)
        rows.append(
            {
                "encoder_layers": depth,
                "val_macro_f1": round(macro_f1(y_val, predicted), 2),
                "val_average_without_left_out": round(
                    float(np.mean([f for g, f in per_group.items() if g not in LEFT_OUT_TRAIN_GROUPS])), 2
                ),
                "val_per_group": per_group,
                "temperature": temperature,
                "score_exponent": exponent,
                "graded_exact": graded["exact"],
                "graded_mean_level_error": graded["mean_level_error"],
                "targets": customer_targets(holdout, probs["holdout"], exponent),
            }
        )
        t = rows[-1]["targets"]
        print(
            f"{depth:>2} layers: val macro-F1 {rows[-1]['val_macro_f1']:.2f} "
            f"(without {', '.join(sorted(LEFT_OUT_TRAIN_GROUPS))}: {rows[-1]['val_average_without_left_out']:.2f}), "
            f"graded exact {graded['exact']}%, calm above Negative {t['calm_report_above_negative']}%, "
            f"neutral Neutral {t['neutral_request_neutral']}%, angry <= Negative {t['angry_negative_or_below']}%",
            flush=True,
        )
    print(json.dumps({"cpu": cpu_description(), "members": args.members, "depths": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
