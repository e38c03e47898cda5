-- The set-up revision: a counter that every change to the dialer's set-up (templates, campaigns,
-- allocations, contact hours, dispositions) and to API keys moves forward. A node keeps that
-- set-up in memory, and a write that used it checks, inside its own transaction, that the
-- revision is still the one it read, so a change made on any node is never missed.
CREATE TABLE setup_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO setup_revision (id, revision) VALUES (1, 1);
CREATE FUNCTION revise_setup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE setup_revision SET revision = revision + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER campaign_templates_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaign_templates FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
CREATE TRIGGER campaigns_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaigns FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
CREATE TRIGGER allocations_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON allocations FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
CREATE TRIGGER contact_hours_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contact_hours FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
CREATE TRIGGER dispositions_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dispositions FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
CREATE TRIGGER api_keys_revise AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION revise_setup();
