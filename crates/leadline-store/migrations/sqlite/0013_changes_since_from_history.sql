-- "Leads changed since" is answered from the history instead of an index on the lead's
-- `updated_at`. Every change of a lead moved its entry in `leads_updated_at` from a random page
-- to the end, a random page written by every update; every change also appends a history row
-- stamped with the same instant, so an index on the history's time finds the same leads and
-- only ever grows at its end.
CREATE INDEX lead_history_at ON lead_history (at);
DROP INDEX leads_updated_at;
