// @ts-check
// Settings: identities (rename, forget with a confirmation: only here, or also disconnected at
// the server), the language (the system's, or Czech, Hungarian, English), screenshot protection
// (mobile only), and locking the app now.

import { h } from "../lib/dom.js";
import { formatDate, hostOf } from "../lib/format.js";
import { actions, button, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").Identity} Identity */
/** @typedef {import("../lib/backend/index.js").AppStatus} AppStatus */

/** The languages offered, in their own names. */
export const LANGUAGES = /** @type {const} */ (["cs", "hu", "en"]);

/**
 * Which language radio is on: `system` when following the system.
 * @param {Pick<AppStatus, "language_choice">} status
 * @returns {"system" | "cs" | "hu" | "en"}
 */
export function languageSelection(status) {
  const choice = status.language_choice;
  return choice === "cs" || choice === "hu" || choice === "en" ? choice : "system";
}

/**
 * @param {Pick<AppStatus, "platform" | "screenshot_protection">} status
 * @returns {boolean} whether the screenshot protection switch is offered (mobile only)
 */
export function offersScreenshotProtection(status) {
  return status.platform !== "desktop" && status.screenshot_protection !== null;
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function settingsScreen(app) {
  const { element, body } = frame(app, "settings", app.t("app.settings.title"));
  const ready = readiness();
  const identities = h("section", { class: "section", "aria-labelledby": "settings-identities" });
  const privacy = privacySection(app);
  body.append(identities, languageSection(app), ...(privacy ? [privacy] : []), lockSection(app));

  /** @param {Identity[]} list */
  function showIdentities(list) {
    identities.replaceChildren(
      h("h2", { id: "settings-identities", class: "section__title", text: app.t("app.settings.identities.title") }),
      list.length
        ? h("ul", { class: "cards" }, ...list.map((identity) => identityItem(app, identity, showIdentities)))
        : h("p", { class: "section__hint", testid: "settings-identities-empty", text: app.t("app.settings.identities.empty") }),
      actions(routeLink(app.t("app.onboard.link"), "onboard", { testid: "settings-onboard", icon: "shield" })),
    );
  }

  app.backend
    .home()
    .then((home) => showIdentities(home.identities))
    .catch((error) => identities.replaceChildren(notice(app.errorText(error), "error", "settings-error")))
    .finally(() => ready.resolve());

  return { element, ready: ready.promise };
}

/**
 * One identity with its rename form and the forget confirmation.
 * @param {App} app
 * @param {Identity} identity
 * @param {(list: Identity[]) => void} showList
 */
function identityItem(app, identity, showList) {
  const id = identity.id;
  const host = hostOf(identity.server);
  const feedback = h("div", { class: "card__feedback" });
  const nameInput = h("input", {
    type: "text",
    id: `rename-${id}`,
    class: "field__input",
    value: identity.device_name,
    maxlength: "64",
    autocomplete: "off",
    testid: "rename-input",
  });
  const rename = h(
    "form",
    {
      class: "field",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        const name = nameInput.value.trim();
        if (!name) {
          feedback.replaceChildren(notice(app.t("app.settings.rename.empty"), "error", "rename-error"));
          return;
        }
        try {
          const renamed = await app.backend.renameIdentity(id, name);
          nameInput.value = renamed.device_name;
          feedback.replaceChildren(notice(app.t("app.settings.rename.done", { name: renamed.device_name }), "success", "rename-done"));
        } catch (error) {
          feedback.replaceChildren(notice(app.errorText(error), "error", "rename-error"));
        }
      },
    },
    h("label", { for: `rename-${id}`, class: "field__label", text: app.t("app.settings.rename.label") }),
    h(
      "div",
      { class: "field field--inline" },
      nameInput,
      h("button", { type: "submit", class: "button button--secondary", testid: "rename-save", text: app.t("app.settings.rename.submit") }),
    ),
  );

  const radio = (/** @type {string} */ value, /** @type {string} */ label, /** @type {string} */ hint, /** @type {boolean} */ checked) => {
    const inputId = `forget-${value}-${id}`;
    return h(
      "div",
      { class: "choice-row" },
      h("input", { type: "radio", id: inputId, name: `forget-${id}`, value, checked, testid: `forget-${value}`, "aria-describedby": `${inputId}-hint` }),
      h(
        "label",
        { for: inputId },
        h("span", { class: "choice-row__label", text: label }),
        h("span", { class: "choice-row__hint", id: `${inputId}-hint`, text: hint }),
      ),
    );
  };
  const confirm = h(
    "fieldset",
    { class: "confirm", hidden: true, testid: "forget-panel" },
    h("legend", { text: app.t("app.settings.forget.question", { server: host }) }),
    radio("server", app.t("app.settings.forget.server"), app.t("app.settings.forget.server_hint"), true),
    radio("local", app.t("app.settings.forget.local"), app.t("app.settings.forget.local_hint"), false),
    actions(
      button(app.t("app.settings.forget.confirm"), async () => {
        const localOnly = /** @type {HTMLInputElement | null} */ (confirm.querySelector('input[value="local"]'))?.checked ?? false;
        try {
          const home = await app.backend.forgetIdentity(id, localOnly);
          app.announce(app.t("app.settings.forget.done", { server: host }));
          showList(home.identities);
          document.getElementById("settings-identities")?.focus();
        } catch (error) {
          feedback.replaceChildren(notice(app.errorText(error), "error", "forget-error"));
        }
      }, { variant: "danger", testid: "forget-confirm" }),
      button(app.t("app.cancel"), () => {
        confirm.hidden = true;
        forget.hidden = false;
        forget.focus();
      }, { testid: "forget-cancel" }),
    ),
  );
  const forget = button(app.t("app.settings.forget"), () => {
    confirm.hidden = false;
    forget.hidden = true;
    /** @type {HTMLInputElement | null} */ (confirm.querySelector("input:checked"))?.focus();
  }, { variant: "quiet", testid: "forget" });

  return h(
    "li",
    { class: "card", testid: "settings-identity", "data-identity-id": id },
    h("h3", { class: "card__title", text: host }),
    h("p", { class: "card__sub" }, [identity.account_name, app.t("app.settings.paired", { date: formatDate(app.locale, Number(identity.paired_at)) })].filter(Boolean).join(" · ")),
    rename,
    forget,
    confirm,
    feedback,
  );
}

/** @param {App} app */
function languageSection(app) {
  const selected = languageSelection(app.status);
  const option = (/** @type {"system" | "cs" | "hu" | "en"} */ value, /** @type {string} */ label) => {
    const inputId = `language-${value}`;
    return h(
      "div",
      { class: "choice-row" },
      h("input", {
        type: "radio",
        id: inputId,
        name: "language",
        value,
        checked: value === selected,
        testid: inputId,
        onchange: () => choose(value),
      }),
      h("label", { for: inputId, lang: value === "system" ? undefined : value }, h("span", { class: "choice-row__label", text: label })),
    );
  };
  const feedback = h("div");

  /** @param {"system" | "cs" | "hu" | "en"} value */
  async function choose(value) {
    try {
      const status = await app.backend.setLanguage(value === "system" ? null : value);
      app.status = status;
      await app.setLocale(status.locale);
      // The screen was drawn again in the new language: keep the focus on the choice.
      /** @type {HTMLElement | null} */ (document.querySelector(`[data-testid="language-${value}"]`))?.focus();
    } catch (error) {
      feedback.replaceChildren(notice(app.errorText(error), "error", "language-error"));
    }
  }

  return h(
    "section",
    { class: "section", "aria-labelledby": "settings-language" },
    h("h2", { id: "settings-language", class: "section__title", text: app.t("common.language") }),
    h(
      "fieldset",
      { class: "choices" },
      h("legend", { class: "sr-only", text: app.t("common.language") }),
      option("system", app.t("app.settings.language.system", { language: app.t(`app.settings.language.${app.status.locale}`) })),
      ...LANGUAGES.map((code) => option(code, app.t(`app.settings.language.${code}`))),
    ),
    feedback,
  );
}

/** @param {App} app */
function privacySection(app) {
  if (!offersScreenshotProtection(app.status)) return null;
  const feedback = h("div");
  const input = h("input", {
    type: "checkbox",
    id: "screenshot-protection",
    role: "switch",
    checked: app.status.screenshot_protection === true,
    testid: "screenshot-protection",
    "aria-describedby": "screenshot-protection-hint",
    onchange: async () => {
      try {
        app.status = await app.backend.setScreenshotProtection(input.checked);
        input.checked = app.status.screenshot_protection === true;
        feedback.replaceChildren();
      } catch (error) {
        input.checked = !input.checked;
        feedback.replaceChildren(notice(app.errorText(error), "error", "screenshot-error"));
      }
    },
  });
  return h(
    "section",
    { class: "section", "aria-labelledby": "settings-privacy" },
    h("h2", { id: "settings-privacy", class: "section__title", text: app.t("app.settings.privacy.title") }),
    h(
      "div",
      { class: "choice-row choice-row--switch" },
      input,
      h(
        "label",
        { for: "screenshot-protection" },
        h("span", { class: "choice-row__label", text: app.t("app.settings.screenshots.label") }),
        h("span", { class: "choice-row__hint", id: "screenshot-protection-hint", text: app.t("app.settings.screenshots.hint") }),
      ),
    ),
    feedback,
  );
}

/** @param {App} app */
function lockSection(app) {
  return h(
    "section",
    { class: "section", "aria-labelledby": "settings-lock" },
    h("h2", { id: "settings-lock", class: "section__title", text: app.t("app.settings.lock.title") }),
    h("p", { class: "section__hint", text: app.t("app.settings.lock.hint") }),
    actions(
      button(app.t("app.settings.lock.button"), async () => {
        await app.backend.lock().catch(() => {});
        app.go("pin");
      }, { testid: "lock-now", icon: "shield" }),
    ),
  );
}
