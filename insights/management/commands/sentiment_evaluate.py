"""python manage.py sentiment_evaluate --data DIR --split {train,val,test}

For a directory in the UMSAB layout (<language>/<split>_text.txt and <split>_labels.txt, labels
0/1/2 = negative/neutral/positive) prints one JSON object:
{"split": ..., "per_language": {"<language>": <macro-F1 %>, ...}, "average": <mean of them>}.
The classifier is evaluated on every text (no language gating), with the configured model.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Macro-F1 per language of the configured sentiment model on a UMSAB-layout directory."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="directory in the UMSAB layout")
        parser.add_argument("--split", required=True, choices=["train", "val", "test"])

    def handle(self, *args, data, split, **options):
        from insights.scoring import ModelUnavailable, get_scorer
        from insights.scoring.training import load_split, macro_f1

        try:
            per_split = load_split(data, split)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        scorer = get_scorer()
        try:
            backend = scorer._get_backend()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        per_language = {}
        for language, examples in per_split.items():
            probs = scorer._predict([e.text for e in examples], backend)
            per_language[language] = round(macro_f1([e.label for e in examples], probs.argmax(1)), 2)
        average = round(sum(per_language.values()) / len(per_language), 2)
        self.stderr.write(f"model: {backend.version}")
        self.stdout.write(json.dumps({"split": split, "per_language": per_language, "average": average}))
