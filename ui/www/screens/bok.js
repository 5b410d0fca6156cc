// @ts-check
// The BOK-pad: at an office counter, the citizen types the security personal code (BOK, 4–10
// digits) on the phone instead of the clerk's keyboard. `bokPad` takes the office's name and a
// submit callback, so the BOK issue (8) can wire it to the server; the route `#/bok` shows it for
// the request the backend has pending (`bokPending()`, the fake backend's until issue 8).

import { h } from "../lib/dom.js";
import { createPad } from "../lib/pad.js";
import { actions, focusHeading, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */

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
 * The pad with the office's name. `onSubmit` gets the digits; its promise settling shows "sent",
 * its rejection (`{ code }`) the error, and the pad again.
 * @param {App} app
 * @param {{ officeName: string, onSubmit: (bok: string) => Promise<void> }} options
 * @returns {{ element: HTMLElement, dispose: () => void }}
 */
export function bokPad(app, { officeName, onSubmit }) {
  const messages = h("div", { class: "pin__messages" });
  const pad = createPad(app, {
    prefix: "bok",
    min: BOK_MIN,
    max: BOK_MAX,
    label: app.t("app.bok.label"),
    submitLabel: app.t("app.bok.submit"),
    onSubmit: async (bok) => {
      if (!validBok(bok)) return;
      pad.setDisabled(true);
      messages.replaceChildren(h("p", { role: "status", text: app.t("app.bok.sending") }));
      try {
        await onSubmit(bok);
        const title = h("h2", { class: "outcome__title", text: app.t("app.bok.sent.title") });
        element.replaceChildren(
          h(
            "div",
            { class: "outcome outcome--success", role: "status", testid: "bok-sent" },
            title,
            h("p", { text: app.t("app.bok.sent.text", { office: officeName }) }),
          ),
          actions(routeLink(app.t("app.done"), "home", { variant: "primary" })),
        );
        pad.dispose();
        focusHeading(title);
      } catch (error) {
        pad.clear();
        pad.setDisabled(false);
        messages.replaceChildren(notice(app.errorText(error), "error", "bok-error"));
      }
    },
  });
  const element = h(
    "div",
    { class: "bok" },
    h("p", { class: "bok__office", testid: "bok-office" }, app.t("app.bok.asks", { office: officeName })),
    h("p", { class: "section__hint", text: app.t("app.bok.hint", { min: BOK_MIN, max: BOK_MAX }) }),
    messages,
    pad.element,
  );
  return { element, dispose: pad.dispose };
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
      const request = app.backend.bokPending ? await app.backend.bokPending() : null;
      if (!request) {
        body.append(
          h("p", { class: "screen__intro", testid: "bok-none", text: app.t("app.bok.none") }),
          actions(routeLink(app.t("app.nav.home"), "home")),
        );
      } else {
        const pad = bokPad(app, {
          officeName: request.office_name,
          onSubmit: async (bok) => {
            if (!app.backend.bokSubmit) throw { code: "not_available", message: "BOK arrives with issue 8" };
            await app.backend.bokSubmit(request.request_id, bok);
          },
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
