-- civkey schema, version 11: the server's randomness in the pairing confirmation code. Portable
-- like the others.

-- The 128-bit nonce (base64url) the server drew when it accepted the session's claim, after the
-- device had sent its public key; the confirmation code is derived from it too, so no choice of
-- key steers the code. Empty until the session is claimed.
ALTER TABLE pairing_sessions ADD COLUMN server_nonce TEXT;
