"""Helpers for the fault drills: a served platform in its own process on its own database, an HTTP seed, the truth."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.factories import bearer
from tests.processes import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent
MONEY_FIELDS = ("gross_income", "platform_fees", "net_income", "employee_payouts", "model_payouts", "expenses",
                "agency_profit")


def admin_sql(sql: str, database: str = "postgres") -> list:
    """One statement on the shared server as its superuser, autocommit (CREATE/DROP DATABASE, pg_terminate_backend)."""
    import pg8000.native

    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=5432, database=database)
    try:
        return conn.run(sql) or []
    finally:
        conn.close()


@dataclass
class Database:
    """A database of its own on the shared server (127.0.0.1:5432), dropped by drop()."""

    name: str

    @classmethod
    def create(cls, prefix: str) -> "Database":
        name = f"om_drill_{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin_sql(f"CREATE DATABASE {name}")
        return cls(name)

    @property
    def url(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:5432/{self.name}"

    def query(self, sql: str) -> list:
        return admin_sql(sql, self.name)

    def drop(self) -> None:
        admin_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@dataclass
class Served:
    """`python -m emulator serve` in a process of its own; `kill()` is SIGKILL, `stop()` SIGTERM (then SIGKILL)."""

    proc: subprocess.Popen
    base: str
    log: Path

    @classmethod
    def start(cls, env_overrides: dict[str, str], *, drop: tuple[str, ...] = (), timeout: float = 120) -> "Served":
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("FIRESTORE_EMULATOR_HOST", "OM_CORS_ORIGINS", *drop)}
        env.update(PYTHONPATH=str(ROOT), **env_overrides)
        fd, log = tempfile.mkstemp(prefix="om-drill-", suffix=".log")
        with os.fdopen(fd, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port), "--no-scheduler"],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        served = cls(proc, f"http://127.0.0.1:{port}", Path(log))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("the platform exited:\n" + served.output())
            try:
                if requests.get(served.base + "/api/health/", timeout=2).status_code == 200:
                    return served
            except requests.RequestException:
                pass
            time.sleep(0.2)
        served.kill()
        raise AssertionError(f"the platform did not answer /api/health/ in {timeout:.0f} s:\n" + served.output())

    def output(self, tail: int | None = 6000) -> str:
        text = self.log.read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)

    def url(self, path: str) -> str:
        return self.base + path


def ok(r: requests.Response, status: int = 200) -> dict:
    assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text[:500]}"
    return r.json()


@dataclass
class Seeded:
    """One agency: its Owner, one chatter on 10 % commission, one model; 20 % OnlyFans fee."""

    owner: dict[str, str]
    chatter_id: str
    model_id: str
    prefix: str
    extra: dict = field(default_factory=dict)


def seed_agency(served: Served, prefix: str, *, effective_from: str = "2026-01-01") -> Seeded:
    s = requests.Session()
    owner = bearer(f"{prefix}-owner")
    ok(s.post(served.url("/api/agencies/"), json={"name": f"Drill {prefix}", "timezone": "UTC"}, headers=owner), 201)
    chatter = ok(s.post(served.url("/api/users/"), json={
        "email": f"{prefix}-c@example.com", "display_name": f"{prefix} chatter", "role": "chatter"},
        headers=owner), 201)
    ok(s.put(served.url(f"/api/users/{chatter['id']}/financial-settings/"), json={
        "compensation_type": "commission", "commission_rate": "10.00", "fixed_salary": "0.00",
        "manager_tick_rate": "0.00", "effective_from": effective_from}, headers=owner))
    model = ok(s.post(served.url("/api/models/"), json={"name": f"{prefix} model"}, headers=owner), 201)
    ok(s.put(served.url(f"/api/models/{model['id']}/assignments/"), json={"user_ids": [chatter["id"]]},
             headers=owner))
    ok(s.put(served.url("/api/platform-settings/"), json={"onlyfans_fee_percent": "20.00",
                                                           "effective_from": effective_from}, headers=owner))
    return Seeded(owner=owner, chatter_id=chatter["id"], model_id=model["id"], prefix=prefix)


def sale(seeded: Seeded, i: int) -> dict:
    """Sale i: a distinct amount on one of 28 days of October or November 2026 (two payout periods)."""
    month = 10 + i % 2
    return {"type": "message_sale", "gross_amount": f"{10 + i}.{i % 100:02d}",
            "sale_date": f"2026-{month:02d}-{1 + i % 28:02d}", "model_id": seeded.model_id,
            "chatter_id": seeded.chatter_id}


PERIODS = ("2026-10", "2026-11")


# --- the truth and what the events made of it ----------------------------------------------------------------------


def income_truth(db: Database) -> dict[str, tuple[int, str]]:
    """Per sale day: (sales committed, their net), straight from income_service.income_records."""
    rows = db.query("SELECT sale_date::text, count(*), sum(net_amount)::text FROM income_service.income_records "
                    "GROUP BY sale_date ORDER BY sale_date")
    return {d: (n, net) for d, n, net in rows}


def daily_stats(db: Database) -> dict[str, tuple[int, str]]:
    """Per day: what the event-driven aggregates (statistics_service.daily_model_stats) say."""
    rows = db.query("SELECT day::text, sum(sales_count)::int, sum(net)::text FROM statistics_service.daily_model_stats "
                    "GROUP BY day ORDER BY day")
    return {d: (n, net) for d, n, net in rows}


def in_flight(db: Database) -> int:
    """Committed sales whose income.registered is not yet handled everywhere: unpublished, or not claimed by the
    statistics or the payouts consumer (by its delivery or by an owner's round absorbing it). The aggregates
    alone cannot say it: a round that recomputes a day whole reads sales whose events it has not taken yet."""
    return db.query(
        "SELECT count(*) FROM eventing.outbox o WHERE o.type = 'income.registered' AND (o.published_at IS NULL"
        + "".join(f" OR NOT EXISTS (SELECT 1 FROM eventing.inbox i WHERE i.consumer = '{c}' "
                  "AND i.event_id = CAST(o.event_id AS text))"
                  for c in ("stats_on_income_registered", "payouts_on_income_registered")) + ")")[0][0]


def burst(served: Served, seeded: Seeded, n: int, acknowledged: list[int], *, stop_at: float, start: int = 0,
          step: int = 1, answers: list[requests.Response] | None = None) -> None:
    """POST sales start, start+step, … below n one after another until the platform stops answering;
    acknowledged gets each one answered 201, answers (when given) every answer."""
    s = requests.Session()
    for i in range(start, n, step):
        if time.monotonic() > stop_at:
            return
        try:
            r = s.post(served.url("/api/income/register/"), json=sale(seeded, i), headers=seeded.owner, timeout=10)
        except requests.RequestException:
            return  # killed
        if answers is not None:
            answers.append(r)
        if r.status_code == 201:
            acknowledged.append(i)


# --- a PostgreSQL of the drill's own, to stop and start -----------------------------------------------------------


# pgserver runs initdb and pg_ctl as its own user when we are root: subprocess then fork()s (vfork() cannot setuid), and
# in a pytest worker whose gRPC threads are busy (the Pub/Sub drills, the platform fixture) gRPC's atfork handlers
# crash that child (SIGSEGV/SIGABRT; reproduced: 19 of 300 such forks). So every pgserver call of the drill runs in a
# new interpreter that never imports gRPC; starting that one is a plain vfork+exec, which runs no atfork handler.
_PGSERVER = """
import sys
from pathlib import Path

action, base = sys.argv[1], Path(sys.argv[2])
if action == "create":
    from emulator.platform import embedded_database_url

    print(embedded_database_url(base, cleanup_mode=None))
else:
    import pgserver
    from pgserver._commands import pg_ctl

    server = pgserver.get_server(base / "pg", cleanup_mode=None)  # starts it when it is stopped
    if action == "stop":
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
"""


def _pgserver(action: str, base: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", _PGSERVER, action, str(base)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, f"pgserver {action} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@dataclass
class OwnPostgres:
    """An embedded PostgreSQL (PyPI pgserver) in a mkdtemp directory: never the shared server on :5432."""

    base: Path
    url: str

    @classmethod
    def start(cls) -> "OwnPostgres":
        # Not under pytest's basetemp: pgserver runs the server as its own user when we are root, and a new pytest
        # session chmods /tmp/pytest-of-<user> back to 0700.
        base = Path(tempfile.mkdtemp(prefix="om-drill-pg-"))
        base.chmod(0o755)
        return cls(base, _pgserver("create", base).strip().splitlines()[-1])

    def stop(self) -> None:
        """pg_ctl stop -m fast: every connection is cut, as in a failover or a restart for maintenance."""
        _pgserver("stop", self.base)

    def start_again(self) -> None:
        _pgserver("start", self.base)

    def query(self, sql: str) -> list:
        import pg8000.native

        from sqlalchemy.engine import make_url

        u = make_url(self.url)
        conn = pg8000.native.Connection("postgres", unix_sock=u.query["unix_sock"], database=u.database)
        try:
            return conn.run(sql) or []
        finally:
            conn.close()

    def drop(self) -> None:
        import shutil

        try:
            self.stop()
        except Exception:
            pass  # already stopped
        shutil.rmtree(self.base, ignore_errors=True)


def drill_database(prefix: str) -> "Database | OwnPostgres":
    """A database of the drill's own: on the server at 127.0.0.1:5432 when one answers (as tests/conftest.py
    chooses), else an embedded one."""

    return Database.create(prefix) if port_open("127.0.0.1", 5432) else OwnPostgres.start()


def drop_pubsub_project(project: str) -> None:
    """Delete the subscriptions and topics a drill's platform created on the shared Pub/Sub fake."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for sub in subscriber.list_subscriptions(request={"project": f"projects/{project}"}):
        subscriber.delete_subscription(request={"subscription": sub.name})
    for topic in publisher.list_topics(request={"project": f"projects/{project}"}):
        publisher.delete_topic(request={"topic": topic.name})
