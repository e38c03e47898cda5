-- List loading: import jobs, their rejected rows, and the bodies of imports sent over HTTP.

-- One import of one CSV file into a campaign allocation. The job is its own checkpoint: every
-- batch of leads is committed together with the byte offset and line the file was read up to,
-- so a run cut short resumes exactly after the last committed row and never loads a row twice.
-- `claim_token`/`claimed_until` say which process is running it; a claim that lapses (the process
-- died) lets the next run (CLI) or any node's worker (HTTP) take it over.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_bytes INTEGER NOT NULL,
    file_sha256 TEXT NOT NULL,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    allocation_id INTEGER NOT NULL REFERENCES allocations(id),
    template_id INTEGER NOT NULL REFERENCES campaign_templates(id),
    options TEXT NOT NULL,
    key_id INTEGER,
    claim_token TEXT,
    claimed_until INTEGER,
    byte_offset INTEGER NOT NULL,
    next_line INTEGER NOT NULL,
    rows_read INTEGER NOT NULL,
    loaded INTEGER NOT NULL,
    rejected_dnc INTEGER NOT NULL,
    rejected_duplicate INTEGER NOT NULL,
    rejected_invalid INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX imports_file ON imports (file_sha256, campaign_id, allocation_id);
CREATE INDEX imports_open ON imports (status, claimed_until);

-- Each row an import did not load, with its line, the reason, and the row as it was written.
CREATE TABLE import_rejects (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX import_rejects_import ON import_rejects (import_id, id);

-- The CSV body of an import sent to POST /v1/imports, kept in the database (not on one node's
-- disk) so any node can run or resume the job; removed once the job ends.
CREATE TABLE import_chunks (
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (import_id, seq)
);
