-- Fan statistics (issue #16, docs/stats.md "Fans"): the statistics service reads the platform's transactions
-- (fan_id, fan_username) of the records it counts, joined through income_id (unique, so indexed). The records of
-- a range are found through income_records' (agency_id, sale_date) index; measured in docs/stats.md.
GRANT SELECT ON income_service.platform_transactions TO om_stats;
