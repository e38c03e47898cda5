-- Fewer index writes per new lead, for list loads and dialer inserts (as on SQLite).
--
-- `leads_allocation` and `leads_queue` repeat the leading column of `leads_dial_queue` and
-- `leads_queue_status`, which serve every query they served. The queue and vertical indexes
-- only ever serve look-ups of one queue or vertical, so they leave out the leads that have none.
DROP INDEX leads_allocation;
DROP INDEX leads_queue;
DROP INDEX leads_vertical;
DROP INDEX leads_queue_status;
DROP INDEX leads_queue_updated;
CREATE INDEX leads_vertical ON leads (vertical_id) WHERE vertical_id IS NOT NULL;
CREATE INDEX leads_queue_status ON leads (queue_id, queue_status_id, id) WHERE queue_id IS NOT NULL;
CREATE INDEX leads_queue_updated ON leads (queue_id, updated_at, id) WHERE queue_id IS NOT NULL;
