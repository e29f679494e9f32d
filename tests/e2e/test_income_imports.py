"""POST /api/income/imports/ (issue #16): a model's platform transactions stored once per id, matched to
self-reported sales or recorded as new sales attributed by shift, reversals charged back exactly once; dry run."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared_lib import clock
import functions.income.main  # noqa: F401  (declares the scraper consumer)

from tests.factories import close_period, deliver_raw, golden_agency, income_count, ok, outbox, problem, shift, sql

IMPORTS = "/api/income/imports/"
TT = "timetracking_service"


@pytest.fixture
def g(client):
    """The golden agency (UTC, fee 20.00 % from 2026-11-01): C1 and C2 chat for model A."""
    g = golden_agency("im", client=client)
    g.A = str(g.models["A"])
    return g


def tx(tid: str, gross: str = "100.00", at: str = "2026-11-03T15:00:00Z", type: str = "message",
       status: str = "cleared", **extra):
    return {"transaction_id": tid, "occurred_at": at, "type": type, "gross_amount": gross, "status": status, **extra}


def post(client, g, *rows, who: str = "owner", dry_run: bool = False, model: str | None = None):
    url = IMPORTS + ("?dry_run=true" if dry_run else "")
    return client.post(url, json={"model_id": model or g.A, "transactions": list(rows)}, headers=g.h(who))


def entry(g, who: str, checked_in: datetime, checked_out: datetime | None = None) -> None:
    person = g.people[who]
    shift_id = shift(person, checked_in, checked_out or datetime(2026, 11, 30, tzinfo=UTC))
    minutes = None if checked_out is None else int((checked_out - checked_in).total_seconds() // 60)
    sql(f"INSERT INTO {TT}.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at, "
        "worked_minutes, overtime_minutes, source) VALUES (:a, :u, :s, :i, :o, :w, :ot, 'http')",
        {"a": person.agency_id, "u": person.id, "s": shift_id, "i": checked_in, "o": checked_out, "w": minutes,
         "ot": None if minutes is None else 0})


def records(**where):
    cond = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    return [dict(r._mapping) for r in sql(f"SELECT * FROM income_service.income_records WHERE {cond} "
                                          "ORDER BY created_at, id", where)]


def counts(r) -> dict:
    return {k: v for k, v in r.items() if k not in ("conflicts", "fee_mismatches", "dry_run") and v}


def test_a_new_transaction_becomes_an_imported_record_and_a_re_import_changes_nothing(client, g):
    entry(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    rows = [tx("T1", "100.00", fan_username="fan_9"), tx("T2", "50.00", type="subscription")]
    assert counts(ok(post(client, g, *rows))) == {"new": 2}
    made = records(origin="import")
    assert [(r["type"], str(r["gross_amount"]), str(r["fee_amount"]), str(r["net_amount"]), str(r["sale_date"]),
             r["chatter_id"], r["manager_id"], r["verified"], r["customer_username"]) for r in made] == [
        ("message_sale", "100.00", "20.00", "80.00", "2026-11-03", g.people["C1"].id, g.people["M"].id, True,
         "fan_9"),
        ("subscription_sale", "50.00", "10.00", "40.00", "2026-11-03", g.people["C1"].id, g.people["M"].id, True,
         None)]
    (event,) = outbox("income.")  # one batch event, no income.registered per record
    assert (event["type"], event["subject"], event["data"]["import_id"]) == (
        "income.imported", event["data"]["import_id"], event["subject"])
    c1 = str(g.people["C1"].id)
    assert {k: event["data"][k] for k in ("agency_id", "model_id", "created", "matched", "whole_days")} == {
        "agency_id": str(g.id), "model_id": g.A, "created": 2, "matched": 0, "whole_days": []}
    assert event["data"]["slices"] == [
        {"sale_date": "2026-11-03", "type": "message_sale", "chatter_id": c1, "created": 1, "matched": 0},
        {"sale_date": "2026-11-03", "type": "subscription_sale", "chatter_id": c1, "created": 1, "matched": 0}]
    before = (income_count(), len(outbox("income.")))
    assert counts(ok(post(client, g, *rows))) == {"duplicate": 2}
    assert (income_count(), len(outbox("income."))) == before


def test_the_same_id_with_another_amount_is_a_conflict_applied_nowhere(client, g):
    ok(post(client, g, tx("T1", "100.00")))
    before = (income_count(), len(outbox("income.")), sql("SELECT * FROM income_service.platform_transactions"))
    r = ok(post(client, g, tx("T1", "120.00"), tx("T3", "10.00")))
    assert counts(r) == {"conflict": 1, "new": 1, "unattributed": 1} and r["conflicts"] == ["T1"]
    (stored,) = sql("SELECT gross_amount FROM income_service.platform_transactions WHERE transaction_id = 'T1'")
    assert str(stored.gross_amount) == "100.00"
    assert income_count() == before[0] + 1


def test_a_dry_run_answers_the_counts_and_writes_nothing(client, g):
    before = (income_count(), len(outbox("income.")), sql("SELECT count(*) AS n FROM audit.entries")[0].n)
    r = ok(post(client, g, tx("T1"), tx("T2", "-100.00", reverses="T1", status="reversed"), dry_run=True))
    assert r["dry_run"] is True and counts(r) == {"new": 1, "unattributed": 1, "reversed": 1}
    assert (income_count(), len(outbox("income.")), sql("SELECT count(*) AS n FROM audit.entries")[0].n) == before
    assert sql("SELECT count(*) AS n FROM income_service.platform_transactions")[0].n == 0


def test_a_self_reported_sale_and_its_transaction_end_as_one_verified_record(client, g):
    sale = ok(client.post("/api/income/register/", json={
        "type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-03", "model_id": g.A},
        headers=g.h("C2")), 201)
    r = ok(post(client, g, tx("T1", "100.00", at="2026-11-03T23:30:00Z")))
    assert counts(r) == {"matched": 1}
    (only,) = records(model_id=g.models["A"])
    assert (str(only["id"]), only["verified"], only["origin"], only["chatter_id"]) == (
        sale["id"], True, "self", g.people["C2"].id)
    assert ok(client.get(f"/api/income/records/{sale['id']}/", headers=g.h("owner")))["verified"] is True


def test_overlapping_shifts_attribute_to_who_checked_in_first_and_nobody_on_shift_is_unattributed(client, g):
    entry(g, "C2", datetime(2026, 11, 3, 12, tzinfo=UTC), datetime(2026, 11, 3, 20, tzinfo=UTC))
    entry(g, "C1", datetime(2026, 11, 3, 13, tzinfo=UTC), datetime(2026, 11, 3, 21, tzinfo=UTC))
    r = ok(post(client, g, tx("T1", "30.00", at="2026-11-03T15:00:00Z"),
                tx("T2", "40.00", at="2026-11-03T22:00:00Z", type="tip")))
    assert counts(r) == {"new": 2, "unattributed": 1}
    by_gross = {str(x["gross_amount"]): x["chatter_id"] for x in records(origin="import")}
    assert by_gross == {"30.00": g.people["C2"].id, "40.00": None}
    listed = ok(client.get("/api/income/records/?unattributed=true", headers=g.h("owner")))["items"]
    assert [(x["gross_amount"], x["chatter_id"]) for x in listed] == [("40.00", None)]


def test_a_cleared_transaction_re_sent_as_reversed_becomes_one_chargeback(client, g):
    entry(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    ok(post(client, g, tx("T1", "100.00")))
    (sale,) = records(origin="import")
    r = ok(post(client, g, tx("T1", "100.00", status="reversed")))
    assert counts(r) == {"status_changed": 1, "reversed": 1}
    (cb,) = records(type="chargeback")
    assert (cb["refund_of"], str(cb["gross_amount"]), str(cb["fee_amount"]), str(cb["net_amount"]),
            cb["chatter_id"]) == (sale["id"], "-100.00", "-20.00", "-80.00", g.people["C1"].id)
    before = (income_count(), len(outbox("income.")))
    assert counts(ok(post(client, g, tx("T1", "100.00", status="reversed")))) == {"duplicate": 1}
    assert (income_count(), len(outbox("income."))) == before


def test_a_negative_row_naming_the_original_does_the_same(client, g):
    ok(post(client, g, tx("T1", "100.00")))
    (sale,) = records(origin="import")
    reversal = tx("R1", "-100.00", reverses="T1", at="2026-11-05T10:00:00Z")
    assert counts(ok(post(client, g, reversal))) == {"reversed": 1}
    (cb,) = records(type="chargeback")
    assert cb["refund_of"] == sale["id"] and str(cb["gross_amount"]) == "-100.00"
    before = (income_count(), len(outbox("income.")))
    again = ok(post(client, g, reversal, tx("T1", "100.00", status="reversed")))
    assert counts(again) == {"duplicate": 2}
    assert (income_count(), len(outbox("income."))) == before


def test_a_chatter_may_not_import_and_platform_types_are_not_registered(client, g):
    problem(post(client, g, tx("T1"), who="C1"), 403)
    r = client.post("/api/income/register/", json={"type": "subscription_sale", "gross_amount": "10.00",
                                                   "sale_date": "2026-11-03", "model_id": g.A},
                    headers=g.h("owner"))
    problem(r, 400)


def test_an_imported_record_is_not_edited_through_the_register_body(client, g):
    ok(post(client, g, tx("T1", "100.00", type="post")))
    (made,) = records(origin="import")
    r = client.put(f"/api/income/records/{made['id']}/", json={
        "type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-03", "model_id": g.A,
        "chatter_id": str(g.people["C1"].id)}, headers=g.h("owner"))
    assert problem(r, 409)["type"].endswith("imported-not-editable")


def test_the_scraper_topic_imports_the_same_way_and_a_redelivery_changes_nothing(client, g):
    entry(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    message = json.dumps({"agency_id": str(g.id), "model_id": g.A, "scraper_version": "7",
                          "transactions": [tx("S1", "60.00"), tx("S2", "-60.00", reverses="S1")]}).encode()
    deliver_raw("income_scraper_transactions", message, message_id="m-1")
    (sale,) = records(origin="import", type="message_sale")
    assert (sale["chatter_id"], sale["registered_by_user_id"]) == (g.people["C1"].id, None)
    (cb,) = records(type="chargeback")
    assert cb["refund_of"] == sale["id"]
    (event,) = outbox("income.")  # the HTTP import's one batch event
    assert (event["type"], event["data"]["created"], [(s["type"], s["created"]) for s in event["data"]["slices"]]) \
        == ("income.imported", 2, [("message_sale", 1), ("chargeback", 1)])
    before = (income_count(), len(outbox("income.")))
    deliver_raw("income_scraper_transactions", message, message_id="m-1")
    deliver_raw("income_scraper_transactions", message, message_id="m-2")  # resent as a new message
    assert (income_count(), len(outbox("income."))) == before


def test_a_platform_fee_off_by_more_than_a_cent_is_reported_and_the_agencys_fee_kept(client, g):
    r = ok(post(client, g, tx("T1", "100.00", fee_amount="20.01"), tx("T2", "100.00", net_amount="75.00")))
    assert r["fee_mismatch"] == 1 and r["fee_mismatches"] == [
        {"transaction_id": "T2", "platform_fee_amount": "25.00", "fee_amount": "20.00"}]
    assert {str(x["fee_amount"]) for x in records(origin="import")} == {"20.00"}


def test_rows_dated_in_a_closed_period_are_counted_and_not_applied(client, g):
    close_period(g, "2026-10")
    r = ok(post(client, g, tx("T1", "100.00", at="2026-10-30T12:00:00Z"), tx("T2", "10.00")))
    assert counts(r) == {"closed": 1, "new": 1, "unattributed": 1}
    assert [x.transaction_id for x in sql("SELECT transaction_id FROM income_service.platform_transactions")] == ["T2"]


def test_pending_then_cleared_is_applied_once_and_creates_nothing_more(client, g):
    assert counts(ok(post(client, g, tx("T1", "100.00", status="pending")))) == {"new": 1, "unattributed": 1}
    before = (income_count(), len(outbox("income.")))
    assert counts(ok(post(client, g, tx("T1", "100.00")))) == {"status_changed": 1}
    assert counts(ok(post(client, g, tx("T1", "100.00")))) == {"duplicate": 1}
    assert counts(ok(post(client, g, tx("T1", "100.00", status="pending")))) == {"duplicate": 1}
    (row,) = sql("SELECT status FROM income_service.platform_transactions")
    assert row.status == "cleared" and (income_count(), len(outbox("income."))) == before


def test_a_negative_row_before_its_original_charges_it_back_when_the_original_arrives_once(client, g):
    with clock.frozen(datetime(2026, 11, 6, 9, tzinfo=UTC)):
        reversal = tx("R1", "-100.00", reverses="T1", at="2026-11-05T10:00:00Z")
        assert counts(ok(post(client, g, reversal))) == {}  # stored: nothing to give back yet
        assert records() == []
        original = tx("T1", "100.00")
        r = ok(post(client, g, original))
        assert counts(r) == {"new": 1, "unattributed": 1, "reversed": 1}
        (sale,) = records(origin="import", type="message_sale")
        (cb,) = records(type="chargeback")
        assert (cb["refund_of"], str(cb["gross_amount"]), str(cb["net_amount"]), str(cb["sale_date"])) == (
            sale["id"], "-100.00", "-80.00", "2026-11-06")  # dated the day the reversal could be applied
        (event,) = outbox("income.imported")[-1:]
        assert sorted((s["sale_date"], s["type"], s["created"]) for s in event["data"]["slices"]) == [
            ("2026-11-03", "message_sale", 1), ("2026-11-06", "chargeback", 1)]
        before = (income_count(), len(outbox("income.")))
        for rows in ([reversal], [original], [original, reversal], [tx("T1", "100.00", status="reversed")]):
            assert counts(ok(post(client, g, *rows))) == {"duplicate": len(rows)}
        assert (income_count(), len(outbox("income."))) == before


def test_an_original_first_seen_reversed_is_recorded_and_charged_back_on_its_own_date(client, g):
    """The money never arrived: the sale and its chargeback both land on the sale's date, so that day and its
    period net to zero and nobody is paid commission on it; re-sending it changes nothing."""
    entry(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    row = tx("T1", "100.00", status="reversed")
    assert counts(ok(post(client, g, row))) == {"new": 1, "reversed": 1}
    (sale,) = records(origin="import", type="message_sale")
    (cb,) = records(type="chargeback")
    assert (cb["refund_of"], str(cb["gross_amount"]), str(cb["sale_date"]), cb["chatter_id"]) == (
        sale["id"], "-100.00", "2026-11-03", g.people["C1"].id)
    (stored,) = sql("SELECT status, chargeback_id FROM income_service.platform_transactions")
    assert (stored.status, stored.chargeback_id) == ("reversed", cb["id"])
    before = (income_count(), len(outbox("income.")))
    assert counts(ok(post(client, g, row, tx("R1", "-100.00", reverses="T1")))) == {"duplicate": 1}
    assert (income_count(), len(outbox("income."))) == before


def test_a_reversed_first_sighting_of_a_self_reported_sale_matches_it_and_charges_it_back(client, g):
    sale = ok(client.post("/api/income/register/", json={
        "type": "tip_sale", "gross_amount": "40.00", "sale_date": "2026-11-03", "model_id": g.A},
        headers=g.h("C2")), 201)
    assert counts(ok(post(client, g, tx("T1", "40.00", type="tip", status="reversed")))) == {
        "matched": 1, "reversed": 1}
    (cb,) = records(type="chargeback")
    assert (str(cb["refund_of"]), str(cb["gross_amount"]), str(cb["sale_date"]), cb["chatter_id"]) == (
        sale["id"], "-40.00", "2026-11-03", g.people["C2"].id)
    (event,) = outbox("income.imported")
    c2 = str(g.people["C2"].id)
    assert (event["data"]["created"], event["data"]["matched"], event["data"]["slices"]) == (1, 1, [
        {"sale_date": "2026-11-03", "type": "chargeback", "chatter_id": c2, "created": 1, "matched": 0},
        {"sale_date": "2026-11-03", "type": "tip_sale", "chatter_id": c2, "created": 0, "matched": 1}])


def test_a_match_alone_is_one_batch_event_naming_the_matched_sale(client, g):
    ok(client.post("/api/income/register/", json={
        "type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-03", "model_id": g.A},
        headers=g.h("C2")), 201)
    assert counts(ok(post(client, g, tx("T1", "100.00")))) == {"matched": 1}
    (event,) = outbox("income.imported")
    assert event["data"]["slices"] == [{"sale_date": "2026-11-03", "type": "message_sale",
                                        "chatter_id": str(g.people["C2"].id), "created": 0, "matched": 1}]
    assert [e["type"] for e in outbox("income.")] == ["income.registered", "income.imported"]  # the register's
