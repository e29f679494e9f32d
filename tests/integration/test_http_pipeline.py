"""The HTTP contract every function shares: problem+json, 400/401/403/404/405/413/415/422, idempotency."""
from __future__ import annotations

import json
import threading

from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import bearer


def _count(sql: str) -> int:
    with engine().connect() as c:
        return c.execute(text(sql)).scalar()


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


def test_missing_token_is_401(client):
    _problem(client.get("/api/me/"), 401)


def test_garbage_token_is_401(client):
    _problem(client.get("/api/me/", headers={"Authorization": "Bearer not-a-jwt"}), 401)


def test_unknown_path_is_404_problem(client):
    _problem(client.get("/api/nothing-here/", headers=bearer("u1")), 404)


def test_wrong_method_is_405_with_allow(client):
    r = client.delete("/api/health/")
    _problem(r, 405)
    assert r.headers["Allow"] == "GET"


def test_non_json_body_is_415_and_writes_nothing(client):
    r = client.post("/api/agencies/", data="name=x", content_type="application/x-www-form-urlencoded",
                    headers=bearer("u1"))
    _problem(r, 415)
    assert _count("SELECT count(*) FROM user_service.agencies") == 0


def test_body_over_64_kib_is_413(client):
    big = json.dumps({"name": "x" * (64 * 1024)})
    _problem(client.post("/api/agencies/", data=big, content_type="application/json", headers=bearer("u1")), 413)
    assert _count("SELECT count(*) FROM user_service.agencies") == 0


def test_chunked_body_over_the_limit_is_413(app):
    # A chunked upload carries no Content-Length: the limit must hold while reading.
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    body = b'{"name": "' + b"x" * (70 * 1024) + b'"}'
    environ = EnvironBuilder(path="/api/agencies/", method="POST", data=body, content_type="application/json",
                             headers=bearer("u1")).get_environ()
    environ.pop("CONTENT_LENGTH")
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")


def test_bad_json_is_400(client):
    body = _problem(client.post("/api/agencies/", data="{not json", content_type="application/json",
                                headers=bearer("u1")), 400)
    assert body["errors"] == [{"loc": ["body"], "msg": "invalid JSON"}]


def test_every_invalid_field_is_listed(client):
    r = client.post("/api/agencies/", json={"name": "", "currency": "usd", "timezone": "Mars/Olympus", "x": 1},
                    headers=bearer("u1"))
    body = _problem(r, 400)
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == [("body", "currency"), ("body", "name"), ("body", "timezone"), ("body", "x")]
    assert _count("SELECT count(*) FROM user_service.agencies") == 0


def test_json_array_body_is_400(client):
    body = _problem(client.post("/api/agencies/", json=[1, 2], headers=bearer("u1")), 400)
    assert body["errors"][0]["loc"] == ["body"]


def test_nan_literal_is_rejected_not_500(client):
    r = client.post("/api/agencies/", data='{"name": NaN}', content_type="application/json", headers=bearer("u1"))
    _problem(r, 400)


def test_member_endpoint_without_agency_is_403(client, platform):
    # /api/me/ takes any token; a member-only route needs an agency. The registry's own health is public, so
    # declare nothing new here: a deactivated owner shows the member path instead.
    h = bearer("owner-x")
    assert client.post("/api/agencies/", json={"name": "A"}, headers=h).status_code == 201
    with engine().begin() as c:
        c.execute(text("UPDATE user_service.users SET active = false WHERE firebase_uid = 'owner-x'"))
    _problem(client.get("/api/me/", headers=h), 401)


def test_idempotent_create_replays_the_first_response(client):
    h = {**bearer("owner-i"), "Idempotency-Key": "create-1"}
    first = client.post("/api/agencies/", json={"name": "Idem"}, headers=h)
    again = client.post("/api/agencies/", json={"name": "Idem"}, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count("SELECT count(*) FROM user_service.agencies") == 1


def test_idempotency_key_with_another_body_is_422(client):
    h = {**bearer("owner-j"), "Idempotency-Key": "k"}
    assert client.post("/api/agencies/", json={"name": "One"}, headers=h).status_code == 201
    _problem(client.post("/api/agencies/", json={"name": "Two"}, headers=h), 422)
    assert _count("SELECT count(*) FROM user_service.agencies") == 1


def test_idempotency_keys_are_per_user(client):
    a = client.post("/api/agencies/", json={"name": "Same"}, headers={**bearer("ua"), "Idempotency-Key": "k"})
    b = client.post("/api/agencies/", json={"name": "Same"}, headers={**bearer("ub"), "Idempotency-Key": "k"})
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]


def test_idempotency_key_over_255_chars_is_400(client):
    r = client.post("/api/agencies/", json={"name": "A"}, headers={**bearer("u"), "Idempotency-Key": "k" * 256})
    body = _problem(r, 400)
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_two_concurrent_identical_requests_create_one_record(app):
    h = {**bearer("owner-c"), "Idempotency-Key": "race"}
    barrier = threading.Barrier(4)
    results = []

    def post():
        c = app.test_client()
        barrier.wait()
        r = c.post("/api/agencies/", json={"name": "Race"}, headers=h)
        results.append((r.status_code, r.get_json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in results} == {201}
    assert len({i for _, i in results}) == 1
    assert _count("SELECT count(*) FROM user_service.agencies") == 1
