"""The payout rules of BUSINESS_RULES.md as a pure function: inputs read once, lines rounded once, no I/O."""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

from shared_lib.income_types import CHATTING, REFUNDS, SALES
from shared_lib.money import divide_to_cents, percent_of, prorate, to_cents
from shared_lib.periods import Period, overlap_days
from shared_lib.sales_settings import SalesSettings, commission_types_on

ZERO = Decimal("0.00")
# A period's totals, named as period_results stores them and the Totals reply shows them.
FIGURES = ("gross_income", "platform_fees", "net_income", "employee_payouts", "model_payouts", "expenses",
           "agency_profit")


@dataclass(frozen=True)
class Sale:
    """One income record of the period (chatting sale or other income), as stored: fee and net already computed."""

    id: uuid.UUID
    type: str
    gross: Decimal
    net: Decimal
    sale_date: date  # the record's own date: the period it counts in
    model_id: uuid.UUID | None = None
    chatter_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None  # snapshot at registration
    split_user_id: uuid.UUID | None = None
    split_percent: Decimal | None = None
    split_fixed_amount: Decimal | None = None
    priced_on: date | None = None  # a refund's original sale date: its settings versions apply by it
    sale_type: str | None = None  # the sale's type; a refund's original sale's (refund_of): a refund follows it

    @property
    def pricing_date(self) -> date:
        """The day whose settings versions price the record: its own date, a refund its original's."""
        return self.priced_on or self.sale_date

    @property
    def of_type(self) -> str:
        """The type of the sale the record is or gives back. A refund read without its original's type (a
        hand-built input) is taken for a chatting sale's, as before platform sales (issue #16)."""
        if self.sale_type is not None:
            return self.sale_type
        return "message_sale" if self.type in REFUNDS else self.type


@dataclass(frozen=True)
class UserSettings:
    effective_from: date
    compensation_type: str  # commission | fixed | fixed_plus_commission | hourly | hourly_plus_commission
    commission_rate: Decimal = ZERO
    fixed_salary: Decimal = ZERO
    manager_tick_rate: Decimal = ZERO
    hourly_rate: Decimal = ZERO
    bonus_bands: tuple[tuple[Decimal, Decimal], ...] = ()  # (from_net, bonus), from_net increasing


COMMISSION_TYPES = frozenset({"commission", "fixed_plus_commission", "hourly_plus_commission"})
SALARY_TYPES = frozenset({"fixed", "fixed_plus_commission"})
HOURLY_TYPES = frozenset({"hourly", "hourly_plus_commission"})


@dataclass(frozen=True)
class ModelSettings:
    effective_from: date
    model_share_percent: Decimal = ZERO
    split_chatting_costs: bool = False


DEFAULT_MODEL_SETTINGS = ModelSettings(effective_from=date(2000, 1, 1))

# Issue #16: "an agency setting commission_types (default message_sale, tip_sale) says which types earn
# commission and manager tick" — the agency's sales settings (users; shared_lib/sales_settings.py).
DEFAULT_COMMISSION_TYPES = CHATTING


def commission_types(versions: Sequence[SalesSettings] = (), day: date | None = None) -> frozenset[str]:
    """The sale types that earn commission and manager tick on `day` (a sale's pricing day: a refund follows its
    original sale): the agency's sales-settings version in effect then; before any version, message and tip."""
    return commission_types_on(versions, day) if day is not None else DEFAULT_COMMISSION_TYPES

# Which scope owns a line: a model scope the lines computed from one model's sales alone, a user scope the
# lines of one user computed from that user's own figures (salary, deductions, other-income shares, the bonus
# band of their whole-period net, hourly pay, adjustments, carried balances). A new kind goes in exactly one.
MODEL_KINDS = frozenset({"commission", "manager_tick"})
USER_KINDS = frozenset({"fixed_salary", "other_income_share", "deduction", "bonus", "hourly", "adjustment",
                        "carried_forward", "carried_balance"})


@dataclass(frozen=True)
class Scope:
    """The groups a recalculation recomputes: the model scopes of `models` and the user scopes of `users`
    (None: every one). EVERYTHING is a full recalculation; the same calculate() computes both."""

    models: frozenset[uuid.UUID] | None = frozenset()
    users: frozenset[uuid.UUID] | None = frozenset()

    def has_model(self, model_id: uuid.UUID | None) -> bool:
        return self.models is None or model_id in self.models

    def has_user(self, user_id: uuid.UUID) -> bool:
        return self.users is None or user_id in self.users

    def owns(self, line: "Line") -> bool:
        return self.has_model(line.model_id) if line.kind in MODEL_KINDS else self.has_user(line.user_id)

    @property
    def empty(self) -> bool:
        return self.models == frozenset() and self.users == frozenset()

    def __or__(self, other: "Scope") -> "Scope":
        def union(a, b):
            return None if a is None or b is None else a | b

        return Scope(union(self.models, other.models), union(self.users, other.users))


