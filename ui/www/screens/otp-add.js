// @ts-check
// "Add this account?" for an `otpauth://` link that was pasted, scanned or opened; a Google
// Authenticator export (`otpauth-migration://`) is named, and sent to the civkey command.

import { h } from "../lib/dom.js";
import { actions, button, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */

/**
 * @param {App} app
 * @returns {Screen}
 */
export function otpAddScreen(app) {
  const read = app.takePending("otp-add");
  const migration = read?.kind === "otp_migration";
  const { element, heading, body } = frame(
    app,
    "otp-add",
    app.t(!read ? "app.otp_add.none_title" : migration ? "app.otp_add.migration.title" : "app.otp_add.title"),
  );
  const ready = readiness();
  ready.resolve();

  if (!read) {
    body.append(
      h("p", { class: "screen__intro", testid: "otp-add-none", text: app.t("app.otp_add.none") }),
      actions(routeLink(app.t("app.home.scan"), "scan", { variant: "primary", icon: "camera" })),
    );
    return { element, ready: ready.promise };
  }

  const summary = h("p", { class: "summary", testid: "otp-add-summary", text: read.summary });
  if (migration) {
    body.append(
      summary,
      h("p", { text: app.t("app.otp_add.migration.text") }),
      actions(routeLink(app.t("app.nav.home"), "home", { variant: "primary" })),
    );
    return { element, ready: ready.promise };
  }

  const feedback = h("div");
  const add = button(app.t("app.otp_add.confirm"), async () => {
    add.disabled = true;
    try {
      const entry = await app.backend.otpAdd(read.text);
      app.setNotice({ text: app.t("app.otp_add.added", { label: entry.label }), tone: "info" });
      await app.go("home");
    } catch (error) {
      add.disabled = false;
      heading.focus();
      feedback.replaceChildren(notice(app.errorText(error), "error", "otp-add-error"));
    }
  }, { variant: "primary", testid: "otp-add-confirm", icon: "check" });

  body.append(
    summary,
    h("p", { class: "section__hint", text: app.t("app.otp_add.text") }),
    feedback,
    actions(add, routeLink(app.t("app.cancel"), "home", { testid: "otp-add-cancel" })),
  );
  return { element, ready: ready.promise };
}
