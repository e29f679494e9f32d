"""Bonus bands and hourly pay on the financial settings through HTTP: stored per version, read back, refused naming
the field (nothing written), and what the payouts service reads (its role, the versions view)."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared_lib.db import engine
from tests.factories import make_agency, make_user, outbox_data, scalar

HOURLY = {"compensation_type": "hourly_plus_commission", "commission_rate": "5.00", "fixed_salary": "0.00",
          "manager_tick_rate": "0.00", "hourly_rate": "6.00"}
BANDS = [{"from_net": "5000.00", "bonus": "150.00"}, {"from_net": "10000.00", "bonus": "400.00"}]


@pytest.fixture
def shop(db):
    a = make_agency()
    return {"a": a, "c": make_user(a, role="chatter"), "h": a.owner.headers}


def _url(shop) -> str:
    return f"/api/users/{shop['c'].id}/financial-settings/"


def _put(client, shop, body: dict, effective_from: str = "2026-09-01"):
    return client.put(_url(shop), json={**body, "effective_from": effective_from}, headers=shop["h"])


def test_an_hourly_plus_commission_version_with_bands_is_stored_and_read_back(client, shop):
    r = _put(client, shop, {**HOURLY, "bonus_bands": BANDS})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["compensation_type"], body["hourly_rate"], body["bonus_bands"]) == (
        "hourly_plus_commission", "6.00", BANDS)
    current = client.get(f"{_url(shop)}?on=2026-10-31", headers=shop["h"]).get_json()["current"]
    assert (current["id"], current["hourly_rate"], current["bonus_bands"]) == (body["id"], "6.00", BANDS)
    # As the payouts service reads them: its role, the table, amounts as 2-place strings in the bands.
    with engine().begin() as c:
        c.execute(text("SET LOCAL ROLE om_payouts"))
        row = c.execute(text("SELECT compensation_type, hourly_rate, bonus_bands "
                             "FROM user_service.user_financial_settings WHERE user_id = :u"),
                        {"u": shop["c"].id}).one()
    assert (row.compensation_type, str(row.hourly_rate), row.bonus_bands) == ("hourly_plus_commission", "6.00", BANDS)


def test_hourly_rate_defaults_to_zero_and_bands_to_none_for_the_other_types(client, shop):
    r = _put(client, shop, {"compensation_type": "commission", "commission_rate": "10.00", "fixed_salary": "0.00",
                            "manager_tick_rate": "0.00", "bonus_bands": BANDS})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["hourly_rate"], r.get_json()["bonus_bands"]) == ("0.00", BANDS)
    r = _put(client, shop, {"compensation_type": "hourly", "commission_rate": "0.00", "fixed_salary": "0.00",
                            "manager_tick_rate": "0.00", "hourly_rate": "0.00"}, "2026-10-01")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["hourly_rate"], r.get_json()["bonus_bands"]) == ("0.00", [])


def test_each_version_keeps_its_own_bands_and_rate(client, shop):
    assert _put(client, shop, {**HOURLY, "bonus_bands": BANDS}).status_code == 200
    later = [{"from_net": "8000.00", "bonus": "300.00"}]
    assert _put(client, shop, {**HOURLY, "hourly_rate": "7.50", "bonus_bands": later}, "2026-10-15").status_code == 200
    history = client.get(_url(shop), headers=shop["h"]).get_json()["history"]
    assert [(v["effective_from"], v["effective_to"], v["hourly_rate"], v["bonus_bands"]) for v in history] == [
        ("2026-10-15", None, "7.50", later), ("2026-09-01", "2026-10-14", "6.00", BANDS)]
    on = {day: client.get(f"{_url(shop)}?on={day}", headers=shop["h"]).get_json()["current"]["hourly_rate"]
          for day in ("2026-10-14", "2026-10-15")}
    assert on == {"2026-10-14": "6.00", "2026-10-15": "7.50"}
    view = scalar("SELECT json_agg(json_build_array(effective_from, effective_to, hourly_rate::text, bonus_bands) "
                  "ORDER BY effective_from) FROM user_service.user_financial_settings_versions WHERE user_id = :u",
                  u=shop["c"].id)
    assert view == [["2026-09-01", "2026-10-14", "6.00", BANDS], ["2026-10-15", None, "7.50", later]]
    # A save of the same effective_from replaces its bands (and settings_changes keeps the old ones).
    assert _put(client, shop, {**HOURLY, "hourly_rate": "7.50"}, "2026-10-15").get_json()["bonus_bands"] == []
    old = scalar("SELECT old_values FROM user_service.settings_changes WHERE subject_id = :u ORDER BY id DESC LIMIT 1",
                 u=shop["c"].id)
    assert old["bonus_bands"] == later and old["hourly_rate"] == "7.50"
    assert [e["replaced"] for e in outbox_data("user.settings.updated")] == [False, False, True]


def _bands(*pairs) -> list[dict]:
    return [{"from_net": n, "bonus": b} for n, b in pairs]


@pytest.mark.parametrize("over, loc", [
    ({"bonus_bands": _bands(("5000.00", "150.00"), ("5000.00", "400.00"))}, ["bonus_bands", 1, "from_net"]),
    ({"bonus_bands": _bands(("5000.00", "150.00"), ("9000.00", "200.00"), ("8000.00", "1.00"))},
     ["bonus_bands", 2, "from_net"]),
    ({"bonus_bands": _bands(("5000.00", "-1.00"))}, ["bonus_bands", 0, "bonus"]),
    ({"bonus_bands": _bands(("5000.00", "1.005"))}, ["bonus_bands", 0, "bonus"]),
    ({"bonus_bands": _bands(("0.00", "10.00"))}, ["bonus_bands", 0, "from_net"]),
    ({"bonus_bands": _bands(("1000000.01", "10.00"))}, ["bonus_bands", 0, "from_net"]),
    ({"bonus_bands": _bands(("5000.00", "1000000.01"))}, ["bonus_bands", 0, "bonus"]),
    ({"bonus_bands": [{"from_net": "5,000.00", "bonus": "1.00"}]}, ["bonus_bands", 0, "from_net"]),
    ({"bonus_bands": [{"from_net": "5000.00"}]}, ["bonus_bands", 0, "bonus"]),
    ({"bonus_bands": [{"from_net": "5000.00", "bonus": "1.00", "to_net": "9000.00"}]}, ["bonus_bands", 0, "to_net"]),
    ({"bonus_bands": _bands(*[(f"{i}000.00", "1.00") for i in range(1, 22)])}, ["bonus_bands"]),
    ({"bonus_bands": {"from_net": "5000.00", "bonus": "1.00"}}, ["bonus_bands"]),
    ({"hourly_rate": None}, ["hourly_rate"]),                              # an hourly type needs its rate
    ({"hourly_rate": "-0.01"}, ["hourly_rate"]),
    ({"hourly_rate": "6.001"}, ["hourly_rate"]),
    ({"hourly_rate": "1000000.01"}, ["hourly_rate"]),
    ({"fixed_salary": "100.00"}, ["fixed_salary"]),                         # hourly pays no fixed salary
    ({"compensation_type": "hourly"}, ["commission_rate"]),                 # nor hourly alone a commission
    ({"compensation_type": "commission", "hourly_rate": "6.00"}, ["hourly_rate"]),
    ({"compensation_type": "fixed_plus_commission", "fixed_salary": "1.00"}, ["hourly_rate"]),
])
def test_bad_bands_and_rates_are_400_naming_the_field_and_write_nothing(client, shop, over, loc):
    body = {k: v for k, v in {**HOURLY, **over}.items() if v is not None}
    r = _put(client, shop, body)
    assert r.status_code == 400, r.get_json()
    assert ["body", *loc] in [e["loc"] for e in r.get_json()["errors"]], r.get_json()
    assert r.mimetype == "application/problem+json"
    assert scalar("SELECT count(*) FROM user_service.user_financial_settings") == 0
    assert scalar("SELECT count(*) FROM user_service.settings_changes") == 0
    assert outbox_data("user.settings.updated") == []


def test_the_error_names_the_band_at_fault_and_the_one_before(client, shop):
    r = _put(client, shop, {**HOURLY, "bonus_bands": _bands(("5000.00", "1.00"), ("4000.00", "2.00"))})
    assert r.get_json()["errors"] == [{"loc": ["body", "bonus_bands", 1, "from_net"],
                                       "msg": "must be greater than bonus_bands[0].from_net (5000.00)"}]


def test_the_database_refuses_an_hourly_rate_on_a_type_without_one(client, shop):
    with pytest.raises(DBAPIError, match="hourly_rate_only_hourly"), engine().begin() as c:
        c.execute(text("INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type, "
                       "hourly_rate, effective_from) VALUES (:a, :u, 'commission', 6, DATE '2026-09-01')"),
                  {"a": shop["a"].id, "u": shop["c"].id})
    with pytest.raises(DBAPIError, match="bonus_bands_list"), engine().begin() as c:
        c.execute(text("INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type, "
                       "bonus_bands, effective_from) VALUES (:a, :u, 'commission', '{}', DATE '2026-09-01')"),
                  {"a": shop["a"].id, "u": shop["c"].id})
