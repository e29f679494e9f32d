"""Platform sales import (issue #16; docs/income.md "Platform imports"): a model's platform transactions stored once,
matched to self-reported sales or recorded as new sales attributed by shift, reversals charged back once."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from shared_lib import clock
from shared_lib.contracts import (MAX_IMPORT_SLICES, ImportedSlice, IncomeImported, PlatformTransaction,
                                  ScraperTransactions)
from shared_lib.db import UnitOfWork
from shared_lib.errors import Forbidden, NotFound
from shared_lib.rbac import Caller, Role

from . import queries
from .schemas import MAX_LISTED, FeeMismatch, PlatformImport, PlatformImportResult


def income_import(*, uow: UnitOfWork, caller: Caller, cmd: PlatformImport, dry_run: bool) -> PlatformImportResult:
    """POST /api/income/imports/: an Owner, or a Manager for a model one of their team's chatters is assigned to."""
    facts = queries.import_model_facts(uow, caller.agency_id, cmd.model_id, manager_id=caller.user_id)
    if facts is None:
        raise NotFound("model not found", field="model_id")
    if caller.role is Role.manager and not facts.team_model:
        raise Forbidden("a Manager imports only for models of their team's chatters", field="model_id")
    return _import(uow, agency_id=caller.agency_id, model_id=cmd.model_id, tz=caller.agency_timezone,
                   user_id=caller.user_id, transactions=cmd.transactions, dry_run=dry_run)


def income_import_scraped(*, uow: UnitOfWork, message: ScraperTransactions) -> PlatformImportResult:
    """scraper.transactions: the same import, registered by nobody; an unknown model or agency is refused (the
    event edge dead-letters it). A redelivery is a re-import: it changes nothing."""
    facts = queries.import_model_facts(uow, message.agency_id, message.model_id)
    if facts is None:
        raise NotFound("model not found", field="model_id")
    return _import(uow, agency_id=message.agency_id, model_id=message.model_id, tz=facts.timezone, user_id=None,
                   transactions=message.transactions, dry_run=False)


def _import(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID, tz: str, user_id: uuid.UUID | None,
            transactions: Sequence[PlatformTransaction], dry_run: bool) -> PlatformImportResult:
    """Apply the transactions in a fixed number of set-based statements, after the (agency, model)'s import lock;
    a dry run makes the same statements inside a savepoint it rolls back, so its counts are exactly what the import
    would do and it writes nothing (no row, no audit entry, no event). What changed is one income.imported."""
    today = clock.today_in(tz)
    rows = json.dumps([t.model_dump(mode="json") for t in transactions])
    queries.import_lock_model(uow, agency_id, model_id)
    if dry_run:
        uow.execute("SAVEPOINT platform_import_dry_run")
    queries.import_classify(uow, agency_id, model_id, rows, tz=tz, today=today)
    queries.import_lock_periods(uow, agency_id)
    queries.import_decide(uow, agency_id, model_id)
    changed, reversed_ = queries.import_apply(uow, agency_id, model_id, user_id, today)
    counts, mismatches = queries.import_counts(uow, MAX_LISTED)
    if dry_run:
        uow.execute("ROLLBACK TO SAVEPOINT platform_import_dry_run")
    elif changed:
        import_id = uuid.uuid4()
        uow.emit("income.imported", agency_id=agency_id, subject=import_id,
                 data=imported_event(agency_id, model_id, import_id, changed))
    return PlatformImportResult(
        dry_run=dry_run, new=counts.new, matched=counts.matched, duplicate=counts.duplicate,
        conflict=counts.conflict, status_changed=counts.status_changed, reversed=reversed_,
        unattributed=counts.unattributed, fee_mismatch=mismatches[0].total if mismatches else 0,
        closed=counts.closed, conflicts=counts.conflicts,
        fee_mismatches=[FeeMismatch(transaction_id=m.transaction_id, platform_fee_amount=m.platform_fee_amount,
                                    fee_amount=m.fee_amount) for m in mismatches])


def imported_event(agency_id: uuid.UUID, model_id: uuid.UUID, import_id: uuid.UUID,
                   changed: dict[tuple, list[int]]) -> IncomeImported:
    """The import's one event: its slices (sale date, type, chatter) with what was created and matched there; past
    MAX_IMPORT_SLICES, the days whole and the chatters instead (a bounded message whatever the import)."""
    created, matched = sum(c for c, _ in changed.values()), sum(m for _, m in changed.values())
    keys = sorted(changed, key=lambda k: (k[0], k[1], str(k[2] or "")))
    if len(keys) <= MAX_IMPORT_SLICES:
        slices = [ImportedSlice(sale_date=d, type=t, chatter_id=c, created=changed[(d, t, c)][0],
                                matched=changed[(d, t, c)][1]) for d, t, c in keys]
        return IncomeImported(agency_id=agency_id, model_id=model_id, import_id=import_id, created=created,
                              matched=matched, slices=slices)
    return IncomeImported(agency_id=agency_id, model_id=model_id, import_id=import_id, created=created,
                          matched=matched, slices=[], whole_days=sorted({d for d, _, _ in keys}),
                          chatter_ids=sorted({c for _, _, c in keys if c is not None}, key=str))
