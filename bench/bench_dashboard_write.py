"""The dashboard's Firestore write at ~1,000 chatters (issue #13): before, one document listing every chatter in
afv.chatters; now the period's document without them plus the chatter documents whose figures changed (one after a
sale). Writes to the Firestore emulator (FIRESTORE_EMULATOR_HOST) through the writers' own code paths
(shared_lib.firestore.write_read_model, functions.stats.dashboard._write_chatters); no database is needed except
for a failed chunk (none here).

    CHATTERS=950 ROUNDS=10 .venv/bin/python bench/bench_dashboard_write.py
"""
from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import datetime, timezone

from functions.stats import dashboard
from shared_lib import firestore

CHATTERS = int(os.environ.get("CHATTERS", "950"))
ROUNDS = int(os.environ.get("ROUNDS", "10"))


def chatter(i: int, net: str) -> dict:
    return {"user_id": str(uuid.UUID(int=i + 1)), "display_name": f"Chatter {i:04d}", "net": net,
            "subscriber_count": 3000, "afv": "4.67"}


def main_doc(agency: uuid.UUID, version: int, chatters: list[dict] | None) -> dict:
    summary = {"gross_income": "22155.50", "platform_fees": "4351.10", "net_income": "17804.40",
               "expenses": "1500.00", "sales_count": 100000, "refunds_count": 0, "refunds_amount": "0.00"}
    models = [{"model_id": str(uuid.UUID(int=10_000 + m)), "name": f"Model {m}", "net": "7004.40",
               "subscriber_count": 1000, "afv": "7.00"} for m in range(50)]
    afv = {"models": models} if chatters is None else {"models": models, "chatters": chatters}
    return {"agency_id": str(agency), "period": "2026-11", "date_from": "2026-11-01", "date_to": "2026-11-30",
            "summary": summary, "top_earners": [], "afv": afv, "chatters_count": CHATTERS, "profit": None,
            "version": version, "updated_at": datetime.now(timezone.utc)}


def chatter_docs(agency: uuid.UUID, version: int, which: range, net: str):
    return [(("2026-11", str(uuid.UUID(int=i + 1))), dashboard.DashboardChatterDocument(
        agency_id=str(agency), period="2026-11", uid=f"uid-{i}", manager_uid=None, version=version,
        updated_at=datetime.now(timezone.utc), **chatter(i, net))) for i in which]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def report(name: str, ms: list[float]) -> None:
    q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
    print(f"| {name} | {statistics.median(ms):.1f} | {q[18]:.1f} |")


def main() -> None:
    assert firestore.enabled(), "set FIRESTORE_EMULATOR_HOST (. .local/services.env)"
    before_agency, after_agency = uuid.uuid4(), uuid.uuid4()
    path_before = f"agencies/{before_agency}/dashboards/2026-11"
    path_after = f"agencies/{after_agency}/dashboards/2026-11"
    before, after_sale, first = [], [], []
    version = 0
    for r in range(ROUNDS):
        version += 1
        net = f"{1000 + r}.00"
        everyone = [chatter(i, net if i == 0 else "500.00") for i in range(CHATTERS)]
        before.append(timed(lambda: firestore.write_read_model(path_before, main_doc(before_agency, version,
                                                                                     everyone))))
    version += 1
    first.append(timed(lambda: (firestore.write_read_model(path_after, main_doc(after_agency, version, None)),
                                dashboard._write_chatters(after_agency, version,
                                                          chatter_docs(after_agency, version, range(CHATTERS),
                                                                       "500.00"), []))))
    for r in range(ROUNDS):
        version += 1
        one = chatter_docs(after_agency, version, range(r % CHATTERS, r % CHATTERS + 1), f"{2000 + r}.00")
        after_sale.append(timed(lambda: (firestore.write_read_model(path_after, main_doc(after_agency, version,
                                                                                          None)),
                                         dashboard._write_chatters(after_agency, version, one, []))))
    print(f"{CHATTERS} chatters, {ROUNDS} rounds, Firestore emulator {os.environ['FIRESTORE_EMULATOR_HOST']}")
    print("| write | median ms | p95 ms |\n|---|---|---|")
    report(f"before: one document with {CHATTERS} chatters in afv.chatters", before)
    report(f"now, after a sale: the period's document + that chatter's document", after_sale)
    report(f"now, first write: the period's document + {CHATTERS} chatter documents (100 per transaction)", first)


if __name__ == "__main__":
    main()
