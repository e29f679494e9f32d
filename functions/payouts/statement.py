"""Payout statements a person can be handed: one user's or one model's period as CSV or PDF, stored and returned."""
from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from shared_lib.csvfile import csv_bytes
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound
from shared_lib.http import FileReply
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, can_see_user
from shared_lib.storage import storage

from . import queries

# DejaVu Sans covers Latin, Greek, Cyrillic, Vietnamese, Arabic, Hebrew and more, Droid Sans Fallback the CJK
# scripts it lacks. The deployed function has no system fonts, so the TTFs ship inside the package
# (fonts/LICENSE.*: DejaVu under the Bitstream Vera licence, Droid Sans Fallback under Apache 2.0).
FONTS = Path(__file__).resolve().parent / "fonts"
# The groups' order on a statement: the first release's kinds, then the second's, then a model's items.
KIND_LABEL = {"commission": "Commission", "fixed_salary": "Fixed salary", "manager_tick": "Manager tick",
              "other_income_share": "Other income share", "deduction": "Deduction", "bonus": "Bonus",
              "hourly": "Hourly pay", "adjustment": "Adjustment", "carried_forward": "Carried forward",
              "carried_balance": "Carried balance", "model_share": "Model share"}
ROLE_LABEL = {"owner": "Owner", "manager": "Manager", "chatter": "Chatter", "model": "Model (creator)"}
CONTENT_TYPE = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Line:
    cells: tuple[str, ...]  # in the order of Statement.columns (the amount is kept apart, as a Decimal)
    amount: Decimal


@dataclass(frozen=True)
class Group:
    kind: str
    lines: list[Line]

    @property
    def subtotal(self) -> Decimal:
        return sum((l.amount for l in self.lines), Decimal("0.00"))


@dataclass(frozen=True)
class Statement:
    title: str
    agency: str
    currency: str
    name: str
    role: str
    period: Period
    issued_on: date
    status: str
    columns: tuple[str, ...]  # the line columns; "amount" is added last
    groups: list[Group] = field(default_factory=list)
    total: Decimal = Decimal("0.00")

    @property
    def count(self) -> int:
        return sum(len(g.lines) for g in self.groups)


def user_statement_get(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID, period: Period, fmt: str) -> FileReply:
    """A chatter's or manager's payout statement: scoped like payouts (404 outside the caller's scope)."""
    if not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    person = queries.statement_person(uow, caller.agency_id, user_id)
    if person is None:
        raise NotFound("user not found")
    models = queries.model_names(uow, caller.agency_id)
    by_kind: dict[str, list[Line]] = {}
    for l in queries.payout_lines_of(uow, agency_id=caller.agency_id, period=period, user_ids=[user_id]):
        cells = (models.get(l.model_id, ""), _n(l.basis), _n(l.rate), l.detail or "")
        by_kind.setdefault(l.kind, []).append(Line(cells, l.amount))
    total = queries.user_total(uow, caller.agency_id, period, user_id)
    doc = Statement(
        title="Payout statement", agency=person.agency, currency=person.currency,
        name=person.display_name or person.email or str(user_id), role=ROLE_LABEL[person.role], period=period,
        issued_on=local_today(caller.agency_timezone), status=queries.period_status(uow, caller.agency_id, period),
        columns=("model", "basis", "rate %", "detail"),
        groups=[Group(KIND_LABEL[k], by_kind[k]) for k in KIND_LABEL if k in by_kind],
        total=Decimal("0.00") if total is None else total)
    return _reply(doc, fmt, f"statements/{caller.agency_id}/{period}/users/{user_id}", prefix="statement")


