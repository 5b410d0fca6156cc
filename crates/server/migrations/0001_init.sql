-- civkey schema, version 1. Portable between SQLite and PostgreSQL: TEXT and BIGINT only
-- (flags are 0/1), $n placeholders in queries, random TEXT ids instead of sequences.

CREATE TABLE citizens (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_last_step BIGINT,
    totp_deletion_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- One outstanding e-mail code per citizen; a used code is deleted.
CREATE TABLE email_codes (
    citizen_id TEXT PRIMARY KEY REFERENCES citizens (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Failed-attempt counters per bucket ("account:ID", "address:IP"), in fixed windows.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

-- Messages to deliver (e-mail now; SMS and push later). Nothing is lost while a channel is down.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);

CREATE TABLE pairing_sessions (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    public_key TEXT,
    device_name TEXT,
    device_model TEXT,
    device_kind TEXT,
    confirmation_code TEXT,
    claim_token_hash TEXT,
    device_id TEXT,
    decided_at BIGINT
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    public_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    paired_at BIGINT NOT NULL,
    last_used_at BIGINT,
    disconnected_at BIGINT,
    notify_informative BIGINT NOT NULL,
    notify_login BIGINT NOT NULL,
    bok_pad BIGINT NOT NULL,
    push_endpoint TEXT
);
CREATE INDEX devices_citizen ON devices (citizen_id);

CREATE TABLE device_nonces (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX device_nonces_seen ON device_nonces (seen_at);
