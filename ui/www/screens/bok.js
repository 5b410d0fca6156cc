// @ts-check
// The BOK-pad: at an office counter, the citizen types the security personal code (BOK, 4–10
// digits) on the phone instead of the clerk's keyboard. `bokPad` takes the office's name and a
// submit callback; the route `#/bok` shows it for the request the backend has pending
// (`bokPending()`), and the app opens it by itself when an office asks (`onBokRequest`), with
// the time the request stays open; when it runs out the pad goes and the request is said to have
// expired, without asking the server. The outcome is the counter's: verified, not verified (with
// the wrong codes left), blocked; an expired or already answered request says so.

import { h } from "../lib/dom.js";
import { clock } from "../lib/format.js";
import { createPad } from "../lib/pad.js";
import { actions, focusHeading, frame, notice, readiness, routeLink } from "./common.js";
import { errorCode } from "../lib/errors.js";

/** @typedef {import("../lib/errors.js").ErrorCode} ErrorCode */

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").BokResult} BokResult */

/** Refusals after which the same request cannot be answered again: the pad goes. */
/** @type {Set<ErrorCode | null>} */
const FINAL_ERRORS = new Set(["bok_expired", "bok_unknown", "bok_answered", "bok_blocked", "bok_pad_off"]);

export const BOK_MIN = 4;
export const BOK_MAX = 10;

/**
 * @param {string} value
 * @returns {boolean} whether `value` is a BOK: 4 to 10 digits, nothing else
 */
export function validBok(value) {
  return new RegExp(`^[0-9]{${BOK_MIN},${BOK_MAX}}$`).test(value);
}

/**
 * Milliseconds until the countdown to `expiresMs` shows its next whole second (and, at the end,
 * until the moment it expires), at least 1.
 * @param {number} expiresMs
 * @param {number} nowMs
 */
export function untilNextSecond(expiresMs, nowMs) {
  const rest = (((expiresMs - nowMs) % 1000) + 1000) % 1000;
  return rest === 0 ? 1000 : Math.max(1, Math.ceil(rest));
}

/**
 * The pad with the office's name and, given `expiresAt` (the request's, Unix seconds), the time
 * it stays open. `onSubmit` gets the digits; its promise settling shows the outcome it answers
 * (or "sent" without one), its rejection (`{ code }`) the error, and the pad again unless the
 * request is over (expired, answered, blocked). When the time is up the pad goes and the expiry
 * is said as the server's `bok_expired` would be, without asking it (a code already on its way
 * gets the server's answer).
 * @param {App} app
 * @param {{ officeName: string, expiresAt?: number, onSubmit: (bok: string) => Promise<BokResult | void> }} options
 * @returns {{ element: HTMLElement, dispose: () => void }}
 */
