-- A lead's history as a chain instead of an index: each history row names the lead's previous
-- one, and the lead (live or archived) names its newest. Appending to the history then writes
-- the end of the history table and the lead's own row, which the change writes anyway, instead
-- of an entry on a random page of `lead_history_lead` (one of the pages every update wrote).
ALTER TABLE lead_history ADD COLUMN prev_id BIGINT;
ALTER TABLE leads ADD COLUMN history_head BIGINT;
ALTER TABLE leads_archive ADD COLUMN history_head BIGINT;

UPDATE lead_history SET prev_id = chained.prev_id
FROM (SELECT id, LAG(id) OVER (PARTITION BY lead_id ORDER BY id) AS prev_id FROM lead_history) AS chained
WHERE chained.id = lead_history.id AND chained.prev_id IS NOT NULL;

UPDATE leads SET history_head = (SELECT MAX(h.id) FROM lead_history h WHERE h.lead_id = leads.id);
UPDATE leads_archive SET history_head = (SELECT MAX(h.id) FROM lead_history h WHERE h.lead_id = leads_archive.id);

DROP INDEX lead_history_lead;
