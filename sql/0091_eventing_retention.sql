-- retention-prune (functions/eventing) deletes by age in bounded batches: each batch finds its oldest rows
-- through one of these instead of scanning the table.
CREATE INDEX outbox_published_at ON eventing.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX inbox_processed_at ON eventing.inbox (processed_at);
CREATE INDEX idempotency_keys_created_at ON eventing.idempotency_keys (created_at);
