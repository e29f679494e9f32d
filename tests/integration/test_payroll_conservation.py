"""Conservation of money over random payroll histories (issue #11), through the HTTP API and its events.

Worked example 2's agency (N manager of D1 and D2, D3 on no team, model P split on, every setting from
2026-09-01) lives through a random history of sales, refunds, adjustments and their reversals, settings versions,
expenses and closes over September-November 2026. After every step, for every period:
- net income = employee payouts + model payouts + expenses + agency profit, and the parts are the sums of the
  items (payout totals, the sum of their lines; model payouts);
- net income and expenses are the truth's (Σ net of the period's income records, Σ of its expenses);
- every ledger posting balances and the period's postings sum to the stored figures, account by account;
- a closed period's figures and lines never change again.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_lib import clock
from tests.factories import make_agency, make_model, make_user, sql

PERIODS = ("2026-09", "2026-10", "2026-11")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # every period of the story has ended
DAYS = st.sampled_from(["2026-09-01", "2026-09-18", "2026-09-30", "2026-10-01", "2026-10-14", "2026-10-31",
                        "2026-11-01", "2026-11-20", "2026-11-30"])
GROSS = st.decimals(min_value=D("0.01"), max_value=D("9999.99"), places=2).map(str)
CHATTER = st.sampled_from(["D1", "D2", "D3"])
PERIOD = st.sampled_from(PERIODS)

OPS = st.one_of(
    st.tuples(st.just("sale"), CHATTER, st.sampled_from(["message_sale", "tip_sale"]), DAYS, GROSS),
    st.tuples(st.just("sale"), CHATTER, st.sampled_from(["message_sale", "tip_sale"]), DAYS, GROSS),
    st.tuples(st.just("refund"), st.integers(0, 30), st.sampled_from(["refund", "chargeback"]),
              st.sampled_from(["1", "0.5", "0.01"]), DAYS),
    st.tuples(st.just("adjust"), st.sampled_from(["N", "D1", "D2", "D3"]), PERIOD,
              st.sampled_from(["-25.00", "50.00", "-1000.00", "0.01"])),
    st.tuples(st.just("reverse"), st.integers(0, 10)),
    st.tuples(st.just("pay"), st.sampled_from(["N", "D1", "D3"]), DAYS, st.sampled_from(["0.00", "7.50", "12.00"])),
    st.tuples(st.just("model"), DAYS, st.sampled_from(["0.00", "40.00", "65.50"]), st.booleans()),
    st.tuples(st.just("expense"), DAYS, GROSS),
    st.tuples(st.just("close"), PERIOD),
)


class Story:
    """The agency and what the history made so far (sales and adjustments, to refund or reverse)."""

    def __init__(self, client):
        self.client = client
        a = make_agency()
        self.agency, self.owner = a, a.owner.headers
        n = make_user(a, "manager", name="N")
        self.people = {"N": n, "D1": make_user(a, name="D1", manager=n), "D2": make_user(a, name="D2", manager=n),
                       "D3": make_user(a, name="D3")}
        self.model = make_model(a, "P", *(self.people[k] for k in ("D1", "D2", "D3")))
        self.sales: list[dict] = []
        self.adjustments: list[dict] = []
        self.closed: dict[str, dict] = {}  # period -> what it showed when it was closed
        self.closing: list[str] = []  # closed by the last step
        self.ok("put", "/api/platform-settings/", {"onlyfans_fee_percent": "20.00", "effective_from": "2026-09-01"})
        for name, body in (
                ("N", {"compensation_type": "commission", "commission_rate": "0.00", "manager_tick_rate": "5.00"}),
                ("D1", {"compensation_type": "commission", "commission_rate": "10.00",
                        "bonus_bands": [{"from_net": "5000.00", "bonus": "150.00"},
                                        {"from_net": "10000.00", "bonus": "400.00"}]}),
                ("D2", {"compensation_type": "hourly_plus_commission", "commission_rate": "5.00",
                        "hourly_rate": "6.00"}),
                ("D3", {"compensation_type": "commission", "commission_rate": "10.00"})):
            self.settings(name, "2026-09-01", body)
        self.ok("put", f"/api/models/{self.model}/settings/", {"model_share_percent": "40.00",
                                                               "split_chatting_costs": True,
                                                               "effective_from": "2026-09-01"})

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        r = getattr(self.client, method)(path, json=body, headers=headers or self.owner)
        assert r.status_code < 500, r.get_data(as_text=True)
        return r

    def ok(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        r = self.call(method, path, body, headers)
        assert r.status_code in (200, 201), r.get_data(as_text=True)
        return r.get_json()

    def refused(self, r, *slugs: str) -> None:
        """A refusal the rules foresee (a closed period, an earlier period still open, ...), never anything else."""
        assert r.status_code in (400, 409), r.get_data(as_text=True)
        if r.status_code == 409:
            assert r.get_json()["type"].rsplit("/", 1)[-1] in slugs, r.get_json()

    def settings(self, name: str, day: str, body: dict):
        return self.call("put", f"/api/users/{self.people[name].id}/financial-settings/",
                         {"fixed_salary": "0.00", "manager_tick_rate": "0.00", **body, "effective_from": day})

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "sale":
            _, who, type_, day, gross = op
            r = self.call("post", "/api/income/register/", {"type": type_, "gross_amount": gross, "sale_date": day,
                                                            "model_id": str(self.model)},
                          headers=self.people[who].headers)
            if r.status_code == 201:
                self.sales.append({**r.get_json(), "left": D(gross)})
            else:
                self.refused(r, "period-closed")
        elif kind == "refund" and self.sales:
            _, i, refund_kind, fraction, day = op
            sale = self.sales[i % len(self.sales)]
            amount = min(sale["left"], max(D("0.01"), (sale["left"] * D(fraction)).quantize(D("0.01"))))
            day = max(day, sale["sale_date"])
            r = self.call("post", f"/api/income/records/{sale['id']}/refunds/",
                          {"kind": refund_kind, "amount": str(amount), "refund_date": day})
            if r.status_code == 201:
                sale["left"] -= amount
            elif sale["left"] == 0:
                assert r.status_code in (400, 409), r.get_data(as_text=True)
            else:
                self.refused(r, "period-closed")
        elif kind == "adjust":
            _, who, period, amount = op
            r = self.call("post", "/api/financials/adjustments/", {
                "user_id": str(self.people[who].id), "period": period, "amount": amount, "reason": "random"})
            if r.status_code == 201:
                self.adjustments.append(r.get_json())
            else:
                self.refused(r, "period-closed")
        elif kind == "reverse" and self.adjustments:
            adj = self.adjustments[op[1] % len(self.adjustments)]
            r = self.call("post", f"/api/financials/adjustments/{adj['id']}/reverse/", {"reason": "undo"})
            if r.status_code == 201:
                self.adjustments.append(r.get_json())
            else:
                self.refused(r, "period-closed", "already-reversed")
        elif kind == "pay":
            _, who, day, rate = op
            body = ({"compensation_type": "commission", "commission_rate": "0.00", "manager_tick_rate": rate}
                    if who == "N" else {"compensation_type": "commission", "commission_rate": rate})
            r = self.settings(who, day, body)
            if r.status_code != 200:
                self.refused(r, "period-closed")
        elif kind == "model":
            _, day, share, split = op
            r = self.call("put", f"/api/models/{self.model}/settings/", {
                "model_share_percent": share, "split_chatting_costs": split, "effective_from": day})
            if r.status_code != 200:
                self.refused(r, "period-closed")
        elif kind == "expense":
            _, day, amount = op
            r = self.call("post", "/api/expenses/", {"amount": amount, "expense_date": day, "source": "random"})
            if r.status_code != 201:
                self.refused(r, "period-closed")
        elif kind == "close":
            period = op[1]
            r = self.call("post", f"/api/financials/periods/{period}/close/")
            if r.status_code == 200:
                self.closing.append(period)  # what it shows once the close's events are handled is kept
            else:
                self.refused(r, "previous-period-open", "period-closed", "period-not-ended")

    def drain(self) -> None:
        assert self.ok("post", "/_emulator/drain")["drained"] is True

    def shown(self, period: str) -> dict:
        """What the API shows of a period: its figures, every payout's lines and total, the model payouts."""
        profit = self.ok("get", f"/api/financials/profit/?period={period}")
        payouts = self.ok("get", f"/api/financials/payouts/?period={period}&limit=500")["items"]
        models = self.ok("get", f"/api/financials/model-payouts/?period={period}&limit=500")["items"]
        return {"profit": profit,
                "payouts": sorted((p["user_id"], p["total"], sorted(
                    (line["kind"], line["model_id"] or "", line["basis"] or "", line["rate"] or "", line["amount"])
                    for line in p["lines"])) for p in payouts),
                "models": sorted((m["model_id"], m["base"], m["amount"]) for m in models)}

    def check(self) -> None:
        a = self.agency.id
        unbalanced = sql("SELECT lp.id FROM financial_calculations.ledger_postings lp "
                         "JOIN financial_calculations.transaction_ledger t ON t.posting_id = lp.id "
                         "WHERE lp.agency_id = :a GROUP BY lp.id HAVING sum(t.amount) <> 0", {"a": a})
        assert unbalanced == []
        for period in PERIODS:
            shown = self.shown(period)
            p = {k: D(v) for k, v in shown["profit"].items() if k in (
                "net_income", "employee_payouts", "model_payouts", "expenses", "agency_profit")}
            assert p["net_income"] == p["employee_payouts"] + p["model_payouts"] + p["expenses"] + p["agency_profit"]
            assert sum((D(total) for _, total, _ in shown["payouts"]), D(0)) == p["employee_payouts"]
            for _, total, lines in shown["payouts"]:
                assert sum((D(line[-1]) for line in lines), D(0)) == D(total)
            assert sum((D(amount) for *_, amount in shown["models"]), D(0)) == p["model_payouts"]
            first, last = f"{period}-01", _last_day(period)
            (net,) = sql("SELECT coalesce(sum(net_amount), 0) FROM income_service.income_records "
                         "WHERE agency_id = :a AND sale_date BETWEEN :f AND :l", {"a": a, "f": first, "l": last})[0]
            (spent,) = sql("SELECT coalesce(sum(amount), 0) FROM expense_service.expenses WHERE agency_id = :a "
                           "AND expense_date BETWEEN :f AND :l", {"a": a, "f": first, "l": last})[0]
            assert (p["net_income"], p["expenses"]) == (net, spent), period
            ledger = defaultdict(D)
            for account, party, total in sql(
                    "SELECT t.account, t.party_id, sum(t.amount) FROM financial_calculations.transaction_ledger t "
                    "JOIN financial_calculations.ledger_postings lp ON lp.id = t.posting_id "
                    "WHERE lp.agency_id = :a AND lp.period = :p GROUP BY 1, 2", {"a": a, "p": period}):
                ledger[(account, str(party) if party else None)] += total
            employees = {u: D(t) for u, t, _ in shown["payouts"] if D(t) != 0}
            assert {party: v for (acc, party), v in ledger.items() if acc == "payable:employee" and v} == employees
            assert ledger[("revenue:net_income", None)] == -p["net_income"]
            assert ledger[("expense:operating", None)] == p["expenses"]
            assert ledger[("equity:agency_profit", None)] == p["agency_profit"]
            assert sum((v for (acc, _), v in ledger.items() if acc == "payable:model"), D(0)) == p["model_payouts"]
            if period in self.closing:
                self.closed.setdefault(period, shown)
            if period in self.closed:
                assert shown == self.closed[period], f"closed {period} changed"
                assert shown["profit"]["status"] == "closed"
        self.closing.clear()


