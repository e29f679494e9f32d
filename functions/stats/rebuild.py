"""Rebuild command: `python -m functions.stats.rebuild [--agency ID]... [--from YYYY-MM-DD] [--to YYYY-MM-DD]`."""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import date
from typing import Sequence


def rebuild(agency_ids: Sequence[uuid.UUID] | None = None, date_from: date | None = None,
            date_to: date | None = None) -> list[dict]:
    """Recompute the daily statistics of each agency (default: all) from the truth, one transaction per agency so
    no lock is held across agencies; returns what each wrote."""
    from shared_lib.db import unit_of_work

    from . import queries, service

    if agency_ids is None:
        with unit_of_work() as uow:
            agency_ids = queries.agency_ids(uow)
    results = []
    for agency_id in agency_ids:
        with unit_of_work() as uow:
            result = service.stats_rebuild(uow=uow, agency_id=agency_id, date_from=date_from, date_to=date_to)
        results.append({"agency_id": str(agency_id), **result.model_dump(mode="json")})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.stats.rebuild", description=__doc__)
    parser.add_argument("--agency", action="append", type=uuid.UUID, help="an agency id (repeatable; default all)")
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, help="first day (inclusive)")
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, help="last day (inclusive)")
    args = parser.parse_args(argv)
    if args.date_from and args.date_to and args.date_to < args.date_from:
        parser.error("--to must not be before --from")
    json.dump(rebuild(args.agency, args.date_from, args.date_to), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
