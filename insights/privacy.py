"""Personal data never reaches the model or leaves the center in an export."""

from __future__ import annotations

import re

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13 to 19 digits, optionally grouped by spaces or dashes (card numbers).
_CARD_RE = re.compile(r"(?<![\w])\d(?:[ -]?\d){12,18}(?![\w])")
# 7 to 15 digits with the usual phone punctuation, optionally starting with + or 00.
_PHONE_RE = re.compile(r"(?<![\w+(])(?:\+|\(\s?)?\d(?:[\s().-]{0,2}\d){6,14}(?![\w])")


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses, card numbers and phone numbers with placeholders."""
    text = _EMAIL_RE.sub("[email]", text)
    text = _CARD_RE.sub("[card]", text)
    return _PHONE_RE.sub("[phone]", text)
