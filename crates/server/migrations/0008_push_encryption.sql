-- civkey schema, version 8: push message encryption (RFC 8291). Portable like the others.

-- A device's WebPush keys, base64url as it registered them: its P-256 public key (p256dh) and its
-- 16-byte authentication secret (auth). Set and cleared together with push_endpoint; while they
-- are set, every push to the device is encrypted to them (Content-Encoding: aes128gcm).
ALTER TABLE devices ADD COLUMN push_p256dh TEXT;
ALTER TABLE devices ADD COLUMN push_auth TEXT;
