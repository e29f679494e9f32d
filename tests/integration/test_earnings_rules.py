"""Earnings documents are visible as the role table says — Owner all, Manager own team + own, Chatter own — with
the documents the payouts writer really writes (`uid`, `manager_uid`) loaded into Google's rules-aware emulator."""
from __future__ import annotations

import os
import uuid

import pytest
import requests
from sqlalchemy import text

from functions.payouts import earnings
from shared_lib import firestore
from shared_lib.config import reset_settings
from shared_lib.db import engine, unit_of_work
from tests.factories import bearer
from tests.integration.test_payouts_store import NOV, seed_golden
from tests.integration.test_stats_firestore_rules import OWNER_B, _headers, get, rules_emulator, token

__all__ = ["rules_emulator"]

PEOPLE = ("M", "C1", "C2", "C3")  # M manages C1 and C2; C3 is moved into M2's team below


def _sql(sql: str, **params) -> None:
    with engine().begin() as c:
        c.execute(text(sql), params)


@pytest.fixture
def agency(client):
    """The golden agency with a second manager M2 whose team is C3, recalculated: its earnings documents written."""
    assert os.environ.get("FIRESTORE_EMULATOR_HOST"), "run `. .local/services.env` (make test starts the emulator)"
    reset_settings()
    firestore.reset_client()
    ids = seed_golden()
    ids["M2"] = uuid.uuid4()
    _sql("INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role) "
         "VALUES (:id, :a, :uid, 'M2', 'manager')", id=ids["M2"], a=ids["agency"], uid=f"g-M2-{ids['agency']}")
    _sql("UPDATE user_service.users SET manager_id = :m WHERE id = :u", m=ids["M2"], u=ids["C3"])
    r = client.post("/api/financials/calculate/", json={"period": str(NOV)},
                    headers=bearer(f"g-owner-{ids['agency']}"))
    assert r.status_code == 200, r.get_data(as_text=True)
    yield ids
    firestore.reset_client()


def uid(ids, name) -> str:
    return f"g-{name}-{ids['agency']}"


def written(ids, name) -> dict:
    snap = firestore.client().document(earnings.path(ids["agency"], str(ids[name]), NOV)).get()
    assert snap.exists, name
    return snap.to_dict()


def load(base, ids) -> dict[str, str]:
    """Each person's document as the writer wrote it, into the rules emulator (Admin: rules bypassed)."""
    paths = {}
    for name in PEOPLE:
        d = written(ids, name)
        fields = {k: ({"nullValue": None} if d[k] is None else {"stringValue": d[k]})
                  for k in ("user_id", "uid", "manager_uid", "period", "total", "status")}
        paths[name] = earnings.path(ids["agency"], str(ids[name]), NOV)
        r = requests.patch(f"{base}/{paths[name]}", json={"fields": fields}, headers={"Authorization": "Bearer owner"},
                           timeout=10)
        assert r.status_code == 200, r.text
    return paths


def who(ids, name, role) -> str:
    return token(uid(ids, name), agency_id=str(ids["agency"]), role=role)


def readable(base, paths, tok) -> set[str]:
    return {name for name, path in paths.items() if get(base, path, tok) == 200}


def test_the_writer_names_each_users_manager(agency):
    ids = agency
    assert {n: (written(ids, n)["uid"], written(ids, n)["manager_uid"]) for n in PEOPLE} == {
        "M": (uid(ids, "M"), None), "C1": (uid(ids, "C1"), uid(ids, "M")), "C2": (uid(ids, "C2"), uid(ids, "M")),
        "C3": (uid(ids, "C3"), uid(ids, "M2"))}


def test_a_manager_reads_their_team_and_their_own_a_chatter_their_own_the_owner_all(rules_emulator, agency):
    ids, base = agency, rules_emulator
    paths = load(base, ids)
    assert readable(base, paths, who(ids, "owner", "owner")) == set(PEOPLE)
    assert readable(base, paths, who(ids, "M", "manager")) == {"M", "C1", "C2"}
    assert readable(base, paths, who(ids, "M2", "manager")) == {"C3"}
    assert readable(base, paths, who(ids, "C1", "chatter")) == {"C1"}
    assert readable(base, paths, who(ids, "C3", "chatter")) == {"C3"}
    # A manager's uid in another agency's token, another agency's Owner, claims naming another role: nothing.
    assert readable(base, paths, token(uid(ids, "M"), agency_id=str(uuid.uuid4()), role="manager")) == set()
    assert readable(base, paths, OWNER_B) == set()
    assert readable(base, paths, token(uid(ids, "M"), agency_id=str(ids["agency"]), role="chatter")) == {"M"}


def _query(base, ids, tok, where: dict | None) -> tuple[int, set[str]]:
    q = {"from": [{"collectionId": "earnings"}]}
    if where:
        (field, value), = where.items()
        q["where"] = {"fieldFilter": {"field": {"fieldPath": field}, "op": "EQUAL",
                                      "value": {"stringValue": value}}}
    r = requests.post(f"{base}/agencies/{ids['agency']}:runQuery", json={"structuredQuery": q}, headers=_headers(tok),
                      timeout=10)
    found = {row["document"]["fields"]["user_id"]["stringValue"] for row in r.json() if "document" in row} \
        if r.status_code == 200 else set()
    return r.status_code, found


def test_a_manager_lists_their_teams_earnings_by_filtering_on_manager_uid(rules_emulator, agency):
    ids, base = agency, rules_emulator
    load(base, ids)
    manager = who(ids, "M", "manager")
    assert _query(base, ids, manager, {"manager_uid": uid(ids, "M")}) == (200, {str(ids["C1"]), str(ids["C2"])})
    assert _query(base, ids, manager, {"uid": uid(ids, "M")}) == (200, {str(ids["M"])})
    assert _query(base, ids, manager, None)[0] == 403                     # the whole agency: refused
    assert _query(base, ids, manager, {"manager_uid": uid(ids, "M2")})[0] == 403   # another team: refused
    assert _query(base, ids, who(ids, "owner", "owner"), None) == (200, {str(ids[n]) for n in PEOPLE})


def test_a_team_change_reaches_the_documents_at_their_next_write(rules_emulator, agency):
    """No event announces a team change (docs/payouts.md): the next write of a document takes the team anew —
    a recalculation that changes the user, or the period's close, which rewrites every document."""
    ids, base = agency, rules_emulator
    _sql("UPDATE user_service.users SET manager_id = :m WHERE id = :u", m=ids["M2"], u=ids["C1"])
    with unit_of_work() as uow:
        earnings.publish_period(uow, agency_id=ids["agency"], period=NOV)
    assert written(ids, "C1")["manager_uid"] == uid(ids, "M2")
    paths = load(base, ids)
    assert readable(base, paths, who(ids, "M", "manager")) == {"M", "C2"}
    assert readable(base, paths, who(ids, "M2", "manager")) == {"C1", "C3"}
