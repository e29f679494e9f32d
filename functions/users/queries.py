"""Users service SQL: set-based reads and writes, every one scoped to an agency."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared_lib.db import UnitOfWork
from shared_lib.rbac import Caller, Identity, Role, model_scope, user_scope

# --- agencies and owners ---------------------------------------------------------------------------------------


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


def get_agency(uow: UnitOfWork, agency_id: uuid.UUID, *, for_update: bool = False):
    return uow.execute(
        "SELECT id, name, currency, timezone, owner_user_id, created_at FROM user_service.agencies WHERE id = :a"
        + (" FOR UPDATE" if for_update else ""),
        {"a": agency_id},
    ).one_or_none()


def update_agency(uow: UnitOfWork, *, agency_id: uuid.UUID, changes: dict[str, Any]):
    # Column names come from AgencyPatch's fields, never from the client.
    sets = ", ".join(f"{col} = :{col}" for col in changes)
    return uow.execute(
        f"UPDATE user_service.agencies SET {sets} WHERE id = :a "
        "RETURNING id, name, currency, timezone, owner_user_id, created_at",
        {**changes, "a": agency_id},
    ).one()


# What ties an agency's books to its currency and its local dates: a record with an amount or a local date,
# a schedule that will make them, a shift (its local day decides period and pay), a closed period.
_RECORDED = (
    ("income records", "income_service.income_records", "TRUE"),
    ("recurring income schedules", "income_service.recurring_income_schedules", "TRUE"),
    ("expenses", "expense_service.expenses", "TRUE"),
    ("recurring expense schedules", "expense_service.recurring_expense_schedules", "TRUE"),
    ("shifts", "timetracking_service.shifts", "TRUE"),
    ("subscriber counts", "statistics_service.subscriber_count_snapshots", "TRUE"),
    ("closed periods", "financial_calculations.periods", "status = 'closed'"),
)


def agency_recorded(uow: UnitOfWork, agency_id: uuid.UUID) -> list[str]:
    """The kinds of records the agency already has (empty: nothing is booked yet), in _RECORDED's order."""
    sql = " UNION ALL ".join(
        f"SELECT {i} AS i WHERE EXISTS (SELECT 1 FROM {table} WHERE agency_id = :a AND {where})"
        for i, (_, table, where) in enumerate(_RECORDED))
    found = uow.execute(f"{sql} ORDER BY i", {"a": agency_id}).scalars().all()
    return [_RECORDED[i][0] for i in found]


def agency_settings_on(uow: UnitOfWork, agency_id: uuid.UUID, day: date):
    """The platform fee and the time-tracking rules in effect on `day`, through their owners' read API."""
    return uow.execute(
        """
        SELECT p.onlyfans_fee_percent, t.grace_minutes, t.late_event_threshold_minutes, t.max_shift_hours,
               t.fee_per_late_minute, t.fee_per_missed_shift
        FROM user_service.platform_settings_on(:a, :d) p, timetracking_service.settings_on(:a, :d) t
        """,
        {"a": agency_id, "d": day},
    ).one()


def user_by_uid(uow: UnitOfWork, uid: str):
    return uow.execute(
        "SELECT id, agency_id, role, active, display_name, email FROM user_service.users WHERE firebase_uid = :uid",
        {"uid": uid},
    ).one_or_none()


# --- users and teams -------------------------------------------------------------------------------------------

USER_COLUMNS = ", ".join(f"u.{c}" for c in (
    "id", "agency_id", "firebase_uid", "email", "display_name", "photo_url", "role", "manager_id", "active",
    "created_at", "updated_at"))


