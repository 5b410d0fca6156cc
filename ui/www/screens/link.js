// @ts-check
// A pairing or login link opened from outside the app (a deep link, the link the app was started
// with): says what it asks and where — pair with SERVER, log in at SERVER — and sends nothing to a
// server until the citizen taps Continue. A web page can open a link without the citizen choosing
// it; a QR code scanned or a link pasted in the app is already the citizen's act and skips this.

import { h } from "../lib/dom.js";
import { hostOf } from "../lib/format.js";
import { linkServer } from "../lib/router.js";
import { actions, button, frame, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */

/**
 * @param {App} app
 * @returns {Screen}
 */
export function linkScreen(app) {
  const link = app.takePending("link");
  const { element, heading, body } = frame(app, "link", app.t("app.link.title"));
  const ready = readiness();
  ready.resolve();

  if (!link) {
    body.append(
      h("p", { class: "screen__intro", testid: "link-none", text: app.t("app.link.none") }),
      actions(routeLink(app.t("app.home.scan"), "scan", { variant: "primary", icon: "camera" })),
    );
    return { element, ready: ready.promise };
  }

  const server = hostOf(linkServer(link.text));
  const kind = link.kind === "pair" ? "pair" : "login";
  heading.textContent = app.t(`app.link.${kind}.title`, { server });
  body.append(
    h("p", { class: "screen__intro", testid: "link-what", text: app.t(`app.link.${kind}.text`, { server }) }),
    h("p", { class: "section__hint", text: app.t("app.link.check") }),
    actions(
      button(app.t("app.link.continue"), () => app.openResult(link), {
        variant: "primary",
        testid: "link-continue",
      }),
      button(app.t("app.cancel"), () => app.go("home"), { testid: "link-cancel" }),
    ),
  );
  return { element, ready: ready.promise };
}
