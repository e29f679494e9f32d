"""`python -m emulator seed`: BUSINESS_RULES.md's worked examples loaded into a running platform through its API, each
as an agency of its own: example 1 (period 2026-11, open) and example 2 (September and October 2026 closed, D1
paid, D3's clawback carried into November).

Example 2's dates lie in the past of the platform's clock (its "today" must be 2026-11-05 or later: the real
date, or OM_CLOCK): the seed can't move the server's clock, so it does what a bookkeeper catching up would —
records the shifts' check-ins and check-outs as the Owner's corrections (`at`), closes the months that have
ended, then pays.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, TextIO


# --- the data sets ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    key: str  # the example's name for them (M, C1, …); their login is <key>@<domain>, lower case
    role: str
    pay: tuple[str, str, str, str]  # compensation_type, commission_rate, fixed_salary, manager_tick_rate
    manager: str | None = None
    hourly_rate: str | None = None  # hourly, hourly_plus_commission
    bonus_bands: tuple[tuple[str, str], ...] = ()  # (from_net, bonus)

    def settings(self, effective_from: str) -> dict[str, Any]:
        ctype, rate, fixed, tick = self.pay
        body: dict[str, Any] = {"compensation_type": ctype, "commission_rate": rate, "fixed_salary": fixed,
                                "manager_tick_rate": tick, "effective_from": effective_from}
        if self.hourly_rate is not None:
            body["hourly_rate"] = self.hourly_rate
        if self.bonus_bands:
            body["bonus_bands"] = [{"from_net": f, "bonus": b} for f, b in self.bonus_bands]
        return body


@dataclass(frozen=True)
class CreatorModel:
    key: str
    share: str
    split_chatting_costs: bool
    subscribers: int
    assigned: tuple[str, ...]


@dataclass(frozen=True)
class Sale:
    chatter: str
    model: str
    type: str
    gross: str
    on: str


@dataclass(frozen=True)
class Refund:
    sale: int  # the refunded sale, by its place in DataSet.sales (0-based)
    kind: str  # refund, chargeback
    amount: str
    on: str


@dataclass(frozen=True)
class WorkedShift:
    person: str
    starts_at: str  # RFC 3339
    ends_at: str
    checked_in_at: str
    checked_out_at: str


@dataclass(frozen=True)
class Adjustment:
    person: str
    period: str
    amount: str
    reason: str


@dataclass(frozen=True)
class Payment:
    person: str
    period: str
    paid_at: str
    method: str
    reference: str


@dataclass(frozen=True)
class DataSet:
    """One worked example: an agency, its people and models, settings from `effective_from`, a month's records."""

    key: str
    title: str
    domain: str  # logins are owner@<domain>, m@<domain>, …
    agency: str
    period: str
    effective_from: str
    fee_percent: str
    people: tuple[Person, ...]
    models: tuple[CreatorModel, ...]
    sales: tuple[Sale, ...]
    other_income: tuple[dict[str, Any], ...]  # POST /api/income/recurring/ bodies; assigned_to_user_id by key
    expense_schedules: tuple[dict[str, Any], ...]
    expenses: tuple[dict[str, Any], ...]
    generate_as_of: str  # the recurring-generate job runs for this date: every occurrence up to it is created
    subscribers_observed_at: str
    expected: dict[str, str] = field(default_factory=dict)  # the example's figures, checked against the API's
    records_from: str | None = None  # the first sale's or expense's month, when before `period`
    refunds: tuple[Refund, ...] = ()
    shifts: tuple[WorkedShift, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    closes: tuple[str, ...] = ()  # periods closed, in this order, once everything else is in
    payments: tuple[Payment, ...] = ()
    statement_of: tuple[str, str] = ("C2", "A")  # whose statements the report links (a person, a model)

    def email(self, key: str) -> str:
        return f"{key.lower()}@{self.domain}"

    def owner_uid(self) -> str:
        return f"{self.key}-owner"

    @property
    def first_day(self) -> str:
        return f"{self.records_from or self.period}-01"

    @property
    def last_day(self) -> str:
        """The last day of `period`."""
        y, m = map(int, self.period.split("-"))
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1).isoformat()

    @property
    def dated_up_to(self) -> str:
        """The platform's today must be on or after this: the last dated thing (a sale, a close, a payment)."""
        days = [self.generate_as_of, *(s.on for s in self.sales), *(r.on for r in self.refunds),
                *(p.paid_at[:10] for p in self.payments)]
        for period in self.closes:  # a period closes once its last day has ended
            y, m = map(int, period.split("-"))
            days.append(date(y + (m == 12), m % 12 + 1, 1).isoformat())
        return max(days)


