"""The registry decorator's cost: the same insert behind the full pipeline (auth skipped) vs a bare WSGI function.

One connection (pool_size=1), the same process and database, interleaved rounds so drift hits both alike.
"""
from __future__ import annotations

import json
import os

from common import database, summary, timed

ROUNDS, PER_ROUND = 10, 200


def main() -> None:
    os.environ["DB_POOL_SIZE"], os.environ["DB_MAX_OVERFLOW"] = "1", "0"
    database()
    from flask import Flask, Response, request
    from pydantic import BaseModel
    from sqlalchemy import text

    from shared_lib.db import engine
    from shared_lib.registry import REGISTRY, Service

    with engine().begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS public.bench_insert (id bigserial PRIMARY KEY, note text)"))
        c.execute(text("TRUNCATE public.bench_insert"))

    class Note(BaseModel):
        note: str

    class Created(BaseModel):
        id: int
        note: str

    fn = Service("bench").http("bench_insert", "/api/bench/")

    @fn.post(request=Note, response=Created, auth="none")
    def insert_note(uow, body: Note):
        row = uow.execute("INSERT INTO public.bench_insert (note) VALUES (:n) RETURNING id", {"n": body.note}).one()
        return Created(id=row.id, note=body.note)

    registry_app = Flask("registry")
    registry_app.add_url_rule("/api/bench/", "r", lambda: REGISTRY["bench_insert"].entry_point(request),
                              methods=["POST"])

    bare_app = Flask("bare")

    def bare():
        payload = json.loads(request.get_data())
        with engine().begin() as conn:
            new_id = conn.execute(text("INSERT INTO public.bench_insert (note) VALUES (:n) RETURNING id"),
                                  {"n": payload["note"]}).scalar_one()
        return Response(json.dumps({"id": new_id, "note": payload["note"]}), status=201,
                        content_type="application/json")

    bare_app.add_url_rule("/api/bench/", "b", bare, methods=["POST"])
    clients = {"registry": registry_app.test_client(), "bare": bare_app.test_client()}
    body = json.dumps({"note": "hello"})

    def call(name):
        r = clients[name].post("/api/bench/", data=body, content_type="application/json")
        assert r.status_code == 201, r.get_data()

    for name in clients:  # warm up both
        timed(lambda: call(name), 50)
    samples = {"registry": [], "bare": []}
    for _ in range(ROUNDS):
        for name in clients:
            samples[name] += timed(lambda: call(name), PER_ROUND)
    s = {k: summary(v) for k, v in samples.items()}
    overhead = (s["registry"]["median_ms"] - s["bare"]["median_ms"]) / s["bare"]["median_ms"] * 100
    print(json.dumps({"bare_wsgi": s["bare"], "registry_pipeline": s["registry"],
                      "overhead_pct_median": round(overhead, 1), "budget_pct": 30}, indent=2))


if __name__ == "__main__":
    main()
