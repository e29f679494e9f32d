"""The platform's Cloud Scheduler jobs (each publishes {"as_of": null} to its topic; handlers declare svc.scheduled(JOB))."""
from .registry import Job

RECURRING_GENERATE = Job(
    name="recurring-generate", topic="recurring.generate", schedule="10 0 * * *", time_zone="UTC",
    description="Create every recurring income/expense occurrence due up to as_of (each agency's local date)",
)
OUTBOX_RELAY = Job(
    name="outbox-relay", topic="outbox.relay", schedule="* * * * *", time_zone="UTC",
    description="Republish outbox events whose publish after commit did not happen",
)
TIMETRACKING_SWEEP = Job(
    name="timetracking-sweep", topic="timetracking.sweep", schedule="*/5 * * * *", time_zone="UTC",
    description="Mark missed shifts and check-outs, auto clock-out, publish employee.time.event",
)
RETENTION_PRUNE = Job(
    name="retention-prune", topic="retention.prune", schedule="40 3 * * *", time_zone="UTC",
    description="Delete published outbox rows, inbox rows and idempotency keys past their retention windows",
)
