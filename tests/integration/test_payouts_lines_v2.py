"""The second release's payout lines (BUSINESS_RULES "Payroll operations"): refunds priced at their original's
rates, bonus bands, hourly pay, adjustments, carries — and worked example 2's October to the cent."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.exc import DBAPIError

from functions.payouts import queries
from functions.payouts.adjustments import adjustment_record, adjustment_reverse
from functions.payouts.schemas import AdjustmentRequest, ReverseRequest
from functions.payouts.service import full_recalculate
from functions.timetracking import service as timetracking
from functions.timetracking.schemas import ClockCommand
from shared_lib.db import unit_of_work
from shared_lib.errors import Conflict
from shared_lib.periods import Period
from tests import factories as f

SEP1 = date(2026, 9, 1)
OCT = Period.parse("2026-10")


def utc(mo, d, h, mi=0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=UTC)


def refund(sale: dict, day: date, amount: str | None = None, kind: str = "refund") -> dict:
    """A refund record as the income service stores it (F's POST /api/income/records/{id}/refunds/): negative
    amounts at the sale's fee percent, the sale's model, chatter and manager, dated `day`."""
    (row,) = f.sql(
        f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id, refund_of)
        SELECT agency_id, :kind, -g, fee_percent, -round(g * fee_percent / 100, 2),
               -g + round(g * fee_percent / 100, 2), :day, model_id, chatter_id, manager_id, registered_by_user_id, id
        FROM income_service.income_records, (SELECT CAST(:amount AS numeric) AS g) amount
        WHERE id = :id RETURNING {f._INCOME_COLUMNS}, refund_of
        """, {"kind": kind, "day": day, "id": sale["id"], "amount": amount or sale["gross_amount"]})
    return dict(row._mapping)


def recalculate(agency) -> None:
    with unit_of_work("payouts") as uow:
        full_recalculate(uow=uow, agency_id=agency.id, period=OCT)


def lines(agency, name: str) -> list[tuple[str, str]]:
    with unit_of_work("payouts") as uow:
        stored = queries.stored_payouts(uow, agency.id, OCT).get(agency.user(name))
    return [] if stored is None else sorted((l.kind, str(l.amount)) for l in stored.lines)


def totals(agency) -> dict[str, str]:
    with unit_of_work("payouts") as uow:
        return {str(u): str(p.total) for u, p in queries.stored_payouts(uow, agency.id, OCT).items()}


def figures(agency) -> dict[str, str]:
    with unit_of_work("payouts") as uow:
        row = queries.period_figures(uow, agency.id, OCT)
    return {k: str(v) for k, v in row._mapping.items() if k != "calculated_at"}


def adjust(agency, name: str, amount: str, reason: str, period: str = "2026-10"):
    with unit_of_work("payouts") as uow:
        return adjustment_record(uow=uow, caller=agency.owner.caller(), body=AdjustmentRequest(
            user_id=agency.user(name), period=period, amount=amount, reason=reason))


def reverse(agency, adjustment_id: uuid.UUID, reason: str | None = None):
    with unit_of_work("payouts") as uow:
        return adjustment_reverse(uow=uow, caller=agency.owner.caller(), adjustment_id=adjustment_id,
                                  body=ReverseRequest(reason=reason))


def work(agency, name: str, start: datetime, end: datetime, out: datetime) -> None:
    person = agency.person(name)
    f.shift(person, start, end)
    for action, at in (("clock_in", start), ("clock_out", out)):
        with unit_of_work() as uow:
            getattr(timetracking, action)(uow=uow, caller=agency.owner.caller(),
                                          cmd=ClockCommand(user_id=person.id, at=at))


