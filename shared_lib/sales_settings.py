"""The agency's sales settings as its consumers read them (issue #16; users owns them: docs/users.md "Sales
settings"). One place for each rule other services apply:

- `counted` / `counted_sql`: whether an income record counts at all (net income, the model payout base,
  statistics) — under `verification = required` a self-reported sale that no platform import has verified (and every refund of it)
  counts nowhere until it is matched. Payouts' loaders and statistics' recomputes put it in their WHERE.
- `commission_types_on`: which sale types earn commission and manager tick on a day (payouts' calculation).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from shared_lib.db import UnitOfWork
from shared_lib.income_types import CHATTING, CHATTING_SQL

DEFAULT_COMMISSION_TYPES = CHATTING
DEFAULT_EDIT_HOURS = 24

# The days on which the agency requires verification: evaluated once per statement (a scalar sub-select that
# does not depend on the row).
_REQUIRED = "(SELECT user_service.verification_required_days(CAST({agency} AS uuid)))"


def counted_sql(record: str, agency: str = ":a") -> str:
    """SQL, true when `record` (an alias of income_service.income_records) counts: the sale it is (a refund: the
    sale it gives back) is not a self-reported sale left unverified on a day verification is required. The
    sale's date decides (the setting in effect when it was made). A sale is judged on its own columns; only a
    refund looks its sale up, by primary key."""
    required = _REQUIRED.format(agency=agency)
    unverified = (f"{{r}}.origin = 'self' AND NOT {{r}}.verified AND {{r}}.type IN {CHATTING_SQL} "
                  f"AND {{r}}.sale_date <@ {required}")
    return f"""(CASE WHEN {record}.refund_of IS NULL THEN NOT ({unverified.format(r=record)})
        ELSE coalesce((SELECT NOT ({unverified.format(r="sale")}) FROM income_service.income_records sale
                       WHERE sale.id = {record}.refund_of), true) END)"""


def counted(uow: UnitOfWork, agency_id: uuid.UUID, record: str, agency: str = ":a") -> str:
    """counted_sql for the agency's statement — or `TRUE` when it never required verification (no version with
    `required`, one indexed look-up): the default costs the loaders nothing, not even a planner estimate. When it
    did, JIT is turned off for the transaction: the per-row predicate's estimate tips a month's scan into JIT
    compilation, ~0.4 s that the scan itself (~2x a plain one) never needs (measured at 200k records)."""
    required = uow.execute(
        """
        SELECT EXISTS (SELECT 1 FROM user_service.sales_settings WHERE agency_id = :a AND verification = 'required')
               AND set_config('jit', 'off', true) IS NOT NULL
        """, {"a": agency_id}).scalar_one()
    return counted_sql(record, agency) if required else "TRUE"


@dataclass(frozen=True)
class SalesSettings:
    """One version, as payouts reads it (sorted by effective_from)."""

    effective_from: date
    commission_types: frozenset[str]


def commission_types_on(versions: Sequence[SalesSettings], day: date) -> frozenset[str]:
    """The types that earn commission and manager tick on `day`: the version in effect then (the greatest
    effective_from <= day), before any version the default (message and tip sales)."""
    found = DEFAULT_COMMISSION_TYPES
    for v in versions:
        if v.effective_from > day:
            break
        found = v.commission_types
    return found