def model_statement_get(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID, period: Period, fmt: str) -> FileReply:
    """What a model (creator) is paid for the period: base, share and amount per settings version (Owner)."""
    model = queries.statement_model(uow, caller.agency_id, model_id)
    if model is None:
        raise NotFound("model not found")
    lines = [Line((r.effective_from.isoformat(), _n(r.base), _n(r.model_share_percent),
                   "yes" if r.split_chatting_costs else "no"), r.amount)
             for r in queries.model_payouts_of(uow, caller.agency_id, period, model_id)]
    doc = Statement(
        title="Model payout statement", agency=model.agency, currency=model.currency, name=model.name,
        role=ROLE_LABEL["model"], period=period, issued_on=local_today(caller.agency_timezone),
        status=queries.period_status(uow, caller.agency_id, period),
        columns=("settings from", "base", "share %", "chatting costs split"),
        groups=[Group(KIND_LABEL["model_share"], lines)] if lines else [],
        total=sum((l.amount for l in lines), Decimal("0.00")))
    return _reply(doc, fmt, f"statements/{caller.agency_id}/{period}/models/{model_id}", prefix="model-statement")


def _reply(doc: Statement, fmt: str, folder: str, *, prefix: str) -> FileReply:
    body = _csv(doc) if fmt == "csv" else _pdf(doc)
    ascii_name, utf8_name = filenames(doc.name, doc.period, fmt, prefix=prefix)
    # The stored copy has the download's name; the folder (by id) keeps two people of one name apart.
    location = storage().put(f"{folder}/{ascii_name}", body, CONTENT_TYPE[fmt])
    return FileReply(body, content_type=CONTENT_TYPE[fmt], filename=ascii_name,
                     headers={"Content-Disposition": content_disposition(ascii_name, utf8_name),
                              "X-Statement-Location": location})


def _n(x) -> str:
    return "" if x is None else format(x, "f")


# --- file names ------------------------------------------------------------------------------------------------

_TRANSLIT = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae",
                           "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i"})


def filenames(name: str, period: Period, ext: str, *, prefix: str = "statement") -> tuple[str, str]:
    """(ASCII fallback, UTF-8) file names by person and period, e.g. statement-2026-11-nguyen-thi-hong.pdf and
    statement-2026-11-Nguyễn-Thị-Hồng.pdf; a name with no Latin letters falls back to `person` in ASCII."""
    plain = unicodedata.normalize("NFKD", name.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:60] or "person"
    # Keep letters, digits and marks of any script; anything a file system or header could trip on becomes "-".
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else "-" for c in unicodedata.normalize("NFC", name))
    wide = re.sub(r"-+", "-", kept).strip("-")[:60] or slug
    return f"{prefix}-{period}-{slug}.{ext}", f"{prefix}-{period}-{wide}.{ext}"


