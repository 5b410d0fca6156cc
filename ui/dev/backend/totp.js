// @ts-check
// TOTP (RFC 6238) in the browser, for the fake backend only: the real app computes codes in Rust
// (crates/client's vault) and never hands a secret to the web view.

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * @param {string} text base32, any case, spaces and padding ignored
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  const out = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw { code: "unreadable", message: `not base32: ${JSON.stringify(char)}` };
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

const HASHES = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" };

/**
 * The HOTP value of `counter` (RFC 4226), zero-padded to `digits`.
 * @param {Uint8Array<ArrayBuffer>} secret
 * @param {number} counter
 * @param {{ algorithm?: "SHA1" | "SHA256" | "SHA512", digits?: number }} [options]
 * @returns {Promise<string>}
 */
export async function hotp(secret, counter, { algorithm = "SHA1", digits = 6 } = {}) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw { code: "generic", message: "WebCrypto is not available here" };
  const key = await subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: HASHES[algorithm] },
    false,
    ["sign"],
  );
  const message = new Uint8Array(8);
  let rest = counter;
  for (let i = 7; i >= 0; i--) {
    message[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  const mac = new Uint8Array(await subtle.sign("HMAC", key, message));
  const offset = mac[mac.length - 1] & 0x0f;
  const number =
    ((mac[offset] & 0x7f) << 24) |
    (mac[offset + 1] << 16) |
    (mac[offset + 2] << 8) |
    mac[offset + 3];
  return String(number % 10 ** digits).padStart(digits, "0");
}

/**
 * The TOTP code at `unixSeconds` and how long it stays valid.
 * @param {Uint8Array<ArrayBuffer>} secret
 * @param {number} unixSeconds
 * @param {{ algorithm?: "SHA1" | "SHA256" | "SHA512", digits?: number, period?: number }} [options]
 * @returns {Promise<{ code: string, remaining: number, valid_until: number }>}
 */
export async function totp(secret, unixSeconds, options = {}) {
  const period = options.period ?? 30;
  const step = Math.floor(unixSeconds / period);
  const valid_until = (step + 1) * period;
  const code = await hotp(secret, step, options);
  return { code, remaining: valid_until - Math.floor(unixSeconds), valid_until };
}
