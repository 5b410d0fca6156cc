-- civkey schema, version 10: a login request belongs to the browser that started it, and OpenID
-- Connect's prompt, max_age and acr_values are kept with it.

-- SHA-256 of the random cookie /oidc/authorize set in the browser that asked. Only that browser
-- hears the request's QR codes and outcome, and only it may answer with a portal session.
-- Requests from before this version have none: no browser can continue them (they expire in
-- minutes).
ALTER TABLE login_requests ADD COLUMN browser_hash TEXT;
-- The service asked for a fresh authentication (prompt=login, or max_age=0): 1, else 0.
ALTER TABLE login_requests ADD COLUMN fresh_login BIGINT NOT NULL DEFAULT 0;
-- max_age: the longest a portal session's authentication may lie in the past, in seconds.
ALTER TABLE login_requests ADD COLUMN max_age BIGINT;
-- The weakest acr the service accepts (acr_values), or NULL when it named none.
ALTER TABLE login_requests ADD COLUMN min_acr TEXT;
-- When the citizen authenticated: the device's decision, or when the approving portal session
-- was opened (auth_time in the ID token).
ALTER TABLE login_requests ADD COLUMN auth_time BIGINT;

-- The login request an access token was issued from: a second use of its code revokes it.
ALTER TABLE access_tokens ADD COLUMN login_request_id TEXT;
CREATE INDEX access_tokens_login_request ON access_tokens (login_request_id);

-- The portal's own client: a citizen logs in to the portal with the mobile key through a login
-- request of this client. No secret (no hash matches '') and no redirect URI, so no service can
-- start, exchange or receive one of its requests; the server alone finishes them.
INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, logo_url, sector, created_at)
VALUES ('civkey-portal', 'Citizen portal', '', '[]', NULL, 'civkey-portal', 0);

-- The device whose approval opened a portal session (sessions opened with the mobile key): a
-- service login that session approves is announced with that device's name.
ALTER TABLE web_sessions ADD COLUMN device_id TEXT;
