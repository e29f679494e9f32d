"""The yardstick of bench_register.py: the least a register endpoint can be on this stack.

functions-framework + pydantic + SQLAlchemy Core (pg8000), one transaction doing what a register writes: the
income row (fee and net computed in Python from a fixed fee %) and its outbox row (payload as jsonb text). No
token check, no look-ups, no idempotency: what the project's endpoint is measured against in the same run.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import functions_framework
from flask import Response
from pydantic import BaseModel
from sqlalchemy import create_engine, text

ENGINE = create_engine(os.environ["DATABASE_URL"], pool_size=2, max_overflow=0)
FEE_PERCENT = Decimal("20.00")

INSERT = text("""
    WITH r AS (
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             registered_by_user_id)
        VALUES (:agency_id, :type, :gross, :pct, :fee, :net, :sale_date, :model_id, :chatter_id, :chatter_id)
        RETURNING id, created_at)
    SELECT r.id, r.created_at FROM r
""")
OUTBOX = text("INSERT INTO eventing.outbox (event_id, type, agency_id, subject, payload, occurred_at) "
              "VALUES (:id, 'income.registered', :agency_id, :subject, CAST(:payload AS jsonb), :at)")


class Register(BaseModel):
    type: str
    gross_amount: Decimal
    sale_date: date
    model_id: uuid.UUID
    agency_id: uuid.UUID
    chatter_id: uuid.UUID


@functions_framework.http
def register(request):
    cmd = Register.model_validate_json(request.get_data())
    fee = (cmd.gross_amount * FEE_PERCENT / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    with ENGINE.begin() as conn:
        row = conn.execute(INSERT, {"agency_id": cmd.agency_id, "type": cmd.type, "gross": cmd.gross_amount,
                                    "pct": FEE_PERCENT, "fee": fee, "net": cmd.gross_amount - fee,
                                    "sale_date": cmd.sale_date, "model_id": cmd.model_id,
                                    "chatter_id": cmd.chatter_id}).one()
        now = datetime.now(timezone.utc)
        event_id = uuid.uuid4()
        conn.execute(OUTBOX, {"id": event_id, "agency_id": cmd.agency_id, "subject": str(row.id), "at": now,
                              "payload": json.dumps({"event_id": str(event_id), "income_id": str(row.id),
                                                     "gross_amount": str(cmd.gross_amount)})})
    body = {"id": str(row.id), "gross_amount": str(cmd.gross_amount), "fee_amount": str(fee),
            "net_amount": str(cmd.gross_amount - fee), "created_at": row.created_at.isoformat()}
    return Response(json.dumps(body), status=201, content_type="application/json")
