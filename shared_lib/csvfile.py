"""Every CSV the project writes: text cells a spreadsheet could run as a formula are neutralised."""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any, Iterable

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and CR, as the start of
# one after trimming): OWASP "CSV injection". A leading apostrophe makes it text again and shows nothing.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal such as -24.00 is a number, not a formula: amounts stay numbers a spreadsheet can sum.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def cell(value: Any) -> str:
    """One cell's text: numbers as they are, None as empty, text starting like a formula prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    text = str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows as UTF-8 CSV (with a BOM, so spreadsheet programs read non-Latin names right), every cell through
    `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
