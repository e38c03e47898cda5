-- Leadline schema, SQLite flavour. The PostgreSQL file beside this one has the same tables and
-- columns; only the id and integer types differ (INTEGER PRIMARY KEY is SQLite's rowid alias, so a
-- client-chosen id is kept and an omitted one is assigned as max(id) + 1).
--
-- Conventions for both backends:
--   * timestamps are BIGINT microseconds since the Unix epoch, UTC: one exact, sortable type that
--     both backends and the `Any` driver read the same way;
--   * money is BIGINT minor units (cents), never a float;
--   * structured values (schedules, template fields, actions, phone lists, custom fields) are JSON
--     text: they are read and written whole, and the domain checks their shape;
--   * booleans are INTEGER 0/1 here (sqlx's Any driver cannot read SQLite's BOOLEAN affinity) and
--     BOOLEAN on PostgreSQL; the store reads either through one helper;
--   * references are foreign keys, so a delete of something still in use fails in the database
--     even if a check in the code were missed.

-- Reference collections (see leadline-core's catalog for their fields and rules).
CREATE TABLE verticals (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE queue_statuses (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE queues (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    vertical_id INTEGER REFERENCES verticals(id)
);
CREATE TABLE contact_hours (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    schedule TEXT NOT NULL
);
CREATE TABLE campaign_templates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    contact_hours_id INTEGER REFERENCES contact_hours(id)
);
CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY,
    template_id INTEGER NOT NULL REFERENCES campaign_templates(id),
    code TEXT NOT NULL,
    closes_lead INTEGER NOT NULL,
    actions TEXT NOT NULL
);
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    template_id INTEGER NOT NULL REFERENCES campaign_templates(id),
    name TEXT NOT NULL
);
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    name TEXT NOT NULL,
    active INTEGER NOT NULL
);
CREATE TABLE dnc (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,
    campaign_id INTEGER REFERENCES campaigns(id)
);
CREATE TABLE buyers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE buyer_contracts (
    id INTEGER PRIMARY KEY,
    buyer_id INTEGER NOT NULL REFERENCES buyers(id),
    vertical_id INTEGER NOT NULL REFERENCES verticals(id),
    name TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    max_return_age_days INTEGER,
    replace_returns INTEGER NOT NULL
);
CREATE TABLE return_reasons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE reject_reasons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE lead_qualities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE industries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE lead_sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE lead_channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE lead_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    subtypes TEXT NOT NULL
);
CREATE TABLE lead_stages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    reasons TEXT NOT NULL
);
CREATE TABLE companies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    company_id INTEGER REFERENCES companies(id)
);
CREATE UNIQUE INDEX dispositions_code ON dispositions (template_id, code);
-- One DNC row per number system-wide (campaign 0 stands for none) and per campaign.
CREATE UNIQUE INDEX dnc_phone ON dnc (phone, COALESCE(campaign_id, 0));

-- Leads: contact data, dialer state, call-center queue state and CRM state in one row, because
-- every dialect reads and writes a lead whole and one row keeps each change a single UPDATE.
CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    external_id TEXT,
    vertical_id INTEGER REFERENCES verticals(id),
    campaign_id INTEGER REFERENCES campaigns(id),
    allocation_id INTEGER REFERENCES allocations(id),
    name TEXT,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    phones TEXT NOT NULL,
    address1 TEXT,
    city TEXT,
    state TEXT,
    postal_code TEXT,
    country TEXT,
    fields TEXT NOT NULL,
    disposition TEXT,
    callback_at INTEGER,
    priority INTEGER NOT NULL,
    contact_hours_id INTEGER REFERENCES contact_hours(id),
    dial_count INTEGER NOT NULL,
    last_dialed_at INTEGER,
    lock_holder TEXT,
    lock_until INTEGER,
    closed INTEGER NOT NULL,
    queue_id INTEGER REFERENCES queues(id),
    queue_status_id INTEGER REFERENCES queue_statuses(id),
    thrown_out INTEGER NOT NULL,
    quality_id INTEGER REFERENCES lead_qualities(id),
    industry_id INTEGER REFERENCES industries(id),
    source_id INTEGER REFERENCES lead_sources(id),
    company_id INTEGER REFERENCES companies(id),
    contact_id INTEGER REFERENCES contacts(id),
    company_lead_contact_id INTEGER REFERENCES contacts(id),
    owner_user_id INTEGER REFERENCES users(id),
    type_id INTEGER REFERENCES lead_types(id),
    subtype_id INTEGER,
    stage_id INTEGER REFERENCES lead_stages(id),
    stage_reason_id INTEGER,
    channel_id INTEGER REFERENCES lead_channels(id),
    description TEXT,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- An external id is unique within its campaign (Noojee's njExternalLeadId).
CREATE UNIQUE INDEX leads_external_id ON leads (campaign_id, external_id);
CREATE INDEX leads_allocation ON leads (allocation_id);
CREATE INDEX leads_vertical ON leads (vertical_id);
CREATE INDEX leads_queue ON leads (queue_id);
CREATE INDEX leads_updated_at ON leads (updated_at);

-- Each normalized phone of each lead, for DNC, duplicate and phone look-ups without scanning the
-- JSON list. Rewritten only when a lead's phones change.
CREATE TABLE lead_phones (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    phone TEXT NOT NULL,
    PRIMARY KEY (lead_id, position)
);
CREATE INDEX lead_phones_phone ON lead_phones (phone);

-- Every change to a lead. No foreign key to leads: history outlives a lead's move to the archive.
CREATE TABLE lead_history (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    key_id INTEGER,
    api TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX lead_history_lead ON lead_history (lead_id, id);

-- A lead sold to a buyer under one of its contracts, at the contract's price then.
CREATE TABLE sales (
    id INTEGER PRIMARY KEY,
    lead_id INTEGER NOT NULL REFERENCES leads(id),
    buyer_contract_id INTEGER NOT NULL REFERENCES buyer_contracts(id),
    price_minor INTEGER NOT NULL,
    sold_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sales_lead_contract ON sales (lead_id, buyer_contract_id);
CREATE INDEX sales_contract ON sales (buyer_contract_id);

-- API keys: only a SHA-256 of the secret is kept; `prefix` is the first characters, shown in
-- listings so an operator can tell keys apart.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    buyer_id INTEGER REFERENCES buyers(id),
    campaign_ids TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
