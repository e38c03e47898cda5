-- The set-up revision: a counter that every change to the dialer's set-up (templates, campaigns,
-- allocations, contact hours, dispositions) and to API keys moves forward. A node keeps that
-- set-up in memory, and a write that used it checks, inside its own transaction, that the
-- revision is still the one it read, so a change made on any node is never missed.
CREATE TABLE setup_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO setup_revision (id, revision) VALUES (1, 1);
CREATE TRIGGER campaign_templates_revise_insert AFTER INSERT ON campaign_templates BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER campaign_templates_revise_update AFTER UPDATE ON campaign_templates BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER campaign_templates_revise_delete AFTER DELETE ON campaign_templates BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER campaigns_revise_insert AFTER INSERT ON campaigns BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER campaigns_revise_update AFTER UPDATE ON campaigns BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER campaigns_revise_delete AFTER DELETE ON campaigns BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER allocations_revise_insert AFTER INSERT ON allocations BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER allocations_revise_update AFTER UPDATE ON allocations BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER allocations_revise_delete AFTER DELETE ON allocations BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER contact_hours_revise_insert AFTER INSERT ON contact_hours BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER contact_hours_revise_update AFTER UPDATE ON contact_hours BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER contact_hours_revise_delete AFTER DELETE ON contact_hours BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER dispositions_revise_insert AFTER INSERT ON dispositions BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER dispositions_revise_update AFTER UPDATE ON dispositions BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER dispositions_revise_delete AFTER DELETE ON dispositions BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER api_keys_revise_insert AFTER INSERT ON api_keys BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER api_keys_revise_update AFTER UPDATE ON api_keys BEGIN UPDATE setup_revision SET revision = revision + 1; END;
CREATE TRIGGER api_keys_revise_delete AFTER DELETE ON api_keys BEGIN UPDATE setup_revision SET revision = revision + 1; END;
