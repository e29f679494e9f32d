"""Users service SQL."""
from __future__ import annotations

import uuid

from shared_lib.db import UnitOfWork
from shared_lib.rbac import Identity


def insert_agency(uow: UnitOfWork, *, name: str, currency: str, timezone: str) -> uuid.UUID:
    return uow.execute(
        "INSERT INTO user_service.agencies (name, currency, timezone) VALUES (:n, :c, :tz) RETURNING id",
        {"n": name, "c": currency, "tz": timezone},
    ).scalar_one()


def insert_owner(uow: UnitOfWork, *, agency_id: uuid.UUID, identity: Identity) -> uuid.UUID | None:
    """The owner row, or None when this Firebase user already belongs to an agency (unique firebase_uid)."""
    return uow.execute(
        """
        INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role)
        VALUES (:a, :uid, :email, :name, 'owner')
        ON CONFLICT (firebase_uid) DO NOTHING
        RETURNING id
        """,
        {"a": agency_id, "uid": identity.uid, "email": identity.email, "name": identity.name},
    ).scalar_one_or_none()


def set_agency_owner(uow: UnitOfWork, *, agency_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    uow.execute("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a", {"o": owner_id, "a": agency_id})


def user_by_uid(uow: UnitOfWork, uid: str):
    return uow.execute(
        "SELECT id, agency_id, role, active, display_name, email FROM user_service.users WHERE firebase_uid = :uid",
        {"uid": uid},
    ).one_or_none()