EVERYTHING = Scope(None, None)


@dataclass(frozen=True)
class Deduction:
    user_id: uuid.UUID
    kind: str  # what the time-tracking rule was, e.g. late_minutes | missed_shift
    quantity: Decimal
    rate: Decimal
    amount: Decimal  # negative


@dataclass(frozen=True)
class WorkedDay:
    """One user's worked minutes of closed time entries on one local shift day (worked_minutes_for)."""

    user_id: uuid.UUID
    day: date
    minutes: int


@dataclass(frozen=True)
class Adjustment:
    """A bonus, penalty or correction an Owner recorded for the user and period (a reversal is one too)."""

    user_id: uuid.UUID
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class Carry:
    """A negative total carried at close: `amount` (> 0) paid in from_period, owed back in to_period."""

    user_id: uuid.UUID
    from_period: str
    to_period: str
    amount: Decimal


@dataclass(frozen=True)
class Line:
    user_id: uuid.UUID
    kind: str  # MODEL_KINDS | USER_KINDS
    model_id: uuid.UUID | None
    basis: Decimal
    rate: Decimal | None
    amount: Decimal
    detail: str = ""  # e.g. "21/30 days", "late_minutes × 12"


@dataclass(frozen=True)
class ModelPayout:
    model_id: uuid.UUID
    base: Decimal
    model_share_percent: Decimal
    split_chatting_costs: bool
    amount: Decimal
    effective_from: date


