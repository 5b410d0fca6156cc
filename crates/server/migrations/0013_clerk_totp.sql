-- civkey schema, version 13: clerks log in at the counter with a second factor.

-- The clerk's TOTP secret (base32), made at `civkey-server clerk add` and shown once as an
-- otpauth:// URI; the last time step a code was accepted for (each step counts once). Clerks from
-- before this version have none and cannot log in until an operator runs
-- `civkey-server clerk totp-reset USERNAME`.
ALTER TABLE clerks ADD COLUMN totp_secret TEXT;
ALTER TABLE clerks ADD COLUMN totp_last_step BIGINT;
