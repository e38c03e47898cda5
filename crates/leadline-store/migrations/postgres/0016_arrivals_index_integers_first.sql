-- The dashboard's arrivals index, with its integer columns first. Every imported or created lead
-- adds an entry, and within one import every entry has the same `at`, `api` and `action`: keyed
-- (at, api, action, lead_id), each insert compared two equal texts at every step down the tree
-- before reaching the lead id that tells the entries apart. Keyed (at, lead_id, api, action) the
-- lead id decides at once. The index still carries every column the dashboard's query reads, so
-- that query is still a range read of it alone (it groups by an expression of `at`, so the order
-- of the other columns never served it).
DROP INDEX lead_history_arrivals;
CREATE INDEX lead_history_arrivals ON lead_history (at, lead_id, api, action) WHERE action IN ('create', 'import', 'copy');
