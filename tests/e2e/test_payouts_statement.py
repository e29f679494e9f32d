"""Payout statements as CSV and PDF, stored through the storage interface, scoped like payouts."""
from __future__ import annotations

import csv
import io

import pytest

from functions.payouts import service
from shared_lib.db import unit_of_work
from shared_lib.storage import reset_storage
from tests.conftest import bearer
from tests.integration.test_payouts_store import NOV, seed_golden


@pytest.fixture
def golden(client, tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DATA_DIR", str(tmp_path))
    from shared_lib.config import reset_settings

    reset_settings()
    reset_storage()
    ids = seed_golden()
    with unit_of_work() as uow:
        service.recalculate(uow, agency_id=ids["agency"], period=NOV)
    yield ids
    monkeypatch.undo()
    reset_settings()
    reset_storage()


def h(ids, name):
    return bearer(f"g-{name}-{ids['agency']}")


def test_csv_statement_lists_every_line_and_the_total(client, golden, tmp_path):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "owner"))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[1][:4] == ["Golden", "C2", "2026-11", "USD"]
    lines = {(row[0], row[1]): row[5] for row in rows[4:-1]}
    assert lines == {("Commission", "A"): "50.22", ("Fixed salary", ""): "1500.00"}
    assert rows[-1] == ["total", "", "", "", "", "1550.22"]
    stored = tmp_path / "files" / "statements" / str(golden["agency"]) / "2026-11" / f"{golden['C2']}.csv"
    assert stored.read_bytes() == r.get_data()


def test_pdf_statement_is_a_real_pdf_with_the_total(client, golden):
    from pypdf import PdfReader

    r = client.get(f"/api/financials/payouts/{golden['M']}/statement/?period=2026-11", headers=h(golden, "M"))
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(r.get_data())).pages[0].extract_text()
    assert "Payout statement 2026-11" in text and "850.22 USD" in text and "Manager tick" in text


def test_a_chatter_cannot_read_a_colleagues_statement(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11", headers=h(golden, "C1"))
    assert r.status_code == 404


def test_bad_format_names_the_field(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11&format=xls",
                   headers=h(golden, "owner"))
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["query", "format"]
