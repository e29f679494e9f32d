"""`python -m emulator seed` against a served platform: both worked examples' figures, read back through the API with
the tokens it printed, to the cent (example 2: September and October closed, D1 paid, D3 carried into November);
a second run adds nothing."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2026-11"
RANGE = "date_from=2026-11-01&date_to=2026-11-30"


def _fresh_database() -> tuple[str | None, callable]:
    """A database of its own on the local server (the test process's own one is truncated by other tests)."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return None, lambda: None  # the served platform boots the embedded PostgreSQL instead
    import pg8000.native

    name = f"om_seed_{os.getpid()}"

    def admin(sql: str) -> None:
        conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=5432, database="postgres")
        try:
            conn.run(sql)
        finally:
            conn.close()

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    return f"postgresql+pg8000://postgres@127.0.0.1:5432/{name}", lambda: admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    assert os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"), "adding people talks to the Firebase Auth emulator"
    url, drop = _fresh_database()
    # The in-process bus: a second platform on the shared Pub/Sub fake would take this one's events.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PUBSUB_EMULATOR_HOST",
                                                             "FIRESTORE_EMULATOR_HOST")}
    env.update(OM_DATA_DIR=str(tmp_path_factory.mktemp("om-seed")), PYTHONPATH=str(ROOT))
    if url:
        env["DATABASE_URL"] = url
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port), "--no-scheduler"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the platform exited"
            try:
                if requests.get(root + "/api/health/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the platform did not answer /api/health/ in 120 s"
            time.sleep(0.2)
        yield root
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        drop()


def _seed(base: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "emulator", "seed", "--url", base], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _tokens(output: str) -> dict[str, dict[str, str]]:
    found = dict(re.findall(r"^\s+(\S+@example[12]\.test)\s+(\S+)$", output, re.M))
    return {email: {"Authorization": f"Bearer {token}"} for email, token in found.items()}


def _get(base: str, path: str, headers: dict[str, str]):
    r = requests.get(base + path, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _counts(base: str, owner: dict[str, str], span: str = RANGE) -> dict[str, int]:
    return {path: len(_get(base, f"{path}?limit=500{extra}", owner)["items"]) for path, extra in (
        ("/api/users/", ""), ("/api/models/", ""), ("/api/income/records/", "&" + span),
        ("/api/income/recurring/", ""), ("/api/expenses/", "&" + span), ("/api/expenses/recurring/", ""),
        ("/api/timetracking/shifts/", ""), ("/api/timetracking/entries/", ""))}


@pytest.fixture(scope="module")
def seeded(base):
    output = _seed(base)
    return output, _tokens(output)


def test_seed_prints_a_token_per_person_of_both_examples(seeded):
    output, tokens = seeded
    assert sorted(tokens) == sorted(["c1@example1.test", "c2@example1.test", "c3@example1.test", "m@example1.test",
                                     "owner@example1.test", "d1@example2.test", "d2@example2.test",
                                     "d3@example2.test", "n@example2.test", "owner@example2.test"])
    assert output.count("matches the worked example") == 2 and "DIFFERS" not in output
    assert "/api/financials/payouts/" in output and "/statement/?period=2026-11" in output
    assert "/statement/?period=2026-10" in output and "issue #15" not in output
    assert "period 2026-10 (closed)" in output and "carried into 2026-11: D3 carried_balance -24.00" in output


def test_the_worked_example_figures_to_the_cent(base, seeded):
    _, tokens = seeded
    owner = tokens["owner@example1.test"]
    profit = _get(base, f"/api/financials/profit/?period={PERIOD}", owner)
    assert {k: profit[k] for k in ("net_income", "employee_payouts", "model_payouts", "expenses",
                                   "agency_profit")} == {
        "net_income": "17804.40", "employee_payouts": "5800.44", "model_payouts": "9417.09",
        "expenses": "1500.00", "agency_profit": "1086.87"}
    email_of = {u["id"]: u["email"] for u in _get(base, "/api/users/", owner)["items"]}
    payouts = _get(base, f"/api/financials/payouts/?period={PERIOD}", owner)["items"]
    assert {email_of[p["user_id"]]: p["total"] for p in payouts} == {
        "m@example1.test": "850.22", "c1@example1.test": "1400.00", "c2@example1.test": "1550.22",
        "c3@example1.test": "2000.00"}
    name_of = {m["id"]: m["name"] for m in _get(base, "/api/models/", owner)["items"]}
    models = _get(base, f"/api/financials/model-payouts/?period={PERIOD}", owner)["items"]
    assert {name_of[m["model_id"]]: m["amount"] for m in models} == {"Model A": "3177.09", "Model B": "6240.00"}


def test_the_worked_example_statistics(base, seeded):
    _, tokens = seeded
    owner = tokens["owner@example1.test"]
    summary = _get(base, f"/api/stats/summary/?{RANGE}", owner)
    assert {k: summary[k] for k in ("gross_income", "platform_fees", "net_income", "expenses", "sales_count")} == {
        "gross_income": "22155.50", "platform_fees": "4351.10", "net_income": "17804.40", "expenses": "1500.00",
        "sales_count": 5}
    top = _get(base, f"/api/stats/top-earners/?{RANGE}", owner)["items"]
    assert [(t["display_name"], t["net_sales"]) for t in top] == [("C1", "14000.00"), ("C3", "2400.00"),
                                                                  ("C2", "1004.40")]
    afv = _get(base, f"/api/stats/afv/?{RANGE}", owner)
    assert sorted((m["name"], m["afv"]) for m in afv["models"]) == [("Model A", "7.00"), ("Model B", "5.20")]
    assert {c["display_name"]: c["afv"] for c in afv["chatters"]}["C1"] == "4.67"


def test_each_printed_token_signs_in_as_that_person(base, seeded):
    _, tokens = seeded
    for email, headers in tokens.items():
        assert _get(base, "/api/me/", headers)["email"] == email
    mine = _get(base, f"/api/financials/payouts/?period={PERIOD}", tokens["c1@example1.test"])["items"]
    assert [p["total"] for p in mine] == ["1400.00"]  # a Chatter sees their own payout only
    statements = re.findall(r"(http://\S+/statement/\?period=2026-11&format=pdf)", seeded[0])
    assert len(statements) == 2  # C2's and Model A's
    for url in statements:
        r = requests.get(url, headers=tokens["owner@example1.test"], timeout=60)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/pdf"), r.text


EXAMPLE_2_OCTOBER = {"n@example2.test": "470.00", "d1@example2.test": "830.00", "d2@example2.test": "238.00",
                     "d3@example2.test": "0.00"}


def test_example_2_october_closed_carried_and_d1_paid(base, seeded):
    _, tokens = seeded
    owner = tokens["owner@example2.test"]
    profit = _get(base, "/api/financials/profit/?period=2026-10", owner)
    assert {k: profit[k] for k in ("net_income", "employee_payouts", "model_payouts", "expenses", "agency_profit",
                                   "status")} == {
        "net_income": "8160.00", "employee_payouts": "1538.00", "model_payouts": "2969.60", "expenses": "1000.00",
        "agency_profit": "2652.40", "status": "closed"}
    assert _get(base, "/api/financials/profit/?period=2026-09", owner)["status"] == "closed"
    email_of = {u["id"]: u["email"] for u in _get(base, "/api/users/", owner)["items"]}
    payouts = {email_of[p["user_id"]]: p for p in _get(base, "/api/financials/payouts/?period=2026-10",
                                                        owner)["items"]}
    assert {k: payouts[k]["total"] for k in EXAMPLE_2_OCTOBER} == EXAMPLE_2_OCTOBER
    assert sorted((line["kind"], line["amount"]) for line in payouts["d3@example2.test"]["lines"]) == [
        ("carried_forward", "24.00"), ("commission", "-24.00")]
    d1 = payouts["d1@example2.test"]
    assert (d1["payment_status"], d1["method"], d1["reference"]) == ("paid", "bank", "TX-1")
    assert sorted((line["kind"], line["amount"]) for line in d1["lines"]) == [("bonus", "150.00"),
                                                                             ("commission", "680.00")]
    assert [(p["amount"], p["reference"]) for p in _get(base, "/api/financials/periods/2026-10/payments/",
                                                        owner)["items"]] == [("830.00", "TX-1")]
    november = {email_of[p["user_id"]]: p for p in _get(base, "/api/financials/payouts/?period=2026-11",
                                                         owner)["items"]}
    assert november["d3@example2.test"]["total"] == "-24.00"
    (model,) = _get(base, "/api/financials/model-payouts/?period=2026-10", owner)["items"]
    assert model["amount"] == "2969.60"
    summary = _get(base, "/api/stats/summary/?date_from=2026-10-01&date_to=2026-10-31", owner)
    assert {k: summary[k] for k in ("gross_income", "platform_fees", "net_income", "expenses", "sales_count",
                                    "refunds_count", "refunds_amount")} == {
        "gross_income": "10200.00", "platform_fees": "2040.00", "net_income": "8160.00", "expenses": "1000.00",
        "sales_count": 3, "refunds_count": 2, "refunds_amount": "800.00"}
    mine = _get(base, "/api/financials/payouts/?period=2026-10", tokens["d2@example2.test"])["items"]
    assert [p["total"] for p in mine] == ["238.00"]
    # Example 1's agency sees none of example 2's people.
    assert not set(email_of.values()) & {"c1@example1.test", "m@example1.test"}


def test_a_second_run_adds_nothing(base, seeded):
    _, tokens = seeded
    owner = tokens["owner@example1.test"]
    before = _counts(base, owner)
    assert before["/api/users/"] == 5 and before["/api/income/records/"] == 6  # 5 sales + the brand deal
    assert before["/api/expenses/"] == 2
    owner2 = tokens["owner@example2.test"]
    before2 = _counts(base, owner2, "date_from=2026-09-01&date_to=2026-11-30")
    assert before2["/api/users/"] == 5 and before2["/api/income/records/"] == 7  # 5 sales + 2 refunds
    output = _seed(base)
    assert "exists" in output and output.count("already loaded: nothing added") == 2
    assert _counts(base, owner) == before
    assert _counts(base, owner2, "date_from=2026-09-01&date_to=2026-11-30") == before2
    again = _tokens(output)
    profit = _get(base, f"/api/financials/profit/?period={PERIOD}", again["owner@example1.test"])
    assert (profit["employee_payouts"], profit["agency_profit"]) == ("5800.44", "1086.87")
    profit = _get(base, "/api/financials/profit/?period=2026-10", again["owner@example2.test"])
    assert (profit["employee_payouts"], profit["agency_profit"]) == ("1538.00", "2652.40")


def test_seed_without_a_running_platform_says_so():
    proc = subprocess.run([sys.executable, "-m", "emulator", "seed", "--url", f"http://127.0.0.1:{free_port()}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "start the platform first (make run)" in proc.stderr
    assert "Traceback" not in proc.stderr
