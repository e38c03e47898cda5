-- Operator console sessions. A signed-in browser holds a random token in a cookie; only its
-- SHA-256 is kept here, so a copy of this table opens no session. Sessions live in the database
-- so that any node behind a load balancer serves any request of a session (nodes keep no state).
-- The CSRF token is per session: a form carrying another session's token is refused.
CREATE TABLE console_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    key_id INTEGER NOT NULL REFERENCES api_keys(id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- A one-time message for the next page shown (the outcome of the last form).
    flash TEXT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- The call-center grid pages through one queue's leads by status or by last change, newest or
-- oldest first, without sorting the whole queue for each page.
CREATE INDEX leads_queue_status ON leads (queue_id, queue_status_id, id);
CREATE INDEX leads_queue_updated ON leads (queue_id, updated_at, id);

-- Archive and dearchive runs started from the console's archive page, with what each did (the
-- counts of the batch) or why it did not run, for the page's list of last runs.
CREATE TABLE console_archive_runs (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    key_id INTEGER,
    direction TEXT NOT NULL,
    lead_ids INTEGER NOT NULL,
    select_count INTEGER NOT NULL,
    insert_count INTEGER NOT NULL,
    update_count INTEGER NOT NULL,
    delete_count INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
