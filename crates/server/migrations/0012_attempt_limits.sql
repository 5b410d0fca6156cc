-- civkey schema, version 12: attempt limits that count before anything is verified and slow
-- guessing down instead of locking a citizen out. Portable like the others.

-- Attempts per bucket ("address:IP", "account:…", "clerk:…", "onboard:…", "email:…"). An attempt
-- is reserved here before a password, TOTP code or e-mail code is checked, by one conditional
-- upsert, so parallel requests cannot all pass one check. `attempts` counts since the last success
-- (or since the bucket was quiet for a day); `last_at` is when the last one was reserved. The
-- first few are free; each further one waits a doubling time after the last, up to a few minutes.
-- (rate_limits keeps the fixed windows of onboarding starts.)
CREATE TABLE attempt_limits (
    bucket TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);

-- Browsers that logged in to an account before (by the hash of the token in their long-lived
-- `civkey_known` cookie; `account` is the hash of the username). Their attempts at that account
-- count in a bucket of their own, so attempts made elsewhere in the citizen's name never make
-- the citizen's own browser wait.
CREATE TABLE known_browsers (
    token_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
