"""python manage.py sentiment_score [TEXT ...] [--file F]

Prints one JSON object per input text, in input order: language, supported, label (the 7-level
label text), level, score, confidence, probabilities, model_version.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Score texts (arguments and/or one per line of --file, '-' for stdin) as JSON lines."

    def add_arguments(self, parser):
        parser.add_argument("texts", nargs="*", metavar="TEXT")
        parser.add_argument("--file", help="a UTF-8 file with one text per line ('-' = stdin)")
        parser.add_argument(
            "--language-hint",
            default=None,
            help="the conversation's earlier language, a prior for short texts",
        )
        parser.add_argument("--base-language", default="en")
        parser.add_argument(
            "--no-multilingual", action="store_true", help="score only texts in the base language"
        )

    def handle(
        self,
        *args,
        texts=(),
        file=None,
        language_hint=None,
        base_language="en",
        no_multilingual=False,
        **options,
    ):
        from insights.scoring import ModelUnavailable, get_scorer

        items = list(texts)
        if file:
            stream = sys.stdin if file == "-" else open(file, encoding="utf-8")
            with stream:
                items.extend(line.rstrip("\n") for line in stream)
        if not items:
            raise CommandError("give TEXT arguments or --file")
        try:
            results = get_scorer().score(
                items,
                language_hints=[language_hint] * len(items) if language_hint else None,
                multilingual=not no_multilingual,
                base_language=base_language,
            )
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
