-- Failed sign-ins counted per account and per client IP, shared by every node, so
-- throttling holds behind a load balancer. `key` is 'account:<login>' or 'ip:<address>'.
CREATE TABLE sign_in_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until BIGINT
);