@pytest.fixture
def example2(db):
    """Worked example 2 up to October's adjustments (September closed, its two sales refunded in October)."""
    a = f.make_agency(prefix="w2")
    f.set_platform_fee(a, SEP1, "20.00")
    f.make_user(a, "manager", name="N")
    f.make_user(a, "chatter", name="D1", manager="N")
    f.make_user(a, "chatter", name="D2", manager="N")
    f.make_user(a, "chatter", name="D3")
    f.make_model(a, "P", "D1", "D2", "D3")
    f.set_financial_settings(a.person("N"), SEP1, manager_tick_rate="5.00")
    f.set_financial_settings(a.person("D1"), SEP1, commission_rate="10.00",
                             bonus_bands=[("5000.00", "150.00"), ("10000.00", "400.00")])
    f.set_financial_settings(a.person("D2"), SEP1, compensation_type="hourly_plus_commission",
                             commission_rate="5.00", hourly_rate="6.00")
    f.set_financial_settings(a.person("D3"), SEP1, commission_rate="10.00")
    f.set_model_settings(a, a.models["P"], SEP1, model_share_percent="40.00", split_chatting_costs=True)
    d1_sep = f.seed_income(a, day=date(2026, 9, 20), gross="500.00", model="P", chatter="D1")
    d3_sep = f.seed_income(a, day=date(2026, 9, 25), gross="300.00", type="tip_sale", model="P", chatter="D3")
    f.close_period(a, "2026-09")
    f.seed_income(a, day=date(2026, 10, 3), gross="8000.00", model="P", chatter="D1")
    f.seed_income(a, day=date(2026, 10, 10), gross="1000.00", type="tip_sale", model="P", chatter="D1")
    f.seed_income(a, day=date(2026, 10, 12), gross="2000.00", model="P", chatter="D2")
    assert refund(d1_sep, date(2026, 10, 5), kind="chargeback")["net_amount"] == Decimal("-400.00")
    assert refund(d3_sep, date(2026, 10, 6))["net_amount"] == Decimal("-240.00")
    for day, out in ((12, utc(10, 12, 19)), (13, utc(10, 13, 19)), (14, utc(10, 14, 19, 30))):
        work(a, "D2", utc(10, day, 9), utc(10, day, 19), out)
    f.seed_expense(a, day=date(2026, 10, 1), amount="1000.00")
    return a


def test_worked_example_2_october_to_the_cent(example2):
    a = example2
    recalculate(a)
    adjust(a, "D2", "-25.00", "late report")
    adjust(a, "N", "50.00", "team target")
    assert lines(a, "D1") == [("bonus", "150.00"), ("commission", "680.00")]
    assert lines(a, "D2") == [("adjustment", "-25.00"), ("commission", "80.00"), ("hourly", "183.00")]
    assert lines(a, "D3") == [("commission", "-24.00")]
    assert lines(a, "N") == [("adjustment", "50.00"), ("manager_tick", "420.00")]
    assert totals(a) == {str(a.user("D1")): "830.00", str(a.user("D2")): "238.00", str(a.user("D3")): "-24.00",
                         str(a.user("N")): "470.00"}
    assert figures(a) == {"gross_income": "10200.00", "platform_fees": "2040.00", "net_income": "8160.00",
                          "employee_payouts": "1514.00", "model_payouts": "2969.60", "expenses": "1000.00",
                          "agency_profit": "2676.40"}
    before = figures(a)
    recalculate(a)  # the incremental writes left nothing for a full recalculation to change
    assert figures(a) == before


def test_a_refund_is_priced_at_its_original_sales_rates(example2):
    """D3's commission rises to 20 % from October: the refund of September's tip still gives back 10 %."""
    a = example2
    f.set_financial_settings(a.person("D3"), date(2026, 10, 1), commission_rate="20.00")
    f.seed_income(a, day=date(2026, 10, 20), gross="100.00", model="P", chatter="D3")  # net 80.00 at 20 %
    recalculate(a)
    assert lines(a, "D3") == [("commission", "-24.00"), ("commission", "16.00")]


def test_bonus_bands_pay_the_highest_band_of_the_last_days_version(example2):
    a = example2
    f.seed_income(a, day=date(2026, 10, 15), gross="4000.00", model="P", chatter="D1")  # D1's net 10000.00
    recalculate(a)
    assert ("bonus", "400.00") in lines(a, "D1") and ("bonus", "150.00") not in lines(a, "D1")
    # A version from the period's last day with other bands replaces them for the month.
    f.set_financial_settings(a.person("D1"), date(2026, 10, 31), commission_rate="10.00",
                             bonus_bands=[("20000.00", "999.00")])
    recalculate(a)
    assert [k for k, _ in lines(a, "D1")] == ["commission"]


