// @ts-check
// Notifications: what the identity servers told this device while the app was unlocked, newest
// first — logins ("Login to SERVICE with MEANS"), offices' BOK requests, informative notices (in
// the app's language when their topic is known, else as the server worded them) — each with its
// time. New ones arrive live (`onNotification`); opening the list marks them read.

import { h, icon } from "../lib/dom.js";
import { formatDate, formatTime, hostOf } from "../lib/format.js";
import { actions, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").AppNotification} AppNotification */

/**
 * The informative topics the app words itself: the server's own messages from the shared
 * catalogue (`notify.*`, the words its e-mail and SMS use), with the arguments they need from the
 * notification (`null` when one is missing: then the server's text is shown).
 * @type {Record<string, { title: string, body: string, args: (n: AppNotification) => Record<string, string> | null }>}
 */
const TOPICS = {
  key_connected: {
    title: "notify.device_connected.title",
    body: "notify.device_connected.body",
    args: (n) => (n.device_name ? { name: n.device_name } : null),
  },
  key_disconnected: {
    title: "notify.device_disconnected.title",
    body: "notify.device_disconnected.body",
    args: (n) => (n.device_name ? { name: n.device_name } : null),
  },
  bok_blocked: {
    title: "notify.bok_blocked.title",
    body: "notify.bok_blocked.body",
    args: () => ({}),
  },
  bok_unblocked: {
    title: "notify.bok_unblocked.title",
    body: "notify.bok_unblocked.body",
    args: (n) => (n.office_name ? { office: n.office_name } : null),
  },
};

/**
 * An informative notification's title and text: in the app's language when its topic is one the
 * app knows (and the catalogue has the words), else as the server worded them (`other`, a newer
 * server's topic, an older server without topics).
 * @param {App} app
 * @param {AppNotification} n
 * @returns {{ title: string, body: string }}
 */
export function informativeText(app, n) {
  const topic = n.topic && Object.hasOwn(TOPICS, n.topic) ? TOPICS[n.topic] : null;
  const args = topic?.args(n);
  if (topic && args) {
    const title = app.t(topic.title, args);
    const body = app.t(topic.body, args);
    // `t` answers the key itself for a message the catalogue lacks.
    if (title !== topic.title && body !== topic.body) return { title, body };
  }
  return { title: n.title ?? "", body: n.body ?? "" };
}

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
      return informativeText(app, n).title;
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
  const text = n.kind === "informative" ? informativeText(app, n).body : "";
  return h(
    "li",
    {
      class: `notification${fresh ? " notification--new" : ""}`,
      testid: "notification",
      "data-notification-kind": n.kind,
    },
    h("h2", { class: "notification__title", testid: "notification-title", text: headline(app, n) }),
    text ? h("p", { testid: "notification-body", text }) : null,
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
