-- Second release pay inputs on the user financial settings (BUSINESS_RULES "Bonus bands", "Hourly pay"):
-- compensation_type adds 'hourly' and 'hourly_plus_commission' with an hourly_rate (per hour, 0.00 for every other
-- type, like fixed_salary for 'commission'), and any version may carry bonus_bands, [{"from_net": "5000.00",
-- "bonus": "150.00"}, ...] (2-place decimal strings, from_net strictly increasing: functions/users checks the
-- order and names the band at fault; the database keeps the shape). docs/users.md "Bonus bands and hourly pay".
ALTER TABLE user_service.user_financial_settings
    DROP CONSTRAINT user_financial_settings_compensation_type_check,
    ADD CONSTRAINT user_financial_settings_compensation_type_check CHECK (compensation_type IN (
        'commission', 'fixed', 'fixed_plus_commission', 'hourly', 'hourly_plus_commission')),
    ADD COLUMN hourly_rate numeric(14,2) NOT NULL DEFAULT 0
        CONSTRAINT user_financial_settings_hourly_rate_range CHECK (hourly_rate BETWEEN 0 AND 1000000),
    ADD COLUMN bonus_bands jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT user_financial_settings_bonus_bands_list CHECK (
            jsonb_typeof(bonus_bands) = 'array' AND jsonb_array_length(bonus_bands) <= 20),
    ADD CONSTRAINT user_financial_settings_hourly_rate_only_hourly CHECK (
        hourly_rate = 0 OR compensation_type IN ('hourly', 'hourly_plus_commission'));

-- The versions view (sql/0010) with the new columns, appended (CREATE OR REPLACE keeps the grants and the
-- columns before them). Payouts read hourly_rate per version and the bands of the version in effect on the
-- period's last day.
CREATE OR REPLACE VIEW user_service.user_financial_settings_versions AS
SELECT s.id AS version_id, s.agency_id, s.user_id, s.compensation_type, s.commission_rate, s.fixed_salary,
       s.manager_tick_rate, s.effective_from,
       (lead(s.effective_from) OVER (PARTITION BY s.user_id ORDER BY s.effective_from) - 1) AS effective_to,
       s.hourly_rate, s.bonus_bands
FROM user_service.user_financial_settings s;
