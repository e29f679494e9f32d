"""The agency's sales settings as its consumers read them (issue #16; users owns them: docs/users.md "Sales
settings"). One place for each rule other services apply:

- `counted_sql`: whether an income record counts at all (net income, the model payout base, statistics) — under
  `verification = required` a self-reported sale that no platform import has verified (and every refund of it)
  counts nowhere until it is matched. Payouts' loaders and statistics' recomputes put it in their WHERE.
- `commission_types_on`: which sale types earn commission and manager tick on a day (payouts' calculation).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

from shared_lib.income_types import CHATTING, CHATTING_SQL

DEFAULT_COMMISSION_TYPES = CHATTING
DEFAULT_EDIT_HOURS = 24

# The days on which the agency requires verification: evaluated once per statement (a scalar sub-select that
# does not depend on the row), empty for an agency that never required it.
_REQUIRED = "(SELECT user_service.verification_required_days(CAST({agency} AS uuid)))"


def counted_sql(record: str, agency: str = ":a") -> str:
    """SQL, true when `record` (an alias of income_service.income_records) counts: verification was never
    required, or the sale it is (a refund: the sale it gives back) is not a self-reported sale left unverified on
    a day verification is required. The sale's date decides (the setting in effect when it was made)."""
    required = _REQUIRED.format(agency=agency)
    return f"""(isempty({required}) OR NOT EXISTS (
        SELECT 1 FROM income_service.income_records unverified
        WHERE unverified.id = coalesce({record}.refund_of, {record}.id) AND unverified.origin = 'self'
          AND NOT unverified.verified AND unverified.type IN {CHATTING_SQL}
          AND unverified.sale_date <@ {required}))"""


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
