-- Amount ceilings in the database too (shared_lib/record_fields.MAX_AMOUNT, docs/DESIGN.md "Input bounds"): a
-- fixed salary or a time-tracking fee above 1,000,000.00 overflowed the period's NUMERIC(14,2) totals, so the
-- period could never be recalculated. The API refuses them with 400; these stop any other writer.
-- NOT VALID: rows written before are not re-checked here (a refused migration would stop every deploy); find
-- them with the SELECTs below, correct them, then ALTER TABLE ... VALIDATE CONSTRAINT ....
--   SELECT * FROM user_service.user_financial_settings WHERE fixed_salary > 1000000;
--   SELECT * FROM timetracking_service.settings WHERE fee_per_late_minute > 1000000 OR fee_per_missed_shift > 1000000;
ALTER TABLE user_service.user_financial_settings
    ADD CONSTRAINT user_financial_settings_fixed_salary_max CHECK (fixed_salary <= 1000000) NOT VALID;
ALTER TABLE timetracking_service.settings
    ADD CONSTRAINT settings_fees_max CHECK (fee_per_late_minute <= 1000000 AND fee_per_missed_shift <= 1000000)
    NOT VALID;
