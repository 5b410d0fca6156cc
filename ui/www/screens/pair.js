// @ts-check
// Pairing: the confirmation code, large and grouped, to compare with the one the portal shows in
// the browser; then the outcome the browser decided (confirmed, refused, expired) and what next.

import { h } from "../lib/dom.js";
import { clock, groupCode, hostOf } from "../lib/format.js";
import { actions, button, focusHeading, frame, notice, readiness, routeLink, waitingStatus } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").PairingOutcome} PairingOutcome */

/**
 * The code as a screen reader should say it: digit by digit.
 * @param {string} code
 */
export function spokenDigits(code) {
  return [...code.replace(/\D/g, "")].join(" ");
}

/**
 * What an outcome says and offers.
 * @param {PairingOutcome["status"]} status
 * @returns {{ title: string, text: string, tone: "success" | "error" | "warning", next: "home" | "scan" }}
 */
export function outcomeKeys(status) {
  if (status === "confirmed") {
    return { title: "app.pair.confirmed.title", text: "app.pair.confirmed.text", tone: "success", next: "home" };
  }
  if (status === "refused") {
    return { title: "app.pair.refused.title", text: "app.pair.refused.text", tone: "warning", next: "scan" };
  }
  return { title: "app.pair.expired.title", text: "app.pair.expired.text", tone: "warning", next: "scan" };
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function pairScreen(app) {
  const link = app.takePending("pair");
  const { element, heading, body } = frame(app, "pair", app.t(link ? "app.pair.starting" : "app.pair.title"));
  const ready = readiness();
  let waiting = false;
  let gone = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  let timer = null;

  if (!link) {
    body.append(
      h("p", { class: "screen__intro", testid: "pair-none", text: app.t("app.pair.none") }),
      actions(routeLink(app.t("app.home.scan"), "scan", { variant: "primary", icon: "camera" })),
    );
    ready.resolve();
    return { element, ready: ready.promise };
  }

  const progress = h("p", { class: "screen__intro", role: "status", text: app.t("app.pair.contacting") });
  body.append(progress);

  const stopTimer = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };

  /** @param {unknown} error */
  const failed = (error) => {
    stopTimer();
    heading.textContent = app.t("app.pair.failed.title");
    body.replaceChildren(
      notice(app.errorText(error), "error", "pair-error"),
      actions(
        routeLink(app.t("app.scan.again"), "scan", { variant: "primary", icon: "camera" }),
        routeLink(app.t("app.nav.home"), "home"),
      ),
    );
    heading.focus();
  };

  /**
   * @param {PairingOutcome} outcome
   * @param {string} asked the server the pairing was begun with
   */
  const finished = (outcome, asked) => {
    stopTimer();
    const keys = outcomeKeys(outcome.status);
    const title = h("h2", { class: "outcome__title", text: app.t(keys.title) });
    const server = outcome.identity?.server ?? asked;
    body.replaceChildren(
      h(
        "div",
        { class: `outcome outcome--${keys.tone}`, role: "status", testid: `pair-${outcome.status}` },
        title,
        h("p", { text: app.t(keys.text, { server: hostOf(server) }) }),
      ),
      actions(
        keys.next === "home"
          ? routeLink(app.t("app.done"), "home", { variant: "primary" })
          : routeLink(app.t("app.scan.again"), "scan", { variant: "primary", icon: "camera" }),
      ),
    );
    focusHeading(title);
  };

  (async () => {
    let started;
    try {
      started = await app.backend.pairBegin(link.text);
    } catch (error) {
      if (!gone) failed(error);
      ready.resolve();
      return;
    }
    if (gone) return ready.resolve();

    heading.textContent = app.t("app.pair.compare.title");
    const left = h("span", { class: "countdown__value" });
    const expires = Number(started.expires_at);
    const tick = () => {
      left.textContent = clock(expires - app.now() / 1000);
    };
    tick();
    timer = setInterval(tick, 1000);

    body.replaceChildren(
      h("p", { class: "screen__intro", text: app.t("app.pair.server", { server: hostOf(started.server) }) }),
      h(
        "div",
        { class: "big-code" },
        h("p", { class: "big-code__label", id: "pair-code-label", text: app.t("app.pair.code_label") }),
        h("p", {
          class: "big-code__digits",
          testid: "confirmation-code",
          "aria-describedby": "pair-code-label",
          "aria-label": spokenDigits(started.confirmation_code),
          text: groupCode(started.confirmation_code),
        }),
      ),
      h("p", { class: "compare", text: app.t("app.pair.compare.text") }),
      h(
        "p",
        { class: "section__hint" },
        app.t("app.pair.compare.hint", { yes: app.t("portal.connect.confirm"), no: app.t("portal.connect.refuse") }),
      ),
      waitingStatus(app.t("app.pair.waiting")),
      h("p", { class: "countdown", "aria-hidden": "true" }, app.t("app.pair.time_left"), " ", left),
      actions(
        button(app.t("app.cancel"), async () => {
          gone = true;
          stopTimer();
          await app.backend.pairCancel().catch(() => {});
          app.go("home");
        }, { testid: "pair-cancel" }),
      ),
    );
    heading.focus();
    ready.resolve();

    waiting = true;
    try {
      const outcome = await app.backend.pairFinish();
      waiting = false;
      if (!gone) finished(outcome, started.server);
    } catch (error) {
      waiting = false;
      if (!gone) failed(error);
    }
  })();

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      stopTimer();
      if (waiting) app.backend.pairCancel().catch(() => {});
    },
  };
}
