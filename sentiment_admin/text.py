"""Text hygiene shared by every door: which characters are removed on the way in, which
texts count as empty, and what is neutralised on display.

- Control characters (category Cc, NUL and CR included) and lone surrogates (Cs) are removed
  on the way in; newline and tab are kept in messages, not in single-line fields (names).
- A text of only invisible characters (whitespace, format characters such as zero-width
  spaces and joiners, variation selectors, filler letters) is empty.
- Bidi embedding/override/isolate controls (U+202A..U+202E, U+2066..U+2069) can make a
  message display in a misleading order ("Trojan Source"). Messages keep them verbatim in the
  database for audit; ``display_text`` removes them from what pages and frames show. Names
  are cleaned on the way in, so they never carry them.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_TABLE = {ord(ch): None for ch in BIDI_CONTROLS}
# Letters and symbols that render as blank space although their category says otherwise.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")
_MESSAGE_KEEP = frozenset("\n\t")


def strip_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` without control characters and lone surrogates (newline/tab kept if asked)."""
    keep = _MESSAGE_KEEP if keep_newlines else frozenset()
    return "".join(ch for ch in text if ch in keep or unicodedata.category(ch) not in ("Cc", "Cs"))


def _invisible(ch: str) -> bool:
    if ch.isspace() or ch in _BLANK_GLYPHS:
        return True
    if "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":  # variation selectors
        return True
    return unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp")


def is_blank(text: str) -> bool:
    """True when nothing in ``text`` would be visible."""
    return all(_invisible(ch) for ch in text)


def display_text(text: str) -> str:
    """What a page or a frame shows: bidi controls removed (the stored text keeps them)."""
    return text.translate(_BIDI_TABLE) if text else text


def clean_single_line(text: str) -> str:
    """A name or subject: no controls, no bidi controls, whitespace runs collapsed."""
    if is_blank(text):
        return ""
    return " ".join(strip_controls(text, keep_newlines=False).translate(_BIDI_TABLE).split())
