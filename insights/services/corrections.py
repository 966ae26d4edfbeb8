"""Corrections: a representative or supervisor says the model got a customer message wrong.

Corrections are stored with what the model said, listed for admins, and exported as a labelled
set that ``manage.py sentiment_train`` reads (the UMSAB layout or a CSV of text,label; label
0/1/2 = negative/neutral/positive from the corrected level).
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet

from conversations.models import Message, Role, ScoringStatus, Sender, StaffMember
from conversations.selectors import conversations_visible_to
from insights.levels import SentimentLevel
from insights.models import SentimentCorrection
from insights.privacy import mask_personal_data
from sentiment_admin.exports import csv_document
from sentiment_admin.inputs import echo, parse_int

UNKNOWN_LANGUAGE = "unknown"


def level_to_training_label(level: int) -> int:
    """The 3-class label that ``sentiment_train`` reads: 0 negative, 1 neutral, 2 positive."""
    if level < 0:
        return 0
    if level > 0:
        return 2
    return 1


@transaction.atomic
def sentiment_correction_create(
    *, message: Message, staff: StaffMember, corrected_level: int, note: str = ""
) -> SentimentCorrection:
    """Record that ``message`` should have been ``corrected_level``. Only customer messages,
    only by staff who can see the conversation, never in a conversation whose customer opted
    out of sentiment analysis (their text must not become training data)."""
    if message.sender != Sender.CUSTOMER:
        raise ValidationError("Only customer messages carry a sentiment to correct.")
    if message.conversation.scoring_opt_out or message.scoring_status == ScoringStatus.SKIPPED:
        raise ValidationError(
            "This customer opted out of sentiment analysis: their messages are not corrected."
        )
    try:
        corrected_level = parse_int(corrected_level, "level")
        SentimentLevel(corrected_level)
    except ValueError:
        raise ValidationError(f"{echo(corrected_level)} is not a sentiment level.") from None
    if staff.role not in (Role.REPRESENTATIVE, Role.SUPERVISOR, Role.ADMIN):
        raise PermissionDenied("Not a staff role.")
    if not conversations_visible_to(staff).filter(pk=message.conversation_id).exists():
        raise PermissionDenied("You cannot see this conversation.")
    return SentimentCorrection.objects.create(
        message=message,
        staff=staff,
        model_level=message.sentiment_level,
        corrected_level=corrected_level,
        note=(note or "")[:255],
    )


def corrections_list() -> QuerySet[SentimentCorrection]:
    """Every correction of a conversation that did not opt out (a customer who opts out later
    takes their corrected messages out of the list and of every export)."""
    return (
        SentimentCorrection.objects.filter(message__conversation__scoring_opt_out=False)
        .select_related("message__conversation__queue", "staff__user")
        .order_by("-created_at", "-pk")
    )


def _latest_per_message() -> list[SentimentCorrection]:
    """When a message was corrected more than once, the latest correction wins."""
    seen: set[int] = set()
    out = []
    for correction in corrections_list():
        if correction.message_id in seen:
            continue
        seen.add(correction.message_id)
        out.append(correction)
    return list(reversed(out))  # oldest first: a stable, append-friendly order


def _one_line(text: str) -> str:
    # The UMSAB layout is one example per line; masked like the text the model is served.
    return " ".join(mask_personal_data(text).split())


def corrections_training_rows() -> list[tuple[str, str, int]]:
    """(language, text, label) for every corrected message, label 0/1/2."""
    rows = []
    for c in _latest_per_message():
        text = _one_line(c.message.text)
        if not text:
            continue
        rows.append(
            (c.message.language or UNKNOWN_LANGUAGE, text, level_to_training_label(c.corrected_level))
        )
    return rows


def corrections_csv() -> str:
    """text,label rows; formula-like texts are neutralised (``sentiment_admin.exports``)."""
    rows = ((text, label) for _language, text, label in corrections_training_rows())
    return csv_document(["text", "label"], rows, lineterminator="\n")


def corrections_export(*, out: Path, layout: str = "umsab", split: str = "train") -> int:
    """Write the corrections; returns how many examples were written.

    ``layout="umsab"``: ``out/<language>/<split>_text.txt`` and ``<split>_labels.txt``.
    ``layout="csv"``: ``out`` is a file of text,label rows with a header.
    """
    rows = corrections_training_rows()
    out = Path(out)
    if layout == "csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(corrections_csv(), encoding="utf-8")
        return len(rows)
    if layout != "umsab":
        raise ValueError(f"unknown layout {layout!r}: use umsab or csv")
    by_language: dict[str, list[tuple[str, int]]] = {}
    for language, text, label in rows:
        by_language.setdefault(language, []).append((text, label))
    out.mkdir(parents=True, exist_ok=True)
    for language, examples in by_language.items():
        directory = out / language
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{split}_text.txt").write_text("".join(t + "\n" for t, _ in examples), encoding="utf-8")
        (directory / f"{split}_labels.txt").write_text(
            "".join(f"{l}\n" for _, l in examples), encoding="utf-8"
        )
    return len(rows)
