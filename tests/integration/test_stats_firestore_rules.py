"""firestore.rules enforced by Google's Firestore emulator (Java, rules-aware), through REST with claim tokens."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = os.environ.get("FIRESTORE_RULES_EMULATOR",
                          "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator")
PROJECT = "demo-onlymanager-rules"
A, B = str(uuid.uuid4()), str(uuid.uuid4())   # two agencies


@pytest.fixture(scope="module")
def rules_emulator():
    """Google's emulator with our rules loaded (the npm emulator used elsewhere does not evaluate rules)."""
    if not Path(EMULATOR).exists() or shutil.which("java") is None:
        pytest.fail(f"the rules tests need Google's Firestore emulator ({EMULATOR}) and Java: "
                    "apt-get install google-cloud-cli-firestore-emulator default-jre-headless, "
                    "or point FIRESTORE_RULES_EMULATOR at cloud_firestore_emulator")
    port = free_port()
    log = open(ROOT / ".local" / "firestore-rules-emulator.log", "w") if (ROOT / ".local").is_dir() else \
        subprocess.DEVNULL
    proc = subprocess.Popen([EMULATOR, "start", "--host=127.0.0.1", f"--port={port}",
                             f"--rules={ROOT / 'firestore.rules'}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(base, timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Firestore emulator did not start on port {port} (exit code {proc.poll()})")
        time.sleep(0.3)
    yield f"{base}/v1/projects/{PROJECT}/databases/(default)/documents"
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)
    if log is not subprocess.DEVNULL:
        log.close()


def token(uid: str | None, **claims) -> str:
    """An unsigned ID token, as the emulator accepts: `Bearer owner` is the Admin SDK (rules bypassed)."""
    if uid is None:
        return ""
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    now = int(time.time())
    payload = {"iss": f"https://securetoken.google.com/{PROJECT}", "aud": PROJECT, "iat": now, "exp": now + 3600,
               "auth_time": now, "sub": uid, "user_id": uid,
               "firebase": {"sign_in_provider": "password", "identities": {}}, **claims}
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(payload)}."


OWNER_A = token("owner-a", agency_id=A, role="owner")
MANAGER_A = token("manager-a", agency_id=A, role="manager")
CHATTER_A = token("chatter-a", agency_id=A, role="chatter")
CHATTER_A2 = token("chatter-a2", agency_id=A, role="chatter")
OWNER_B = token("owner-b", agency_id=B, role="owner")
NO_CLAIMS = token("newcomer")
ANONYMOUS = None


def _fields(doc: dict) -> dict:
    out = {}
    for k, v in doc.items():
        if v is None:
            out[k] = {"nullValue": None}
        elif isinstance(v, bool):
            out[k] = {"booleanValue": v}
        elif isinstance(v, int):
            out[k] = {"integerValue": str(v)}
        elif isinstance(v, datetime):
            out[k] = {"timestampValue": v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}
        else:
            out[k] = {"stringValue": v}
    return {"fields": out}


def _headers(tok):
    return {"Authorization": f"Bearer {tok}"} if tok else {}


def admin_set(base, path, doc):
    r = requests.patch(f"{base}/{path}", json=_fields(doc), headers={"Authorization": "Bearer owner"}, timeout=10)
    assert r.status_code == 200, r.text


def get(base, path, tok) -> int:
    return requests.get(f"{base}/{path}", headers=_headers(tok), timeout=10).status_code


def create(base, path, doc, tok) -> int:
    parent, _, doc_id = path.rpartition("/")
    return requests.post(f"{base}/{parent}", params={"documentId": doc_id}, json=_fields(doc),
                         headers=_headers(tok), timeout=10).status_code


def update(base, path, doc, tok) -> int:
    params = [("updateMask.fieldPaths", k) for k in doc] + [("currentDocument.exists", "true")]
    return requests.patch(f"{base}/{path}", params=params, json=_fields(doc), headers=_headers(tok),
                          timeout=10).status_code


def delete(base, path, tok) -> int:
    return requests.delete(f"{base}/{path}", headers=_headers(tok), timeout=10).status_code


# --- agency documents ------------------------------------------------------------------------------------------


def test_agency_documents_are_readable_by_its_members_only_and_never_writable(rules_emulator):
    base = rules_emulator
    admin_set(base, f"agencies/{A}", {"name": "Velvet"})
    admin_set(base, f"agencies/{A}/notices/n1", {"text": "hello"})
    for tok in (OWNER_A, MANAGER_A, CHATTER_A):
        assert get(base, f"agencies/{A}", tok) == 200
        assert get(base, f"agencies/{A}/notices/n1", tok) == 200
    for tok in (OWNER_B, NO_CLAIMS, ANONYMOUS):
        assert get(base, f"agencies/{A}", tok) == 403
        assert get(base, f"agencies/{A}/notices/n1", tok) == 403
    assert update(base, f"agencies/{A}/notices/n1", {"text": "changed"}, OWNER_A) == 403
    assert create(base, f"agencies/{A}/notices/n2", {"text": "new"}, OWNER_A) == 403


def test_dashboards_are_for_the_agencys_owner_and_never_written_by_clients(rules_emulator):
    base = rules_emulator
    path = f"agencies/{A}/dashboards/2026-11"
    admin_set(base, path, {"period": "2026-11", "version": 1})
    assert get(base, path, OWNER_A) == 200
    for tok in (MANAGER_A, CHATTER_A, OWNER_B, NO_CLAIMS, ANONYMOUS):
        assert get(base, path, tok) == 403
    assert update(base, path, {"version": 99}, OWNER_A) == 403
    assert create(base, f"agencies/{A}/dashboards/2026-12", {"version": 1}, OWNER_A) == 403
    assert delete(base, path, OWNER_A) == 403


