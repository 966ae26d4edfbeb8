"""python manage.py sentiment_train --data DIR [--data MORE ...]

Retrains what the project trains itself (the classifier head -- five members averaged unless
--members says otherwise --, and with --finetune-layers the
encoder's top layers or low-rank adapters on them; see docs/model.md) from a labelled set: a directory in the UMSAB layout (<language>/train_text.txt + train_labels.txt;
<language>/val_* if present picks the best epoch and is reported) or a CSV of text,label
(label 0/1/2 or negative/neutral/positive). Give --data several times to combine sets, e.g.
UMSAB plus the corrections that agents submitted (sentiment_corrections_export). The project's
hand-written customer-service examples are added unless --no-customer-service.

After training (and alone with --fit-intensity, which needs no --data) the score's exponent is
fitted on half of the graded customer-service messages and measured on the other half
(insights/scoring/intensity.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

CALIBRATION_TEXTS = 1500


class Command(BaseCommand):
    help = "Train the sentiment head on labelled data (UMSAB layout directories or text,label CSVs)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            action="append",
            default=[],
            help="UMSAB-layout directory or CSV file (repeatable; required unless --fit-intensity)",
        )
        parser.add_argument(
            "--output",
            default=None,
            help="where to write head.safetensors + head.json (default: the package's weights/ directory)",
        )
        parser.add_argument(
            "--no-customer-service",
            action="store_true",
            help="leave out the bundled hand-written customer-service examples",
        )
        parser.add_argument(
            "--all-groups",
            action="store_true",
            help="also train on the UMSAB groups left out by default (Hindi, whose labels were "
            "measured to hurt: training.LEFT_OUT_TRAIN_GROUPS)",
        )
        parser.add_argument("--customer-service-weight", type=float, default=3.0)
        parser.add_argument(
            "--graded-weight",
            type=float,
            default=16.0,
            help="weight of the graded customer-service messages that are not held out (2,501), "
            "which teach the head how strong a feeling is (the negative grades weigh more: "
            "intensity.GRADE_WEIGHTS); 0 leaves them out. "
            "Head-only training (without --finetune-layers) uses them",
        )
        parser.add_argument("--epochs", type=int, default=30)
        parser.add_argument("--hidden", type=int, default=256)
        parser.add_argument("--dropout", type=float, default=0.5)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--members",
            type=int,
            default=5,
            help="independently initialised heads whose logits are averaged "
            "(about 0.8 MB each); 1 = a single head",
        )
        parser.add_argument(
            "--finetune-layers",
            type=int,
            default=0,
            help="also fine-tune the encoder's top N layers (stored int8, ~1.8 MB each); "
            "0 = train the head only over the frozen encoder",
        )
        parser.add_argument(
            "--adapter-rank",
            type=int,
            default=0,
            help="with --finetune-layers, train rank-R low-rank adapters on those layers "
            "instead of their weights (12 layers at rank 16: about 2.6 MB)",
        )
        parser.add_argument(
            "--calibrate-only",
            action="store_true",
            help="train nothing: measure the int8 activation ranges of the weights already in "
            "--output on the --data texts, and report validation",
        )
        parser.add_argument(
            "--fit-intensity",
            action="store_true",
            help="train nothing: fit the score's exponent for the weights already in --output "
            "on the graded customer-service messages",
        )
        parser.add_argument(
            "--keep-encoder",
            action="store_true",
            help="retrain only the head, over the encoder as --output's weights adapt it "
            "(their fine-tuned layers or adapters stay): minutes, not an hour",
        )
        parser.add_argument(
            "--layer-lr",
            type=float,
            default=None,
            help="learning rate of the encoder part (default 4e-5 for layers, 5e-4 for adapters)",
        )

    def handle(
        self,
        *args,
        data,
        output,
        no_customer_service,
        customer_service_weight,
        epochs,
        hidden,
        dropout,
        seed,
        members=5,
        finetune_layers=0,
        adapter_rank=0,
        layer_lr=None,
        calibrate_only=False,
        keep_encoder=False,
        fit_intensity=False,
        graded_weight=16.0,
        all_groups=False,
        **options,
    ):
        import torch
        from tqdm import tqdm

        from insights.scoring.adapters import ADAPTER_WEIGHTS, save_adapters
        from insights.scoring.engine import BundledBackend, _threads
        from insights.scoring.head import (
            HEAD_META,
            LAYERS,
            TOP_LAYERS_WEIGHTS,
            WEIGHTS_DIR,
            load_head,
            save_head,
            save_top_layers,
        )
        from insights.scoring.intensity import GRADE_TARGETS, GRADE_WEIGHTS, load_intensity_examples
        from insights.scoring.model import ModelUnavailable, default_model_dir
        from insights.scoring.training import (
            LEFT_OUT_TRAIN_GROUPS,
            extract_features,
            finetune_top_layers,
            load_csv,
            load_customer_service_examples,
            load_split,
            shuffled,
            train_head,
        )

        out = Path(output) if output else WEIGHTS_DIR
        if fit_intensity:
            if not (out / HEAD_META).exists():
                raise CommandError(f"--fit-intensity: no trained head in {out}")
            meta = json.loads((out / HEAD_META).read_text("utf-8"))
            head, _ = load_head(out)
            meta.update(self._fit_intensity(BundledBackend(default_model_dir(), head_dir=out)))
            save_head(head, meta, out)
            self.stdout.write(json.dumps(meta, ensure_ascii=False))
            return
        if not data:
            raise CommandError("--data is required: a UMSAB-layout directory or a text,label CSV")
        train, val = [], []
        for source in data:
            path = Path(source)
            try:
                if path.is_dir():
                    train += [
                        e
                        for name, group in load_split(path, "train").items()
                        if all_groups or name not in LEFT_OUT_TRAIN_GROUPS
                        for e in group
                    ]
                    try:
                        val += [e for group in load_split(path, "val").values() for e in group]
                    except ValueError:
                        pass
                elif path.is_file():
                    train += load_csv(path)
                else:
                    raise CommandError(f"--data {source}: no such file or directory")
            except (OSError, ValueError) as exc:
                raise CommandError(f"--data {source}: {exc}") from exc
        if not val:  # hold out a tenth to pick the epoch
            items = shuffled(train, seed)
            cut = max(1, len(items) // 10)
            val, train = items[:cut], items[cut:]
        extra = [] if no_customer_service else load_customer_service_examples()
        left_out = frozenset() if all_groups else LEFT_OUT_TRAIN_GROUPS
        if members < 1:
            raise CommandError("--members must be at least 1")
        if len(train) + len(extra) < 30:
            raise CommandError(f"only {len(train)} training examples: too few to train on")

        torch.set_num_threads(_threads())
        bar = lambda chunks: tqdm(chunks, desc="encoding", unit="batch", file=sys.stderr)  # noqa: E731
        if calibrate_only:
            if not (out / HEAD_META).exists():
                raise CommandError(f"--calibrate-only: no trained head in {out}")
            meta = json.loads((out / HEAD_META).read_text("utf-8"))
            head, _ = load_head(out)
            exact = BundledBackend(default_model_dir(), head_dir=out, quantize=False)
            calibration_texts = self._calibrate(exact, out, train + extra, seed)
            report, serving = self._validate(out, val, bar, left_out)
            meta.update(report, calibration_texts=calibration_texts, **self._fit_intensity(serving))
            save_head(head, meta, out)
            self.stdout.write(json.dumps(meta, ensure_ascii=False))
            return
        kept = {}
        if keep_encoder:
            if finetune_layers:
                raise CommandError("--keep-encoder retrains the head only: leave out --finetune-layers")
            if not (out / HEAD_META).exists():
                raise CommandError(f"--keep-encoder: no trained weights in {out}")
            kept = json.loads((out / HEAD_META).read_text("utf-8"))
        try:
            # fp32 to fine-tune and to calibrate; a head alone then learns from the int8 features
            # that will serve, since int8 moves the features a little and a head trained on the
            # fp32 ones lost about a point of val F1 in serving.
            backend = BundledBackend(
                default_model_dir(), head_dir=out if keep_encoder else None, quantize=False
            )
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        backend.layers = list(LAYERS)
        started = time.monotonic()
        weights = np.array([1.0] * len(train) + [customer_service_weight] * len(extra))
        graded = []
        out.mkdir(parents=True, exist_ok=True)
        if finetune_layers > 0:
            top_state, head, best_epoch, _ = finetune_top_layers(
                backend,
                train + extra,
                val,
                n_layers=finetune_layers,
                weights=weights,
                epochs=epochs,
                seed=seed,
                hidden=hidden,
                dropout=dropout,
                adapter_rank=adapter_rank,
                layer_lr=layer_lr or (5e-4 if adapter_rank else 4e-5),
                progress=lambda items: tqdm(items, unit="batch", file=sys.stderr, mininterval=10),
                log=lambda m: self.stderr.write(m),
            )
            layer_numbers = sorted({int(k.split(".")[0]) + 1 for k in top_state})
            if adapter_rank:
                (out / TOP_LAYERS_WEIGHTS).unlink(missing_ok=True)
                save_adapters(top_state, out)
                tuned, adapted = [], layer_numbers
            else:
                (out / ADAPTER_WEIGHTS).unlink(missing_ok=True)
                save_top_layers(top_state, out)
                tuned, adapted = layer_numbers, []
        else:
            if keep_encoder:
                tuned, adapted = kept.get("finetuned_layers") or [], kept.get("adapted_layers") or []
                adapter_rank = kept.get("adapter_rank") or 0
            else:
                (out / TOP_LAYERS_WEIGHTS).unlink(missing_ok=True)
                (out / ADAPTER_WEIGHTS).unlink(missing_ok=True)
                tuned, adapted = [], []
            calibration_texts = self._calibrate(backend, out, train + extra, seed)
            backend.precision = backend.quantize(out)  # the calibrated int8 encoder that will serve
            graded = load_intensity_examples("fit") if graded_weight > 0 else []
            x_all = extract_features(
                backend, [e.text for e in train + extra] + [e.text for e in graded], progress=bar
            )
            x_val = extract_features(backend, [e.text for e in val], progress=bar)
            y_all = np.concatenate(
                [
                    np.eye(3, dtype=np.float32)[[e.label for e in train + extra]],
                    np.array([GRADE_TARGETS[e.level] for e in graded], np.float32).reshape(-1, 3),
                ]
            )
            weights = np.concatenate([weights, [graded_weight * GRADE_WEIGHTS[e.level] for e in graded]])
            head, best_epoch = train_head(
                x_all,
                y_all,
                weights=weights,
                x_val=x_val,
                y_val=[e.label for e in val],
                hidden=hidden,
                epochs=epochs,
                dropout=dropout,
                seed=seed,
                members=members,
                log=lambda m: self.stderr.write(m),
            )
        save_head(
            head,
            {
                "layers": list(LAYERS),
                "finetuned_layers": tuned,
                "adapted_layers": adapted,
                "adapter_rank": adapter_rank or None,
            },
            out,
        )
        if finetune_layers > 0:  # the encoder changed: measure its int8 ranges now
            exact = BundledBackend(default_model_dir(), head_dir=out, quantize=False)
            calibration_texts = self._calibrate(exact, out, train + extra, seed)
        report, serving = self._validate(out, val, bar, left_out)
        meta = {
            "encoder": backend.version.split("+")[0],
            "layers": list(LAYERS),
            "finetuned_layers": tuned,
            "adapted_layers": adapted,
            "adapter_rank": adapter_rank or None,
            "pooling": ["mean", "first"],
            "train_examples": len(train),
            "customer_service_examples": len(extra),
            "graded_examples": len(graded),
            "graded_weight": graded_weight,
            "data": [Path(d).name for d in data],
            "left_out_groups": sorted(left_out),
            "epochs": epochs,
            "best_epoch": best_epoch,
            "dropout": dropout,
            "members": head.members,
            "seed": seed,
            "calibration_texts": calibration_texts,
            **report,
            **self._fit_intensity(serving),
            "seconds": round(time.monotonic() - started, 1),
        }
        save_head(head, meta, out)
        self.stdout.write(json.dumps(meta, ensure_ascii=False))

    def _calibrate(self, backend, out: Path, train, seed: int) -> int:
        """Measure the int8 activation ranges of ``backend``'s fp32 encoder (as ``out``'s weights
        adapt it) on a sample of the training texts and save them in ``out``; returns the
        sample's size."""
        from insights.scoring.quantization import calibrate, save_calibration
        from insights.scoring.training import shuffled

        sample = [e.text for e in shuffled(train, seed)[:CALIBRATION_TEXTS]]
        self.stderr.write(f"calibrating int8 on {len(sample)} training texts")
        save_calibration(calibrate(backend.encoder, lambda: backend.calibration_batches(sample)), out)
        return len(sample)

    def _fit_intensity(self, serving) -> dict:
        """The score exponent that best matches the graded messages fitted on, and how the
        levels then agree with the held-out half (against the plain difference), through
        ``serving`` (the weights' BundledBackend at their softmax temperature)."""
        from insights.scoring.engine import SentimentScorer
        from insights.scoring.intensity import agreement, fit_exponent, load_intensity_examples

        scorer = SentimentScorer(backend=serving)
        fit, holdout = load_intensity_examples("fit"), load_intensity_examples("holdout")
        fit_probs = scorer._predict([e.text for e in fit], serving)
        holdout_probs = scorer._predict([e.text for e in holdout], serving)
        exponent = fit_exponent(fit_probs, [e.level for e in fit])
        self.stderr.write(f"score exponent {exponent}, fitted on {len(fit)} graded messages")
        return {
            "score_exponent": exponent,
            "intensity_holdout": agreement(holdout_probs, [e.level for e in holdout], exponent),
            "intensity_holdout_plain": agreement(holdout_probs, [e.level for e in holdout], 1.0),
        }

    def _validate(self, out: Path, val, bar, left_out=frozenset()):
        """Validation through the serving path (calibrated int8) and the softmax temperature:
        the report, and the serving backend at that temperature. The temperature is fitted
        without the ``left_out`` groups: labels not trusted to train on do not set how sure the
        model says it is (a head of 3 Dec 2026: T 3.45 with Hindi val, 3.1 without)."""
        import torch

        from insights.scoring.engine import BundledBackend
        from insights.scoring.model import default_model_dir
        from insights.scoring.training import extract_features, fit_temperature, macro_f1

        serving = BundledBackend(default_model_dir(), head_dir=out)
        x_val = extract_features(serving, [e.text for e in val], progress=bar)
        y_val = np.array([e.label for e in val])
        with torch.inference_mode():
            logits = serving.head(torch.from_numpy(x_val)).numpy()
        predicted = logits.argmax(1)
        per_group = {}
        for group in sorted({e.group for e in val}):
            idx = [i for i, e in enumerate(val) if e.group == group]
            per_group[group] = round(macro_f1(y_val[idx], predicted[idx]), 2)
        trusted = [i for i, e in enumerate(val) if e.group not in left_out] or list(range(len(val)))
        serving.temperature = fit_temperature(logits[trusted], y_val[trusted])
        return {
            "precision": serving.precision,
            "temperature": serving.temperature,
            "val_macro_f1": round(macro_f1(y_val, predicted), 2),
            "val_per_group": per_group,
        }, serving
