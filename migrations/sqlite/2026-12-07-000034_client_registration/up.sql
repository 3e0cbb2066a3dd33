-- Dynamic client registration (RFC 7591/7592) and Client ID Metadata Documents.
-- `applications.registration` says how an application came to be: NULL (an administrator
-- created it), `dynamic` (POST /connect/register) or `metadata_document` (an https
-- client_id whose metadata Tessera fetched).
ALTER TABLE applications ADD COLUMN registration TEXT
    CHECK (registration IS NULL OR registration IN ('dynamic', 'metadata_document'));

-- Initial access tokens (RFC 7591 §3) that administrators issue: stored only as the
-- SHA-256 hash, each registration spends one use in one conditional UPDATE.
CREATE TABLE initial_access_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL,
    quota BIGINT NOT NULL,
    uses_left BIGINT NOT NULL CHECK (uses_left >= 0),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX initial_access_tokens_expires_idx ON initial_access_tokens (expires_at);

-- What a registered client's metadata says beyond its application settings, the hash of
-- its registration access token (RFC 7592, dynamic clients), and when a metadata
-- document must be fetched again (metadata-document clients).
CREATE TABLE client_registrations (
    application_id TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    access_token_hash TEXT UNIQUE,
    initial_access_token_id TEXT,
    metadata TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
