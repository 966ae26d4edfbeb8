from pathlib import Path

from django.core.management.base import BaseCommand

from insights.services.corrections import corrections_export


class Command(BaseCommand):
    help = (
        "Export the sentiment corrections staff submitted as a labelled set for sentiment_train: "
        "the UMSAB layout (<language>/<split>_text.txt + _labels.txt) or a CSV of text,label "
        "(label 0/1/2 = negative/neutral/positive from the corrected level)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="directory (umsab) or file (csv) to write")
        parser.add_argument("--format", choices=["umsab", "csv"], default="umsab")
        parser.add_argument(
            "--split", default="train", help="split name for the UMSAB layout (default train)"
        )

    def handle(self, *args, out, format, split, **options):
        count = corrections_export(out=Path(out), layout=format, split=split)
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} corrected examples to {out} ({format})."))
