-- civkey schema, version 4: logging in to a service with an existing means instead of the mobile key.

-- How each portal session was opened (password_totp or email_code; sessions from before this
-- version were all opened with a password and a TOTP code).
ALTER TABLE web_sessions ADD COLUMN means TEXT NOT NULL DEFAULT 'password_totp';

-- How a login request was approved: mobile_key, or the means of the portal session that approved
-- it. The ID token's amr/acr say it.
ALTER TABLE login_requests ADD COLUMN means TEXT;