def _last_day(period: str) -> str:
    y, m = map(int, period.split("-"))
    return (datetime(y + (m == 12), m % 12 + 1, 1) - datetime.resolution).date().isoformat()


def test_any_history_conserves_money_and_closed_periods_stay_put(client, platform):
    @settings(max_examples=3, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(OPS, min_size=3, max_size=6))
    def history(ops):
        story = Story(client)
        story.drain()
        for op in ops:
            story.apply(op)
            story.drain()
            story.check()

    with clock.frozen(NOW):
        history()


def test_a_history_with_every_kind_of_step(client, platform):
    """One fixed history that takes every kind of step, so each is exercised whatever Hypothesis draws."""
    ops = [("sale", "D1", "message_sale", "2026-09-18", "500.00"), ("sale", "D3", "tip_sale", "2026-09-30", "300.00"),
           ("close", "2026-09"),
           ("sale", "D1", "message_sale", "2026-10-01", "8000.00"), ("sale", "D2", "tip_sale", "2026-10-14", "2000.00"),
           ("refund", 0, "chargeback", "1", "2026-10-01"),  # September is closed: the chargeback lands in October
           ("refund", 1, "refund", "0.5", "2026-10-14"),
           ("sale", "D1", "tip_sale", "2026-09-30", "10.00"),  # refused: September is closed
           ("adjust", "D2", "2026-10", "-25.00"), ("reverse", 0), ("pay", "D3", "2026-10-14", "12.00"),
           ("model", "2026-10-31", "65.50", False), ("expense", "2026-10-01", "99.99"),
           ("close", "2026-11"),  # refused: October is still open
           ("close", "2026-10"), ("adjust", "D1", "2026-10", "0.01"),  # refused: October is closed
           ("refund", 3, "refund", "1", "2026-11-01"), ("close", "2026-11")]
    with clock.frozen(NOW):
        story = Story(client)
        story.drain()
        for op in ops:
            story.apply(op)
            story.drain()
            story.check()
        assert sorted(story.closed) == list(PERIODS)
