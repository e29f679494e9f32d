"""`python -m emulator seed`: BUSINESS_RULES.md's worked example loaded into a running platform through its API."""
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

    def email(self, key: str) -> str:
        return f"{key.lower()}@{self.domain}"

    def owner_uid(self) -> str:
        return f"{self.key}-owner"


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

# Worked example 2 needs refunds, bonus bands, hourly pay and adjustments (issue #15): it becomes a second DataSet
# here once the API has them; until then only example 1 is loaded.
DATA_SETS = {"1": EXAMPLE_1}
NOT_YET = "Only worked example 1 is loaded for now: example 2 needs refunds, bonus bands, hourly pay and " \
          "adjustments, which the API does not have yet (issue #15)."


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
    api.call("POST", f"/_emulator/scheduler/recurring-generate?as_of={ds.generate_as_of}")
    api.call("POST", "/_emulator/drain")
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
        ctype, rate, fixed, tick = p.pay
        _ensure_version(api, f"/api/users/{ids[p.key]}/financial-settings/", owner,
                        {"compensation_type": ctype, "commission_rate": rate, "fixed_salary": fixed,
                         "manager_tick_rate": tick, "effective_from": on},
                        lambda v: v["current"], created, f"pay of {p.key}")
    for m in ds.models:
        _ensure_version(api, f"/api/models/{ids[m.key]}/settings/", owner,
                        {"model_share_percent": m.share, "split_chatting_costs": m.split_chatting_costs,
                         "effective_from": on},
                        lambda v: v["current"], created, f"share of model {m.key}")


def _records(api: Api, ds: DataSet, owner: str, ids: dict[str, str], tokens: dict[str, str],
             created: list[str]) -> None:
    first, last = f"{ds.period}-01", ds.generate_as_of
    have = {(r["chatter_id"], r["model_id"], r["type"], r["gross_amount"], r["sale_date"])
            for r in api.items("/api/income/records/", owner, date_from=first, date_to=last)}
    for n, s in enumerate(ds.sales, 1):
        if (ids[s.chatter], ids[s.model], s.type, s.gross, s.on) in have:
            continue
        # Registered by the chatter, as they would from the app.
        api.call("POST", "/api/income/register/", tokens[s.chatter],
                 {"type": s.type, "gross_amount": s.gross, "sale_date": s.on, "model_id": ids[s.model]},
                 key=f"seed-{ds.key}-sale-{n}")
        created.append(f"sale {s.chatter}/{s.model} {s.gross}")

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
        api.call("POST", "/api/stats/subscriber-counts/", owner,
                 {"model_id": ids[m.key], "subscriber_count": m.subscribers, "observed_at": ds.subscribers_observed_at})


# --- the command -------------------------------------------------------------------------------------------------


def report(api: Api, ds: DataSet, loaded: Loaded, out: TextIO) -> None:
    """What a newcomer looks at: the figures as the API gives them, a token per person, where to click."""
    owner, p = loaded.tokens["owner"], ds.period
    profit = api.call("GET", f"/api/financials/profit/?period={p}", owner)
    models = {m["model_id"]: m for m in api.call("GET", f"/api/financials/model-payouts/?period={p}", owner)["items"]}
    payouts = {x["user_id"]: x for x in api.call("GET", f"/api/financials/payouts/?period={p}", owner)["items"]}
    span = f"date_from={p}-01&date_to={ds.generate_as_of}"
    summary = api.call("GET", f"/api/stats/summary/?{span}", owner)
    top = api.call("GET", f"/api/stats/top-earners/?{span}", owner)["items"]
    afv = api.call("GET", f"/api/stats/afv/?{span}", owner)
    w = out.write
    w(f"\n{ds.title}: {ds.agency} (agency {loaded.agency_id}), period {p}\n")
    w(f"  {'already loaded: nothing added' if not loaded.created else 'added: ' + ', '.join(loaded.created)}\n")
    w(f"  net income {profit['net_income']} · employee payouts {profit['employee_payouts']} · model payouts "
      f"{profit['model_payouts']} · expenses {profit['expenses']} · agency profit {profit['agency_profit']}\n")
    for person in ds.people:
        w(f"  payout {person.key}: {payouts.get(loaded.ids[person.key], {}).get('total', '0.00')}\n")
    for m in ds.models:
        w(f"  model {m.key}: {models.get(loaded.ids[m.key], {}).get('amount', '0.00')}\n")
    got = {"net income": profit["net_income"], "employee payouts": profit["employee_payouts"],
           "agency profit": profit["agency_profit"],
           **{f"model {m.key}": models.get(loaded.ids[m.key], {}).get("amount") for m in ds.models}}
    differs = [f"{k} {got.get(k)} (the example: {v})" for k, v in ds.expected.items() if got.get(k) != v]
    verdict = "DIFFERS from the worked example: " + "; ".join(differs) if differs else "matches the worked example"
    w(f"  {verdict}\n")
    w(f"  statistics {summary['date_from']}..{summary['date_to']}: gross {summary['gross_income']}, fees "
      f"{summary['platform_fees']}, net {summary['net_income']}, expenses {summary['expenses']}, "
      f"sales {summary['sales_count']}\n")
    earners = ", ".join(f"{t['display_name']} {t['net_sales']}" for t in top)
    per_model = ", ".join(f"{m['name']} {m['afv']}" for m in sorted(afv["models"], key=lambda m: m["name"]))
    w(f"  top earners {earners} · AFV {per_model}\n")
    w("\nLogins (emulator tokens, valid 1 h; `make demo` again prints fresh ones):\n")
    for key in ("owner", *(x.key for x in ds.people)):
        w(f"  {ds.email(key):<22} {loaded.tokens[key]}\n")
    base = api.base
    w("\nLook at (as the Owner: -H \"Authorization: Bearer <owner token>\"):\n")
    w(f"  {base}/api/docs/                                     Swagger UI (Authorize with a token above)\n")
    w(f"  {base}/api/financials/payouts/?period={p}\n")
    w(f"  {base}/api/financials/model-payouts/?period={p}\n")
    w(f"  {base}/api/financials/profit/?period={p}\n")
    w(f"  {base}/api/stats/summary/?{span}\n")
    w(f"  {base}/api/stats/top-earners/?{span}\n")
    w(f"  {base}/api/financials/payouts/{loaded.ids['C2']}/statement/?period={p}&format=pdf   C2's statement\n")
    w(f"  {base}/api/financials/model-payouts/{loaded.ids['A']}/statement/?period={p}&format=pdf   "
      "Model A's statement\n")


def run(url: str, examples: list[str], out: TextIO = sys.stdout) -> int:
    api = Api(url)
    for n in examples:
        ds = DATA_SETS[n]
        if date.today().isoformat() < ds.generate_as_of:
            raise SeedError(f"{ds.title} is dated up to {ds.generate_as_of}; this machine's date is "
                            f"{date.today()} and sales may not be in the future")
        loaded = load(api, ds, say=lambda line: out.write(line + "\n"))
        report(api, ds, loaded, out)
    out.write(f"\n{NOT_YET}\n")
    return 0
