"""BUSINESS_RULES.md's "who may do what" for every income endpoint, one row per (endpoint, role)."""
from __future__ import annotations

import pytest

from tests.factories import golden_agency, income_count, outbox, scalar, sql

OTHER_INCOME = {"type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-05"}
SCHEDULE = {"source": "Brand deal", "amount": "400.00", "frequency": "daily", "start_date": "2026-11-01"}


def sale_by_c1(g):
    return {"type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-05",
            "model_id": str(g.models["A"]), "chatter_id": str(g.users["C1"])}


def record_of_c1(client, g) -> str:
    r = client.post("/api/income/register/", json=sale_by_c1(g), headers=g.h("owner"))
    assert r.status_code == 201
    return r.get_json()["id"]


def schedule_of(client, g, who="owner") -> str:
    r = client.post("/api/income/recurring/", json=SCHEDULE, headers=g.h(who))
    assert r.status_code == 201
    return r.get_json()["id"]


# (who, method, path template, body, expected status); {rec} is a sale by C1, {sched} a schedule.
MATRIX = [
    ("owner", "post", "/api/income/register/", OTHER_INCOME, 201),
    ("M", "post", "/api/income/register/", OTHER_INCOME, 201),
    ("C1", "post", "/api/income/register/", OTHER_INCOME, 403),
    ("C1", "post", "/api/income/register/", "sale", 201),
    ("owner", "get", "/api/income/records/", None, 200),
    ("M", "get", "/api/income/records/", None, 200),
    ("C1", "get", "/api/income/records/", None, 200),
    ("owner", "get", "/api/income/records/{rec}/", None, 200),
    ("M", "get", "/api/income/records/{rec}/", None, 200),
    ("C1", "get", "/api/income/records/{rec}/", None, 200),
    ("C3", "get", "/api/income/records/{rec}/", None, 404),
    ("owner", "put", "/api/income/records/{rec}/", "sale", 200),
    ("M", "put", "/api/income/records/{rec}/", "sale", 200),
    ("C1", "put", "/api/income/records/{rec}/", "sale", 200),
    ("C3", "put", "/api/income/records/{rec}/", "sale", 404),
    ("owner", "delete", "/api/income/records/{rec}/", None, 204),
    ("M", "delete", "/api/income/records/{rec}/", None, 204),
    ("C1", "delete", "/api/income/records/{rec}/", None, 204),
    ("C3", "delete", "/api/income/records/{rec}/", None, 404),
    ("owner", "post", "/api/income/recurring/", SCHEDULE, 201),
    ("M", "post", "/api/income/recurring/", SCHEDULE, 201),
    ("C1", "post", "/api/income/recurring/", SCHEDULE, 403),
    ("owner", "get", "/api/income/recurring/", None, 200),
    ("M", "get", "/api/income/recurring/", None, 200),
    ("C1", "get", "/api/income/recurring/", None, 403),
    ("owner", "get", "/api/income/recurring/{sched}/", None, 200),
    ("M", "get", "/api/income/recurring/{msched}/", None, 200),
    ("C1", "get", "/api/income/recurring/{sched}/", None, 403),
    ("owner", "patch", "/api/income/recurring/{sched}/", {"end_date": "2026-11-30"}, 200),
    ("M", "patch", "/api/income/recurring/{msched}/", {"end_date": "2026-11-30"}, 200),
    ("C1", "patch", "/api/income/recurring/{sched}/", {"end_date": "2026-11-30"}, 403),
]


@pytest.mark.parametrize("who, method, path, body, status", MATRIX,
                         ids=[f"{m[1]} {m[2]} as {m[0]} -> {m[4]}" for m in MATRIX])
def test_income_role_matrix(client, who, method, path, body, status):
    g = golden_agency(client=client)
    ids = {}
    if "{rec}" in path:
        ids["rec"] = record_of_c1(client, g)
    if "{sched}" in path:
        ids["sched"] = schedule_of(client, g)
    if "{msched}" in path:
        ids["msched"] = schedule_of(client, g, "M")
    before = (income_count(), scalar("SELECT count(*) FROM income_service.recurring_income_schedules"))
    sql("DELETE FROM eventing.outbox")
    if body == "sale":
        body = sale_by_c1(g)
    kwargs = {"headers": g.h(who)}
    if body is not None:
        kwargs["json"] = body
    r = getattr(client, method)(path.format(**ids), **kwargs)
    assert r.status_code == status, r.get_data(as_text=True)
    after = (income_count(), scalar("SELECT count(*) FROM income_service.recurring_income_schedules"))
    if status >= 400:
        assert after == before and outbox("income.") == []
    elif method == "post" and "register" in path:
        assert after == (before[0] + 1, before[1]) and [e["type"] for e in outbox("income.")] == ["income.registered"]
    elif method == "put":
        assert [e["type"] for e in outbox("income.")] == ["income.updated"]
    elif method == "delete":
        assert after == (before[0] - 1, before[1]) and [e["type"] for e in outbox("income.")] == ["income.deleted"]
    elif method == "post":
        assert after == (before[0], before[1] + 1)
