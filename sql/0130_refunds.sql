-- Refunds and chargebacks (issue #15, BUSINESS_RULES "Refunds and chargebacks", docs/income.md "Refunds"): an
-- income record of type refund / chargeback, dated its refund date, linked to the chatting sale it gives back
-- (refund_of), with the sale's model, chatter and manager snapshot and NEGATIVE amounts. The sign rules are per
-- type; what was true of every other record stays exactly as it was.
ALTER TABLE income_service.income_records
    ADD COLUMN refund_of uuid REFERENCES income_service.income_records (id);

ALTER TABLE income_service.income_records
    DROP CONSTRAINT income_records_type_check,
    DROP CONSTRAINT income_records_gross_amount_check,
    DROP CONSTRAINT income_records_fee_amount_check,
    DROP CONSTRAINT income_records_net_amount_check;

ALTER TABLE income_service.income_records
    ADD CONSTRAINT income_records_type_check
        CHECK (type IN ('message_sale', 'tip_sale', 'other_income', 'refund', 'chargeback')),
    -- Sales and other income: as before (0020). Refunds: gross in [-1,000,000.00, 0), fee ≤ 0 (net = gross − fee
    -- is income_records_check, unchanged), and always the sale they give back.
    ADD CONSTRAINT income_records_amounts_by_type CHECK (
        CASE WHEN type IN ('refund', 'chargeback')
             THEN gross_amount < 0 AND gross_amount >= -1000000 AND fee_amount <= 0 AND net_amount <= 0
                  AND refund_of IS NOT NULL
             ELSE gross_amount > 0 AND gross_amount <= 1000000 AND fee_amount >= 0 AND net_amount >= 0
                  AND refund_of IS NULL
        END);

-- A sale's refunds (the sum checked on every refund, "has refunds" on change and delete, payouts' pricing date).
CREATE INDEX income_records_refund_of
    ON income_service.income_records (refund_of) WHERE refund_of IS NOT NULL;
