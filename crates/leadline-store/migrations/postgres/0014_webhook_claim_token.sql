-- Which claim a webhook delivery is under. A node writes a delivery's result only while its
-- token is still the row's, so a node whose claim lapsed (a slow receiver, a paused process)
-- cannot overwrite what the node that took the delivery over recorded.
ALTER TABLE webhook_outbox ADD COLUMN claim_token TEXT;
