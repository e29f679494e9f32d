"""Which income types are chatting sales and refunds (BUSINESS_RULES.md): one set each, read by income, payouts
and statistics.

CHATTING is the sales a chatter makes (message and tip sales); REFUNDS the refunds and chargebacks that give a
chatting sale back (negative amounts, dated their own day, `refund_of` the sale). CHATTING_AND_REFUNDS is what a
chatter's figures add up (statistics: net, top earners, AFV); counting *sales* stays CHATTING.

PLATFORM_SALES (issue #16) are the sales only a platform import creates (subscription, post, stream and referral
sales): priced at the platform fee like chatting sales, always of a model, counted in net income, the model payout
base and statistics, but not CHATTING — a chatter never registers them, and they earn commission and manager
ticks only when the agency's commission_types name them. An imported message or tip is a chatting sale (its type
is message_sale / tip_sale, origin 'import'). SALES is every sale a platform fee is taken from.
"""
from __future__ import annotations

CHATTING = frozenset({"message_sale", "tip_sale"})
REFUNDS = frozenset({"refund", "chargeback"})
CHATTING_AND_REFUNDS = CHATTING | REFUNDS
PLATFORM_SALES = frozenset({"subscription_sale", "post_sale", "stream_sale", "referral_sale"})
SALES = CHATTING | PLATFORM_SALES
SALES_AND_REFUNDS = SALES | REFUNDS  # what net income and the model payout base add up (payouts: to adopt)
# A platform transaction's type → the income type of the record it becomes.
TRANSACTION_TYPES = {"message": "message_sale", "tip": "tip_sale", "subscription": "subscription_sale",
                     "post": "post_sale", "stream": "stream_sale", "referral": "referral_sale"}


def _sql_list(types: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{t}'" for t in sorted(types)) + ")"


# The same sets as SQL lists for `type IN ...` (constants, so the text is fixed and safe to inline).
CHATTING_SQL = _sql_list(CHATTING)
REFUNDS_SQL = _sql_list(REFUNDS)
CHATTING_AND_REFUNDS_SQL = _sql_list(CHATTING_AND_REFUNDS)
PLATFORM_SALES_SQL = _sql_list(PLATFORM_SALES)
SALES_SQL = _sql_list(SALES)
SALES_AND_REFUNDS_SQL = _sql_list(SALES_AND_REFUNDS)
