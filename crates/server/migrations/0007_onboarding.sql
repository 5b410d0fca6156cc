-- civkey schema, version 7: in-person onboarding at the office counter. (Version 6 belongs to
-- another change; this one depends only on versions 1 to 5.)

-- One row per onboarding the app starts. The identification code and the claim token are stored
-- only as SHA-256 hashes. state: waiting → completed (expiry is read from expires_at).
CREATE TABLE onboardings (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    claim_token_hash TEXT NOT NULL,
    public_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    device_model TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    citizen_id TEXT REFERENCES citizens (id) ON DELETE CASCADE,
    device_id TEXT,
    completed_at BIGINT
);
CREATE INDEX onboardings_expiry ON onboardings (expires_at);

-- Who onboarded a citizen, where and when, and the identity document checked: its type and only
-- the last 4 characters of its number.
CREATE TABLE citizen_onboardings (
    citizen_id TEXT PRIMARY KEY REFERENCES citizens (id) ON DELETE CASCADE,
    onboarding_id TEXT NOT NULL,
    clerk_id TEXT NOT NULL,
    clerk_username TEXT NOT NULL,
    office_name TEXT NOT NULL,
    document_type TEXT NOT NULL,
    document_last4 TEXT NOT NULL,
    at BIGINT NOT NULL
);
