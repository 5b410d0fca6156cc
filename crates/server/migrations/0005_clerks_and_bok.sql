-- civkey schema, version 5: office clerks and the BOK-pad. (The per-device `bok_pad` flag has
-- been in `devices` since version 1, set at pairing.)

-- Clerks are a role of their own: separate accounts, separate sessions, never citizens.
CREATE TABLE clerks (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    office_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE clerk_sessions (
    token_hash TEXT PRIMARY KEY,
    clerk_id TEXT NOT NULL REFERENCES clerks (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX clerk_sessions_expiry ON clerk_sessions (expires_at);

-- The citizen's BOK, only as an Argon2id PHC string; consecutive wrong answers, and when that count
-- blocked it (NULL while not blocked).
ALTER TABLE citizens ADD COLUMN bok_hash TEXT;
ALTER TABLE citizens ADD COLUMN bok_wrong_answers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE citizens ADD COLUMN bok_blocked_at BIGINT;

-- One row per verification a clerk starts. status: pending → checking (one device's answer won)
-- → verified | not_verified | blocked; expiry is read from expires_at.
CREATE TABLE bok_requests (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    clerk_id TEXT NOT NULL REFERENCES clerks (id) ON DELETE CASCADE,
    office_name TEXT NOT NULL,
    challenge TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    device_id TEXT,
    answered_at BIGINT,
    attempts_left BIGINT
);
CREATE INDEX bok_requests_citizen ON bok_requests (citizen_id, status, expires_at);

-- Every unblock, for the record: who, where, when, and how many wrong answers it cleared.
CREATE TABLE bok_unblocks (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    clerk_id TEXT NOT NULL,
    clerk_username TEXT NOT NULL,
    office_name TEXT NOT NULL,
    wrong_answers BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX bok_unblocks_citizen ON bok_unblocks (citizen_id, at);
