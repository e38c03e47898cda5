-- The console's dashboard reads figures per day over the last 7, 30 or 90 days. Each of these
-- indexes turns one of its queries into a range read of the period instead of a scan of a table.
--
-- The rows that brought a lead in (`create` by an API, `import` by a list import, `copy` by the
-- dialer's copy), in time order, with the edge and the lead: a lead's first row only, so the
-- index holds one entry per lead and, like `lead_history_at`, only ever grows at its end. The
-- dashboard's query repeats this WHERE clause word for word, which is what lets both backends
-- use a partial index.
CREATE INDEX lead_history_arrivals ON lead_history (at, api, action, lead_id) WHERE action IN ('create', 'import', 'copy');
-- Sales and ledger entries by time, carrying the columns summed, so the index alone answers.
CREATE INDEX sales_sold_at ON sales (sold_at, buyer_contract_id, price_minor);
CREATE INDEX ledger_at ON ledger (at, kind, amount_minor);
-- Imports and console archive runs are one row per file or run; by time for the same reason.
CREATE INDEX imports_created ON imports (created_at);
CREATE INDEX console_archive_runs_at ON console_archive_runs (at);