EXAMPLE_1 = DataSet(
    key="example1",
    title="Worked example (golden), BUSINESS_RULES.md",
    domain="example1.test",
    agency="Example 1 Agency",
    period="2026-11",
    effective_from="2026-11-01",
    fee_percent="20.00",
    people=(
        Person("M", "manager", ("commission", "0.00", "0.00", "5.00")),
        Person("C1", "chatter", ("commission", "10.00", "0.00", "0.00"), manager="M"),
        Person("C2", "chatter", ("fixed_plus_commission", "5.00", "1500.00", "0.00"), manager="M"),
        Person("C3", "chatter", ("fixed", "0.00", "2000.00", "0.00")),
    ),
    models=(
        CreatorModel("A", "50.00", True, 1000, ("C1", "C2")),
        CreatorModel("B", "60.00", False, 2000, ("C1", "C3")),
    ),
    sales=(
        Sale("C1", "A", "message_sale", "5000.00", "2026-11-03"),
        Sale("C1", "A", "tip_sale", "2500.00", "2026-11-04"),
        Sale("C1", "B", "message_sale", "10000.00", "2026-11-05"),
        Sale("C2", "A", "tip_sale", "1255.50", "2026-11-06"),
        Sale("C3", "B", "message_sale", "3000.00", "2026-11-07"),
    ),
    other_income=({"source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
                   "start_date": "2026-11-01", "assigned_to_user_id": "M", "split_percent": "25.00"},),
    expense_schedules=({"source": "software", "amount": "1200.00", "frequency": "monthly", "day_of_month": 1,
                        "start_date": "2026-11-01"},),
    expenses=({"source": "ads", "amount": "300.00", "expense_date": "2026-11-10"},),
    generate_as_of="2026-11-30",
    subscribers_observed_at="2026-11-30T12:00:00Z",
    expected={"net income": "17804.40", "employee payouts": "5800.44", "model A": "3177.09", "model B": "6240.00",
              "agency profit": "1086.87"},
)

_D2_SHIFTS = tuple(WorkedShift("D2", f"2026-10-{d}T09:00:00Z", f"2026-10-{d}T19:00:00Z", f"2026-10-{d}T09:00:00Z",
                                f"2026-10-{d}T{out}:00Z") for d, out in (("12", "19:00"), ("13", "19:00"),
                                                                         ("14", "19:30")))

