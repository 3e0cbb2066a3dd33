-- The audit log: every admin change and every security event. `summary` is a JSON
-- document describing what changed; it never holds a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '{}',
    client_ip TEXT
);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at);
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at);
CREATE INDEX audit_events_target_idx ON audit_events (target, occurred_at);
