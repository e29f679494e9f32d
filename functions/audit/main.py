"""Audit service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.rbac import OWNER
from shared_lib.registry import Service

from . import service
from .schemas import AuditPage, AuditQuery

svc = Service("audit")

entries = svc.http("audit", "/api/audit/")


@entries.get(query=AuditQuery, response=AuditPage, roles=OWNER)
def list_audit_entries(uow, caller, query):
    """The agency's audit trail, newest first: one entry per create, change or delete of an audited entity."""
    return service.audit_list(uow=uow, caller=caller, q=query)
