-- Statistics of platform sales (issue #16, docs/income.md "Platform imports"): subscription, post, stream and
-- referral sales are (day, model, type) slices of the model aggregate like every sale; they are never a chatter's
-- slice (the chatter aggregate reads chatting sales and their refunds only), so daily_chatter_stats is unchanged.
ALTER TABLE statistics_service.daily_model_stats DROP CONSTRAINT daily_model_stats_type_check;
ALTER TABLE statistics_service.daily_model_stats
    ADD CONSTRAINT daily_model_stats_type_check CHECK (type IN (
        'message_sale', 'tip_sale', 'subscription_sale', 'post_sale', 'stream_sale', 'referral_sale',
        'other_income', 'refund', 'chargeback'));

ALTER TABLE statistics_service.pending_slices DROP CONSTRAINT pending_slices_type_check;
ALTER TABLE statistics_service.pending_slices
    ADD CONSTRAINT pending_slices_type_check CHECK (type IN (
        'message_sale', 'tip_sale', 'subscription_sale', 'post_sale', 'stream_sale', 'referral_sale',
        'other_income', 'refund', 'chargeback'));
