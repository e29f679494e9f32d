"""Which income types are chatting sales and refunds (BUSINESS_RULES.md): one set each, read by income, payouts
and statistics.

CHATTING is the sales a chatter makes (message and tip sales); REFUNDS the refunds and chargebacks that give a
chatting sale back (negative amounts, dated their own day, `refund_of` the sale). CHATTING_AND_REFUNDS is what a
chatter's figures add up (statistics: net, top earners, AFV); counting *sales* stays CHATTING.
"""
from __future__ import annotations

CHATTING = frozenset({"message_sale", "tip_sale"})
REFUNDS = frozenset({"refund", "chargeback"})
CHATTING_AND_REFUNDS = CHATTING | REFUNDS


def _sql_list(types: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{t}'" for t in sorted(types)) + ")"


# The same sets as SQL lists for `type IN ...` (constants, so the text is fixed and safe to inline).
CHATTING_SQL = _sql_list(CHATTING)
REFUNDS_SQL = _sql_list(REFUNDS)
CHATTING_AND_REFUNDS_SQL = _sql_list(CHATTING_AND_REFUNDS)