EXAMPLE_2 = DataSet(
    key="example2",
    title="Worked example 2 (golden), BUSINESS_RULES.md",
    domain="example2.test",
    agency="Example 2 Agency",
    period="2026-10",
    records_from="2026-09",
    effective_from="2026-09-01",
    fee_percent="20.00",
    people=(
        Person("N", "manager", ("commission", "0.00", "0.00", "5.00")),
        Person("D1", "chatter", ("commission", "10.00", "0.00", "0.00"), manager="N",
               bonus_bands=(("5000.00", "150.00"), ("10000.00", "400.00"))),
        Person("D2", "chatter", ("hourly_plus_commission", "5.00", "0.00", "0.00"), manager="N", hourly_rate="6.00"),
        Person("D3", "chatter", ("commission", "10.00", "0.00", "0.00")),
    ),
    models=(CreatorModel("P", "40.00", True, 0, ("D1", "D2", "D3")),),
    sales=(
        Sale("D1", "P", "message_sale", "500.00", "2026-09-20"),
        Sale("D3", "P", "tip_sale", "300.00", "2026-09-25"),
        Sale("D1", "P", "message_sale", "8000.00", "2026-10-03"),
        Sale("D1", "P", "tip_sale", "1000.00", "2026-10-10"),
        Sale("D2", "P", "message_sale", "2000.00", "2026-10-12"),
    ),
    refunds=(Refund(0, "chargeback", "500.00", "2026-10-05"), Refund(1, "refund", "300.00", "2026-10-06")),
    shifts=_D2_SHIFTS,
    adjustments=(Adjustment("D2", "2026-10", "-25.00", "late report"),
                 Adjustment("N", "2026-10", "50.00", "team target")),
    other_income=(),
    expense_schedules=(),
    expenses=({"source": "software", "amount": "1000.00", "expense_date": "2026-10-01"},),
    closes=("2026-09", "2026-10"),
    payments=(Payment("D1", "2026-10", "2026-11-05", "bank", "TX-1"),),
    generate_as_of="2026-10-31",
    subscribers_observed_at="2026-10-31T12:00:00Z",
    statement_of=("D1", "P"),
    expected={"net income": "8160.00", "employee payouts": "1538.00", "model P": "2969.60",
              "agency profit": "2652.40", "payout D1": "830.00", "payout D2": "238.00", "payout D3": "0.00",
              "payout N": "470.00"},
)

DATA_SETS = {"1": EXAMPLE_1, "2": EXAMPLE_2}


# --- a small JSON client ---------------------------------------------------------------------------------------


class SeedError(RuntimeError):
    pass


class Api:
    """JSON over HTTP to the local platform, one bearer token per call (the person acting)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def call(self, method: str, path: str, token: str | None = None, body: Any = None, *,
             key: str | None = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise SeedError(f"cannot reach {self.base} ({exc.reason}): start the platform first (make run)") from None
        if status not in ok:
            raise SeedError(f"{method} {path} answered {status}: {raw.decode(errors='replace')[:500]}")
        return json.loads(raw) if raw else None

    def items(self, path: str, token: str, **query: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page after page."""
        out: list[dict[str, Any]] = []
        params = {"limit": "500", **query}
        while True:
            page = self.call("GET", f"{path}?{urllib.parse.urlencode(params)}", token)
            out += page["items"]
            if not page.get("next_cursor"):
                return out
            params["cursor"] = page["next_cursor"]


# --- loading -----------------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What a run found or made: ids and tokens by the example's names, and what it added."""

    agency_id: str
    ids: dict[str, str]
    tokens: dict[str, str]
    created: list[str]
    existed: bool


def _token(uid: str, email: str, name: str) -> str:
    from shared_lib.auth import mint_emulator_token  # the helper `python -m emulator token` prints with

    return mint_emulator_token(uid, email, name=name)


