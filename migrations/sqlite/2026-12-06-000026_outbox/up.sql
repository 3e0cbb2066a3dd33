-- A small outbox of background jobs (mail today; back-channel logout tokens later),
-- shared by every node. A job is claimed atomically by one worker (`claimed_by`) until
-- `claimed_until`; a worker that dies leaves its claim to expire, and another node takes
-- the job again. `attempts` counts claims; after a failure the job waits until
-- `next_attempt_at` (exponential backoff). A delivered job is deleted; one that fails
-- too often is deleted and audited. `payload` is the kind's own JSON document (for
-- mail, encrypted with the master key: it carries single-use links).
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox (kind, next_attempt_at);
