"""Client text the database and the driver can always store: no control characters, no lone surrogates."""
from __future__ import annotations

import re
from typing import Any

# PostgreSQL refuses NUL in text (22021) and pg8000 cannot encode a lone surrogate ("\ud800" is valid JSON) as
# UTF-8; the other C0 controls and DEL are never meant in a name, a note or a query and would reach the CSV and
# PDF statements. Tab, newline and carriage return stay allowed in request bodies: a free-text note may have
# lines. Query and path parameters are one-line values: no control character at all.
_FORBIDDEN_IN_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FORBIDDEN_IN_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
BODY_TEXT_RULE = "must not contain control characters (other than tab and line breaks)"
LINE_TEXT_RULE = "must not contain control characters"


def bad_body_text(value: str) -> bool:
    return _FORBIDDEN_IN_BODY.search(value) is not None


def bad_line_text(value: str) -> bool:
    return _FORBIDDEN_IN_LINE.search(value) is not None


def bad_strings(value: Any, loc: list[Any]) -> list[list[Any]]:
    """The locations of every string in a parsed JSON value (object keys included) that bad_body_text refuses."""
    found: list[list[Any]] = []
    if isinstance(value, str):
        if bad_body_text(value):
            found.append(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            if bad_body_text(key):
                found.append([*loc, key])
            found.extend(bad_strings(item, [*loc, key]))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(bad_strings(item, [*loc, i]))
    return found
