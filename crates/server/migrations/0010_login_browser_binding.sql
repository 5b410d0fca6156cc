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