export function bokPad(app, { officeName, expiresAt, onSubmit }) {
  const messages = h("div", { class: "pin__messages" });
  const expiresMs = expiresAt === undefined ? null : Number(expiresAt) * 1000;
  /** Seconds the request stays open (Infinity without an expiry). */
  const secondsLeft = () => (expiresMs === null ? Infinity : (expiresMs - app.now()) / 1000);
  let sending = false;
  let over = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  const stopTimer = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const expired = () => finish(notice(app.errorText({ code: "bok_expired" }), "error", "bok-error"));

  const pad = createPad(app, {
    prefix: "bok",
    min: BOK_MIN,
    max: BOK_MAX,
    label: app.t("app.bok.label"),
    submitLabel: app.t("app.bok.submit"),
    onSubmit: async (bok) => {
      if (!validBok(bok) || over || sending) return;
      if (secondsLeft() <= 0) return expired();
      sending = true;
      pad.setDisabled(true);
      messages.replaceChildren(h("p", { role: "status", text: app.t("app.bok.sending") }));
      try {
        const result = await onSubmit(bok);
        sending = false;
        finish(outcome(app, result ?? null, officeName));
      } catch (error) {
        sending = false;
        const code = errorCode(error);
        if (FINAL_ERRORS.has(code)) {
          finish(notice(app.errorText(error), "error", "bok-error"));
          return;
        }
        // The time ran out while the code was on its way: the request is over.
        if (secondsLeft() <= 0) return expired();
        pad.clear();
        pad.setDisabled(false);
        messages.replaceChildren(notice(app.errorText(error), "error", "bok-error"));
      }
    },
  });
  /** @param {HTMLElement} shown the outcome, instead of the pad */
  function finish(shown) {
    if (over) return;
    over = true;
    stopTimer();
    element.replaceChildren(shown, actions(routeLink(app.t("app.done"), "home", { variant: "primary" })));
    pad.dispose();
    const heading = shown.querySelector("h2");
    if (heading) focusHeading(heading);
  }

  // The time left, read when someone goes there (a ticking clock is never live).
  const left = h("span", { class: "countdown__value", testid: "bok-time-left" });
  const countdown =
    expiresMs === null ? null : h("p", { class: "countdown" }, app.t("app.bok.time_left"), " ", left);
  const tick = () => {
    timer = null;
    if (over || expiresMs === null) return;
    const seconds = secondsLeft();
    left.textContent = clock(seconds);
    if (seconds <= 0) {
      // A code on its way gets the server's answer instead.
      if (!sending) expired();
      return;
    }
    timer = setTimeout(tick, untilNextSecond(expiresMs, app.now()));
  };

  const element = h(
    "div",
    { class: "bok" },
    h("p", { class: "bok__office", testid: "bok-office" }, app.t("app.bok.asks", { office: officeName })),
    countdown,
    h("p", { class: "section__hint", text: app.t("app.bok.hint", { min: BOK_MIN, max: BOK_MAX }) }),
    messages,
    pad.element,
  );
  tick();
  return {
    element,
    dispose: () => {
      over = true;
      stopTimer();
      pad.dispose();
    },
  };
}

/**
 * The counter's verdict, as the citizen sees it.
 * @param {App} app
 * @param {BokResult | null} result
 * @param {string} officeName
 * @returns {HTMLElement}
 */
export function outcome(app, result, officeName) {
  /** @type {[string, string, string, string]} tone, test id, title, text */
  let parts;
  if (!result) {
    parts = ["success", "bok-sent", app.t("app.bok.sent.title"), app.t("app.bok.sent.text", { office: officeName })];
  } else if (result.outcome === "verified") {
    parts = ["success", "bok-verified", app.t("app.bok.verified.title"), app.t("app.bok.verified.text", { office: officeName })];
  } else if (result.outcome === "not_verified") {
    parts = [
      "warning",
      "bok-not-verified",
      app.t("app.bok.not_verified.title"),
      app.tn("app.bok.not_verified.text", result.attempts_left),
    ];
  } else {
    parts = ["danger", "bok-blocked", app.t("app.bok.blocked.title"), app.t("app.bok.blocked.text")];
  }
  const [tone, testid, title, text] = parts;
  return h(
    "div",
    { class: `outcome outcome--${tone}`, role: "status", testid },
    h("h2", { class: "outcome__title", text: title }),
    h("p", { text }),
  );
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function bokScreen(app) {
  const { element, body } = frame(app, "bok", app.t("app.bok.title"));
  const ready = readiness();
  /** @type {(() => void) | null} */
  let disposePad = null;

  (async () => {
    try {
      const request = await app.backend.bokPending();
      if (!request) {
        body.append(
          h("p", { class: "screen__intro", testid: "bok-none", text: app.t("app.bok.none") }),
          actions(routeLink(app.t("app.nav.home"), "home")),
        );
      } else {
        const pad = bokPad(app, {
          officeName: request.office_name,
          expiresAt: Number(request.expires_at),
          onSubmit: (bok) => app.backend.bokSubmit(request.request_id, bok),
        });
        disposePad = pad.dispose;
        body.append(pad.element);
      }
    } catch (error) {
      body.append(notice(app.errorText(error), "error", "bok-error"));
    }
    ready.resolve();
  })();

  return { element, ready: ready.promise, dispose: () => disposePad?.() };
}