def test_a_dashboards_chatter_document_is_for_that_chatter_their_manager_or_an_owner(rules_emulator):
    base = rules_emulator
    path = f"agencies/{A}/dashboards/2026-11/chatters/{uuid.uuid4()}"
    admin_set(base, path, {"uid": "chatter-a", "manager_uid": "manager-a", "net": "1400.00", "version": 1})
    for tok in (CHATTER_A, MANAGER_A, OWNER_A):
        assert get(base, path, tok) == 200
    for tok in (CHATTER_A2, OWNER_B, NO_CLAIMS, ANONYMOUS):
        assert get(base, path, tok) == 403
    without_manager = f"agencies/{A}/dashboards/2026-11/chatters/{uuid.uuid4()}"
    admin_set(base, without_manager, {"uid": "chatter-a2", "manager_uid": None, "version": 1})
    assert get(base, without_manager, MANAGER_A) == 403  # in no team: not a Manager's
    assert update(base, path, {"net": "9999.00"}, CHATTER_A) == 403
    assert update(base, path, {"net": "9999.00"}, OWNER_A) == 403
    assert create(base, f"agencies/{A}/dashboards/2026-11/chatters/x", {"uid": "chatter-a"}, CHATTER_A) == 403
    assert delete(base, path, OWNER_A) == 403


def test_earnings_are_for_their_user_their_manager_or_an_owner_of_the_agency(rules_emulator):
    base = rules_emulator  # the team rule in full, with real documents: tests/integration/test_earnings_rules.py
    path = f"agencies/{A}/earnings/{uuid.uuid4()}_2026-11"
    admin_set(base, path, {"uid": "chatter-a", "manager_uid": "manager-a", "total": "1400.00"})
    for tok in (CHATTER_A, MANAGER_A, OWNER_A):
        assert get(base, path, tok) == 200
    for tok in (CHATTER_A2, OWNER_B, NO_CLAIMS, ANONYMOUS):
        assert get(base, path, tok) == 403
    assert update(base, path, {"total": "9999.00"}, CHATTER_A) == 403
    assert update(base, path, {"total": "9999.00"}, OWNER_A) == 403


# --- time events -------------------------------------------------------------------------------------------------


def _event(uid="chatter-a", **over):
    doc = {"uid": uid, "user_id": str(uuid.uuid4()), "kind": "check_in", "at": datetime.now(timezone.utc)}
    return {**doc, **over}


def test_a_member_creates_their_own_time_event_only(rules_emulator):
    base = rules_emulator
    mine = f"agencies/{A}/time_events/{uuid.uuid4()}"
    assert create(base, mine, _event(), CHATTER_A) == 200
    assert create(base, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(note="on my way"), CHATTER_A) == 200
    # For somebody else, in another agency, without membership, signed out: refused.
    assert create(base, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(uid="chatter-a2"), CHATTER_A) == 403
    assert create(base, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(uid="owner-b"), OWNER_B) == 403
    assert create(base, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(uid="newcomer"), NO_CLAIMS) == 403
    assert create(base, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(), ANONYMOUS) == 403
    # Once written, never changed or removed from the client.
    assert update(base, mine, {"kind": "check_out"}, CHATTER_A) == 403
    assert delete(base, mine, CHATTER_A) == 403
    # A Manager reads it once the backend names them its manager_uid (tests/integration/test_time_event_rules.py).
    assert get(base, mine, CHATTER_A) == 200 and get(base, mine, OWNER_A) == 200 and get(base, mine, MANAGER_A) == 403
    assert get(base, mine, CHATTER_A2) == 403 and get(base, mine, OWNER_B) == 403


@pytest.mark.parametrize("bad", [
    {"kind": "lunch_break"},
    {"at": "2026-11-25T09:00:00Z"},                              # a string, not a timestamp
    {"at": datetime.now(timezone.utc) + timedelta(hours=2)},     # in the future
    {"user_id": 42},
    {"role": "owner"},                                           # a field outside the document's shape
    {"note": "x" * 501},
])
def test_a_malformed_time_event_is_refused(rules_emulator, bad):
    assert create(rules_emulator, f"agencies/{A}/time_events/{uuid.uuid4()}", _event(**bad), CHATTER_A) == 403


def test_a_time_event_missing_a_field_is_refused(rules_emulator):
    doc = _event()
    del doc["user_id"]
    assert create(rules_emulator, f"agencies/{A}/time_events/{uuid.uuid4()}", doc, CHATTER_A) == 403


# --- the user's own profile ------------------------------------------------------------------------------------------


def test_a_user_reads_and_writes_their_profile_but_never_role_or_agency(rules_emulator):
    base = rules_emulator
    uid = f"u-{uuid.uuid4().hex[:8]}"
    me = token(uid, agency_id=A, role="chatter")
    path = f"users/{uid}"
    assert create(base, path, {"display_name": "Mia", "role": "owner"}, me) == 403
    assert create(base, path, {"display_name": "Mia", "agency_id": B}, me) == 403
    assert create(base, path, {"display_name": "Mia"}, me) == 200
    assert get(base, path, me) == 200
    assert update(base, path, {"display_name": "Mia R."}, me) == 200
    assert update(base, path, {"role": "owner"}, me) == 403
    assert update(base, path, {"agency_id": B}, me) == 403
    for tok in (CHATTER_A, OWNER_A, ANONYMOUS):
        assert get(base, path, tok) == 403
        assert update(base, path, {"display_name": "hacked"}, tok) == 403
    assert delete(base, path, me) == 200
