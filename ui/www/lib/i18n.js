// @ts-check
// Filling the page with words from the catalogue: no visible string lives in the markup or code.

/**
 * The message `key` with each `{name}` replaced by `args[name]`; the key itself when missing,
 * so a gap shows up as `app.something` instead of an empty space.
 * @param {Record<string, string>} catalogue
 * @param {string} key
 * @param {Record<string, string | number>} [args]
 */
export function t(catalogue, key, args = {}) {
  const template = catalogue[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(args, name) ? String(args[name]) : whole,
  );
}

/**
 * The plural category of `n`, as the Rust side chooses it (crates/i18n `plural_category`):
 * `one`, `few` (Czech 2–4) or `other`.
 * @param {string} locale
 * @param {number} n
 */
export function pluralCategory(locale, n) {
  if (n === 1) return "one";
  if (locale === "cs" && n >= 2 && n <= 4) return "few";
  return "other";
}

/**
 * The plural message `key` (`key.one`, `key.few`, `key.other`) for the number `n`; `{n}` is
 * filled in with the other `args`.
 * @param {Record<string, string>} catalogue
 * @param {string} locale
 * @param {string} key
 * @param {number} n
 * @param {Record<string, string | number>} [args]
 */
export function tn(catalogue, locale, key, n, args = {}) {
  const specific = `${key}.${pluralCategory(locale, n)}`;
  const chosen = Object.hasOwn(catalogue, specific) ? specific : `${key}.other`;
  return t(catalogue, chosen, { n, ...args });
}

/**
 * Sets the text of every `[data-i18n]` element under `root`, and the document's language.
 * @param {ParentNode} root
 * @param {Record<string, string>} catalogue
 * @param {string} locale
 */
export function translate(root, catalogue, locale) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(catalogue, /** @type {HTMLElement} */ (element).dataset.i18n ?? "");
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    const key = /** @type {HTMLElement} */ (element).dataset.i18nLabel ?? "";
    element.setAttribute("aria-label", t(catalogue, key));
  }
  document.documentElement.lang = locale;
  document.title = t(catalogue, "app.window_title");
}
