"""Each service's deployable folder runs under the real functions-framework, as Cloud Functions would run it:
every registry function imports from its package alone and answers one request (HTTP) or delivery (events, both as
Eventarc sends them and as a Pub/Sub push subscription posts them)."""
from __future__ import annotations

import ast
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from shared_lib import registry
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
FF = str(Path(sys.executable).parent / "functions-framework")
# pstest and the Firestore emulator are shared by every test run on the machine: a project of our own keeps the
# packaged functions' publishes and read-model writes away from everyone else's subscriptions and documents.
PROJECT = f"pkg-{os.getpid()}"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
POOL = 4  # 2 cores: process start-up is CPU-bound, a little overlap covers the waits on the network
registry.load_all()
FUNCTIONS = sorted(registry.REGISTRY.values(), key=lambda s: (s.service, s.name))
SERVICES = registry.service_names()


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Built as a release engineer does: the command line, from the checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "emulator", "package", "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out


# --- the folder -------------------------------------------------------------------------------------------------


def _pins(folder: Path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    lines = [ln for ln in (folder / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    return {canonicalize_name(ln.split("==")[0]): ln.split("==")[1] for ln in lines}


def test_every_service_folder_is_self_contained(dist):
    from emulator.package import constraints

    pinned = {name: version for name, (_, version) in constraints().items()}
    for service in SERVICES:
        folder = dist / service
        assert (folder / "main.py").is_file() and (folder / "requirements.txt").is_file()
        assert (folder / "shared_lib" / "registry.py").is_file()
        assert not (folder / "shared_lib").is_symlink()
        others = {p.name for p in (folder / "functions").iterdir() if p.is_dir()} - {"__pycache__"}
        assert others == {service}
        pins = _pins(folder)
        # the whole resolved set, each at the version the tests ran with
        assert {"functions-framework", "sqlalchemy", "pg8000", "flask", "werkzeug", "grpcio", "protobuf",
                "google-api-core", "pydantic-core", "gunicorn", "cloudevents", "scramp"} <= set(pins)
        assert all(pinned[name] == version for name, version in pins.items()), service
        # what no deployed module imports stays out
        assert not {"pyyaml", "pytest", "hypothesis", "pgserver", "swagger-ui-bundle", "pypdf", "requests-mock",
                    "python-hcl2"} & set(pins)
        assert ("fpdf2" in pins) == (service == "payouts") and ("pillow" in pins) == (service == "payouts")
        # one greppable line per registry function, bound under its registry name
        names = sorted(s.name for s in FUNCTIONS if s.service == service)
        bound = [m.group(2) or m.group(1) for m in re.finditer(
            rf"^from functions\.{service}\.main import (\w+)(?: as (\w+))?  # noqa: F401$",
            (folder / "main.py").read_text(), re.M)]
        assert bound == names


def test_closure_follows_markers_and_extras():
    from emulator.package import runtime_closure

    closure = runtime_closure(["functions-framework", "firebase-admin"])
    assert {"gunicorn", "flask", "cloudevents", "uvicorn-worker", "starlette"} <= set(closure)
    assert "h2" in closure and "http2" in closure["httpx"]  # firebase-admin asks httpx[http2]
    assert "pyyaml" not in closure and "pytest" not in closure


def test_build_stops_on_a_runtime_distribution_without_a_pin_or_at_another_version(monkeypatch):
    from emulator import package

    real = package.constraints()
    monkeypatch.setattr(package, "constraints", lambda: {k: v for k, v in real.items() if k != "gunicorn"})
    with pytest.raises(package.PackageError, match="gunicorn is needed at runtime but not pinned"):
        package.requirements("users")
    monkeypatch.setattr(package, "constraints", lambda: {**real, "gunicorn": ("gunicorn", "0.0.1")})
    with pytest.raises(package.PackageError, match="gunicorn: constraints.txt pins 0.0.1, the environment has"):
        package.requirements("users")


def _provider_index() -> dict[str, set[str]]:
    """Dotted module name → the installed distributions whose files provide it."""
    import importlib.metadata as md

    from packaging.utils import canonicalize_name

    index: dict[str, set[str]] = {}
    for dist in md.distributions():
        for f in dist.files or []:
            parts = f.parts
            if not parts or not (parts[-1].endswith(".py") or parts[-1].endswith(".so")) or ".." in parts:
                continue
            stem = parts[-1].split(".")[0]
            dotted = ".".join([*parts[:-1], stem] if stem != "__init__" else parts[:-1])
            index.setdefault(dotted, set()).add(canonicalize_name(dist.metadata["Name"]))
    return index


def test_every_module_a_package_imports_is_pinned_in_its_requirements(dist):
    """A deployed module importing a library the package does not pin would fail in the cloud, never here."""
    index = _provider_index()
    for service in SERVICES:
        folder, pins = dist / service, set(_pins(dist / service))
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [f"{node.module}.{a.name}" for a in node.names]  # `from google.cloud import storage`
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("functions", "shared_lib", "main"):
                        continue
                    prefixes = [".".join(name.split(".")[:i]) for i in range(name.count(".") + 1, 0, -1)]
                    providers = next((index[p] for p in prefixes if p in index), set())
                    assert providers & pins, f"{path.relative_to(dist)} imports {name}, not in requirements.txt"


_IMPORT_CHECK = r"""
import json, sys, types
# The venv has the checkout installed in editable mode: take its finder away, so only the package can answer.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if not p.startswith("__editable__")]
root, venv = sys.argv[1], sys.prefix
assert not any((p == root or p.startswith(root + "/")) and not p.startswith(venv + "/") for p in sys.path), sys.path
import main
from functions_framework import _function_registry
names = json.loads(sys.argv[2])
print(json.dumps({
    "attrs": {n: isinstance(getattr(main, n, None), types.FunctionType) for n in names},
    "signature": {n: _function_registry.REGISTRY_MAP.get(n) for n in names},
    "files": {m: getattr(mod, "__file__", None) for m, mod in list(sys.modules.items())
              if m.split(".")[0] in ("functions", "shared_lib", "main")},
}))
"""


@pytest.mark.parametrize("service", SERVICES)
def test_main_imports_from_the_package_alone_and_binds_every_registry_name(dist, service):
    folder = dist / service
    specs = {s.name: s for s in FUNCTIONS if s.service == service}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "K_SERVICE")}
    out = subprocess.run([sys.executable, "-c", _IMPORT_CHECK, str(ROOT), json.dumps(sorted(specs))], cwd=folder,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["attrs"] == {name: True for name in specs}
    # functions-framework picks the signature type by the target's name: it must be the registry name
    assert seen["signature"] == {n: "http" if s.trigger == "http" else "cloudevent" for n, s in specs.items()}
    assert f"functions.{service}.main" in seen["files"]
    for module, file in seen["files"].items():
        assert file is not None and Path(file).resolve().is_relative_to(folder.resolve()), (module, file)


# --- every function, served -------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    key: str | None = None  # the inbox key this delivery should leave behind


@dataclass
class Job:
    name: str
    service: str
    target: str
    calls: list[Call]
    env: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Outcome:
    calls: list[Call]
    answers: list[requests.Response]
    stdout: str
    stderr: str
    seconds: float


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # gunicorn: quick shutdown of the arbiter and its worker
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _run(job: Job, dist: Path, base_env: dict[str, str], logs: Path) -> Outcome:
    env = {**base_env, **{k: v for k, v in job.env.items() if v is not None}}
    for k, v in job.env.items():
        if v is None:
            env.pop(k, None)
    folder = dist / job.service
    started = time.monotonic()
    for _attempt in range(3):  # a port taken between free_port and the bind: take another
        port = free_port()
        out, err = (logs / f"{job.name}.{port}.out"), (logs / f"{job.name}.{port}.err")
        with out.open("w") as o, err.open("w") as e:
            # cwd is the package: nothing from the checkout is importable, as in the cloud
            proc = subprocess.Popen([FF, "--source", "main.py", "--target", job.target, "--port", str(port),
                                     "--host", "127.0.0.1"], cwd=folder, env=env, stdout=o, stderr=e,
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            if proc.poll() is not None:
                if "Address already in use" in err.read_text():
                    continue
                raise AssertionError(f"{job.target} exited: {err.read_text()}")
            url = f"http://127.0.0.1:{port}"
            answers = [requests.request(c.method, url + c.path, headers=c.headers, data=c.body, timeout=60)
                       for c in job.calls]
        finally:
            _stop(proc)
        return Outcome(job.calls, answers, out.read_text(), err.read_text(), time.monotonic() - started)
    raise AssertionError(f"{job.target}: no free port")


def _filled(path: str) -> str:
    """A path this function serves: ids are fresh UUIDs, a period is a month."""
    return "/".join("2026-11" if p == "{period}" else str(uuid.uuid4()) if p.startswith("{") else p
                    for p in path.split("/"))


def _pubsub_message(data: bytes, attributes: dict[str, str], message_id: str) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # Pub/Sub writes both spellings; deliveryAttempt appears once the subscription has a dead-letter policy
    return {"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": message_id,
            "message_id": message_id, "publishTime": now, "publish_time": now}


def eventarc_pubsub(topic: str, data: bytes, attributes: dict[str, str], message_id: str) -> tuple[dict, bytes]:
    """Binary content mode, as Eventarc delivers google.cloud.pubsub.topic.v1.messagePublished."""
    headers = {"ce-id": message_id, "ce-specversion": "1.0",
               "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
               "ce-source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}",
               "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
               "Content-Type": "application/json"}
    body = {"message": _pubsub_message(data, attributes, message_id),
            "subscription": f"projects/{PROJECT}/subscriptions/eventarc-us-central1-trigger-{message_id[:8]}"}
    return headers, json.dumps(body).encode()


def push_pubsub(subscription: str, data: bytes, attributes: dict[str, str], message_id: str) -> tuple[dict, bytes]:
    """What a Pub/Sub push subscription POSTs: the wrapped message, no ce-* headers."""
    body = {"message": _pubsub_message(data, attributes, message_id), "subscription":
            f"projects/{PROJECT}/subscriptions/{subscription}", "deliveryAttempt": 1}
    return {"Content-Type": "application/json"}, json.dumps(body).encode()


def eventarc_firestore(spec: registry.FunctionSpec, path: str, new: dict, ce_id: str) -> tuple[dict, bytes]:
    from shared_lib.firestore_values import document_event_bytes

    headers = {"ce-id": ce_id, "ce-specversion": "1.0",
               "ce-type": f"google.cloud.firestore.document.v1.{spec.document_event}",
               "ce-source": f"//firestore.googleapis.com/projects/{PROJECT}/databases/(default)",
               "ce-subject": f"documents/{path}", "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
               "ce-dataschema": "https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/"
                                "cloud/firestore/v1/data.proto",
               "ce-database": "(default)", "ce-namespace": "(default)", "ce-document": path,
               "ce-location": "us-central1", "Content-Type": "application/protobuf"}
    name = f"projects/{PROJECT}/databases/(default)/documents/{path}"
    return headers, document_event_bytes(name, new)


@dataclass(frozen=True)
class World:
    agency_id: uuid.UUID
    model_id: uuid.UUID
    chatter_id: uuid.UUID
    chatter_uid: str


def _event_data(world: World) -> dict:
    """One payload every consumer can act on: the union of the fields they read, for today in a live agency."""
    now = datetime.now(UTC)
    today = now.date()
    return {"agency_id": str(world.agency_id), "model_id": str(world.model_id), "user_id": str(world.chatter_id),
            "date": today.isoformat(), "effective_from": today.replace(day=1).isoformat(),
            "period": today.strftime("%Y-%m"), "subscriber_count": 1200,
            "observed_at": (now - timedelta(minutes=5)).isoformat(), "observed_on": today.isoformat(),
            "source": "scraper"}


def _contract_data(topic: str, world: World) -> dict:
    """A payload on the topic's contract (shared_lib/contracts.py), for today in a live agency."""
    from shared_lib.contracts import CONTRACTS

    now = datetime.now(UTC)
    today, period = now.date(), now.strftime("%Y-%m")
    a, version = world.agency_id, dict(version_id=uuid.uuid4(), effective_from=today.replace(day=1),
                                       effective_to=None, replaced=False)
    sale = dict(type="other_income", sale_date=today, model_id=world.model_id, chatter_id=None, manager_id=None,
                assigned_to_user_id=None, gross_amount="10.00", fee_amount="0.00", net_amount="10.00")
    income = dict(income_id=uuid.uuid4(), agency_id=a, schedule_id=None, sale_date=today, old_sale_date=None,
                  model_id=world.model_id, chatter_id=None, old=None, new=sale)
    expense = dict(expense_id=uuid.uuid4(), agency_id=a, schedule_id=None, expense_date=today, old_expense_date=None,
                   old=None, new=dict(expense_date=today, amount="10.00", source="ads"))
    fields = {
        "income.registered": {**income, "reason": "registered"}, "income.updated": {**income, "reason": "edited"},
        "income.deleted": {**income, "reason": "deleted"}, "expense.recorded": {**expense, "reason": "recorded"},
        "expense.updated": {**expense, "reason": "edited"}, "expense.deleted": {**expense, "reason": "deleted"},
        "user.settings.updated": {**version, "agency_id": a, "user_id": world.chatter_id},
        "model.settings.updated": {**version, "agency_id": a, "model_id": world.model_id},
        "platform.settings.updated": {**version, "agency_id": a},
        "sales.settings.updated": {**version, "agency_id": a},
        "timetracking.settings.updated": dict(agency_id=a, effective_from=today.replace(day=1), period=period),
        "employee.time.event": dict(agency_id=a, user_id=world.chatter_id, kind="adjusted", shift_id=uuid.uuid4(),
                                    entry_id=None, minutes=0, local_date=today, period=period),
        "model.subscriber_count.updated": dict(agency_id=a, model_id=world.model_id, subscriber_count=1200,
                                               observed_at=now - timedelta(minutes=5), observed_on=today,
                                               source="scraper"),
        "financial_calculation.completed": dict(agency_id=a, period=period, user_ids=[]),
        "income.imported": dict(agency_id=a, model_id=world.model_id, import_id=uuid.uuid4(), created=1, matched=0,
                                slices=[dict(sale_date=today, type="subscription_sale", chatter_id=None, created=1,
                                             matched=0)]),
    }[topic]
    return CONTRACTS[topic](**fields).model_dump(mode="json")


def _scraper_message(topic: str, world: World, message_id: str) -> dict:
    """What the external scraper publishes on an envelope-less topic (shared_lib/contracts.py), for a live agency."""
    payload = _event_data(world)
    if topic == "scraper.transactions":
        return {"agency_id": payload["agency_id"], "model_id": payload["model_id"], "transactions": [
            {"transaction_id": f"pkg-{message_id}", "occurred_at": payload["observed_at"], "type": "subscription",
             "gross_amount": "10.00", "status": "cleared"}]}
    return {k: payload[k] for k in ("agency_id", "model_id", "subscriber_count", "observed_at")}


def _event_calls(spec: registry.FunctionSpec, world: World) -> list[Call]:
    if spec.trigger == "firestore":
        ce_id = uuid.uuid4().hex
        if spec.name == "user_profile_sync":
            path, doc = f"users/{world.chatter_uid}", {"display_name": "Packaged Profile"}
        else:
            path = f"agencies/{world.agency_id}/time_events/{uuid.uuid4().hex}"
            doc = {"uid": world.chatter_uid, "user_id": str(world.chatter_id), "kind": "check_in",
                   "at": datetime.now(UTC) - timedelta(minutes=1)}
        assert registry.REGISTRY[spec.name].document.count("/") == path.count("/")
        headers, body = eventarc_firestore(spec, path, doc, ce_id)
        return [Call("POST", "/", headers, body, key=ce_id)]
    calls = []
    for deliver in (eventarc_pubsub, push_pubsub):
        message_id = str(uuid.uuid4().int)[:16]
        if spec.trigger == "schedule":
            data, attrs, key = json.dumps({"as_of": datetime.now(UTC).date().isoformat()}).encode(), {}, None
        elif not spec.envelope:
            data, attrs, key = json.dumps(_scraper_message(spec.topic, world, message_id)).encode(), {}, message_id
        else:
            from shared_lib.events import Event

            event = Event(event_id=uuid.uuid4(), type=spec.topic, occurred_at=datetime.now(UTC),
                          agency_id=world.agency_id, subject=str(world.chatter_id),
                          data=_contract_data(spec.topic, world))
            data, attrs, key = event.payload(), event.attributes(), str(event.event_id)
        where = spec.topic if deliver is eventarc_pubsub else f"{spec.deploy_name}-push"
        headers, body = deliver(where, data, attrs, message_id)
        calls.append(Call("POST", "/", headers, body, key=key))
    return calls


def _http_calls(spec: registry.FunctionSpec) -> list[Call]:
    return [Call(method, _filled(spec.path)) for method in sorted(spec.operations)]


@pytest.fixture(scope="module")
def pubsub_project():
    """Every topic the registry names, in our own pstest project, and a subscription on one dead-letter topic."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    assert os.environ.get("PUBSUB_EMULATOR_HOST"), "source .local/services.env: these tests use the Pub/Sub fake"
    pub, sub = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in registry.topics():
        try:
            pub.create_topic(name=pub.topic_path(PROJECT, topic))
        except AlreadyExists:
            pass
    dead = sub.subscription_path(PROJECT, "income-registered-dead-letter-check")
    sub.create_subscription(request={"name": dead, "ack_deadline_seconds": 10, "topic": pub.topic_path(
        PROJECT, registry.dead_letter_topic("income.registered"))}, timeout=10)
    yield sub, dead
    sub.delete_subscription(subscription=dead)


@pytest.fixture(scope="module")
def world(database_url):
    from tests.factories import make_agency, make_model, make_user

    agency = make_agency("Packaged Agency")
    chatter = make_user(agency, role="chatter")
    return World(agency.id, make_model(agency, "Packaged Model"), chatter.id, chatter.uid)


POISON_ID = "900000000000001"


@pytest.fixture(scope="module")
def burst_in_outbox(database_url, world) -> list:
    """Three sales' income.registered committed to the outbox and not published (a burst still on its way): the
    packaged payouts consumer is delivered the first and, as its catch-up owner, absorbs the other two."""
    from shared_lib import outbox
    from shared_lib.contracts import IncomeRegistered
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return outbox.write(uow, "income.registered", [
            (world.agency_id, world.chatter_id, IncomeRegistered.model_validate(
                {**_contract_data("income.registered", world), "income_id": uuid.uuid4()})) for _ in range(3)])


@pytest.fixture(scope="module")
def served(dist, database_url, world, pubsub_project, burst_in_outbox, tmp_path_factory):
    """Every registry function started under functions-framework from its package (a bounded pool), plus the
    failure and logging cases; {job name: Outcome} and the wall time of the whole run."""
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "K_SERVICE", "PUBSUB_PROJECT")}
    base_env.update(DATABASE_URL=database_url, GOOGLE_CLOUD_PROJECT=PROJECT)
    jobs = [Job(s.name, s.service, s.name, _http_calls(s) if s.trigger == "http" else _event_calls(s, world))
            for s in FUNCTIONS]
    health = next(j for j in jobs if j.name == "health")
    health.calls.append(Call("GET", "/api/other/"))  # Hosting forwards the full path; not this function's: 404
    stats = registry.REGISTRY["stats_on_income_registered"]
    # Poison: our dispatch dead-letters it itself and acknowledges.
    poison = push_pubsub("stats-on-income-registered-push", b"not an event", {"agency_id": str(world.agency_id)},
                         POISON_ID)
    jobs.append(Job("poison", "stats", stats.name, [Call("POST", "/", *poison)]))
    # A handler that fails (its database is unreachable): non-2xx, so Pub/Sub redelivers, then dead-letters.
    jobs.append(Job("failing", "stats", stats.name, _event_calls(stats, world),
                    env={"DATABASE_URL": database_url.rsplit("/", 1)[0] + "/om_no_such_database"}))
    # In the cloud (K_SERVICE set, production auth): Cloud Logging's JSON on stdout.
    cloud = {"K_SERVICE": "me", "FIREBASE_AUTH_EMULATOR_HOST": None, "FIRESTORE_EMULATOR_HOST": None}
    jobs.append(Job("cloud_http", "users", "me",
                    [Call("GET", "/api/me/", {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"})], env=cloud))
    undated = push_pubsub("stats-on-income-registered-push", json.dumps(
        {"event_id": str(uuid.uuid4()), "type": "income.registered", "occurred_at": datetime.now(UTC).isoformat(),
         "agency_id": str(world.agency_id), "subject": None, "data": {}}).encode(), {}, "900000000000002")
    jobs.append(Job("cloud_event", "stats", stats.name,
                    [Call("POST", "/", {**undated[0], "X-Cloud-Trace-Context": f"{TRACE}/2;o=1"}, undated[1])],
                    env={**cloud, "K_SERVICE": stats.deploy_name}))
    first = burst_in_outbox[0]
    jobs.append(Job("absorbing", "payouts", "payouts_on_income_registered", [Call("POST", "/", *push_pubsub(
        "payouts-on-income-registered-push", first.payload(), first.attributes(), "900000000000003"),
        key=str(first.event_id))]))
    logs = tmp_path_factory.mktemp("ff-logs")
    started = time.monotonic()
    with ThreadPoolExecutor(POOL) as pool:
        futures = {j.name: pool.submit(_run, j, dist, base_env, logs) for j in jobs}
        outcomes = {name: f.result() for name, f in futures.items()}
    wall = time.monotonic() - started
    print(f"\n{len(jobs)} functions-framework processes, pool of {POOL}: {wall:.1f} s")
    return outcomes, wall


def _inbox(keys: list[str]) -> dict[tuple[str, str], int]:
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        rows = uow.execute("SELECT consumer, event_id FROM eventing.inbox WHERE event_id = ANY(:k)",
                           {"k": keys}).all()
    return {(r.consumer, r.event_id): 1 for r in rows}


@pytest.mark.parametrize("name", [s.name for s in FUNCTIONS])
def test_every_function_answers_as_deployed(served, name):
    outcomes, _ = served
    spec, job = registry.REGISTRY[name], outcomes[name]
    if spec.trigger == "http":
        for answer, method in zip(job.answers, sorted(spec.operations)):
            if spec.operations[method].auth == "none":
                assert (answer.status_code, answer.json()) == (200, {"status": "ok", "database": "ok",
                                                                     "version": "0.1.0"}), answer.text
            else:
                assert answer.status_code == 401, (method, answer.text, job.stderr[-4000:])
                assert answer.headers["Content-Type"] == "application/problem+json"
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                assert answer.json()["detail"] == "missing bearer token"
        if name == "health":
            assert job.answers[-1].status_code == 404
        return
    assert [a.status_code for a in job.answers] == [200] * len(job.answers), job.stderr[-4000:]
    keys = [c.key for c in job.calls if c.key]
    # the handler ran and committed for each delivery: its inbox row is there (schedule jobs keep none)
    assert _inbox(keys) == {(name, k): 1 for k in keys}
    assert len(keys) == (0 if spec.trigger == "schedule" else len(job.answers))


def test_a_packaged_consumer_under_its_role_absorbs_the_events_committed_after_its_own(served, burst_in_outbox):
    """shared_lib/catchup.py Absorber as deployed: the payouts package, as om_payouts (sql/0197's column grants),
    delivered one event of a burst, claims the two committed after it in its inbox; their deliveries will be
    duplicates."""
    outcomes, _ = served
    job = outcomes["absorbing"]
    assert [a.status_code for a in job.answers] == [200], job.stderr[-4000:]
    keys = [str(e.event_id) for e in burst_in_outbox]
    assert _inbox(keys) == {("payouts_on_income_registered", k): 1 for k in keys}


def test_profile_document_delivered_as_eventarc_does_reaches_the_user_row(served, world):
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        name = uow.execute("SELECT display_name FROM user_service.users WHERE id = :u",
                           {"u": world.chatter_id}).scalar_one()
    assert name == "Packaged Profile"


def test_push_delivery_whose_handler_fails_answers_5xx_so_pubsub_redelivers(served):
    outcomes, _ = served
    job = outcomes["failing"]
    # Eventarc's CloudEvent and the plain push body alike: non-2xx, nothing claimed in the inbox
    assert [a.status_code for a in job.answers] == [500, 500]
    assert _inbox([c.key for c in job.calls]) == {}
    assert "om_no_such_database" in job.stderr + job.stdout


def test_poison_push_message_is_dead_lettered_by_dispatch_and_acknowledged(served, pubsub_project, world):
    outcomes, _ = served
    assert [a.status_code for a in outcomes["poison"].answers] == [200]
    sub, dead = pubsub_project
    received = sub.pull(subscription=dead, max_messages=10, timeout=30).received_messages
    # the cloud_event case below dead-letters an undated event to the same topic
    [msg] = [r.message for r in received if r.message.attributes.get("agency_id") == str(world.agency_id)
             and b"event_id" not in r.message.data]
    assert msg.data == b"not an event"
    assert msg.attributes["function"] == "stats_on_income_registered"
    assert msg.attributes["agency_id"] == str(world.agency_id)
    assert "Invalid JSON" in msg.attributes["error"]
    assert _inbox([POISON_ID]) == {}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_in_the_cloud_a_request_logs_one_json_line_with_trace_and_function(served):
    outcomes, _ = served
    job = outcomes["cloud_http"]
    assert job.answers[0].status_code == 401
    [entry] = _json_lines(job.stdout)  # one line for the refused request, nothing for the rest of its life
    assert entry["severity"] == "INFO"
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["function"] == "me"
    assert entry["message"] == "GET /api/me/ answered 401: missing bearer token"
    assert "agency_id" not in entry  # nobody signed in: no agency to name


def test_in_the_cloud_an_event_logs_its_agency(served, world):
    outcomes, _ = served
    job = outcomes["cloud_event"]
    assert job.answers[0].status_code == 200  # an event naming no date can never apply: dead-lettered, acked
    [entry] = [e for e in _json_lines(job.stdout) if e["severity"] == "ERROR"]
    assert entry["function"] == "stats_on_income_registered"
    assert entry["agency_id"] == str(world.agency_id)
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    assert entry["message"].startswith("stats_on_income_registered: permanent failure, dead-lettered: ")


def test_same_function_name_in_two_sources_stays_apart(tmp_path):
    """functions-framework keys its registry by function name; two sources with one name must not collide."""
    import functions_framework

    for svc, answer in (("one", "from one"), ("two", "from two")):
        d = tmp_path / svc
        d.mkdir()
        (d / "main.py").write_text(
            "import functions_framework\n"
            "@functions_framework.http\n"
            f"def handler(request):\n    return {answer!r}\n")
    app_one = functions_framework.create_app("handler", str(tmp_path / "one" / "main.py"))
    app_two = functions_framework.create_app("handler", str(tmp_path / "two" / "main.py"))
    assert app_one.test_client().get("/").get_data(as_text=True) == "from one"
    assert app_two.test_client().get("/").get_data(as_text=True) == "from two"
