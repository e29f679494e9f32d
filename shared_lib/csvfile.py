"""Every CSV the project writes (text cells a spreadsheet could run as a formula are neutralised) and reads (an
uploaded file's rows by its header, each fault named by row and column)."""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any, Collection, Iterable

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


# --- reading ------------------------------------------------------------------------------------------------------

HEADER_ROW = 1  # rows are numbered as a spreadsheet shows them: the header is row 1, the first data row 2
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, kept by errors="surrogateescape"


class CsvError(ValueError):
    """What is wrong with a file: (location, message) pairs; a location is (row,) or (row, column)."""

    def __init__(self, errors: list[tuple[tuple[Any, ...], str]]):
        super().__init__("; ".join(f"{'/'.join(map(str, loc))}: {msg}" for loc, msg in errors))
        self.errors = errors


def read_rows(data: bytes, columns: Collection[str]) -> tuple[list[int], list[dict[str, str]]]:
    """A UTF-8 CSV file (an optional BOM) whose header row names some of `columns`, in any order → each data
    row's number (HEADER_ROW + its position; blank lines are numbered and skipped) and the row as a dict of its
    non-empty cells. CsvError lists what is wrong: a header name that is not a column or is given twice, a row
    with another number of cells than the header, a cell that is not UTF-8, broken quoting (the row it is in)."""
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[tuple[tuple[Any, ...], str]] = []
    numbers: list[int] = []
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    number = HEADER_ROW - 1
    try:
        for number, cells in enumerate(reader, start=HEADER_ROW):
            if header is None:
                header = [c.strip() for c in cells]
                errors += _header_errors(header, columns)
                continue
            if not cells:
                continue  # a blank line
            if len(cells) != len(header):
                errors.append(((number,), f"has {len(cells)} cells, the header {len(header)}"))
                continue
            errors += [((number, name), "is not UTF-8 text") for name, c in zip(header, cells) if _UNDECODABLE.search(c)]
            numbers.append(number)
            rows.append({name: c for name, c in zip(header, cells) if c.strip()})
    except csv.Error as exc:  # unbalanced quotes, a cell over the csv module's size limit: nothing after it is sure
        errors.append(((number + 1,), f"is not valid CSV (line {reader.line_num}): {exc}"))
    if header is None:
        errors.append(((HEADER_ROW,), "the file is empty: a header row names the columns"))
    if errors:
        raise CsvError(errors)
    return numbers, rows


def _header_errors(header: list[str], columns: Collection[str]) -> list[tuple[tuple[Any, ...], str]]:
    return [((HEADER_ROW, name or f"#{i + 1}"), "is not UTF-8 text" if _UNDECODABLE.search(name)
             else "unknown column" if name not in columns else "given more than once")
            for i, name in enumerate(header) if name not in columns or header.index(name) != i]
