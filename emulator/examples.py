"""Request-body examples for openapi.yaml, one table keyed "<service>.<Model>" (tests validate each against its model)."""
from __future__ import annotations

from typing import Any

# Figures from BUSINESS_RULES.md's worked example (period 2026-11), so a reader can follow one story through the
# document. The ids are placeholders: Swagger UI's "Try it out" needs ids from your own agency.
_MODEL = "3f2b8c1e-6d4a-4c1b-9a7e-2b5d8f0c1a11"
_CHATTER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
_MANAGER = "5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    # users
    "users.AgencyCreate": [{"name": "Velvet Agency", "currency": "USD", "timezone": "Europe/Berlin"},
                           {"name": "Velvet Agency"}],
    "users.AgencyPatch": [{"name": "Velvet Agency Ltd"}],
    "users.UserCreate": [{"email": "c1@example1.test", "display_name": "C1", "role": "chatter",
                          "manager_id": _MANAGER},
                         {"email": "m@example1.test", "display_name": "M", "role": "manager"}],
    "users.UserPatch": [{"display_name": "C1 (night shift)"}, {"manager_id": None}],
    "users.FinancialSettingsPut": [{"compensation_type": "fixed_plus_commission", "commission_rate": "5.00",
                                    "fixed_salary": "1500.00", "manager_tick_rate": "0.00",
                                    "effective_from": "2026-11-01"}],
    "users.ModelCreate": [{"name": "Model A"}],
    "users.ModelPatch": [{"name": "Model A (VIP)"}, {"active": False}],
    "users.AssignmentsPut": [{"user_ids": [_CHATTER]}],
    "users.ModelSettingsPut": [{"model_share_percent": "50.00", "split_chatting_costs": True,
                                "effective_from": "2026-11-01"}],
    "users.PlatformSettingsPut": [{"onlyfans_fee_percent": "20.00", "effective_from": "2026-11-01"}],
    "users.SalesSettingsPut": [{"commission_types": ["message_sale", "tip_sale"],
                                "attribution_rules": {"message": "sender", "tip": "shift", "subscription": "none"},
                                "verification": "required", "chatter_edit_hours": 24,
                                "effective_from": "2026-11-01"},
                               {"commission_types": ["message_sale", "tip_sale", "subscription_sale"],
                                "verification": "off", "chatter_edit_hours": 48, "effective_from": "2026-12-01"}],
    "users.SendersPut": [{"senders": [{"sender": "Anna", "chatter_id": _CHATTER}]}, {"senders": []}],
    # income
    "income.IncomeRegister": [{"type": "message_sale", "gross_amount": "5000.00", "sale_date": "2026-11-03",
                               "model_id": _MODEL},
                              {"type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-15",
                               "source": "Brand deal", "split_percent": "25.00", "assigned_to_user_id": _MANAGER}],
    "income.IncomeScheduleCreate": [{"source": "Brand deal", "amount": "400.00", "frequency": "monthly",
                                     "day_of_month": 15, "start_date": "2026-11-01",
                                     "assigned_to_user_id": _MANAGER, "split_percent": "25.00"}],
    "income.IncomeSchedulePatch": [{"end_date": "2026-12-31"}],
    "income.IncomeRefund": [{"kind": "chargeback", "amount": "5000.00", "refund_date": "2026-11-10",
                             "reason": "fan disputed the charge"},
                            {"kind": "refund", "amount": "250.00", "refund_date": "2026-11-12"}],
    "income.IncomeReassign": [{"chatter_id": "0b7c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                               "reason": "Anna sent the messages; the shift was Ben's"},
                              {"chatter_id": None, "reason": "a renewal nobody sold"}],
    "income.PlatformImport": [{"model_id": "6f1c2a9e-3b1d-4c2e-9a47-1d2f3e4a5b6c", "transactions": [
        {"transaction_id": "tx_1001", "occurred_at": "2026-11-03T15:04:05Z", "type": "message",
         "gross_amount": "100.00", "fee_amount": "20.00", "status": "cleared", "fan_username": "fan_9",
         "sender": "Anna"},
        {"transaction_id": "tx_1002", "occurred_at": "2026-11-03T16:00:00Z", "type": "subscription",
         "gross_amount": "9.99", "status": "pending"},
        {"transaction_id": "tx_1003", "occurred_at": "2026-11-05T10:00:00Z", "type": "message",
         "gross_amount": "-100.00", "status": "cleared", "reverses": "tx_1001"}]}],
    # expenses
    "expenses.ExpenseWrite": [{"amount": "300.00", "expense_date": "2026-11-10", "source": "ads"}],
    "expenses.ExpenseScheduleCreate": [{"source": "software", "amount": "1200.00", "frequency": "monthly",
                                        "day_of_month": 1, "start_date": "2026-11-01"}],
    "expenses.ExpenseSchedulePatch": [{"end_date": "2026-12-31"}],
    # payouts
    "payouts.CalculateRequest": [{"period": "2026-11"}, {"period": "2026-11", "user_id": _CHATTER}],
    "payouts.PaymentRequest": [{"user_id": _CHATTER, "paid_at": "2026-12-05", "method": "bank", "reference": "TX-1"},
                               {"model_id": _MODEL, "paid_at": "2026-12-05", "method": "wise",
                                "reference": "W-2026-11-A"}],
    "payouts.AdjustmentRequest": [{"user_id": _CHATTER, "period": "2026-11", "amount": "-25.00",
                                   "reason": "late report"},
                                  {"user_id": _MANAGER, "period": "2026-11", "amount": "50.00",
                                   "reason": "team target"}],
    "payouts.ReverseRequest": [{}, {"reason": "booked twice"}],
    # stats
    "stats.SubscriberCountCreate": [{"model_id": _MODEL, "subscriber_count": 1000,
                                     "observed_at": "2026-11-30T12:00:00Z"}],
    "stats.RebuildRequest": [{"date_from": "2026-11-01", "date_to": "2026-11-30"}, {}],
    # timetracking
    "timetracking.ShiftCreate": [{"user_id": _CHATTER, "starts_at": "2026-11-20T09:00:00Z",
                                  "ends_at": "2026-11-20T17:00:00Z"}],
    "timetracking.ClockCommand": [{}, {"user_id": _CHATTER, "at": "2026-11-20T09:12:00Z"}],
    "timetracking.EntryCorrection": [{"checked_out_at": "2026-11-20T17:30:00Z"}],
    "timetracking.SettingsPut": [{"grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 16,
                                  "fee_per_late_minute": "0.50", "fee_per_missed_shift": "25.00",
                                  "effective_from": "2026-11-01"}],
}


def key(model: type) -> str:
    """"income.IncomeRegister" for functions.income.schemas.IncomeRegister."""
    return f"{model.__module__.split('.')[1]}.{model.__name__}"


def examples_for(model: type) -> list[dict[str, Any]]:
    return EXAMPLES.get(key(model), [])
