"""CSV files the center writes: one writer, so every export neutralises formula cells.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula ("CSV injection"). Every text cell that starts so is written with a
leading apostrophe, which spreadsheets show as text; numbers are written as they are.
``csv_text_unquote`` undoes it for readers of our own files (``sentiment_train``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` as it is safe to write: formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text_unquote(value: str) -> str:
    """The text ``csv_cell`` was given (for reading our own exports back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def csv_document(header: Sequence[str], rows: Iterable[Sequence], *, lineterminator: str = "\r\n") -> str:
    """A whole CSV file: the header and every row, each cell through ``csv_cell``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()
