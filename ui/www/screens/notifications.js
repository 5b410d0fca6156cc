// @ts-check
// Notifications: what the identity servers told this device while the app was unlocked, newest
// first — logins ("Login to SERVICE with MEANS"), offices' BOK requests, informative notices —
// each with its time. New ones arrive live (`onNotification`); opening the list marks them read.

import { h, icon } from "../lib/dom.js";
import { formatDate, formatTime, hostOf } from "../lib/format.js";
import { actions, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").AppNotification} AppNotification */

/**
 * The notification's headline in the app's language.
 * @param {App} app
 * @param {AppNotification} n
 * @returns {string}
 */
export function headline(app, n) {
  switch (n.kind) {
    case "login": {
      const means =
        n.means === "mobile_key"
          ? app.t("app.notifications.means.mobile_key", { device: n.device_name ?? "" })
          : app.t(`app.notifications.means.${n.means ?? "unknown"}`);
      return app.t("app.notifications.login", { service: n.service_name ?? "", means });
    }
    case "bok_request":
      return app.t("app.notifications.bok_request", { office: n.office_name ?? "" });
    default:
      return n.title ?? "";
  }
}

/**
 * One entry.
 * @param {App} app
 * @param {AppNotification} n
 * @param {boolean} fresh shown as new (not read before this visit)
 */
export function notificationItem(app, n, fresh) {
  const when = `${formatDate(app.locale, n.at)} ${formatTime(app.locale, n.at)}`;
  return h(
    "li",
    {
      class: `notification${fresh ? " notification--new" : ""}`,
      testid: "notification",
      "data-notification-kind": n.kind,
    },
    h("h2", { class: "notification__title", testid: "notification-title", text: headline(app, n) }),
    n.kind === "informative" && n.body ? h("p", { testid: "notification-body", text: n.body }) : null,
    h(
      "p",
      { class: "notification__meta" },
      fresh ? h("strong", { testid: "notification-new", text: `${app.t("app.notifications.new")} · ` }) : null,
      h("time", { testid: "notification-time", datetime: new Date(n.at * 1000).toISOString(), text: when }),
      h("span", { text: ` · ${hostOf(n.server)}` }),
    ),
  );
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function notificationsScreen(app) {
  const { element, body } = frame(app, "notifications", app.t("app.notifications.title"));
  const ready = readiness();
  const list = h("ul", { class: "notifications", "aria-live": "polite" });
  const status = h("p", { class: "screen__intro", role: "status", text: app.t("app.loading") });
  body.append(status);
  let gone = false;
  /** @type {Set<string>} */
  const shown = new Set();

  const empty = () =>
    h(
      "div",
      { class: "empty", testid: "notifications-empty" },
      icon("shield"),
      h("p", { text: app.t("app.notifications.empty") }),
    );

  // Live: a new notification goes on top while the list is open.
  const stop = app.backend.onNotification((n) => {
    if (gone || shown.has(n.id)) return;
    shown.add(n.id);
    body.querySelector('[data-testid="notifications-empty"]')?.replaceWith(list);
    list.prepend(notificationItem(app, n, true));
    app.announce(headline(app, n));
  });

  (async () => {
    try {
      const all = await app.backend.notifications();
      status.remove();
      for (const n of all) {
        shown.add(n.id);
        list.append(notificationItem(app, n, !n.read));
      }
      body.append(all.length ? list : empty(), actions(routeLink(app.t("app.nav.home"), "home")));
      if (all.some((n) => !n.read)) await app.backend.notificationsMarkRead();
    } catch (error) {
      status.replaceWith(notice(app.errorText(error), "error", "notifications-error"));
    }
    ready.resolve();
  })();

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      stop();
    },
  };
}
