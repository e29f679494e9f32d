-- Statistics of refunds and chargebacks (issue #15, docs/stats.md "Refunds"): they are slices of their own type
-- (day, model, type[, chatter]), whose sums are negative. The sign rules become per type; sales and other income
-- keep theirs.
ALTER TABLE statistics_service.daily_model_stats
    DROP CONSTRAINT daily_model_stats_type_check,
    DROP CONSTRAINT daily_model_stats_gross_check,
    DROP CONSTRAINT daily_model_stats_fees_check,
    DROP CONSTRAINT daily_model_stats_net_check;
ALTER TABLE statistics_service.daily_model_stats
    ADD CONSTRAINT daily_model_stats_type_check
        CHECK (type IN ('message_sale', 'tip_sale', 'other_income', 'refund', 'chargeback')),
    ADD CONSTRAINT daily_model_stats_amounts_by_type CHECK (
        CASE WHEN type IN ('refund', 'chargeback') THEN gross < 0 AND fees <= 0 AND net <= 0
             ELSE gross > 0 AND fees >= 0 AND net >= 0 END);

ALTER TABLE statistics_service.daily_chatter_stats
    DROP CONSTRAINT daily_chatter_stats_type_check,
    DROP CONSTRAINT daily_chatter_stats_gross_check,
    DROP CONSTRAINT daily_chatter_stats_fees_check,
    DROP CONSTRAINT daily_chatter_stats_net_check;
ALTER TABLE statistics_service.daily_chatter_stats
    ADD CONSTRAINT daily_chatter_stats_type_check
        CHECK (type IN ('message_sale', 'tip_sale', 'refund', 'chargeback')),
    ADD CONSTRAINT daily_chatter_stats_amounts_by_type CHECK (
        CASE WHEN type IN ('refund', 'chargeback') THEN gross < 0 AND fees <= 0 AND net <= 0
             ELSE gross > 0 AND fees >= 0 AND net >= 0 END);

ALTER TABLE statistics_service.pending_slices
    DROP CONSTRAINT pending_slices_type_check;
ALTER TABLE statistics_service.pending_slices
    ADD CONSTRAINT pending_slices_type_check
        CHECK (type IN ('message_sale', 'tip_sale', 'other_income', 'refund', 'chargeback'));
