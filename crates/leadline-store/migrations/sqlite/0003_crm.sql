-- iVvy signed requests.
--
-- A signing credential pairs a public access key (the `<key>` of `X-Api-Authorization: IWS
-- <key>:<signature>`) with an API key, whose role, expiry and revocation it shares. Its secret is
-- never stored: it is derived when needed as HMAC-SHA256(server signing key, access key), with
-- the server signing key kept in configuration, out of the database. Deleting the row (or
-- revoking the API key) ends the credential; issuing a new one draws a new access key.
CREATE TABLE ivvy_credentials (
    access_key TEXT PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES api_keys(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX ivvy_credentials_key ON ivvy_credentials (key_id);

-- Signatures seen inside the replay window, shared by every node on this database: a signed
-- request is accepted once. Rows older than the window are deleted as new ones arrive.
CREATE TABLE ivvy_seen_requests (
    signature TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
CREATE INDEX ivvy_seen_requests_at ON ivvy_seen_requests (seen_at);
