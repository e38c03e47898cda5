-- The dialer: per-template phone numbering, the dial-queue index, and the webhook outbox.

-- ISO country whose numbering normalizes the template's phone fields (NULL: digits as written).
ALTER TABLE campaign_templates ADD COLUMN phone_country TEXT;

-- next-lead reads one allocation's open leads in dialing order (priority, then callbacks before
-- new leads, then first come first served); the expression matches its ORDER BY exactly, so the
-- index hands rows out in order instead of the database sorting the allocation on every lease.
CREATE INDEX leads_dial_queue ON leads (allocation_id, closed, priority, (CASE WHEN callback_at IS NULL THEN 1 ELSE 0 END), id);

-- Webhooks of disposition actions, written in the transaction that made the change and
-- delivered after it commits, by whichever node claims them first. A row is claimed for a short
-- time (claimed_until) so a crashed node's claim lapses and another node retries it.
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER,
    delivered_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, failed_at, next_attempt_at);

-- Secrets the nodes share, made once by whichever node needs one first (e.g. the key that signs
-- webhook bodies, unless the configuration names one).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