def lock_teams(uow: UnitOfWork, agency_id: uuid.UUID) -> None:
    """Serialize the agency's team-changing writes (roles, managers, activity): the team rules read the whole
    chain, which no row lock covers. Held to commit; only these writes take it, so it is never contended long."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('teams:' || CAST(:a AS text)))", {"a": agency_id})


def get_user(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID):
    return uow.execute(
        f"SELECT {USER_COLUMNS} FROM user_service.users u WHERE u.id = :id AND u.agency_id = :a",
        {"id": user_id, "a": agency_id},
    ).one_or_none()


def visible_user(uow: UnitOfWork, caller: Caller, user_id: uuid.UUID):
    """The user if the caller may see them (Owner: agency; Manager: self and team; Chatter: self), else None."""
    predicate, params = user_scope(caller, "u.id")
    return uow.execute(
        f"SELECT {USER_COLUMNS} FROM user_service.users u "
        f"WHERE u.id = :id AND u.agency_id = :_scope_agency AND {predicate}",
        {**params, "id": user_id},
    ).one_or_none()


def insert_user(uow: UnitOfWork, *, agency_id: uuid.UUID, firebase_uid: str, email: str, display_name: str,
                role: str, manager_id: uuid.UUID | None):
    """The new row, or None when the Firebase account is already a member of some agency."""
    return uow.execute(
        f"""
        INSERT INTO user_service.users AS u (agency_id, firebase_uid, email, display_name, role, manager_id)
        VALUES (:a, :uid, :email, :name, :role, :manager)
        ON CONFLICT (firebase_uid) DO NOTHING
        RETURNING {USER_COLUMNS}
        """,
        {"a": agency_id, "uid": firebase_uid, "email": email, "name": display_name, "role": role,
         "manager": manager_id},
    ).one_or_none()


_PATCHABLE = ("display_name", "role", "manager_id", "active", "email", "photo_url")


def update_user(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, Any]):
    """Apply `changes` (only columns in _PATCHABLE); returns the row after the update."""
    cols = [c for c in changes if c in _PATCHABLE]
    if len(cols) != len(changes):
        raise ValueError(f"not patchable: {sorted(set(changes) - set(cols))}")
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    return uow.execute(
        f"UPDATE user_service.users u SET {sets}, updated_at = now() WHERE u.id = :id AND u.agency_id = :a "
        f"RETURNING {USER_COLUMNS}",
        {**changes, "id": user_id, "a": agency_id},
    ).one()


def list_users(uow: UnitOfWork, caller: Caller, *, limit: int, after: tuple[datetime, uuid.UUID] | None,
               role: str | None, active: bool | None, manager_id: uuid.UUID | None) -> list:
    """Newest first, keyset-paged on (created_at, id): served by users_agency (agency_id, created_at DESC, id DESC)."""
    predicate, params = user_scope(caller, "u.id")
    where = ["u.agency_id = :_scope_agency", predicate]
    if role is not None:
        where.append("u.role = :role")
        params["role"] = role
    if active is not None:
        where.append("u.active = :active")
        params["active"] = active
    if manager_id is not None:
        where.append("u.manager_id = :manager_id")
        params["manager_id"] = manager_id
    if after is not None:
        where.append("(u.created_at, u.id) < (:after_at, :after_id)")
        params.update(after_at=after[0], after_id=after[1])
    return uow.execute(
        f"SELECT {USER_COLUMNS} FROM user_service.users u WHERE {' AND '.join(where)} "
        f"ORDER BY u.created_at DESC, u.id DESC LIMIT :limit",
        {**params, "limit": limit},
    ).all()


def manages_transitively(uow: UnitOfWork, *, user_id: uuid.UUID, candidate_manager_id: uuid.UUID) -> bool:
    """True when `user_id` is `candidate_manager_id` or above them in the management chain (a loop)."""
    return uow.execute(
        """
        WITH RECURSIVE chain(id, depth) AS (
            SELECT CAST(:m AS uuid), 0
            UNION ALL
            SELECT u.manager_id, c.depth + 1 FROM chain c JOIN user_service.users u ON u.id = c.id
            WHERE u.manager_id IS NOT NULL AND c.depth < 1000
        )
        SELECT EXISTS (SELECT 1 FROM chain WHERE id = :u)
        """,
        {"m": candidate_manager_id, "u": user_id},
    ).scalar_one()


def team_size(uow: UnitOfWork, *, manager_id: uuid.UUID) -> int:
    return uow.execute("SELECT count(*) FROM user_service.users WHERE manager_id = :m", {"m": manager_id}).scalar_one()


def other_active_owners(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID) -> int:
    return uow.execute(
        "SELECT count(*) FROM user_service.users WHERE agency_id = :a AND role = 'owner' AND active AND id <> :u",
        {"a": agency_id, "u": user_id},
    ).scalar_one()


def sync_profile(uow: UnitOfWork, *, firebase_uid: str, fields: dict[str, Any]):
    """Write the profile fields that differ (IS DISTINCT FROM: a no-op write touches nothing); the row or None."""
    if not fields:
        return None
    sets = ", ".join(f"{c} = :{c}" for c in fields)
    differs = " OR ".join(f"{c} IS DISTINCT FROM :{c}" for c in fields)
    return uow.execute(
        f"UPDATE user_service.users SET {sets}, updated_at = now() WHERE firebase_uid = :uid AND ({differs}) "
        f"RETURNING id",
        {**fields, "uid": firebase_uid},
    ).one_or_none()


# --- models and assignments ------------------------------------------------------------------------------------

MODEL_COLUMNS = "m.id, m.name, m.active, m.created_at, m.updated_at"


def _model_scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """Owner: every model of the agency. Manager: models assigned to them or their team. Chatter: their models."""
    return model_scope(caller, "m.id")


def insert_model(uow: UnitOfWork, *, agency_id: uuid.UUID, name: str):
    return uow.execute(
        f"INSERT INTO user_service.models AS m (agency_id, name) VALUES (:a, :n) RETURNING {MODEL_COLUMNS}",
        {"a": agency_id, "n": name},
    ).one()


def get_model(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID, for_update: bool = False):
    return uow.execute(
        f"SELECT {MODEL_COLUMNS} FROM user_service.models m WHERE m.id = :id AND m.agency_id = :a"
        + (" FOR UPDATE" if for_update else ""),
        {"id": model_id, "a": agency_id},
    ).one_or_none()


def visible_model(uow: UnitOfWork, caller: Caller, model_id: uuid.UUID):
    predicate, params = _model_scope(caller)
    return uow.execute(
        f"SELECT {MODEL_COLUMNS} FROM user_service.models m WHERE m.id = :id AND m.agency_id = :a AND {predicate}",
        {**params, "id": model_id, "a": caller.agency_id, "_scope_agency": caller.agency_id},
    ).one_or_none()


def update_model(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID, changes: dict[str, Any]):
    cols = [c for c in changes if c in ("name", "active")]
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    return uow.execute(
        f"UPDATE user_service.models m SET {sets}, updated_at = now() WHERE m.id = :id AND m.agency_id = :a "
        f"RETURNING {MODEL_COLUMNS}",
        {**{c: changes[c] for c in cols}, "id": model_id, "a": agency_id},
    ).one()


def list_models(uow: UnitOfWork, caller: Caller, *, limit: int, after: tuple[datetime, uuid.UUID] | None,
                active: bool | None, user_id: uuid.UUID | None) -> list:
    """Newest first, keyset-paged on (created_at, id): served by models_agency (agency_id, created_at DESC, id DESC)."""
    predicate, params = _model_scope(caller)
    where = ["m.agency_id = :a", predicate]
    params.update(a=caller.agency_id, _scope_agency=caller.agency_id)
    if active is not None:
        where.append("m.active = :active")
        params["active"] = active
    if user_id is not None:
        where.append("EXISTS (SELECT 1 FROM user_service.model_assignments f WHERE f.model_id = m.id "
                     "AND f.user_id = :f_user)")
        params["f_user"] = user_id
    if after is not None:
        where.append("(m.created_at, m.id) < (:after_at, :after_id)")
        params.update(after_at=after[0], after_id=after[1])
    return uow.execute(
        f"SELECT {MODEL_COLUMNS} FROM user_service.models m WHERE {' AND '.join(where)} "
        f"ORDER BY m.created_at DESC, m.id DESC LIMIT :limit",
        {**params, "limit": limit},
    ).all()


def assigned_user_ids(uow: UnitOfWork, caller: Caller, model_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each model, its assigned users that the caller may see (one query for a whole page)."""
    if not model_ids:
        return {}
    predicate, params = user_scope(caller, "ma.user_id")
    rows = uow.execute(
        f"SELECT ma.model_id, ma.user_id FROM user_service.model_assignments ma "
        f"WHERE ma.model_id = ANY(CAST(:ids AS uuid[])) AND ma.agency_id = :_scope_agency AND {predicate} "
        f"ORDER BY ma.model_id, ma.created_at, ma.user_id",
        {**params, "ids": [str(i) for i in model_ids]},
    ).all()
    out: dict[uuid.UUID, list[uuid.UUID]] = {m: [] for m in model_ids}
    for r in rows:
        out[r.model_id].append(r.user_id)
    return out


