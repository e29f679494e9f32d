-- A catch-up owner absorbs a burst (issue #13, shared_lib/catchup.py Absorber, docs/DESIGN.md "Events"): each
-- round of the payouts or statistics owner reads the income events committed to the outbox after the one it was
-- delivered (by outbox id, its agency's, the types it consumes), skips those its inbox already holds, and claims
-- the rest in its inbox in the round's transaction, so their deliveries find them handled. The two roles read
-- only these columns of the outbox, and of the inbox what the NOT EXISTS needs; the claim is the INSERT … ON
-- CONFLICT DO NOTHING every consumer already has.
GRANT SELECT (id, event_id, type, agency_id, payload) ON eventing.outbox TO om_payouts, om_stats;
GRANT SELECT (consumer, event_id) ON eventing.inbox TO om_payouts, om_stats;
