// @ts-check
// In-person onboarding (the Czech POINT path): a citizen without an account gives the server's
// address, gets an identification code, shows it at the office counter with their identity
// document, and the clerk's entry makes this device the new account's mobile key. The code is
// shown large, grouped and monospace (`K7QM-X2PD-9R`, read across a desk), with the time left;
// then the outcome: set up (with the account's name), or expired with a way to a new code.

import { h } from "../lib/dom.js";
import { clock, hostOf } from "../lib/format.js";
import { actions, button, focusHeading, frame, notice, readiness, routeLink, waitingStatus } from "./common.js";
import { errorCode } from "../lib/errors.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").Identity} Identity */
/** @typedef {import("../lib/backend/index.js").OnboardingStarted} OnboardingStarted */

/**
 * The code as a screen reader should say it: character by character, a pause between groups.
 * @param {string} code `K7QM-X2PD-9R`
 */
export function spokenCode(code) {
  return code
    .split("-")
    .map((group) => [...group].join(" "))
    .join(", ");
}

/**
 * The code grouped for people, whatever the backend sent: `K7QM-X2PD-9R`.
 * @param {string} code
 */
export function groupIdentificationCode(code) {
  const plain = code.replace(/[\s-]/g, "").toUpperCase();
  if (plain.length !== 10) return code;
  return `${plain.slice(0, 4)}-${plain.slice(4, 8)}-${plain.slice(8)}`;
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function onboardScreen(app) {
  const { element, heading, body } = frame(app, "onboard", app.t("app.onboard.title"));
  const ready = readiness();
  let gone = false;
  let waiting = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  let timer = null;
  let server = "";

  const stopTimer = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };

  /**
   * The first step: where to get the account.
   * @param {unknown} [error] why the last try did not work
   */
  const showForm = (error) => {
    stopTimer();
    heading.textContent = app.t("app.onboard.title");
    const input = h("input", {
      id: "onboard-server",
      class: "field__input",
      type: "url",
      inputmode: "url",
      autocomplete: "url",
      autocapitalize: "off",
      spellcheck: "false",
      required: true,
      maxlength: "200",
      placeholder: "identita.example.cz",
      value: server,
      testid: "onboard-server",
      "aria-describedby": "onboard-server-hint",
    });
    const form = h(
      "form",
      {
        class: "field",
        novalidate: true,
        onsubmit: (/** @type {Event} */ event) => {
          event.preventDefault();
          server = input.value.trim();
          if (!server) {
            feedback.replaceChildren(notice(app.errorText({ code: "server_address" }), "error", "onboard-error"));
            input.focus();
            return;
          }
          start();
        },
      },
      h("label", { class: "field__label", for: "onboard-server", text: app.t("app.onboard.server.label") }),
      input,
      h("p", { class: "section__hint", id: "onboard-server-hint", text: app.t("app.onboard.server.hint") }),
      actions(
        h(
          "button",
          { type: "submit", class: "button button--primary", testid: "onboard-start" },
          h("span", { text: app.t("app.onboard.start") }),
        ),
        routeLink(app.t("app.cancel"), "home"),
      ),
    );
    const feedback = h("div", {});
    if (error !== undefined) feedback.append(notice(app.errorText(error), "error", "onboard-error"));
    body.replaceChildren(h("p", { class: "screen__intro", text: app.t("app.onboard.intro") }), feedback, form);
  };

  /** Asks for a code at `server` and shows it until the clerk is done or it expires. */
  const start = async () => {
    body.replaceChildren(h("p", { class: "screen__intro", role: "status", text: app.t("app.onboard.starting") }));
    /** @type {OnboardingStarted} */
    let started;
    try {
      started = await app.backend.onboardingStart(server);
    } catch (error) {
      if (gone) return;
      showForm(error);
      heading.focus();
      return;
    }
    if (gone) return;
    await follow(started);
  };

  /**
   * Shows the code of `started` and waits for the clerk.
   * @param {OnboardingStarted} started
   */
  const follow = async (started) => {
    server = started.server;
    showCode(started);
    waiting = true;
    try {
      const identity = await app.backend.onboardingWait();
      waiting = false;
      if (!gone) done(identity);
    } catch (error) {
      waiting = false;
      if (gone) return;
      const code = errorCode(error);
      if (code === "onboarding_expired") expired();
      else if (code !== "cancelled") failed(error);
    }
  };

  /** @param {OnboardingStarted} started */
  const showCode = (started) => {
    heading.textContent = app.t("app.onboard.code.title");
    const code = groupIdentificationCode(started.identification_code);
    const left = h("span", { class: "countdown__value", testid: "onboard-time-left" });
    const expires = Number(started.expires_at);
    const tick = () => {
      left.textContent = clock(expires - app.now() / 1000);
    };
    stopTimer();
    tick();
    timer = setInterval(tick, 1000);
    body.replaceChildren(
      h("p", { class: "screen__intro", text: app.t("app.onboard.server", { server: hostOf(started.server) }) }),
      h(
        "div",
        { class: "big-code" },
        h("p", { class: "big-code__label", id: "onboard-code-label", text: app.t("app.onboard.code_label") }),
        h("p", {
          class: "big-code__digits big-code__digits--mono",
          testid: "identification-code",
          "aria-describedby": "onboard-code-label",
          "aria-label": spokenCode(code),
          text: code,
        }),
      ),
      h("p", { class: "compare", testid: "onboard-show", text: app.t("app.onboard.show") }),
      waitingStatus(app.t("app.onboard.waiting")),
      h("p", { class: "countdown", "aria-hidden": "true" }, app.t("app.onboard.time_left"), " ", left),
      actions(
        button(app.t("app.cancel"), async () => {
          gone = true;
          stopTimer();
          await app.backend.onboardingCancel().catch(() => {});
          app.go("home");
        }, { testid: "onboard-cancel" }),
      ),
    );
    heading.focus();
  };

  /** @param {Identity} identity */
  const done = (identity) => {
    stopTimer();
    heading.textContent = app.t("app.onboard.title");
    const title = h("h2", { class: "outcome__title", text: app.t("app.onboard.done.title") });
    const name = identity.account_name ?? hostOf(identity.server);
    body.replaceChildren(
      h(
        "div",
        { class: "outcome outcome--success", role: "status", testid: "onboard-done" },
        title,
        h("p", { text: app.t("app.onboard.done.text", { name }) }),
      ),
      actions(routeLink(app.t("app.done"), "home", { variant: "primary", testid: "onboard-home" })),
    );
    focusHeading(title);
  };

  const expired = () => {
    stopTimer();
    heading.textContent = app.t("app.onboard.title");
    const title = h("h2", { class: "outcome__title", text: app.t("app.onboard.expired.title") });
    body.replaceChildren(
      h(
        "div",
        { class: "outcome outcome--warning", role: "status", testid: "onboard-expired" },
        title,
        h("p", { text: app.t("app.onboard.expired.text") }),
      ),
      actions(
        button(app.t("app.onboard.again"), () => start(), { variant: "primary", testid: "onboard-again" }),
        routeLink(app.t("app.nav.home"), "home"),
      ),
    );
    focusHeading(title);
  };

  /** @param {unknown} error */
  const failed = (error) => {
    stopTimer();
    heading.textContent = app.t("app.onboard.failed.title");
    body.replaceChildren(
      notice(app.errorText(error), "error", "onboard-error"),
      actions(
        button(app.t("app.onboard.again"), () => start(), { variant: "primary", testid: "onboard-again" }),
        routeLink(app.t("app.nav.home"), "home"),
      ),
    );
    heading.focus();
  };

  body.append(h("p", { class: "screen__intro", role: "status", text: app.t("app.loading") }));
  (async () => {
    // A code already shown (the app locked and was unlocked meanwhile): shown again, waited for.
    const current = await app.backend.onboardingCurrent().catch(() => null);
    if (gone) return ready.resolve();
    if (current) {
      ready.resolve();
      await follow(current);
      return;
    }
    // Else the form, with the server the app already knows, if any, filled in.
    showForm();
    const home = await app.backend.home().catch(() => null);
    const known = home?.identities[0]?.server;
    const input = /** @type {HTMLInputElement | null} */ (element.querySelector("#onboard-server"));
    if (known && input && !input.value) {
      server = known;
      input.value = known;
    }
    ready.resolve();
  })();

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      stopTimer();
      // Locked while waiting (a phone back from the background): the onboarding is not abandoned,
      // the clerk may be typing the code; after the unlock this screen shows the code again.
      if (waiting && app.status.pin === "unlocked") app.backend.onboardingCancel().catch(() => {});
    },
  };
}