def content_disposition(ascii_name: str, utf8_name: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients and the real name as RFC 5987 `filename*`."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name, safe='')}"


# --- CSV -------------------------------------------------------------------------------------------------------


def _csv(doc: Statement) -> bytes:
    rows: list[list[object]] = [
        ["statement", doc.title], ["agency", doc.agency], ["name", doc.name], ["role", doc.role],
        ["period", str(doc.period)], ["period_start", doc.period.first_day.isoformat()],
        ["period_end", doc.period.last_day.isoformat()], ["issued_on", doc.issued_on.isoformat()],
        ["status", doc.status], ["currency", doc.currency], [],
        ["section", "kind", *doc.columns, "count", "amount"],
    ]
    blank = [""] * len(doc.columns)
    for g in doc.groups:
        rows += [["line", g.kind, *l.cells, "", l.amount] for l in g.lines]
        rows.append(["subtotal", g.kind, *blank, len(g.lines), g.subtotal])
    rows.append(["total", "", *blank, doc.count, doc.total])
    return csv_bytes(rows)


# --- PDF -------------------------------------------------------------------------------------------------------


def _pdf(doc: Statement) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.now(timezone.utc))
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DroidFallback", "", str(FONTS / "DroidSansFallbackFull.ttf"))
    pdf.set_title(f"{doc.title} {doc.period} — {doc.name}")
    pdf.set_author(doc.agency)
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    _cell(pdf, 0, 10, f"{doc.title} {doc.period}", style="B", size=16)
    pdf.ln(10)
    facts = (("Agency", doc.agency), ("Name", doc.name), ("Role", doc.role),
             ("Period", f"{doc.period.first_day.isoformat()} – {doc.period.last_day.isoformat()}"),
             ("Issued", doc.issued_on.isoformat()), ("Status", doc.status.capitalize()), ("Currency", doc.currency))
    for label, value in facts:
        _cell(pdf, 28, 6, f"{label}:", style="B", size=10)
        _cell(pdf, 0, 6, _fit(pdf, value, pdf.w - pdf.r_margin - pdf.get_x(), "", 10), size=10)
        pdf.ln(6)
    pdf.ln(4)
    widths = (50, 34, 22, 40, 34)
    heads = (*(c.capitalize() for c in doc.columns), "Amount")
    for g in doc.groups:
        _cell(pdf, 0, 8, f"{g.kind} ({len(g.lines)} {'line' if len(g.lines) == 1 else 'lines'})", style="B", size=11)
        pdf.ln(8)
        for w, head in zip(widths, heads):
            _cell(pdf, w, 6, head, style="B", border=1)
        pdf.ln(6)
        for l in g.lines:
            for i, (w, cell_text) in enumerate(zip(widths, (*l.cells, format(l.amount, "f")))):
                _cell(pdf, w, 6, _fit(pdf, cell_text, w, "", 9), border=1, align="L" if i in (0, 3) else "R")
            pdf.ln(6)
        _cell(pdf, sum(widths[:-1]), 6, f"Subtotal {g.kind}", style="B", border=1)
        _cell(pdf, widths[-1], 6, format(g.subtotal, "f"), style="B", border=1, align="R")
        pdf.ln(9)
    if not doc.groups:
        _cell(pdf, 0, 8, "No payout lines in this period.", size=10)
        pdf.ln(8)
    lines = f"{doc.count} {'line' if doc.count == 1 else 'lines'}"
    _cell(pdf, sum(widths[:-1]), 8, f"Total ({lines})", style="B", size=11, border=1)
    _cell(pdf, widths[-1], 8, f"{format(doc.total, 'f')} {doc.currency}", style="B", size=11, border=1, align="R")
    return bytes(pdf.output())


def _runs(pdf, text: str) -> list[tuple[str, str]]:
    """The text cut into runs of one font each: DejaVu where it has the glyph, Droid Sans Fallback elsewhere.
    (Chosen here rather than with fpdf2's fallback fonts, which leave the next cells' glyphs garbled.)"""
    cmap = pdf.fonts["dejavu"].cmap
    runs: list[tuple[str, str]] = []
    for ch in text:
        font = "DejaVu" if ord(ch) in cmap or ch.isspace() else "DroidFallback"
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def _use(pdf, font: str, style: str, size: float) -> None:
    pdf.set_font(font, style if font == "DejaVu" else "", size)  # the fallback has no bold face


def _width(pdf, text: str, style: str, size: float) -> float:
    total = 0.0
    for font, run in _runs(pdf, text):
        _use(pdf, font, style, size)
        total += pdf.get_string_width(run)
    return total


def _cell(pdf, w: float, h: float, text: str, *, style: str = "", size: float = 9, border: int = 0,
          align: str = "L") -> None:
    """One cell (framed when border=1) whose text may mix scripts; the cursor ends right of it, like fpdf's."""
    w = w or pdf.w - pdf.r_margin - pdf.get_x()
    pdf.cell(w, h, "", border=border)  # may break the page: where the frame landed is where the text goes
    end, y = pdf.get_x(), pdf.get_y()
    x = end - w
    text_width = _width(pdf, text, style, size)
    pdf.set_x(x + pdf.c_margin if align == "L" else x + w - pdf.c_margin - text_width)
    padding, pdf.c_margin = pdf.c_margin, 0  # the runs sit side by side inside the frame's padding
    try:
        for font, run in _runs(pdf, text):
            _use(pdf, font, style, size)
            pdf.cell(pdf.get_string_width(run), h, run)
    finally:
        pdf.c_margin = padding
    pdf.set_xy(end, y)


def _fit(pdf, text: str, width: float, style: str, size: float) -> str:
    """Shorten a cell's text with an ellipsis so it never spills into the next column."""
    room = width - 2 * pdf.c_margin
    if _width(pdf, text, style, size) <= room:
        return text
    while text and _width(pdf, text + "…", style, size) > room:
        text = text[:-1]
    return text + "…"
