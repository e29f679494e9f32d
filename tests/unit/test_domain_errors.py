"""Domain errors: a use case names the field; the HTTP edge locates it from the operation (problem+json), the
event edge dead-letters and acknowledges it; anything else is retried."""
from __future__ import annotations

import base64
import contextlib
import json
import uuid

import pytest
from cloudevents.http import CloudEvent
from pydantic import BaseModel
from werkzeug.test import EnvironBuilder

from shared_lib import registry
from shared_lib.errors import Conflict, Forbidden, Invalid, NotFound, PeriodClosed
from shared_lib.http import handle
from shared_lib.registry import Service


class _Body(BaseModel):
    chatter_id: str


class _Query(BaseModel):
    chatter_id: str | None = None


def _refuse(chatter_id: str) -> None:
    """A use case: knows the field by its name only."""
    raise Forbidden("a chatter registers sales for themselves only", field="chatter_id")


@pytest.fixture
def specs(registry_sandbox):
    s = Service("svc_domain_errors")
    fn = s.http("domain_errors_fn", "/api/domain-errors/")
    by_id = s.http("domain_errors_by_id", "/api/domain-errors/{chatter_id}/")

    @fn.post(request=_Body, auth="none")
    def post_refused(body):
        _refuse(body.chatter_id)

    @fn.get(query=_Query, auth="none")
    def get_refused(query):
        _refuse(query.chatter_id)

    @fn.delete(auth="none")
    def delete_listed():
        raise Invalid(fields=[("chatter_id", "bad"), (("splits", 0, "user_id"), "unknown")])

    @by_id.put(auth="none")
    def put_refused(chatter_id):
        _refuse(chatter_id)

    @by_id.delete(auth="none")
    def delete_by_id_listed():
        raise Invalid(fields=[("chatter_id", "bad"), (("splits", 0, "user_id"), "unknown")])

    return registry.REGISTRY["domain_errors_fn"], registry.REGISTRY["domain_errors_by_id"]


def _answer(spec, method: str, **kw):
    path = spec.path.replace("{chatter_id}", str(uuid.uuid4()))
    response = handle(spec, EnvironBuilder(method=method, path=path, **kw).get_request())
    return response.status_code, response.content_type, json.loads(response.get_data())


def _forbidden(part: str) -> dict:
    return {"type": "https://onlymanager.app/problems/forbidden", "title": "Not allowed for your role",
            "status": 403, "detail": f"{part}.chatter_id: a chatter registers sales for themselves only",
            "errors": [{"loc": [part, "chatter_id"], "msg": "a chatter registers sales for themselves only"}]}


def test_the_http_edge_locates_the_field_where_the_operation_reads_it(specs):
    plain, by_id = specs
    assert _answer(plain, "POST", json={"chatter_id": "c1"}) == (403, "application/problem+json",
                                                                  _forbidden("body"))
    assert _answer(plain, "GET", query_string={"chatter_id": "c1"}) == (403, "application/problem+json",
                                                                         _forbidden("query"))
    assert _answer(by_id, "PUT") == (403, "application/problem+json", _forbidden("path"))


def test_several_fields_are_listed_each_located(specs):
    plain, by_id = specs
    status, _, body = _answer(by_id, "DELETE")
    assert status == 400 and body["type"] == "https://onlymanager.app/problems/validation"
    # chatter_id is a path parameter here; splits is nowhere in the operation, so the error's own part stands
    assert body["detail"] == "invalid fields: path.chatter_id, body.splits.0.user_id"
    assert body["errors"] == [{"loc": ["path", "chatter_id"], "msg": "bad"},
                              {"loc": ["body", "splits", 0, "user_id"], "msg": "unknown"}]
    assert _answer(plain, "DELETE")[2]["detail"] == "invalid fields: body.chatter_id, body.splits.0.user_id"


def test_outside_a_request_the_error_reads_as_its_own_part():
    err = NotFound("model not found", field="model_id", part="query")
    assert (err.status, err.slug, err.detail) == (404, "not-found", "query.model_id: model not found")
    assert err.errors == [{"loc": ["query", "model_id"], "msg": "model not found"}]
    assert NotFound("user not found").problem() == {"type": "https://onlymanager.app/problems/not-found",
                                                    "title": "Not found", "status": 404, "detail": "user not found"}
    conflict = Conflict("already checked in", slug="open-check-in", fields=[("at", "open entry")])
    assert (conflict.detail, conflict.errors) == ("already checked in", [{"loc": ["body", "at"], "msg": "open entry"}])


# --- the event edge ------------------------------------------------------------------------------------------


class _Uow:
    pending_events: list = []

    def after_commit(self, fn):  # pragma: no cover - not reached
        pass


@pytest.fixture
def event_edge(monkeypatch, registry_sandbox):
    """dispatch() with the database and the publisher stubbed: what it dead-letters, what it lets through."""
    from shared_lib import db, events

    dead: list[tuple[str, dict]] = []

    class _Publisher:
        def publish_raw(self, topic, data, attributes):
            dead.append((topic, attributes))

    monkeypatch.setattr(db, "unit_of_work", lambda **kw: contextlib.nullcontext(_Uow()))
    monkeypatch.setattr(events, "claim_inbox", lambda uow, name, key: True)
    monkeypatch.setattr(events, "publisher", lambda: _Publisher())
    s = Service("svc_domain_events")
    calls = {}

    @s.on_event("test.domain", name="domain_events_fn")
    def domain_events_fn(uow, event):
        raise calls["raise"]

    spec = registry.REGISTRY["domain_events_fn"]
    envelope = {"event_id": str(uuid.uuid4()), "type": "test.domain", "agency_id": None, "subject": "s",
                "occurred_at": "2026-11-20T09:00:00+00:00", "data": {}}
    cloud_event = CloudEvent({"id": "m1", "source": "//pubsub",
                              "type": "google.cloud.pubsub.topic.v1.messagePublished"},
                             {"message": {"data": base64.b64encode(json.dumps(envelope).encode()).decode(),
                                          "messageId": "m1", "attributes": {}}})

    def deliver(exc: Exception) -> None:
        calls["raise"] = exc
        spec.entry_point(cloud_event)  # as functions-framework calls it

    return deliver, dead


@pytest.mark.parametrize("exc", [
    Invalid("must not be in the future", field="observed_at"),
    NotFound("model not found", field="model_id"),
    Forbidden("not yours"),
    Conflict("no planned shift covers this time", slug="no-shift"),
    PeriodClosed("period 2026-10 is closed"),
], ids=lambda e: e.slug)
def test_the_event_edge_dead_letters_and_acknowledges_a_domain_error(event_edge, exc):
    deliver, dead = event_edge
    deliver(exc)  # returns: acknowledged
    assert [(topic, attrs["function"], attrs["error"]) for topic, attrs in dead] == [
        (registry.dead_letter_topic("test.domain"), "domain_events_fn", str(exc))]


def test_the_event_edge_lets_anything_else_fail_the_delivery_for_a_retry(event_edge):
    deliver, dead = event_edge
    with pytest.raises(RuntimeError, match="transient"):
        deliver(RuntimeError("transient"))
    assert dead == []