def test_hourly_pay_per_settings_version_and_not_for_other_types(example2):
    a = example2
    f.set_financial_settings(a.person("D2"), date(2026, 10, 14), compensation_type="hourly_plus_commission",
                             commission_rate="5.00", hourly_rate="8.00")
    recalculate(a)
    # 1200 min × 6.00 / 60 = 120.00 and 630 min × 8.00 / 60 = 84.00
    assert sorted(a for k, a in lines(a, "D2") if k == "hourly") == ["120.00", "84.00"]
    f.set_financial_settings(a.person("D2"), date(2026, 10, 14), commission_rate="5.00")  # commission only
    recalculate(a)
    assert [a for k, a in lines(a, "D2") if k == "hourly"] == ["120.00"]


def test_adjustments_are_lines_reversed_once_and_never_changed(example2):
    a = example2
    recalculate(a)
    first = adjust(a, "D2", "-25.00", "late report")
    assert (first.amount, first.reverses, first.created_by) == (Decimal("-25.00"), None, a.owner_id)
    back = reverse(a, first.id)
    assert (back.amount, back.reverses, back.reason) == (Decimal("25.00"), first.id, "reversal of: late report")
    assert sorted(x for k, x in lines(a, "D2") if k == "adjustment") == ["-25.00", "25.00"]
    for target in (first.id, back.id):
        with pytest.raises(Conflict) as e:
            reverse(a, target)
        assert e.value.slug == "already-reversed"
    for statement in ("UPDATE financial_calculations.adjustments SET amount = 1",
                      "DELETE FROM financial_calculations.adjustments"):
        with pytest.raises(DBAPIError, match="cannot be changed or removed"):
            f.sql(statement)
    with pytest.raises(DBAPIError, match="a reversal and cannot be reversed"):  # the database's own rule
        f.sql("INSERT INTO financial_calculations.adjustments (agency_id, user_id, period, amount, reason, reverses,"
              " created_by) VALUES (:a, :u, '2026-10', -25.00, 'x', :r, :u)", a=a.id, u=a.user("D2"), r=back.id)


def test_an_adjustment_needs_an_open_period_and_a_person_of_the_agency(example2):
    a = example2
    with pytest.raises(Exception) as e:
        adjust(a, "D2", "10.00", "september", period="2026-09")
    assert getattr(e.value, "slug", None) == "period-closed"
    other = f.make_agency()
    stranger = f.make_user(other)
    with unit_of_work("payouts") as uow, pytest.raises(Exception) as e:
        adjustment_record(uow=uow, caller=a.owner.caller(), body=AdjustmentRequest(
            user_id=stranger.id, period="2026-10", amount="10.00", reason="x"))
    assert type(e.value).__name__ == "NotFound"


def test_carries_are_read_as_carried_forward_and_carried_balance_lines(example2):
    """G2's close writes the rows; the calculation turns them into lines of both periods."""
    a = example2
    f.sql("INSERT INTO financial_calculations.carries (agency_id, from_period, to_period, user_id, amount) "
          "VALUES (:a, '2026-10', '2026-11', :u, 24.00), (:a, '2026-09', '2026-10', :n, 5.00)",
          a=a.id, u=a.user("D3"), n=a.user("N"))
    recalculate(a)
    assert lines(a, "D3") == [("carried_forward", "24.00"), ("commission", "-24.00")]
    assert totals(a)[str(a.user("D3"))] == "0.00"
    assert ("carried_balance", "-5.00") in lines(a, "N")


def test_every_line_kind_has_one_scope_a_label_and_the_databases_leave(db):
    from typing import get_args

    from functions.payouts.calc import MODEL_KINDS, USER_KINDS
    from functions.payouts.schemas import Kind
    from functions.payouts.statement import KIND_LABEL

    kinds = set(get_args(Kind))
    assert MODEL_KINDS | USER_KINDS == kinds and not MODEL_KINDS & USER_KINDS
    assert kinds <= set(KIND_LABEL)
    check = f.scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conname = 'payout_lines_kind_check'")
    assert all(f"'{k}'" in check for k in kinds)
