"""CSV cells a spreadsheet could run as formulas are neutralised; numbers stay numbers (shared_lib/csvfile)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shared_lib.csvfile import FORMULA_START, cell, csv_bytes


def test_text_that_starts_like_a_formula_gets_an_apostrophe():
    assert [cell(v) for v in ('=HYPERLINK("http://x","y")', "+1", "-x", "@SUM(A1)", "\tx", "\r=1")] == \
        ['\'=HYPERLINK("http://x","y")', "'+1", "'-x", "'@SUM(A1)", "'\tx", "'\r=1"]


def test_numbers_and_plain_text_stay_as_they_are():
    assert [cell(v) for v in (Decimal("-24.00"), "-24.00", -3, "1550.22", "Nguyễn", "a=b", None, "")] == \
        ["-24.00", "-24.00", "-3", "1550.22", "Nguyễn", "a=b", "", ""]


def test_the_file_is_utf8_with_a_bom_and_every_cell_goes_through_cell():
    data = csv_bytes([["name", "=1+1"], ["amount", Decimal("-6.00")]])
    assert data.startswith("\ufeff".encode())
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == [["name", "'=1+1"], ["amount", "-6.00"]]


@given(st.text())
def test_no_text_cell_reaches_a_spreadsheet_as_a_formula(text):
    out = cell(text)
    [[read]] = list(csv.reader(io.StringIO(csv_bytes([[text]]).decode("utf-8-sig")))) or [[""]]
    assert read == out
    if out.startswith(FORMULA_START):
        Decimal(out)  # only a plain decimal number may start with "-"
