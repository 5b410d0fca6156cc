// @ts-check
// How numbers, codes, places and times are shown. Pure functions: the tests pin them.

/**
 * A code split for reading aloud and comparing: `123 456`, `1234 5678`, `123 4567`.
 * @param {string} code
 * @returns {string}
 */
export function groupCode(code) {
  const digits = String(code).replace(/\s+/g, "");
  const n = digits.length;
  if (n <= 4) return digits;
  /** @param {number} size */
  const groups = (size) => digits.match(new RegExp(`.{1,${size}}`, "g"))?.join(" ") ?? digits;
  if (n % 3 === 0) return groups(3);
  if (n % 4 === 0) return groups(4);
  const half = Math.floor(n / 2);
  return `${digits.slice(0, half)} ${digits.slice(half)}`;
}

/**
 * The host people recognise (`identita.example.cz`, `127.0.0.1:8443`) of an origin.
 * @param {string} origin
 */
export function hostOf(origin) {
  try {
    return new URL(origin).host || origin;
  } catch {
    return origin;
  }
}

/**
 * @param {string} locale
 * @param {number} unixSeconds
 */
export function formatDate(locale, unixSeconds) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "long" }).format(unixSeconds * 1000);
}

/**
 * @param {string} locale
 * @param {number} unixSeconds
 */
export function formatTime(locale, unixSeconds) {
  return new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(unixSeconds * 1000);
}

/**
 * `m:ss`, as a countdown shows it.
 * @param {number} seconds
 */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Seconds rounded to what is worth saying: seconds under a minute, else whole minutes (up).
 * @param {number} seconds
 * @returns {{ unit: "seconds" | "minutes", n: number }}
 */
export function roughDuration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return { unit: "seconds", n: s };
  return { unit: "minutes", n: Math.ceil(s / 60) };
}
