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
 * Sets the text of every `[data-i18n]` element under `root`, and the document's language.
 * @param {ParentNode} root
 * @param {Record<string, string>} catalogue
 * @param {string} locale
 */
export function translate(root, catalogue, locale) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(catalogue, element.dataset.i18n);
  }
  document.documentElement.lang = locale;
  document.title = t(catalogue, "app.window_title");
}
