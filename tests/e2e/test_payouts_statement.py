"""Statements a person can be handed: CSV and PDF for a user or a model (creator), any Unicode name, named by
person and period, stored through the storage interface, scoped like payouts."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from functions.payouts import service
from shared_lib.db import engine, unit_of_work
from shared_lib.periods import local_today
from shared_lib.storage import reset_storage
from tests.factories import bearer
from tests.integration.test_payouts_store import NOV, seed_golden

NAME = "Nguyễn Thị Hồng"


@pytest.fixture
def golden(client, tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DATA_DIR", str(tmp_path))
    from shared_lib.config import reset_settings

    reset_settings()
    reset_storage()
    ids = seed_golden()
    with engine().begin() as c:  # C2 goes by a Vietnamese name; model A by a Chinese one
        c.execute(text("UPDATE user_service.users SET display_name = :n WHERE id = :u"), {"n": NAME, "u": ids["C2"]})
        c.execute(text("UPDATE user_service.models SET name = '小红' WHERE id = :m"), {"m": ids["A"]})
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    yield ids
    monkeypatch.undo()
    reset_settings()
    reset_storage()


def h(ids, name):
    return bearer(f"g-{name}-{ids['agency']}")


def today() -> str:
    return local_today("UTC").isoformat()


def csv_rows(r) -> list[list[str]]:
    return list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_csv_statement_has_the_header_lines_by_kind_subtotals_and_total(client, golden, tmp_path):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "owner"))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = csv_rows(r)
    assert dict(row for row in rows[:10]) == {
        "statement": "Payout statement", "agency": "Golden", "name": NAME, "role": "Chatter", "period": "2026-11",
        "period_start": "2026-11-01", "period_end": "2026-11-30", "issued_on": today(), "status": "open",
        "currency": "USD"}
    assert rows[11] == ["section", "kind", "model", "basis", "rate %", "detail", "count", "amount"]
    assert rows[12:] == [
        ["line", "Commission", "小红", "1004.40", "5.00", "", "", "50.22"],
        ["subtotal", "Commission", "", "", "", "", "1", "50.22"],
        ["line", "Fixed salary", "", "1500.00", "", "30/30 days", "", "1500.00"],
        ["subtotal", "Fixed salary", "", "", "", "", "1", "1500.00"],
        ["total", "", "", "", "", "", "2", "1550.22"]]
    disposition = r.headers["Content-Disposition"]
    assert 'filename="statement-2026-11-nguyen-thi-hong.csv"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "statement-2026-11-Nguyễn-Thị-Hồng.csv"
    stored = (tmp_path / "files" / "statements" / str(golden["agency"]) / "2026-11" / "users" / str(golden["C2"])
              / "statement-2026-11-nguyen-thi-hong.csv")
    assert stored.read_bytes() == r.get_data()


def test_pdf_statement_renders_a_vietnamese_name_the_period_and_totals(client, golden, tmp_path):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11", headers=h(golden, "C2"))
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert 'filename="statement-2026-11-nguyen-thi-hong.pdf"' in r.headers["Content-Disposition"]
    body = pdf_text(r.get_data())
    for expected in (f"Name: {NAME}", "Role: Chatter", "Period: 2026-11-01 – 2026-11-30", f"Issued: {today()}",
                     "Status: Open", "Commission (1 line)", "小红", "Subtotal Commission 50.22",
                     "Fixed salary (1 line)", "Subtotal Fixed salary 1500.00", "Total (2 lines) 1550.22 USD"):
        assert expected in body, (expected, body)
    assert "?" not in body  # no glyph was replaced
    from pypdf import PdfReader

    fonts = {str(f.get_object()["/BaseFont"]).split("+")[-1]
             for f in PdfReader(io.BytesIO(r.get_data())).pages[0]["/Resources"]["/Font"].values()}
    # Embedded (subset) fonts: DejaVu for the Vietnamese name, Droid Sans Fallback for the Chinese model name.
    assert fonts == {"DejaVuSansBook", "DejaVuSansBold", "DroidSansFallback"}, fonts


def test_the_pdf_draws_the_name_as_pixels(client, golden, tmp_path):
    """pdftoppm (Debian poppler-utils) renders the page: the name's line is drawn, not blank boxes."""
    assert shutil.which("pdftoppm"), "apt-get install poppler-utils"
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11", headers=h(golden, "owner"))
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(r.get_data())
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    from PIL import Image

    [png] = tmp_path.glob("page*.png")
    image = Image.open(png).convert("L")
    width, height = image.size
    assert (width, height) == (497, 702)  # A4 (210 × 297 mm) at 60 dpi
    # The name line is the header's second fact (y ≈ 26–30 mm): dark pixels there, right of the label.
    band = image.crop((int(width * 0.18), int(height * 0.088), int(width * 0.6), int(height * 0.104)))
    assert sum(1 for x in range(band.width) for y in range(band.height) if band.getpixel((x, y)) < 128) > 40