def load(api: Api, ds: DataSet, say: Callable[[str], None] = lambda _: None) -> Loaded:
    """Make the platform hold `ds`, adding only what is missing: a second run finds everything and adds nothing.

    Each record is matched by what the example calls it (an email, a model's name, a sale's chatter, model,
    type, amount and date), so a run stopped half-way is completed by the next; creates also carry an
    Idempotency-Key, so a retried request never doubles one.
    """
    owner = _token(ds.owner_uid(), ds.email("owner"), "Owner")
    created: list[str] = []
    me = api.call("GET", "/api/me/", owner)
    existed = me["agency_id"] is not None
    if existed:
        agency_id = me["agency_id"]
        say(f"agency for {ds.email('owner')} exists ({agency_id}): adding only what is missing")
    else:
        agency_id = api.call("POST", "/api/agencies/", owner, {"name": ds.agency, "currency": "USD", "timezone": "UTC"},
                             key=f"seed-{ds.key}-agency")["id"]
        created.append(f"agency {ds.agency}")
    tokens = {"owner": owner}
    users = {u["email"]: u for u in api.items("/api/users/", owner)}
    ids = {"owner": users[ds.email("owner")]["id"]}
    for p in ds.people:  # managers come first in the table, so manager_id is known
        u = users.get(ds.email(p.key))
        if u is None:
            body = {"email": ds.email(p.key), "display_name": p.key, "role": p.role}
            if p.manager:
                body["manager_id"] = ids[p.manager]
            u = api.call("POST", "/api/users/", owner, body, key=f"seed-{ds.key}-user-{p.key}")
            created.append(f"user {p.key}")
        ids[p.key] = u["id"]
        tokens[p.key] = _token(u["firebase_uid"], ds.email(p.key), p.key)

    models = {m["name"]: m for m in api.items("/api/models/", owner)}
    for m in ds.models:
        name = f"Model {m.key}"
        row = models.get(name) or api.call("POST", "/api/models/", owner, {"name": name},
                                           key=f"seed-{ds.key}-model-{m.key}")
        if name not in models:
            created.append(f"model {m.key}")
        ids[m.key] = row["id"]
        want = sorted(ids[k] for k in m.assigned)
        if sorted(row.get("user_ids", [])) != want:
            api.call("PUT", f"/api/models/{row['id']}/assignments/", owner, {"user_ids": want})

    _settings(api, ds, owner, ids, created)
    _records(api, ds, owner, ids, tokens, created)

    # Occurrences of the schedules up to the period's end (exactly once each), then every event handled.
    if ds.other_income or ds.expense_schedules:
        api.call("POST", f"/_emulator/scheduler/recurring-generate?as_of={ds.generate_as_of}")
    api.call("POST", "/_emulator/drain")
    _payroll(api, ds, owner, ids, created)
    return Loaded(agency_id=agency_id, ids=ids, tokens=tokens, created=created, existed=existed)


def _ensure_version(api: Api, path: str, owner: str, body: dict[str, Any], current_of: Callable[[Any], Any],
                    created: list[str], what: str) -> None:
    """PUT a settings version unless the one in effect on its effective_from already says the same."""
    current = current_of(api.call("GET", f"{path}?on={body['effective_from']}", owner)) or {}
    if any(str(current.get(k)) != str(v) for k, v in body.items()):
        api.call("PUT", path, owner, body)
        created.append(what)


def _settings(api: Api, ds: DataSet, owner: str, ids: dict[str, str], created: list[str]) -> None:
    on = ds.effective_from
    _ensure_version(api, "/api/platform-settings/", owner, {"onlyfans_fee_percent": ds.fee_percent, "effective_from": on},
                    lambda v: v, created, "platform fee")
    for p in ds.people:
        _ensure_version(api, f"/api/users/{ids[p.key]}/financial-settings/", owner, p.settings(on),
                        lambda v: v["current"], created, f"pay of {p.key}")
    for m in ds.models:
        _ensure_version(api, f"/api/models/{ids[m.key]}/settings/", owner,
                        {"model_share_percent": m.share, "split_chatting_costs": m.split_chatting_costs,
                         "effective_from": on},
                        lambda v: v["current"], created, f"share of model {m.key}")


