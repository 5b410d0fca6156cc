// @ts-check
// The app lock: on first run choose a 6-digit PIN (twice); later enter it. Wrong PINs show the
// attempts left and, once the backend makes the citizen wait, the wait; the last wrong PIN resets
// the app (its identities and codes are forgotten) and says so.

import { brandMark, h, icon } from "../lib/dom.js";
import { clock } from "../lib/format.js";
import { createPad } from "../lib/pad.js";
import { frame, notice, readiness } from "./common.js";
import { errorCode } from "../lib/errors.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").AppStatus} AppStatus */

export const PIN_LENGTH = 6;
/** From this many attempts left the warning about the reset is shown. */
export const WARN_FROM = 3;

/**
 * One step of choosing a PIN: the first entry is kept, the second must match it.
 * @param {string | null} first the PIN typed first, or null at the start
 * @param {string} typed
 * @returns {{ first: string | null, outcome: "again" | "chosen" | "mismatch" }}
 */
export function chooseStep(first, typed) {
  if (first === null) return { first: typed, outcome: "again" };
  if (typed === first) return { first: null, outcome: "chosen" };
  return { first: null, outcome: "mismatch" };
}

/**
 * What to say after a wrong PIN, from the status the backend gives then.
 * @param {App} app
 * @param {Pick<AppStatus, "attempts_left" | "wait_seconds">} status
 * @returns {{ error: string, warning: string | null, wait: string | null }}
 */
export function wrongPinText(app, status) {
  const left = app.tn("app.pin.attempts_left", status.attempts_left);
  return {
    error: `${app.t("app.error.wrong_pin")} ${left}`,
    warning: status.attempts_left <= WARN_FROM ? app.t("app.pin.reset_warning") : null,
    wait: status.wait_seconds > 0 ? app.t("app.pin.wait", { time: app.duration(status.wait_seconds) }) : null,
  };
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function pinScreen(app) {
  const choosing = app.status.pin === "unset";
  const { element, heading, body } = frame(
    app,
    "pin",
    app.t(choosing ? "app.pin.choose.title" : "app.pin.enter.title"),
  );
  element.insertBefore(brandMark("screen__mark"), heading);
  const ready = readiness();

  const intro = h("p", { class: "screen__intro", text: app.t(choosing ? "app.pin.choose.text" : "app.pin.enter.text") });
  const messages = h("div", { class: "pin__messages" });
  const waitClock = h("p", { class: "pin__clock", "aria-hidden": "true", hidden: true });
  /** @type {string | null} */
  let first = null;
  let busy = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  let ticking = null;

  const biometrics =
    !choosing && app.status.biometrics
      ? h(
          "button",
          {
            type: "button",
            class: "pad__key pad__key--quiet",
            testid: "pin-biometrics",
            "aria-label": app.t("app.pin.biometrics"),
            onclick: () => attempt(() => app.backend.unlockWithBiometrics()),
          },
          icon("fingerprint"),
        )
      : undefined;

  const pad = createPad(app, {
    prefix: "pin",
    min: PIN_LENGTH,
    max: PIN_LENGTH,
    label: app.t("app.pin.label"),
    extraKey: biometrics,
    onSubmit: (typed) => (choosing ? choose(typed) : attempt(() => app.backend.unlock(typed))),
  });

  body.append(intro, messages, waitClock, pad.element);

  /**
   * @param {...HTMLElement | null} boxes
   */
  function say(...boxes) {
    messages.replaceChildren(...boxes.filter((b) => b !== null));
  }

  /** @param {string} typed */
  async function choose(typed) {
    const step = chooseStep(first, typed);
    first = step.first;
    pad.clear();
    if (step.outcome === "again") {
      heading.textContent = app.t("app.pin.again.title");
      intro.textContent = app.t("app.pin.again.text");
      say();
      heading.focus();
      return;
    }
    heading.textContent = app.t("app.pin.choose.title");
    intro.textContent = app.t("app.pin.choose.text");
    if (step.outcome === "mismatch") {
      say(notice(app.t("app.pin.mismatch"), "error", "pin-error"));
      return;
    }
    busy = true;
    pad.setDisabled(true);
    try {
      const status = await app.backend.setPin(typed);
      await app.unlocked(status);
    } catch (error) {
      say(notice(app.errorText(error), "error", "pin-error"));
      pad.setDisabled(false);
    } finally {
      busy = false;
    }
  }

  /** @param {() => Promise<AppStatus>} unlock */
  async function attempt(unlock) {
    if (busy) return;
    busy = true;
    pad.setDisabled(true);
    try {
      const status = await unlock();
      await app.unlocked(status);
      return;
    } catch (error) {
      pad.clear();
      const code = errorCode(error);
      if (code === "app_reset") {
        // Everything on this device was forgotten: start over with a new PIN.
        app.setNotice({ text: app.errorText(error), tone: "error" });
        await app.go("pin");
        return;
      }
      const status = await app.backend.status().catch(() => null);
      if (code === "wrong_pin" || code === "pin_wait") {
        if (status) {
          const text = wrongPinText(app, status);
          say(
            notice(code === "pin_wait" ? app.t("app.error.pin_wait") : text.error, "error", "pin-error"),
            text.warning ? notice(text.warning, "warning", "pin-warning") : null,
          );
          if (status.wait_seconds > 0) return waitFor(status.wait_seconds, text.wait);
        } else {
          say(notice(app.errorText(error), "error", "pin-error"));
        }
      } else {
        say(notice(app.errorText(error), "error", "pin-error"));
      }
      pad.setDisabled(false);
    } finally {
      busy = false;
    }
  }

  /**
   * Keeps the pad off for the wait: said once (polite), then a silent clock.
   * @param {number} seconds
   * @param {string | null} text
   */
  function waitFor(seconds, text) {
    pad.setDisabled(true);
    if (text) messages.append(notice(text, "info", "pin-wait"));
    const until = app.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((until - app.now()) / 1000);
      if (left <= 0) {
        stopTicking();
        waitClock.hidden = true;
        messages.querySelector('[data-testid="pin-wait"]')?.remove();
        pad.setDisabled(false);
        return;
      }
      waitClock.hidden = false;
      waitClock.textContent = clock(left);
    };
    stopTicking();
    ticking = setInterval(tick, 1000);
    tick();
  }

  function stopTicking() {
    if (ticking !== null) clearInterval(ticking);
    ticking = null;
  }

  // A wait already running (the app restarted during one) is shown at once.
  if (!choosing && app.status.wait_seconds > 0) {
    say(notice(app.t("app.error.pin_wait"), "error", "pin-error"));
    waitFor(app.status.wait_seconds, app.t("app.pin.wait", { time: app.duration(app.status.wait_seconds) }));
  }
  ready.resolve();

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      stopTicking();
      pad.dispose();
    },
  };
}
