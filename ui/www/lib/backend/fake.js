// A backend for plain browsers and tests: no Rust, no Tauri.
//
// The language comes from the browser's preferences, negotiated like the app does (Czech when
// none matches). Catalogues are either handed in (tests) or read from crates/i18n/locales, so a
// browser pointed at the repository shows the same words as the app without a second copy.

const SUPPORTED = ["cs", "hu", "en"];
const DEFAULT_LOCALE = "cs";

/**
 * @param {readonly string[]} tags preferred language tags, most wanted first (`hu-HU`, `en`, …)
 * @returns {string} the first one civkey speaks, as `cs`, `hu` or `en`
 */
export function negotiate(tags) {
  for (const tag of tags) {
    const primary = String(tag).trim().split(/[-_.@]/)[0].toLowerCase();
    const known = primary === "cz" ? "cs" : primary;
    if (SUPPORTED.includes(known)) return known;
  }
  return DEFAULT_LOCALE;
}

/**
 * @param {object} [options]
 * @param {readonly string[]} [options.languages] preferred tags; the browser's by default
 * @param {Record<string, Record<string, string>>} [options.catalogues] catalogues by locale;
 *   fetched from the repository's crates/i18n/locales by default
 * @param {string} [options.cataloguesUrl] where the locale files are served
 * @returns {import("./index.js").Backend}
 */
export function fakeBackend(options = {}) {
  const languages = options.languages ?? navigator.languages ?? [navigator.language];
  const cataloguesUrl =
    options.cataloguesUrl ?? new URL("../../crates/i18n/locales/", document.baseURI).href;
  return {
    kind: "fake",
    locale: async () => negotiate(languages),
    catalogue: async (locale) => {
      if (!SUPPORTED.includes(locale)) {
        throw { code: "unknown_locale", message: `no catalogue for ${JSON.stringify(locale)}` };
      }
      if (options.catalogues) return options.catalogues[locale] ?? {};
      const response = await fetch(new URL(`${locale}.json`, cataloguesUrl));
      if (!response.ok) {
        throw { code: "catalogue_unavailable", message: `${response.status} ${response.url}` };
      }
      return response.json();
    },
  };
}