def _records(api: Api, ds: DataSet, owner: str, ids: dict[str, str], tokens: dict[str, str],
             created: list[str]) -> None:
    first, last = ds.first_day, ds.generate_as_of
    have = {(r["chatter_id"], r["model_id"], r["type"], r["gross_amount"], r["sale_date"]): r["id"]
            for r in api.items("/api/income/records/", owner, date_from=first, date_to=last)}
    for n, s in enumerate(ds.sales, 1):
        found = have.get((ids[s.chatter], ids[s.model], s.type, s.gross, s.on))
        if found is None:
            # Registered by the chatter, as they would from the app.
            found = api.call("POST", "/api/income/register/", tokens[s.chatter],
                             {"type": s.type, "gross_amount": s.gross, "sale_date": s.on, "model_id": ids[s.model]},
                             key=f"seed-{ds.key}-sale-{n}")["id"]
            created.append(f"sale {s.chatter}/{s.model} {s.gross}")
        ids[f"sale {n - 1}"] = found

    schedules = {x["source"] for x in api.items("/api/income/recurring/", owner)}
    for body in ds.other_income:
        if body["source"] not in schedules:
            body = {**body, "assigned_to_user_id": ids[body["assigned_to_user_id"]]}
            api.call("POST", "/api/income/recurring/", owner, body, key=f"seed-{ds.key}-income-{body['source']}")
            created.append(f"recurring income {body['source']}")
    schedules = {x["source"] for x in api.items("/api/expenses/recurring/", owner)}
    for body in ds.expense_schedules:
        if body["source"] not in schedules:
            api.call("POST", "/api/expenses/recurring/", owner, body, key=f"seed-{ds.key}-expense-{body['source']}")
            created.append(f"recurring expense {body['source']}")
    have = {(e["source"], e["amount"], e["expense_date"])
            for e in api.items("/api/expenses/", owner, date_from=first, date_to=last)}
    for body in ds.expenses:
        if (body["source"], body["amount"], body["expense_date"]) not in have:
            api.call("POST", "/api/expenses/", owner, body, key=f"seed-{ds.key}-expense-{body['source']}-once")
            created.append(f"expense {body['source']}")

    for m in ds.models:  # an upsert per (model, observed_at): repeating it changes nothing
        if not m.subscribers:
            continue
        api.call("POST", "/api/stats/subscriber-counts/", owner,
                 {"model_id": ids[m.key], "subscriber_count": m.subscribers, "observed_at": ds.subscribers_observed_at})


def _payroll(api: Api, ds: DataSet, owner: str, ids: dict[str, str], created: list[str]) -> None:
    """Refunds, worked shifts, adjustments, then the closes and the payments, each only when not there yet."""
    if ds.refunds:
        done = {r["refund_of"] for kind in {x.kind for x in ds.refunds}
                for r in api.items("/api/income/records/", owner, type=kind)}
        for r in ds.refunds:
            if ids[f"sale {r.sale}"] not in done:
                api.call("POST", f"/api/income/records/{ids[f'sale {r.sale}']}/refunds/", owner,
                         {"kind": r.kind, "amount": r.amount, "refund_date": r.on},
                         key=f"seed-{ds.key}-refund-{r.sale}")
                created.append(f"{r.kind} of sale {r.sale + 1} ({r.amount})")
    for n, sh in enumerate(ds.shifts):
        user = ids[sh.person]
        shifts = {_instant(x["starts_at"]): x for x in api.items("/api/timetracking/shifts/", owner, user_id=user)}
        shift = shifts.get(_instant(sh.starts_at))
        if shift is None:
            shift = api.call("POST", "/api/timetracking/shifts/", owner,
                             {"user_id": user, "starts_at": sh.starts_at, "ends_at": sh.ends_at},
                             key=f"seed-{ds.key}-shift-{n}")
            created.append(f"shift {sh.person} {sh.starts_at[:10]}")
        entry = next((e for e in api.items("/api/timetracking/entries/", owner, user_id=user)
                      if e["shift_id"] == shift["id"]), None)
        # The times are in the past: recorded as the Owner's corrections (`at`), as a bookkeeper catching up does.
        if entry is None:
            entry = api.call("POST", "/api/timetracking/check-in/", owner, {"user_id": user, "at": sh.checked_in_at},
                             key=f"seed-{ds.key}-check-in-{n}")
            created.append(f"check-in {sh.person} {sh.checked_in_at}")
        if entry["checked_out_at"] is None:
            api.call("POST", "/api/timetracking/check-out/", owner, {"user_id": user, "at": sh.checked_out_at},
                     key=f"seed-{ds.key}-check-out-{n}")
            created.append(f"check-out {sh.person} {sh.checked_out_at}")
    for period in sorted({a.period for a in ds.adjustments}):
        have = {(x["user_id"], x["amount"], x["reason"])
                for x in api.items("/api/financials/adjustments/", owner, period=period)}
        for n, a in enumerate(x for x in ds.adjustments if x.period == period):
            if (ids[a.person], a.amount, a.reason) not in have:
                api.call("POST", "/api/financials/adjustments/", owner,
                         {"user_id": ids[a.person], "period": a.period, "amount": a.amount, "reason": a.reason},
                         key=f"seed-{ds.key}-adjustment-{period}-{n}")
                created.append(f"adjustment {a.person} {a.amount}")
    api.call("POST", "/_emulator/drain")
    for period in ds.closes:
        if api.call("GET", f"/api/financials/profit/?period={period}", owner)["status"] != "closed":
            api.call("POST", f"/api/financials/periods/{period}/close/", owner)
            created.append(f"close {period}")
    for p in ds.payments:
        paid = {x.get("user_id") for x in api.items(f"/api/financials/periods/{p.period}/payments/", owner)}
        if ids[p.person] not in paid:
            api.call("POST", f"/api/financials/periods/{p.period}/payments/", owner,
                     {"user_id": ids[p.person], "paid_at": p.paid_at, "method": p.method, "reference": p.reference},
                     key=f"seed-{ds.key}-payment-{p.period}-{p.person}")
            created.append(f"payment {p.person} {p.period}")
    api.call("POST", "/_emulator/drain")


