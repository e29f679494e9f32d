"""The statistics answers for a scope and a range, shared by the HTTP endpoints and the Firestore dashboards."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Sequence

from shared_lib.db import UnitOfWork

from . import queries, rules
from .queries import Scope
from .rules import Bucket
from .schemas import (
    Afv,
    ChatterAfv,
    ChatterFanAfv,
    DashboardAfv,
    ModelAfv,
    ModelFanAfv,
    Summary,
    TopEarner,
    TopEarners,
    TopFan,
    TopFans,
    TrendBucket,
)


def summary(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date) -> Summary:
    row = queries.summary(uow, scope, date_from, date_to)
    return Summary(date_from=date_from, date_to=date_to, gross_income=row.gross, platform_fees=row.fees,
                   net_income=row.net, expenses=row.expenses, sales_count=row.sales_count,
                   refunds_count=row.refunds_count, refunds_amount=row.refunds_amount)


def top_earners(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date, limit: int) -> TopEarners:
    rows = queries.top_earners(uow, scope, date_from, date_to, limit)
    return TopEarners(date_from=date_from, date_to=date_to, items=[
        TopEarner(user_id=r.user_id, display_name=r.display_name, net_sales=r.net_sales, sales_count=r.sales_count)
        for r in rows])


def afv(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date) -> DashboardAfv:
    """AFV per model and per chatter (the dashboard's: from the aggregates only)."""
    models = [ModelAfv(model_id=r.model_id, name=r.name, net=r.net, subscriber_count=r.subscriber_count,
                       afv=rules.afv(r.net, r.subscriber_count))
              for r in queries.model_afv(uow, scope, date_from, date_to)]
    chatters = [ChatterAfv(user_id=r.user_id, display_name=r.display_name, net=r.net,
                           subscriber_count=r.subscriber_count, afv=rules.afv(r.net, r.subscriber_count))
                for r in queries.chatter_afv(uow, scope, date_from, date_to)]
    return DashboardAfv(models=models, chatters=chatters)


def _fans(row) -> dict:
    if row is None:
        return {"paying_fans": 0, "paying_fans_net": 0, "earnings_per_paying_fan": None}
    return {"paying_fans": row.paying_fans, "paying_fans_net": row.net,
            "earnings_per_paying_fan": rules.afv(row.net, row.paying_fans)}


def afv_with_fans(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date) -> Afv:
    """The AFV answer: the aggregates' AFV plus each model's and chatter's paying fans (issue #16)."""
    base = afv(uow, scope, date_from, date_to)
    by_model, by_chatter = queries.paying_fans(uow, scope, date_from, date_to)
    return Afv(date_from=date_from, date_to=date_to,
               models=[ModelFanAfv(**m.model_dump(), **_fans(by_model.get(m.model_id))) for m in base.models],
               chatters=[ChatterFanAfv(**c.model_dump(), **_fans(by_chatter.get(c.user_id)))
                         for c in base.chatters])


def top_fans(uow: UnitOfWork, scope: Scope, model_id: uuid.UUID, date_from: date, date_to: date,
             limit: int) -> TopFans:
    rows = queries.top_fans(uow, scope, model_id, date_from, date_to, limit)
    return TopFans(model_id=model_id, date_from=date_from, date_to=date_to, items=[
        TopFan(fan_id=r.fan_id, fan_username=r.fan_username, net=r.net, sales_count=r.sales_count) for r in rows])


def income_trend(uow: UnitOfWork, scope: Scope, buckets: Sequence[Bucket]) -> list[TrendBucket]:
    rows = queries.income_trend(uow, scope, buckets)
    return [TrendBucket(**b) for b in rules.with_change((Bucket(r.start_day, r.end_day), r.net) for r in rows)]


def afv_trend(uow: UnitOfWork, scope: Scope, buckets: Sequence[Bucket],
              model_id: uuid.UUID | None) -> list[TrendBucket]:
    rows = queries.afv_trend(uow, scope, buckets, model_id)
    return [TrendBucket(**b) for b in rules.with_change(
        (Bucket(r.start_day, r.end_day), rules.afv(r.net, r.subscribers)) for r in rows)]
