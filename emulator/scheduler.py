"""A local stand-in for Cloud Scheduler: fires each registry job at its cron minute in its time zone."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from shared_lib import registry

log = logging.getLogger(__name__)


def _field_matches(expr: str, value: int) -> bool:
    if expr == "*":
        return True
    if expr.startswith("*/"):
        return value % int(expr[2:]) == 0
    return value in {int(p) for p in expr.split(",")}


def due(cron: str, when: datetime) -> bool:
    """Whether a five-field cron (minute hour day month weekday; numbers, lists, * and */n) fires at `when`."""
    minute, hour, dom, month, dow = cron.split()
    return (_field_matches(minute, when.minute) and _field_matches(hour, when.hour)
            and _field_matches(dom, when.day) and _field_matches(month, when.month)
            and _field_matches(dow, when.isoweekday() % 7))


class SchedulerLoop:
    def __init__(self, platform, tick_seconds: float = 20.0):
        self.platform = platform
        self.tick = tick_seconds
        self._stop = threading.Event()
        self._fired: set[tuple[str, str]] = set()

    def start(self) -> "SchedulerLoop":
        threading.Thread(target=self._run, name="scheduler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            now = datetime.now(timezone.utc)
            for job in list(registry.JOBS.values()):
                local = now.astimezone(ZoneInfo(job.time_zone))
                key = (job.name, local.strftime("%Y-%m-%dT%H:%M"))
                if key not in self._fired and due(job.schedule, local):
                    self._fired.add(key)
                    log.info("scheduler: firing %s", job.name)
                    try:
                        self.platform.run_job(job.name, None)
                    except Exception:
                        log.exception("scheduler: %s failed", job.name)
