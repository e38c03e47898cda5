-- The lead archive: leads moved off the hot `leads` table (VICIdial-style archiving, the
-- `/vicidial/leads/archive` dialect and `leadline archive`).
--
-- `leads_archive` has exactly the columns of `leads`, so a lead can be copied across and compared
-- column by column before the live row is deleted (nothing is deleted unless its archive copy is
-- byte-equal). A migration that adds a column to `leads` must add it here too.
--
-- No foreign keys and no unique `ref`/external id here: an archived lead is a frozen copy. Its
-- references are checked again by the `leads` table when it is dearchived. The id is never
-- assigned here; it is always the lead's own id, which `leads` will not hand out again while the
-- archive holds it (see leadline-store's leads::insert).
CREATE TABLE leads_archive (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL,
    external_id TEXT,
    vertical_id INTEGER,
    campaign_id INTEGER,
    allocation_id INTEGER,
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
    contact_hours_id INTEGER,
    dial_count INTEGER NOT NULL,
    last_dialed_at INTEGER,
    lock_holder TEXT,
    lock_until INTEGER,
    closed INTEGER NOT NULL,
    queue_id INTEGER,
    queue_status_id INTEGER,
    thrown_out INTEGER NOT NULL,
    quality_id INTEGER,
    industry_id INTEGER,
    source_id INTEGER,
    company_id INTEGER,
    contact_id INTEGER,
    company_lead_contact_id INTEGER,
    owner_user_id INTEGER,
    type_id INTEGER,
    subtype_id INTEGER,
    stage_id INTEGER,
    stage_reason_id INTEGER,
    channel_id INTEGER,
    description TEXT,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX leads_archive_campaign ON leads_archive (campaign_id);
CREATE INDEX leads_archive_updated_at ON leads_archive (updated_at);
