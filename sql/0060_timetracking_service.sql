-- Time tracking service: effective-dated agency settings, planned shifts, time entries (one per shift),
-- the Firestore time-event log, and the read API the payouts service uses (settings_on, deductions_for).
-- Local dates are the shift's start in the agency's time zone (user_service.agencies.timezone).

-- Settings versions: the version in effect on local date D is the greatest effective_from <= D; saving the
-- same effective_from again replaces it (the users service's rule for every versioned setting).
CREATE TABLE timetracking_service.settings (
    agency_id                    uuid          NOT NULL REFERENCES user_service.agencies (id),
    effective_from               date          NOT NULL,
    grace_minutes                integer       NOT NULL CHECK (grace_minutes BETWEEN 0 AND 120),
    late_event_threshold_minutes integer       NOT NULL CHECK (late_event_threshold_minutes BETWEEN 0 AND 1440),
    max_shift_hours              integer       NOT NULL CHECK (max_shift_hours BETWEEN 1 AND 48),
    fee_per_late_minute          numeric(14,2) NOT NULL CHECK (fee_per_late_minute >= 0),
    fee_per_missed_shift         numeric(14,2) NOT NULL CHECK (fee_per_missed_shift >= 0),
    updated_by                   uuid,
    updated_at                   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, effective_from)
);

-- One row for an existing agency: the version in effect on p_day, else the defaults (effective_from NULL):
-- grace 5 min, lateness event above 15 min, auto clock-out after 12 h, no fees.
CREATE FUNCTION timetracking_service.settings_on(p_agency uuid, p_day date)
RETURNS TABLE (agency_id uuid, effective_from date, grace_minutes integer, late_event_threshold_minutes integer,
               max_shift_hours integer, fee_per_late_minute numeric, fee_per_missed_shift numeric)
LANGUAGE sql STABLE AS $$
    SELECT a.id, v.effective_from, coalesce(v.grace_minutes, 5), coalesce(v.late_event_threshold_minutes, 15),
           coalesce(v.max_shift_hours, 12), coalesce(v.fee_per_late_minute, 0.00),
           coalesce(v.fee_per_missed_shift, 0.00)
    FROM user_service.agencies a
    LEFT JOIN LATERAL (
        SELECT s.effective_from, s.grace_minutes, s.late_event_threshold_minutes, s.max_shift_hours,
               s.fee_per_late_minute, s.fee_per_missed_shift
        FROM timetracking_service.settings s
        WHERE s.agency_id = a.id AND s.effective_from <= p_day
        ORDER BY s.effective_from DESC
        LIMIT 1
    ) v ON true
    WHERE a.id = p_agency
$$;

-- Planned shifts. status: planned → attended (a check-in was recorded) or missed (ended with none; the sweep).
-- Overlaps for one user are refused by functions/timetracking under a per-user advisory lock: an exclusion
-- constraint needs btree_gist, which the embedded PostgreSQL (pgserver) does not ship.
CREATE TABLE timetracking_service.shifts (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    status     text        NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'attended', 'missed')),
    missed_at  timestamptz,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shifts_ends_after_start CHECK (ends_at > starts_at),
    CONSTRAINT shifts_at_most_24_hours CHECK (ends_at - starts_at <= interval '24 hours'),
    CONSTRAINT shifts_missed_at_iff_missed CHECK ((status = 'missed') = (missed_at IS NOT NULL)),
    FOREIGN KEY (agency_id, user_id) REFERENCES user_service.users (agency_id, id),
    -- Lets an entry prove it belongs to this shift, its user and its agency.
    UNIQUE (agency_id, user_id, id)
);
-- Lists (agency-wide or per user, newest first), the overlap check and the check-in lookup.
CREATE INDEX shifts_agency ON timetracking_service.shifts (agency_id, starts_at DESC, id DESC);
CREATE INDEX shifts_user ON timetracking_service.shifts (user_id, starts_at DESC, id DESC);
-- The sweep looks only at shifts nobody checked in to yet.
CREATE INDEX shifts_planned_by_end ON timetracking_service.shifts (ends_at) WHERE status = 'planned';

