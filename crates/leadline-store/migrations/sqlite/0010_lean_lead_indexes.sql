-- Fewer index writes per new lead, for list loads and dialer inserts.
--
-- `leads_allocation` and `leads_queue` repeat the leading column of `leads_dial_queue` and
-- `leads_queue_status`, which serve every query they served. The queue and vertical indexes
-- only ever serve look-ups of one queue or vertical, so they leave out the leads that have none
-- (every dialer lead has no queue, most have no vertical).
DROP INDEX leads_allocation;
DROP INDEX leads_queue;
DROP INDEX leads_vertical;
DROP INDEX leads_queue_status;
DROP INDEX leads_queue_updated;
CREATE INDEX leads_vertical ON leads (vertical_id) WHERE vertical_id IS NOT NULL;
CREATE INDEX leads_queue_status ON leads (queue_id, queue_status_id, id) WHERE queue_id IS NOT NULL;
CREATE INDEX leads_queue_updated ON leads (queue_id, updated_at, id) WHERE queue_id IS NOT NULL;

-- A lead's phones are found by (lead, position) or by phone: as a table without rowids the
-- primary key is the table itself, one B-tree fewer to write per phone.
CREATE TABLE lead_phones_keyed (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    phone TEXT NOT NULL,
    PRIMARY KEY (lead_id, position)
) WITHOUT ROWID;
INSERT INTO lead_phones_keyed (lead_id, position, phone) SELECT lead_id, position, phone FROM lead_phones;
DROP TABLE lead_phones;
ALTER TABLE lead_phones_keyed RENAME TO lead_phones;
CREATE INDEX lead_phones_phone ON lead_phones (phone);
