-- civkey schema, version 3: logging in to services with the mobile key.

-- One row per authorization request. The QR secret (which MACs the animated code) never leaves the
-- server; the launch token and the authorization code are stored as SHA-256 hashes.
CREATE TABLE login_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    qr_secret TEXT NOT NULL,
    launch_token_hash TEXT,
    challenge TEXT NOT NULL,
    -- waiting → opened (a device scanned) → approved | denied
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    device_id TEXT,
    citizen_id TEXT,
    decided_at BIGINT,
    code_hash TEXT,
    code_expires_at BIGINT,
    code_used_at BIGINT
);
CREATE INDEX login_requests_expiry ON login_requests (expires_at);
CREATE UNIQUE INDEX login_requests_code ON login_requests (code_hash);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- What the citizen's portal shows under "Recent logins".
CREATE TABLE login_history (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    service_name TEXT NOT NULL,
    means TEXT NOT NULL,
    device_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX login_history_citizen ON login_history (citizen_id, at);

-- Server-wide secrets every instance shares (the pairwise subject key).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
