"""Parsing what clients send: the one place every door (query strings, forms, the REST API,
websocket frames) turns raw input into ids, whole numbers, dates and JSON.

Every helper raises ``InvalidInput`` (a stable ``code`` and a short ``message`` that never
echoes more than ``ECHO_LIMIT`` characters of the input). HTTP views let it propagate:
``sentiment_admin.middleware.InvalidInputMiddleware`` answers 400 with the API's JSON error body
``{"error": {"code": ..., "message": ...}}``. Websocket consumers answer an ``error`` frame.

The rules, and the attack each one closes:

- Whole numbers are ASCII digits with an optional leading minus, or a JSON integer. Unicode
  digits (``"²".isdigit()`` is true but ``int("²")`` fails), floats (``1.9`` is refused, not
  truncated), booleans, ``Infinity``/``NaN`` and numbers of thousands of digits are refused;
  ids fit a signed 64-bit column.
- JSON refuses ``Infinity``, ``NaN``, numbers that overflow a float (``1e400``) and nesting
  deeper than ``MAX_JSON_DEPTH``.
- Dates are ``YYYY-MM-DD`` between ``MIN_DATE`` and ``MAX_DATE``, so a range end plus one day
  never overflows (``?to=9999-12-31``).
- Short strings (names, tokens, ids sent by clients) never carry NUL or other control
  characters: PostgreSQL refuses NUL in text.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from sentiment_admin.text import clean_single_line

ECHO_LIMIT = 40
MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 32
MIN_DATE = dt.date(1970, 1, 1)
MAX_DATE = dt.date(9999, 12, 30)

_INTEGER_RE = re.compile(r"-?[0-9]{1,19}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidInput(ValueError):
    """A value a client sent that cannot be used. ``code`` is stable (clients switch on it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def echo(value, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of client input for an error message, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text[:limit] + ("…" if len(text) > limit else "")
    return repr(text)


def parse_int(value, name: str, *, minimum: int | None = None, maximum: int = MAX_ID) -> int:
    """A whole number from a JSON value or a query/form string; raise InvalidInput otherwise."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value if abs(value) <= MAX_ID else None
    elif isinstance(value, str) and _INTEGER_RE.fullmatch(value):
        number = int(value)
    else:
        number = None
    if number is None or abs(number) > MAX_ID:
        raise InvalidInput("invalid", f"'{name}' must be a whole number.")
    if minimum is not None and number < minimum:
        raise InvalidInput("invalid", f"'{name}' must be at least {minimum}.")
    if number > maximum:
        raise InvalidInput("invalid", f"'{name}' must be at most {maximum}.")
    return number


def parse_id(value, name: str) -> int:
    """A database id: a whole number from 1 to 2**63 - 1."""
    return parse_int(value, name, minimum=1)


def parse_optional_id(value, name: str) -> int | None:
    """An id, or None when the value is absent or empty (``""`` from a form's blank choice)."""
    if value is None or value == "":
        return None
    return parse_id(value, name)


def parse_date(value, name: str) -> dt.date:
    """``YYYY-MM-DD`` within ``MIN_DATE`` .. ``MAX_DATE``."""
    try:
        if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
            raise ValueError
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("invalid_date", f"'{name}' must be a date as YYYY-MM-DD.") from None
    if not MIN_DATE <= date <= MAX_DATE:
        raise InvalidInput(
            "invalid_date", f"'{name}' must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}."
        )
    return date


def _refuse_constant(token: str):
    raise InvalidInput("invalid_json", f"{token} is not a JSON number.")


def _finite_float(token: str) -> float:
    number = float(token)
    if number in (float("inf"), float("-inf")):
        raise InvalidInput("invalid_json", "A number in the JSON is too large.")
    return number


def _depth_within(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def parse_json(raw: bytes | str, *, what: str = "body", max_depth: int = MAX_JSON_DEPTH):
    """Parse a JSON document under the rules above; raise InvalidInput("invalid_json")."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except InvalidInput:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("invalid_json", f"The {what} is not valid UTF-8 JSON.") from None
    if not _depth_within(data, max_depth):
        raise InvalidInput("invalid_json", f"The {what} is nested deeper than {max_depth} levels.")
    return data


def parse_json_object(raw: bytes | str, *, what: str = "body") -> dict:
    data = parse_json(raw, what=what) if raw else {}
    if not isinstance(data, dict):
        raise InvalidInput("invalid_json", f"The {what} must be a JSON object.")
    return data


def clean_line(value, name: str, *, max_length: int, required: bool = False) -> str:
    """A short single-line string (a name, a subject, an external id): control characters
    (NUL included), bidi controls and surrounding whitespace removed, cut to ``max_length``."""
    if value is None:
        value = ""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID:
        value = str(value)  # a phone number or an external id sent as a JSON number
    if not isinstance(value, str):
        raise InvalidInput("invalid", f"'{name}' must be a string.")
    cleaned = clean_single_line(value)[:max_length]
    if required and not cleaned:
        raise InvalidInput("invalid", f"'{name}' is required.")
    return cleaned


def clean_token(value, name: str, *, max_length: int = 200) -> str:
    """An opaque token from a URL or header: printable ASCII only, or InvalidInput."""
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or not value.isascii()
        or not value.isprintable()
    ):
        raise InvalidInput("invalid", f"'{name}' is not a valid token.")
    return value