def users_by_ids(uow: UnitOfWork, *, agency_id: uuid.UUID, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    if not user_ids:
        return {}
    rows = uow.execute(
        "SELECT id, role, active FROM user_service.users WHERE agency_id = :a AND id = ANY(CAST(:ids AS uuid[]))",
        {"a": agency_id, "ids": [str(i) for i in user_ids]},
    ).all()
    return {r.id: r for r in rows}


def current_assignees(uow: UnitOfWork, *, model_id: uuid.UUID) -> set[uuid.UUID]:
    return set(uow.execute("SELECT user_id FROM user_service.model_assignments WHERE model_id = :m",
                           {"m": model_id}).scalars().all())


def replace_assignments(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID,
                        user_ids: list[uuid.UUID]) -> None:
    """Make the set exactly `user_ids`: two statements, whatever the sizes (the model row is locked first)."""
    ids = [str(i) for i in user_ids]
    uow.execute(
        "DELETE FROM user_service.model_assignments WHERE model_id = :m AND NOT (user_id = ANY(CAST(:ids AS uuid[])))",
        {"m": model_id, "ids": ids},
    )
    uow.execute(
        """
        INSERT INTO user_service.model_assignments (agency_id, model_id, user_id)
        SELECT :a, :m, u FROM unnest(CAST(:ids AS uuid[])) AS u
        ON CONFLICT (model_id, user_id) DO NOTHING
        """,
        {"a": agency_id, "m": model_id, "ids": ids},
    )


# --- effective-dated settings ----------------------------------------------------------------------------------
# One table per kind; the same shape of question for each. SETTINGS describes them so one set of functions
# serves all three (and the "version on date D" answer lives once, in the SQL functions of sql/0010).

SETTINGS: dict[str, dict[str, Any]] = {
    "user_financial": {
        "table": "user_service.user_financial_settings",
        "versions": "user_service.user_financial_settings_versions",
        "on": "user_service.user_financial_settings_on",
        "subject": "user_id",
        "values": ("compensation_type", "commission_rate", "fixed_salary", "manager_tick_rate", "hourly_rate",
                   "bonus_bands"),
        "json": ("bonus_bands",),
        # What a writer that predates them (a test fixture, a script) leaves out: no hourly pay, no bands.
        "defaults": {"hourly_rate": Decimal("0.00"), "bonus_bands": []},
    },
    "model": {
        "table": "user_service.model_settings",
        "versions": "user_service.model_settings_versions",
        "on": "user_service.model_settings_on",
        "subject": "model_id",
        "values": ("model_share_percent", "split_chatting_costs"),
    },
    "platform": {
        "table": "user_service.platform_settings",
        "versions": "user_service.platform_settings_versions",
        "on": "user_service.platform_settings_on",
        "subject": "agency_id",
        "values": ("onlyfans_fee_percent",),
    },
    "sales": {
        "table": "user_service.sales_settings",
        "versions": "user_service.sales_settings_versions",
        "on": "user_service.sales_settings_on",
        "subject": "agency_id",
        "values": ("commission_types", "attribution_rules", "verification", "chatter_edit_hours"),
        "json": ("attribution_rules",),
        "casts": {"commission_types": "text[]"},
    },
}


def settings_on(uow: UnitOfWork, *, kind: str, subject_id: uuid.UUID, day: date):
    """THE answer to "which version applies on date D" (user financial, model or platform settings).

    A row with the version's values and effective_from; model and platform settings fall back to their defaults
    (version_id and effective_from None) before their first version; user financial settings give None (no pay).
    Also None for an unknown model or agency. The SQL functions it calls are what other services use in SQL.
    """
    k = SETTINGS[kind]
    return uow.execute(f"SELECT * FROM {k['on']}(:s, :d)", {"s": subject_id, "d": day}).one_or_none()


def lock_settings(uow: UnitOfWork, *, kind: str, subject_id: uuid.UUID) -> None:
    """One writer per subject's settings at a time: the replaced values and effective_to stay exact."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('settings:' || :k || ':' || CAST(:s AS text)))",
                {"k": kind, "s": subject_id})


def save_version(uow: UnitOfWork, *, kind: str, agency_id: uuid.UUID, subject_id: uuid.UUID, effective_from: date,
                 values: dict[str, Any], by: uuid.UUID) -> tuple[Any, bool]:
    """Insert the version for effective_from, or replace the one saved for that date; record the change in
    settings_changes. Returns (the version with its effective_to, whether one was replaced)."""
    k = SETTINGS[kind]
    table, subject, cols = k["table"], k["subject"], k["values"]
    values = {**k.get("defaults", {}), **values}
    old = uow.execute(
        f"SELECT {', '.join(cols)} FROM {table} WHERE {subject} = :s AND effective_from = :f",
        {"s": subject_id, "f": effective_from},
    ).one_or_none()
    json_cols = k.get("json", ())
    casts = {**{c: "jsonb" for c in json_cols}, **k.get("casts", {})}
    params = {c: json.dumps(v, default=str) if c in json_cols else v for c, v in values.items()}
    agency_col = "" if subject == "agency_id" else "agency_id, "
    agency_val = "" if subject == "agency_id" else ":a, "
    version_id = uow.execute(
        f"""
        INSERT INTO {table} ({agency_col}{subject}, {', '.join(cols)}, effective_from, created_by, updated_by)
        VALUES ({agency_val}:s, {', '.join(f'CAST(:{c} AS {casts[c]})' if c in casts else ':' + c for c in cols)},
                :f, :by, :by)
        ON CONFLICT ({subject}, effective_from) DO UPDATE
           SET {', '.join(f'{c} = EXCLUDED.{c}' for c in cols)}, updated_at = now(), updated_by = EXCLUDED.updated_by
        RETURNING id
        """,
        {**params, "a": agency_id, "s": subject_id, "f": effective_from, "by": by},
    ).scalar_one()
    uow.execute(
        """
        INSERT INTO user_service.settings_changes (agency_id, kind, subject_id, effective_from, old_values,
                                                   new_values, changed_by)
        VALUES (:a, :k, :s, :f, CAST(:old AS jsonb), CAST(:new AS jsonb), :by)
        """,
        {"a": agency_id, "k": kind, "s": subject_id, "f": effective_from, "by": by,
         "old": None if old is None else json.dumps(dict(old._mapping), default=str),
         "new": json.dumps(values, default=str)},
    )
    return version(uow, kind=kind, version_id=version_id), old is not None


_VERSION_COLUMNS = {
    "user_financial": "v.version_id AS id, v.user_id, v.compensation_type, v.commission_rate, v.fixed_salary, "
                      "v.manager_tick_rate, v.hourly_rate, v.bonus_bands",
    "model": "v.version_id AS id, v.model_id, v.model_share_percent, v.split_chatting_costs",
    "platform": "v.version_id AS id, v.agency_id, v.onlyfans_fee_percent",
    "sales": "v.version_id AS id, v.agency_id, v.commission_types, v.attribution_rules, v.verification, "
             "v.chatter_edit_hours",
}


def _versions_select(kind: str) -> str:
    k = SETTINGS[kind]
    return (f"SELECT {_VERSION_COLUMNS[kind]}, v.effective_from, v.effective_to, t.created_at, t.updated_at "
            f"FROM {k['versions']} v JOIN {k['table']} t ON t.id = v.version_id")


def version(uow: UnitOfWork, *, kind: str, version_id: uuid.UUID):
    return uow.execute(f"{_versions_select(kind)} WHERE v.version_id = :id", {"id": version_id}).one()


def history(uow: UnitOfWork, *, kind: str, subject_id: uuid.UUID) -> list:
    """Every version of the subject, newest effective_from first, each with its effective_to."""
    subject = SETTINGS[kind]["subject"]
    return uow.execute(f"{_versions_select(kind)} WHERE v.{subject} = :s ORDER BY v.effective_from DESC",
                       {"s": subject_id}).all()


def next_effective_from(uow: UnitOfWork, *, kind: str, subject_id: uuid.UUID, after: date) -> date | None:
    k = SETTINGS[kind]
    return uow.execute(
        f"SELECT min(effective_from) FROM {k['table']} WHERE {k['subject']} = :s AND effective_from > :d",
        {"s": subject_id, "d": after},
    ).scalar_one()


# --- sender names (attribution `sender`, issue #16) ------------------------------------------------------------


def model_senders(uow: UnitOfWork, *, model_id: uuid.UUID) -> list:
    return uow.execute(
        "SELECT sender, chatter_id FROM user_service.model_senders WHERE model_id = :m ORDER BY lower(sender), sender",
        {"m": model_id}).all()


def assigned_chatters(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID,
                      user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of user_ids are chatters of the agency assigned to the model."""
    return set(uow.execute(
        """
        SELECT u.id FROM user_service.users u
        JOIN user_service.model_assignments ma ON ma.user_id = u.id AND ma.model_id = :m
        WHERE u.agency_id = :a AND u.role = 'chatter' AND u.id = ANY(CAST(:ids AS uuid[]))
        """, {"a": agency_id, "m": model_id, "ids": [str(u) for u in user_ids]}).scalars())


def replace_model_senders(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID,
                          senders: list[tuple[str, uuid.UUID]]) -> None:
    """The model's mapping becomes `senders` (names distinct ignoring case): names gone are deleted, the others
    inserted or updated in place (one audit entry per name that changed)."""
    params = {"a": agency_id, "m": model_id, "names": [s for s, _ in senders],
              "chatters": [str(c) for _, c in senders]}
    uow.execute(
        """
        DELETE FROM user_service.model_senders
        WHERE model_id = :m AND lower(sender) <> ALL(SELECT lower(n) FROM unnest(CAST(:names AS text[])) AS n)
        """, params)
    uow.execute(
        """
        INSERT INTO user_service.model_senders (agency_id, model_id, sender, chatter_id)
        SELECT :a, :m, n.sender, n.chatter_id
        FROM unnest(CAST(:names AS text[]), CAST(:chatters AS uuid[])) AS n(sender, chatter_id)
        ON CONFLICT (model_id, lower(sender)) DO UPDATE
           SET sender = EXCLUDED.sender, chatter_id = EXCLUDED.chatter_id, updated_at = now()
         WHERE (model_senders.sender, model_senders.chatter_id) IS DISTINCT FROM (EXCLUDED.sender, EXCLUDED.chatter_id)
        """, params)
