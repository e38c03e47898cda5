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
    id BIGINT PRIMARY KEY,
    ref TEXT NOT NULL,
    external_id TEXT,
    vertical_id BIGINT,
    campaign_id BIGINT,
    allocation_id BIGINT,
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
    callback_at BIGINT,
    priority BIGINT NOT NULL,
    contact_hours_id BIGINT,
    dial_count BIGINT NOT NULL,
    last_dialed_at BIGINT,
    lock_holder TEXT,
    lock_until BIGINT,
    closed BOOLEAN NOT NULL,
    queue_id BIGINT,
    queue_status_id BIGINT,
    thrown_out BOOLEAN NOT NULL,
    quality_id BIGINT,
    industry_id BIGINT,
    source_id BIGINT,
    company_id BIGINT,
    contact_id BIGINT,
    company_lead_contact_id BIGINT,
    owner_user_id BIGINT,
    type_id BIGINT,
    subtype_id BIGINT,
    stage_id BIGINT,
    stage_reason_id BIGINT,
    channel_id BIGINT,
    description TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX leads_archive_campaign ON leads_archive (campaign_id);
CREATE INDEX leads_archive_updated_at ON leads_archive (updated_at);
