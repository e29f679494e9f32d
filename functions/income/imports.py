"""Platform sales import (issue #16; docs/income.md "Platform imports"): a model's platform transactions stored once,
matched to self-reported sales or recorded as new sales attributed by shift, reversals charged back once."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from shared_lib import clock
from shared_lib.contracts import IncomeRegistered, PlatformTransaction, ScraperTransactions
from shared_lib.db import UnitOfWork
from shared_lib.errors import Forbidden, NotFound
from shared_lib.rbac import Caller, Role

from . import queries
from .schemas import MAX_LISTED, FeeMismatch, PlatformImport, PlatformImportResult
from .service import event_data


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
    """Apply the transactions in a fixed number of set-based statements; a dry run makes the same statements inside
    a savepoint it rolls back, so its counts are exactly what the import would do and it writes nothing (no row, no
    audit entry, no event). New records and chargebacks are income.registered (reason `imported`), one batch."""
    today = clock.today_in(tz)
    rows = json.dumps([t.model_dump(mode="json") for t in transactions])
    if dry_run:
        uow.execute("SAVEPOINT platform_import_dry_run")
    queries.import_classify(uow, agency_id, model_id, rows, tz=tz, today=today)
    queries.import_lock_periods(uow, agency_id)
    queries.import_decide(uow, agency_id, model_id)
    created, chargebacks = queries.import_apply(uow, agency_id, model_id, user_id, today)
    counts, mismatches = queries.import_counts(uow, MAX_LISTED)
    if dry_run:
        uow.execute("ROLLBACK TO SAVEPOINT platform_import_dry_run")
    else:
        uow.emit_many("income.registered", [
            (r.agency_id, r.id, event_data(IncomeRegistered, r, reason="imported", old=None, new=r))
            for r in created + chargebacks])
    return PlatformImportResult(
        dry_run=dry_run, new=counts.new, matched=counts.matched, duplicate=counts.duplicate,
        conflict=counts.conflict, status_changed=counts.status_changed, reversed=len(chargebacks),
        unattributed=counts.unattributed, fee_mismatch=mismatches[0].total if mismatches else 0,
        closed=counts.closed, conflicts=counts.conflicts,
        fee_mismatches=[FeeMismatch(transaction_id=m.transaction_id, platform_fee_amount=m.platform_fee_amount,
                                    fee_amount=m.fee_amount) for m in mismatches])