-- One entry per shift. Minutes are whole minutes computed by functions/timetracking/rules.py when the
-- entry is recorded, closed or corrected; overtime and worked minutes exist once it is closed.
CREATE TABLE timetracking_service.time_entries (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id        uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    shift_id         uuid        NOT NULL UNIQUE,
    checked_in_at    timestamptz NOT NULL,
    checked_out_at   timestamptz,
    late_minutes     integer     NOT NULL DEFAULT 0 CHECK (late_minutes >= 0),
    overtime_minutes integer     CHECK (overtime_minutes >= 0),
    worked_minutes   integer     CHECK (worked_minutes >= 0),
    missed_check_out boolean     NOT NULL DEFAULT false,
    auto_closed      boolean     NOT NULL DEFAULT false,
    source           text        NOT NULL CHECK (source IN ('http', 'firestore')),
    recorded_by      uuid,
    corrected_by     uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT time_entries_out_after_in CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
    CONSTRAINT time_entries_minutes_iff_closed CHECK (
        (checked_out_at IS NULL) = (worked_minutes IS NULL) AND (checked_out_at IS NULL) = (overtime_minutes IS NULL)),
    FOREIGN KEY (agency_id, user_id, shift_id) REFERENCES timetracking_service.shifts (agency_id, user_id, id)
);
-- "A second check-in while one is open" cannot happen, whatever the race.
CREATE UNIQUE INDEX time_entries_one_open_per_user ON timetracking_service.time_entries (user_id)
    WHERE checked_out_at IS NULL;
CREATE INDEX time_entries_agency ON timetracking_service.time_entries (agency_id, checked_in_at DESC, id DESC);
CREATE INDEX time_entries_user ON timetracking_service.time_entries (user_id, checked_in_at DESC, id DESC);

-- Check-ins/outs created by the chatter app as agencies/{agency_id}/time_events/{event_id}; the key makes a
-- redelivered document a no-op. Documents arrive in any order, so one that cannot apply yet stays pending
-- and is retried (in `at` order) when the user's next document arrives; the sweep rejects it after 24 h.
CREATE TABLE timetracking_service.time_events (
    agency_id   uuid        NOT NULL,
    event_id    text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 1500),
    user_id     uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('check_in', 'check_out')),
    at          timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    entry_id    uuid        REFERENCES timetracking_service.time_entries (id),
    last_error  text,
    received_at timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    PRIMARY KEY (agency_id, event_id),
    FOREIGN KEY (agency_id, user_id) REFERENCES user_service.users (agency_id, id)
);
CREATE INDEX time_events_pending ON timetracking_service.time_events (user_id, at) WHERE status = 'pending';
CREATE INDEX time_events_pending_age ON timetracking_service.time_events (received_at) WHERE status = 'pending';


-- === Read API for the payouts service ===

-- The deduction lines of an agency's period (YYYY-MM): per user, kind and rate, quantity × rate rounded
-- half up to cents once per line, negative. A shift counts in the period of its local start date and at
-- the fees of the settings version in effect on that date; kinds with a zero fee give no line.
-- kind 'late_minutes': quantity = the late minutes of the user's entries; 'missed_shift': missed shifts.
CREATE FUNCTION timetracking_service.deductions_for(p_agency uuid, p_period text)
RETURNS TABLE (user_id uuid, kind text, quantity integer, rate numeric(14,2), amount numeric(14,2))
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    IF p_period IS NULL OR p_period !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'period must look like 2026-11, got %', p_period USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH bounds AS (
        SELECT a.timezone AS tz,
               (m.first_day::timestamp AT TIME ZONE a.timezone) AS lo,
               ((m.first_day + interval '1 month')::timestamp AT TIME ZONE a.timezone) AS hi
        FROM user_service.agencies a
        CROSS JOIN (SELECT to_date(p_period || '-01', 'YYYY-MM-DD') AS first_day) m
        WHERE a.id = p_agency
    ), shifts_in AS (
        SELECT s.id, s.user_id, s.status, (s.starts_at AT TIME ZONE b.tz)::date AS local_date
        FROM bounds b
        JOIN timetracking_service.shifts s
          ON s.agency_id = p_agency AND s.starts_at >= b.lo AND s.starts_at < b.hi
    ), items AS (
        SELECT si.user_id, 'late_minutes'::text AS kind, e.late_minutes AS qty, st.fee_per_late_minute AS fee
        FROM shifts_in si
        JOIN timetracking_service.time_entries e ON e.shift_id = si.id
        CROSS JOIN LATERAL timetracking_service.settings_on(p_agency, si.local_date) st
        WHERE e.late_minutes > 0
        UNION ALL
        SELECT si.user_id, 'missed_shift'::text, 1, st.fee_per_missed_shift
        FROM shifts_in si
        CROSS JOIN LATERAL timetracking_service.settings_on(p_agency, si.local_date) st
        WHERE si.status = 'missed'
    )
    SELECT i.user_id, i.kind, sum(i.qty)::integer, i.fee::numeric(14,2),
           (-round(sum(i.qty) * i.fee, 2))::numeric(14,2)
    FROM items i
    WHERE i.fee > 0
    GROUP BY i.user_id, i.kind, i.fee
    ORDER BY i.user_id, i.kind, i.fee;
END
$$;
