"""Payout statements: one user's period as CSV and PDF, stored through the storage interface and returned."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timezone
from typing import Any

from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound
from shared_lib.http import FileReply
from shared_lib.periods import Period
from shared_lib.rbac import Caller
from shared_lib.storage import storage

from .service import payouts_list

KIND_LABEL = {"commission": "Commission", "fixed_salary": "Fixed salary", "manager_tick": "Manager tick",
              "other_income_share": "Other income share", "deduction": "Deduction"}


def statement(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID, period: Period, fmt: str) -> FileReply:
    data = payouts_list(uow=uow, caller=caller, period=period, user_id=user_id)  # scoping: 404 outside it
    head = uow.execute(
        """
        SELECT u.display_name, u.email, a.name AS agency, a.currency
        FROM user_service.users u JOIN user_service.agencies a ON a.id = u.agency_id
        WHERE u.id = :u AND u.agency_id = :a
        """,
        {"u": user_id, "a": caller.agency_id},
    ).one_or_none()
    if head is None:
        raise NotFound("user not found")
    models = dict(uow.execute("SELECT id, name FROM user_service.models WHERE agency_id = :a",
                              {"a": caller.agency_id}).all())
    item = data["items"][0] if data["items"] else {"lines": [], "total": "0.00", "status": "open"}
    rows = [{"kind": KIND_LABEL[l["kind"]], "model": models.get(l["model_id"], ""), "basis": str(l["basis"]),
             "rate": "" if l["rate"] is None else str(l["rate"]), "detail": l.get("detail", ""),
             "amount": str(l["amount"])} for l in item["lines"]]
    info = {"agency": head.agency, "currency": head.currency, "user": head.display_name or head.email or str(user_id),
            "period": str(period), "status": item["status"], "total": str(item["total"])}
    if fmt == "csv":
        body, content_type = _csv(info, rows), "text/csv; charset=utf-8"
    else:
        body, content_type = _pdf(info, rows), "application/pdf"
    filename = f"statement-{period}-{user_id}.{fmt}"
    location = storage().put(f"statements/{caller.agency_id}/{period}/{user_id}.{fmt}", body, content_type)
    return FileReply(body, content_type=content_type, filename=filename, headers={"X-Statement-Location": location})


def _csv(info: dict[str, Any], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["agency", "user", "period", "currency", "status"])
    w.writerow([info["agency"], info["user"], info["period"], info["currency"], info["status"]])
    w.writerow([])
    w.writerow(["kind", "model", "basis", "rate", "detail", "amount"])
    for r in rows:
        w.writerow([r["kind"], r["model"], r["basis"], r["rate"], r["detail"], r["amount"]])
    w.writerow(["total", "", "", "", "", info["total"]])
    return out.getvalue().encode("utf-8")


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1: other characters print as "?" rather than failing the statement.
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf(info: dict[str, Any], rows: list[dict[str, str]]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.now(timezone.utc))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Payout statement {info['period']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for label in ("agency", "user", "currency", "status"):
        pdf.cell(0, 7, _latin1(f"{label.capitalize()}: {info[label]}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (45, 40, 30, 20, 25, 30)
    pdf.set_font("Helvetica", "B", 10)
    for w, h in zip(widths, ("Kind", "Model", "Basis", "Rate %", "Detail", "Amount")):
        pdf.cell(w, 7, h, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for r in rows:
        for w, key in zip(widths, ("kind", "model", "basis", "rate", "detail", "amount")):
            pdf.cell(w, 7, _latin1(r[key]), border=1, align="R" if key in ("basis", "rate", "amount") else "L")
        pdf.ln()
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(widths[:-1]), 8, "Total", border=1)
    pdf.cell(widths[-1], 8, _latin1(f"{info['total']} {info['currency']}"), border=1, align="R")
    return bytes(pdf.output())
