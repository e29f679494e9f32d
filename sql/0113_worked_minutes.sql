-- Worked minutes for the hourly pay line (BUSINESS_RULES "Hourly pay"): the read API time tracking gives the payouts
-- service next to deductions_for (sql/0060), with the same attribution: a shift counts in the period of its local
-- start date (the agency's time zone), and so on that date's settings version.

-- Per user and local shift-start date of the period (YYYY-MM): the worked minutes of the user's CLOSED entries
-- (an open entry has none yet and counts once it is closed: check-out, auto clock-out or a correction). One row
-- per user and day that has any, days with several shifts summed. Payouts attribute each day to the financial
-- settings version in effect on it (shift_day BETWEEN effective_from AND effective_to) and sum per version:
-- hourly line = minutes × hourly_rate / 60, rounded once per version (shared_lib/money.py).
CREATE FUNCTION timetracking_service.worked_minutes_for(p_agency uuid, p_period text)
RETURNS TABLE (user_id uuid, shift_day date, minutes integer)
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
    )
    SELECT s.user_id, (s.starts_at AT TIME ZONE b.tz)::date, sum(e.worked_minutes)::integer
    FROM bounds b
    JOIN timetracking_service.shifts s
      ON s.agency_id = p_agency AND s.starts_at >= b.lo AND s.starts_at < b.hi
    JOIN timetracking_service.time_entries e ON e.shift_id = s.id AND e.checked_out_at IS NOT NULL
    GROUP BY s.user_id, (s.starts_at AT TIME ZONE b.tz)::date
    ORDER BY 1, 2;
END
$$;

-- payouts: this function (it reads shifts and time_entries, granted in 0090) and the financial settings versions
-- view its join per version reads (sql/0010, with hourly_rate and bonus_bands since 0112).
GRANT EXECUTE ON FUNCTION timetracking_service.worked_minutes_for(uuid, text) TO om_payouts;
GRANT SELECT ON user_service.user_financial_settings_versions TO om_payouts;
