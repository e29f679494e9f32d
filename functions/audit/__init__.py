"""Audit service: the agency's audit trail, read-only (the database writes it: sql/0120_audit.sql)."""
