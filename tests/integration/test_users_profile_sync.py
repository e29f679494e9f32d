"""The Firestore-triggered profile sync: real DocumentEventData protobuf bytes in a CloudEvent, delivered to the
registry's entry point the way Eventarc delivers google.cloud.firestore.document.v1.written."""
from __future__ import annotations

import uuid

import pytest
from cloudevents.http import CloudEvent
from sqlalchemy import text

from shared_lib.db import engine
from shared_lib.firestore_values import document_event_bytes
from tests.factories import make_agency, make_user

PROJECT = "demo-onlymanager"
DOCS = f"projects/{PROJECT}/databases/(default)/documents"


def _event(uid: str, new: dict | None, old: dict | None = None, *, event_id: str | None = None,
           mask: list[str] | None = None) -> CloudEvent:
    attributes = {
        "id": event_id or uuid.uuid4().hex,
        "source": f"//firestore.googleapis.com/projects/{PROJECT}/databases/(default)",
        "specversion": "1.0",
        "type": "google.cloud.firestore.document.v1.written",
        "datacontenttype": "application/protobuf",
        "dataschema": "https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/cloud/"
                      "firestore/v1/data.proto",
        "subject": f"documents/users/{uid}",
        "time": "2026-11-25T10:00:00Z",
        "location": "europe-west1",
        "project": PROJECT,
        "database": "(default)",
        "namespace": "(default)",
        "document": f"users/{uid}",
    }
    return CloudEvent(attributes, document_event_bytes(f"{DOCS}/users/{uid}", new, old, update_mask=mask))


@pytest.fixture
def entry(database_url):
    """The registry's entry point for users/{uid}, as deployed (functions.users.main.user_profile_sync)."""
    from functions.users import main

    return main.user_profile_sync


@pytest.fixture
def chatter(db):
    a = make_agency()
    return make_user(a, role="chatter", display_name="Cleo")


def _row(uid: str):
    with engine().connect() as c:
        return c.execute(text("SELECT display_name, email, photo_url, role, agency_id, active, updated_at "
                              "FROM user_service.users WHERE firebase_uid = :u"), {"u": uid}).one()


def test_profile_fields_are_copied_into_the_user_row(entry, chatter):
    entry(_event(chatter.uid, {"display_name": "Cleo K.", "email": "Cleo.K@Example.com",
                               "photo_url": "https://cdn.example.com/cleo.png"}))
    row = _row(chatter.uid)
    assert (row.display_name, row.email, row.photo_url) == ("Cleo K.", "cleo.k@example.com",
                                                            "https://cdn.example.com/cleo.png")


def test_role_and_agency_in_the_document_are_ignored(entry, chatter):
    other = make_agency("Other")
    before = _row(chatter.uid)
    entry(_event(chatter.uid, {"display_name": "Boss", "role": "owner", "agency_id": str(other.id),
                               "active": True, "manager_id": None}))
    row = _row(chatter.uid)
    assert row.display_name == "Boss"
    assert (row.role, row.agency_id, row.active) == ("chatter", before.agency_id, True)


def test_a_write_that_changes_no_profile_field_writes_nothing(entry, chatter):
    entry(_event(chatter.uid, {"display_name": "Cleo", "email": chatter.email, "photo_url": None}))
    before = _row(chatter.uid)
    # Same values again, then a write that only touched another field: the row is not even touched.
    entry(_event(chatter.uid, {"display_name": "Cleo", "email": chatter.email, "photo_url": None}))
    entry(_event(chatter.uid, {"display_name": "Cleo", "email": chatter.email, "photo_url": None, "theme": "dark"},
                 old={"display_name": "Cleo", "email": chatter.email, "photo_url": None, "theme": "light"},
                 mask=["theme"]))
    assert _row(chatter.uid).updated_at == before.updated_at


def test_absent_fields_are_left_alone_and_null_clears_a_photo(entry, chatter):
    entry(_event(chatter.uid, {"photo_url": "https://cdn.example.com/a.png"}))
    assert _row(chatter.uid).display_name == "Cleo"
    entry(_event(chatter.uid, {"photo_url": None}, old={"photo_url": "https://cdn.example.com/a.png"}))
    assert _row(chatter.uid).photo_url is None


def test_invalid_values_are_skipped_not_stored(entry, chatter):
    entry(_event(chatter.uid, {"display_name": "x" * 500, "email": "not-an-email", "photo_url": "javascript:alert(1)"}))
    row = _row(chatter.uid)
    assert (row.display_name, row.email, row.photo_url) == ("Cleo", chatter.email, None)
    entry(_event(chatter.uid, {"display_name": 42, "email": None}))
    assert (_row(chatter.uid).display_name, _row(chatter.uid).email) == ("Cleo", chatter.email)


def test_a_deleted_document_changes_nothing(entry, chatter):
    before = _row(chatter.uid)
    entry(_event(chatter.uid, None, old={"display_name": "Gone"}))
    assert _row(chatter.uid) == before


def test_an_unknown_uid_is_acknowledged_and_writes_nothing(entry, chatter):
    entry(_event("nobody-" + uuid.uuid4().hex, {"display_name": "Ghost"}))
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_service.users WHERE display_name = 'Ghost'")).scalar() == 0


def test_a_redelivered_event_is_applied_once(entry, chatter):
    event = _event(chatter.uid, {"display_name": "Once"}, event_id="evt-1")
    entry(event)
    with engine().begin() as c:  # someone edits the name in between
        c.execute(text("UPDATE user_service.users SET display_name = 'Edited' WHERE firebase_uid = :u"),
                  {"u": chatter.uid})
    entry(_event(chatter.uid, {"display_name": "Once"}, event_id="evt-1"))  # at-least-once: the same id again
    assert _row(chatter.uid).display_name == "Edited"
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM eventing.inbox WHERE consumer = 'user_profile_sync' "
                              "AND event_id = 'evt-1'")).scalar() == 1


def test_garbage_instead_of_protobuf_is_dropped_without_a_retry_loop(entry, chatter):
    event = CloudEvent({"id": "bad-1", "source": "//firestore.googleapis.com/x", "specversion": "1.0",
                        "type": "google.cloud.firestore.document.v1.written",
                        "datacontenttype": "application/protobuf", "document": f"users/{chatter.uid}"},
                       b"\xff\x00 not a protobuf")
    entry(event)  # returns (acknowledged), does not raise
    assert _row(chatter.uid).display_name == "Cleo"


def test_the_function_is_registered_on_users_uid_written():
    from functions.users import main
    from shared_lib import registry

    spec = registry.REGISTRY["user_profile_sync"]
    assert (spec.trigger, spec.document, spec.document_event, spec.service) == ("firestore", "users/{uid}",
                                                                                  "written", "users")
    assert spec.entry_point is main.user_profile_sync


def test_delivered_over_http_in_binary_mode_through_functions_framework(chatter, tmp_path):
    """The deployed archive's main.py served by functions-framework, the CloudEvent POSTed in binary content mode
    (ce-* headers, protobuf body) as Eventarc pushes it."""
    import functions_framework
    from cloudevents.conversion import to_binary

    from emulator.package import build

    archive = build("users", tmp_path)
    app = functions_framework.create_app(target="user_profile_sync", source=str(archive / "main.py"),
                                         signature_type="cloudevent")
    headers, body = to_binary(_event(chatter.uid, {"display_name": "Over HTTP"}))
    r = app.test_client().post("/", headers=headers, data=body)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _row(chatter.uid).display_name == "Over HTTP"