def test_a_model_statement_gives_base_share_and_amount(client, golden):
    r = client.get(f"/api/financials/model-payouts/{golden['B']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "owner"))
    assert r.status_code == 200, r.get_data(as_text=True)
    rows = csv_rows(r)
    assert (dict(rows[:10])["name"], dict(rows[:10])["role"]) == ("B", "Model (creator)")
    assert rows[11] == ["section", "kind", "settings from", "base", "share %", "chatting costs split", "count",
                        "amount"]
    assert rows[12:] == [["line", "Model share", "2026-11-01", "10400.00", "60.00", "no", "", "6240.00"],
                         ["subtotal", "Model share", "", "", "", "", "1", "6240.00"],
                         ["total", "", "", "", "", "", "1", "6240.00"]]
    assert 'filename="model-statement-2026-11-b.csv"' in r.headers["Content-Disposition"]
    pdf = client.get(f"/api/financials/model-payouts/{golden['A']}/statement/?period=2026-11",
                     headers=h(golden, "owner"))
    body = pdf_text(pdf.get_data())
    assert "Name: 小红" in body and "Role: Model (creator)" in body and "Total (1 line) 3177.09 USD" in body
    assert 'filename="model-statement-2026-11-person.pdf"' in pdf.headers["Content-Disposition"]
    assert unquote(pdf.headers["Content-Disposition"].split("''")[1]) == "model-statement-2026-11-小红.pdf"


def test_model_statements_are_for_owners_of_the_models_agency(client, golden):
    other = seed_golden()
    url = f"/api/financials/model-payouts/{golden['B']}/statement/?period=2026-11"
    assert client.get(url, headers=h(other, "owner")).status_code == 404
    assert client.get(url, headers=h(golden, "M")).status_code == 403
    assert client.get(f"/api/financials/model-payouts/{golden['B']}/statement/?period=2026-13",
                      headers=h(golden, "owner")).get_json()["errors"][0]["loc"] == ["query", "period"]


def test_a_formula_in_a_name_is_text_in_the_csv_and_amounts_stay_numbers(client, golden):
    with engine().begin() as c:
        c.execute(text("UPDATE user_service.users SET display_name = :n WHERE id = :u"),
                  {"n": '=HYPERLINK("http://x","y")', "u": golden["C3"]})
        c.execute(text("UPDATE user_service.models SET name = '@SUM(1)' WHERE id = :m"), {"m": golden["B"]})
        c.execute(text("UPDATE user_service.agencies SET name = '+Golden' WHERE id = :a"), {"a": golden["agency"]})
    r = client.get(f"/api/financials/payouts/{golden['C3']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "owner"))
    rows = csv_rows(r)
    head = dict(rows[:10])
    assert (head["name"], head["agency"]) == ('\'=HYPERLINK("http://x","y")', "'+Golden")
    assert rows[-1] == ["total", "", "", "", "", "", "1", "2000.00"]
    assert 'filename="statement-2026-11-hyperlink-http-x-y.csv"' in r.headers["Content-Disposition"]


def test_a_chatter_cannot_read_a_colleagues_statement(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11", headers=h(golden, "C1"))
    assert r.status_code == 404


def test_another_agencys_user_is_not_found(client, golden):
    other = seed_golden()
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11", headers=h(other, "owner"))
    assert r.status_code == 404


def test_bad_format_names_the_field(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['C2']}/statement/?period=2026-11&format=xls",
                   headers=h(golden, "owner"))
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["query", "format"]


def test_the_package_ships_the_fonts(tmp_path):
    from emulator import package

    folder = package.build("payouts", tmp_path)
    fonts = sorted(p.name for p in (folder / "functions" / "payouts" / "fonts").iterdir())
    assert fonts == ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DroidSansFallbackFull.ttf", "LICENSE.DejaVu",
                     "LICENSE.DroidSansFallback"]


def test_a_manager_statement_groups_tick_and_other_income_and_answers_one_disposition(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['M']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "M"))
    rows = csv_rows(r)
    assert dict(rows[:10])["role"] == "Manager"
    groups = [(row[1], row[6], row[7]) for row in rows[12:] if row[0] == "subtotal"]
    assert groups == [("Manager tick", "2", "750.22"), ("Other income share", "1", "100.00")]
    assert rows[-1] == ["total", "", "", "", "", "", "3", "850.22"]
    assert len(r.headers.getlist("Content-Disposition")) == 1


def test_a_statement_without_lines_says_so_with_a_zero_total(client, golden):
    r = client.get(f"/api/financials/payouts/{golden['owner']}/statement/?period=2026-11&format=csv",
                   headers=h(golden, "owner"))
    rows = csv_rows(r)
    assert dict(rows[:10])["role"] == "Owner" and rows[12:] == [["total", "", "", "", "", "", "0", "0.00"]]
    pdf = client.get(f"/api/financials/payouts/{golden['owner']}/statement/?period=2026-10",
                     headers=h(golden, "owner"))
    body = pdf_text(pdf.get_data())
    assert "Period: 2026-10-01 – 2026-10-31" in body and "No payout lines in this period." in body
    assert "Total (0 lines) 0.00 USD" in body
