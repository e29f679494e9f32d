"""Firebase Auth as the users service sees it: create or link a sign-in account, mirror {agency_id, role} into
custom claims (what firestore.rules reads). The Auth emulator stands in whenever FIREBASE_AUTH_EMULATOR_HOST is set.

Cloud SQL is the truth about membership; claims are a mirror, written after commit from a fresh read of the
row (sync_claims), so a rolled-back change never grants anything and concurrent changes converge.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from shared_lib.errors import ApiError, Invalid

log = logging.getLogger(__name__)


class DirectoryUnavailable(ApiError):
    status, slug, title = 503, "identity-provider-unavailable", "Sign-in service unavailable"


@dataclass(frozen=True)
class Account:
    uid: str
    email: str | None


def _auth():
    from firebase_admin import auth

    from shared_lib.auth import firebase_app

    return auth, firebase_app()


def create_or_link(*, email: str, display_name: str, firebase_uid: str | None) -> Account:
    """The Firebase Auth account for a new member: the given uid (must exist), else the account with this
    email (created when there is none)."""
    from firebase_admin import exceptions

    auth, app = _auth()
    field = "firebase_uid" if firebase_uid is not None else "email"
    try:
        if firebase_uid is not None:
            try:
                rec = auth.get_user(firebase_uid, app=app)
            except auth.UserNotFoundError:
                raise Invalid("no Firebase Auth user has this uid", field="firebase_uid") from None
            if rec.email and rec.email.lower() != email.lower():  # a typo'd uid must not link a stranger
                raise Invalid("does not match the email of that Firebase Auth account", field="email")
            return Account(uid=rec.uid, email=rec.email)
        try:
            rec = auth.create_user(email=email, display_name=display_name, app=app)
        except auth.EmailAlreadyExistsError:
            rec = auth.get_user_by_email(email, app=app)  # they signed up already: link that account
        return Account(uid=rec.uid, email=rec.email)
    except (ValueError, exceptions.InvalidArgumentError) as exc:  # firebase-admin's own argument checks
        raise Invalid(f"Firebase Auth refused it: {exc}", field=field) from None
    except exceptions.FirebaseError as exc:
        log.warning("Firebase Auth call failed (%s): %s", type(exc).__name__, exc)
        raise DirectoryUnavailable("Firebase Auth did not answer; nothing was created, try again") from None


def expected_claims(row) -> dict[str, str] | None:
    """The claims a user row grants: {agency_id, role} while active, none once deactivated (or no row)."""
    if row is None or not row.active:
        return None
    return {"agency_id": str(row.agency_id), "role": row.role}


def claims_differ(token_claims: dict | None, row) -> bool:
    want = expected_claims(row) or {}
    have = {k: (token_claims or {}).get(k) for k in ("agency_id", "role")}
    return {k: want.get(k) for k in ("agency_id", "role")} != have


def sync_claims(firebase_uid: str, *, revoke: bool = False) -> bool:
    """Set the account's custom claims from the committed row (read now, in its own short transaction).

    Runs after commit: a failure is logged and leaves the claims stale (fail closed: a missing claim grants
    nothing); GET /api/me/ repairs it on the user's next visit. revoke=True also ends their sessions.
    """
    from firebase_admin import exceptions

    from shared_lib.db import unit_of_work

    from . import queries

    with unit_of_work() as uow:
        row = queries.user_by_uid(uow, firebase_uid)
    claims = expected_claims(row)
    auth, app = _auth()
    try:
        # A token minted before a change keeps its old claims until refreshed, so /api/me/ may ask again for
        # what is already set: read first, write only a real difference.
        if (auth.get_user(firebase_uid, app=app).custom_claims or None) != claims:
            auth.set_custom_user_claims(firebase_uid, claims, app=app)
        if revoke:
            auth.revoke_refresh_tokens(firebase_uid, app=app)
    except (exceptions.FirebaseError, ValueError) as exc:
        log.warning("custom claims of %s not updated (%s): %s", firebase_uid, type(exc).__name__, exc)
        return False
    return True


def sync_claims_after_commit(uow, firebase_uid: str | None, *, revoke: bool = False) -> None:
    if firebase_uid:
        uow.after_commit(lambda: sync_claims(firebase_uid, revoke=revoke))
