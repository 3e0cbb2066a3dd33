-- Custom-claim scripts: one for user access tokens ('user'), one for machine-to-machine
-- tokens ('machine'), and the environment variables they read (values encrypted).
CREATE TABLE custom_claim_scripts (
    kind TEXT PRIMARY KEY CHECK (kind IN ('user', 'machine')),
    source TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    on_failure TEXT NOT NULL DEFAULT 'deny' CHECK (on_failure IN ('deny', 'issue_without_claims')),
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE script_environment_variables (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    secret BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