@dataclass
class Result:
    period: Period
    gross_income: Decimal
    platform_fees: Decimal
    net_income: Decimal
    expenses: Decimal
    lines: list[Line] = field(default_factory=list)
    model_payouts: list[ModelPayout] = field(default_factory=list)

    @property
    def employee_payouts(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def model_payouts_total(self) -> Decimal:
        return sum((m.amount for m in self.model_payouts), ZERO)

    @property
    def agency_profit(self) -> Decimal:
        return self.net_income - self.employee_payouts - self.model_payouts_total - self.expenses

    def totals_by_user(self) -> dict[uuid.UUID, Decimal]:
        out: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            out[line.user_id] += line.amount
        return dict(out)

    def figures(self) -> dict[str, Decimal]:
        """The period's totals by their FIGURES names."""
        return dict(zip(FIGURES, (self.gross_income, self.platform_fees, self.net_income, self.employee_payouts,
                                  self.model_payouts_total, self.expenses, self.agency_profit)))


class LineValues(NamedTuple):
    """One payout line without its user: what a stored line and a calculated one are compared by."""

    kind: str
    model_id: uuid.UUID | None
    basis: Decimal
    rate: Decimal | None
    amount: Decimal
    detail: str


class PayoutValues(NamedTuple):
    """One user's total and lines (in normalized_lines order)."""

    total: Decimal
    lines: tuple[LineValues, ...]


def payouts_by_user(result: Result) -> dict[uuid.UUID, PayoutValues]:
    """Each user's total and sorted lines: the shape in which a stored result and a new one are compared."""
    lines: dict[uuid.UUID, list[LineValues]] = defaultdict(list)
    for l in result.lines:
        lines[l.user_id].append(LineValues(l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail))
    return {u: PayoutValues(total, normalized_lines(lines[u])) for u, total in result.totals_by_user().items()}


def normalized_lines(lines: Iterable[LineValues]) -> tuple[LineValues, ...]:
    def key(line: LineValues) -> tuple:
        return line.kind, str(line.model_id), line.rate is None, line.rate or ZERO, line.basis, line.amount, line.detail

    return tuple(sorted(lines, key=key))


def ledger_legs(result: Result) -> list[tuple[str, uuid.UUID | None, Decimal]]:
    """The calculation's double-entry posting: credit net income; debit each payable, the expenses and the
    profit (a loss is a credit). Debits are positive, credits negative; the legs sum to zero."""
    legs: list[tuple[str, uuid.UUID | None, Decimal]] = [("revenue:net_income", None, -result.net_income)]
    legs += [("payable:employee", u, t) for u, t in sorted(result.totals_by_user().items(), key=lambda x: str(x[0]))]
    by_model: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for m in result.model_payouts:
        by_model[m.model_id] += m.amount
    legs += [("payable:model", m, a) for m, a in sorted(by_model.items(), key=lambda x: str(x[0]))]
    legs += [("expense:operating", None, result.expenses), ("equity:agency_profit", None, result.agency_profit)]
    return legs


def version_on(versions: Sequence, day: date):
    """The version in effect on `day`: the greatest effective_from <= day (versions sorted ascending)."""
    found = None
    for v in versions:
        if v.effective_from <= day:
            found = v
        else:
            break
    return found


def pricing_bounds(*settings: Iterable) -> list[date]:
    """Every day on which some version of the given settings (dicts of version lists, or version lists) takes
    effect, sorted: two pricing days with no bound between them (the same `width_bucket` of these) price alike
    under every version, so the sales loader may sum them together. A new input priced by day adds its
    versions here."""
    days = set()
    for s in settings:
        for versions in (s.values() if isinstance(s, dict) else [s]):
            days.update(v.effective_from for v in versions)
    return sorted(days)


def _sorted(d: dict) -> dict:
    return {k: sorted(v, key=lambda x: x.effective_from) for k, v in d.items()}


def calculate(
    *,
    period: Period,
    sales: Iterable[Sale],
    user_settings: dict[uuid.UUID, list[UserSettings]],
    model_settings: dict[uuid.UUID, list[ModelSettings]],
    expenses: Decimal,
    deductions: Iterable[Deduction] = (),
    chatting_net: dict[uuid.UUID, Decimal] | None = None,
    worked: Iterable[WorkedDay] = (),
    adjustments: Iterable[Adjustment] = (),
    carries: Iterable[Carry] = (),
    scope: Scope = EVERYTHING,
    sales_settings: Sequence[SalesSettings] = (),
) -> Result:
    """Every payout line, model payout and total of one agency's period, rounded exactly as the rules say.

    With a `scope`, only the lines and model payouts it owns are returned (the inputs may be limited to what
    those groups read: the scope's models' sales, its users' other income, deductions, worked minutes,
    adjustments, carries and whole-period net chatting sales); the totals are then those of the inputs given,
    so a scoped caller takes the period's figures from the stored result instead.

    `chatting_net` is each chatter's own net chatting sales of the period, refunds included (the bonus bands'
    measure); None: summed from `sales` (which must then be all of the period's)."""
    users = _sorted(user_settings)
    models = _sorted(model_settings)
    sales = [s for s in sales if s.sale_date in period]
    gross = sum((s.gross for s in sales), ZERO)
    net = sum((s.net for s in sales), ZERO)
    result = Result(period=period, gross_income=gross, platform_fees=gross - net, net_income=net,
                    expenses=to_cents(expenses))

    # Commission and model bases are grouped by the model-settings version too, so that a model payout can
    # subtract exactly the commission lines of its own sales when split_chatting_costs is on.
    commission_net: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    tick_net: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    model_net: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    # A refund (negative net) is priced by its original sale's date: it joins the lines of the same chatter,
    # manager, model and rates, and the model payout of the model-settings version the sale was priced with.
    # Every sale (chatting and platform, issue #16) and its refunds count in the model payout base; only a sale
    # of the commission types (a refund: its original's type) credited to a chatter earns commission and tick —
    # an unattributed sale earns neither. The commission types are those of the agency's sales settings in
    # effect on the pricing day (verification `required` is applied by the loaders: an unverified self-reported
    # sale is not among the inputs at all).
    sales_settings = sorted(sales_settings, key=lambda v: v.effective_from)
    for s in sales:
        if s.model_id is None or s.of_type not in SALES:
            continue
        day = s.pricing_date
        mv = version_on(models.get(s.model_id, []), day) or DEFAULT_MODEL_SETTINGS
        model_net[(s.model_id, mv)] += s.net
        if s.of_type not in commission_types(sales_settings, day) or s.chatter_id is None:
            continue
        cv = version_on(users.get(s.chatter_id, []), day)
        if cv and cv.compensation_type in COMMISSION_TYPES and cv.commission_rate > 0:
            commission_net[(s.chatter_id, s.model_id, cv.commission_rate, mv)] += s.net
        tv = version_on(users.get(s.manager_id, []), day) if s.manager_id else None
        if tv and tv.manager_tick_rate > 0:
            tick_net[(s.manager_id, s.model_id, tv.manager_tick_rate)] += s.net

    commission_by_model_version: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for (chatter, model, rate, mv), basis in commission_net.items():
        amount = percent_of(basis, rate)
        result.lines.append(Line(chatter, "commission", model, basis, rate, amount))
        commission_by_model_version[(model, mv)] += amount

    for (manager, model, rate), basis in tick_net.items():
        result.lines.append(Line(manager, "manager_tick", model, basis, rate, percent_of(basis, rate)))

    result.lines += _fixed_salaries(period, users)

    for s in sales:
        if s.type == "other_income" and s.split_user_id is not None:
            if s.split_fixed_amount is not None:
                amount, rate = to_cents(s.split_fixed_amount), None
            else:
                amount, rate = percent_of(s.gross, s.split_percent or ZERO), s.split_percent
            result.lines.append(Line(s.split_user_id, "other_income_share", s.model_id, s.gross, rate, amount))

    for d in deductions:
        result.lines.append(Line(d.user_id, "deduction", None, d.quantity, d.rate, to_cents(d.amount),
                                 detail=d.kind))

    if chatting_net is None:
        chatting_net = defaultdict(lambda: ZERO)
        for s in sales:
            if s.of_type in CHATTING and s.chatter_id is not None:
                chatting_net[s.chatter_id] += s.net
    result.lines += _bonuses(period, users, chatting_net)
    result.lines += _hourly(period, users, worked)
    for a in adjustments:
        result.lines.append(Line(a.user_id, "adjustment", None, to_cents(a.amount), None, to_cents(a.amount),
                                 detail=a.reason))
    for c in carries:
        if c.from_period == str(period):
            result.lines.append(Line(c.user_id, "carried_forward", None, c.amount, None, to_cents(c.amount),
                                     detail=f"to {c.to_period}"))
        if c.to_period == str(period):
            result.lines.append(Line(c.user_id, "carried_balance", None, c.amount, None, -to_cents(c.amount),
                                     detail=f"from {c.from_period}"))

    for (model, mv), basis in model_net.items():
        base = basis - commission_by_model_version[(model, mv)] if mv.split_chatting_costs else basis
        result.model_payouts.append(ModelPayout(model, base, mv.model_share_percent, mv.split_chatting_costs,
                                                percent_of(base, mv.model_share_percent), mv.effective_from))

    result.lines = [line for line in result.lines if scope.owns(line)]
    result.model_payouts = [m for m in result.model_payouts if scope.has_model(m.model_id)]
    result.lines.sort(key=lambda l: (str(l.user_id), l.kind, str(l.model_id), l.rate is None, l.rate or ZERO,
                                     l.basis, l.amount, l.detail))
    result.model_payouts.sort(key=lambda m: (str(m.model_id), m.effective_from))
    return result


def _bonuses(period: Period, users: dict[uuid.UUID, list[UserSettings]],
             chatting_net: dict[uuid.UUID, Decimal]) -> list[Line]:
    """The highest band the user's own net chatting sales reach, of the version in effect on the period's last
    day: one `bonus` line (basis: that net; detail: the band's threshold). A band of 0.00 pays nothing."""
    lines = []
    for user_id, versions in users.items():
        v = version_on(versions, period.last_day)
        net = chatting_net.get(user_id, ZERO)
        reached = [(from_net, bonus) for from_net, bonus in (v.bonus_bands if v else ()) if net >= from_net]
        if reached and reached[-1][1] > 0:
            from_net, bonus = reached[-1]
            lines.append(Line(user_id, "bonus", None, net, None, to_cents(bonus), detail=f"from_net {from_net}"))
    return lines


def _hourly(period: Period, users: dict[uuid.UUID, list[UserSettings]], worked: Iterable[WorkedDay]) -> list[Line]:
    """Per user and hourly settings version: round(minutes × hourly_rate / 60), the minutes of the shift days
    that version is in effect on (basis: the rate; detail: the minutes)."""
    minutes: dict[tuple[uuid.UUID, date], int] = defaultdict(int)  # (user, version's effective_from)
    for w in worked:
        v = version_on(users.get(w.user_id, []), w.day) if w.day in period else None
        if v is not None and v.compensation_type in HOURLY_TYPES and v.hourly_rate > 0:
            minutes[(w.user_id, v.effective_from)] += w.minutes
    lines = []
    for (user_id, effective_from), total in minutes.items():
        v = next(v for v in users[user_id] if v.effective_from == effective_from)
        lines.append(Line(user_id, "hourly", None, v.hourly_rate, None,
                          divide_to_cents(total * v.hourly_rate, 60), detail=f"{total} min"))
    return lines


def _fixed_salaries(period: Period, users: dict[uuid.UUID, list[UserSettings]]) -> list[Line]:
    """Monthly salary prorated by the days each settings version is in effect within the period."""
    lines = []
    for user_id, versions in users.items():
        for i, v in enumerate(versions):
            if v.compensation_type not in SALARY_TYPES or v.fixed_salary <= 0:
                continue
            until = versions[i + 1].effective_from - timedelta(days=1) if i + 1 < len(versions) else None
            days = overlap_days(v.effective_from, until, period.first_day, period.last_day)
            if days <= 0:
                continue
            amount = prorate(v.fixed_salary, days, period.days)
            lines.append(Line(user_id, "fixed_salary", None, v.fixed_salary, None, amount,
                              detail=f"{days}/{period.days} days"))
    return lines
