-- Versions of the earnings read model, taken under the period's calculation lock, so they follow commit order
-- and the newest projection wins in Firestore whatever order the after-commit writes finish in.
CREATE SEQUENCE financial_calculations.earnings_version;