def _instant(value: str) -> str:
    """An RFC 3339 instant in one spelling (the API answers Z), to match a shift by its start."""
    from datetime import datetime, timezone

    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).isoformat()


# --- the command -------------------------------------------------------------------------------------------------


def report(api: Api, ds: DataSet, loaded: Loaded, out: TextIO) -> None:
    """What a newcomer looks at: the figures as the API gives them, a token per person, where to click."""
    owner, p = loaded.tokens["owner"], ds.period
    profit = api.call("GET", f"/api/financials/profit/?period={p}", owner)
    models = {m["model_id"]: m for m in api.call("GET", f"/api/financials/model-payouts/?period={p}", owner)["items"]}
    payouts = {x["user_id"]: x for x in api.call("GET", f"/api/financials/payouts/?period={p}", owner)["items"]}
    span = f"date_from={ds.period}-01&date_to={ds.last_day}"
    summary = api.call("GET", f"/api/stats/summary/?{span}", owner)
    top = api.call("GET", f"/api/stats/top-earners/?{span}", owner)["items"]
    afv = api.call("GET", f"/api/stats/afv/?{span}", owner)
    w = out.write
    w(f"\n{ds.title}: {ds.agency} (agency {loaded.agency_id}), period {p} ({profit['status']})\n")
    w(f"  {'already loaded: nothing added' if not loaded.created else 'added: ' + ', '.join(loaded.created)}\n")
    w(f"  net income {profit['net_income']} · employee payouts {profit['employee_payouts']} · model payouts "
      f"{profit['model_payouts']} · expenses {profit['expenses']} · agency profit {profit['agency_profit']}\n")
    for person in ds.people:
        item = payouts.get(loaded.ids[person.key], {})
        carried = [f"{line['kind']} {line['amount']}" for line in item.get("lines", ())
                   if line["kind"].startswith("carried")]
        status = item.get("payment_status")
        w(f"  payout {person.key}: {item.get('total', '0.00')}"
          f"{' (' + ', '.join(carried) + ')' if carried else ''}{' · ' + status if status else ''}\n")
    for m in ds.models:
        w(f"  model {m.key}: {models.get(loaded.ids[m.key], {}).get('amount', '0.00')}\n")
    got = {"net income": profit["net_income"], "employee payouts": profit["employee_payouts"],
           "agency profit": profit["agency_profit"],
           **{f"model {m.key}": models.get(loaded.ids[m.key], {}).get("amount") for m in ds.models},
           **{f"payout {x.key}": payouts.get(loaded.ids[x.key], {}).get("total", "0.00") for x in ds.people}}
    differs = [f"{k} {got.get(k)} (the example: {v})" for k, v in ds.expected.items() if got.get(k) != v]
    verdict = "DIFFERS from the worked example: " + "; ".join(differs) if differs else "matches the worked example"
    w(f"  {verdict}\n")
    refunds = (f", refunds {summary['refunds_count']} ({summary['refunds_amount']})"
               if summary.get("refunds_count") else "")
    w(f"  statistics {summary['date_from']}..{summary['date_to']}: gross {summary['gross_income']}, fees "
      f"{summary['platform_fees']}, net {summary['net_income']}, expenses {summary['expenses']}, "
      f"sales {summary['sales_count']}{refunds}\n")
    earners = ", ".join(f"{t['display_name']} {t['net_sales']}" for t in top)
    per_model = ", ".join(f"{m['name']} {m['afv']}" for m in sorted(afv["models"], key=lambda m: m["name"])
                          if m["afv"] is not None)
    w(f"  top earners {earners}{' · AFV ' + per_model if per_model else ''}\n")
    if p in ds.closes:  # what the close carried into the next period
        y, m = map(int, p.split("-"))
        following = f"{y + (m == 12)}-{m % 12 + 1:02d}"
        name = {v: k for k, v in loaded.ids.items()}
        carried = [f"{name.get(x['user_id'], x['user_id'])} {line['kind']} {line['amount']}"
                   for x in api.items("/api/financials/payouts/", owner, period=following)
                   for line in x["lines"] if line["kind"] == "carried_balance"]
        if carried:
            w(f"  carried into {following}: {', '.join(carried)}\n")
    w("\nLogins (emulator tokens, valid 1 h; `make demo` again prints fresh ones):\n")
    for key in ("owner", *(x.key for x in ds.people)):
        w(f"  {ds.email(key):<22} {loaded.tokens[key]}\n")
    base = api.base
    person, model = ds.statement_of
    w("\nLook at (as the Owner: -H \"Authorization: Bearer <owner token>\"):\n")
    w(f"  {base}/api/docs/                                     Swagger UI (Authorize with a token above)\n")
    w(f"  {base}/api/financials/payouts/?period={p}\n")
    w(f"  {base}/api/financials/model-payouts/?period={p}\n")
    w(f"  {base}/api/financials/profit/?period={p}\n")
    w(f"  {base}/api/stats/summary/?{span}\n")
    w(f"  {base}/api/stats/top-earners/?{span}\n")
    w(f"  {base}/api/financials/payouts/{loaded.ids[person]}/statement/?period={p}&format=pdf   "
      f"{person}'s statement\n")
    w(f"  {base}/api/financials/model-payouts/{loaded.ids[model]}/statement/?period={p}&format=pdf   "
      f"Model {model}'s statement\n")


def _today() -> date:
    """Today as the platform sees it when it runs with this environment: OM_CLOCK's date, else the real one."""
    from shared_lib import clock

    return clock.today_in("UTC")


def run(url: str, examples: list[str], out: TextIO = sys.stdout) -> int:
    api = Api(url)
    for n in examples:
        ds = DATA_SETS[n]
        today = _today()
        if today.isoformat() < ds.dated_up_to:
            raise SeedError(f"{ds.title} is dated up to {ds.dated_up_to}; this machine's date is {today} and "
                            "sales may not be in the future (OM_CLOCK, the same for the platform, sets another)")
        loaded = load(api, ds, say=lambda line: out.write(line + "\n"))
        report(api, ds, loaded, out)
    return 0
