"""Which income types are chatting sales (BUSINESS_RULES.md): one set, read by income, payouts and statistics."""
from __future__ import annotations

CHATTING = frozenset({"message_sale", "tip_sale"})
# The same set as an SQL list for `type IN ...` (constants, so the text is fixed and safe to inline).
CHATTING_SQL = "(" + ", ".join(f"'{t}'" for t in sorted(CHATTING)) + ")"
