// @ts-check
// Home: my identities and my one-time codes, with the live 30-second countdown (`otpCodes()` once
// a second), the next code in a period's last seconds, and tap to copy; a link to the
// notifications saying how many are new.

import { h, icon, svg } from "../lib/dom.js";
import { formatDate, hostOf } from "../lib/format.js";
import { RING_LENGTH, RING_RADIUS, codeView } from "../lib/otp.js";
import { frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").Identity} Identity */
/** @typedef {import("../lib/backend/index.js").OtpEntry} OtpEntry */
/** @typedef {import("../lib/backend/index.js").OtpCode} OtpCode */

export const REFRESH_MS = 1000;

/**
 * @param {App} app
 * @param {Identity} identity
 */
export function identityCard(app, identity) {
  return h(
    "li",
    { class: "card identity", testid: "identity", "data-identity-id": identity.id },
    h("h3", { class: "card__title", text: hostOf(identity.server) }),
    identity.account_name && h("p", { class: "card__sub", text: identity.account_name }),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: app.t("app.identity.device") }),
      h("dd", { text: identity.device_name }),
      h("dt", { text: app.t("app.identity.paired_at") }),
      h("dd", { text: formatDate(app.locale, Number(identity.paired_at)) }),
    ),
  );
}

/**
 * One account's row: the code as a copy button with its countdown ring.
 * @param {App} app
 * @param {OtpEntry} entry
 */
function otpRow(app, entry) {
  const code = h("span", { class: "otp__code", testid: "otp-code", text: "••• •••" });
  const seconds = h("span", { class: "otp__seconds", "aria-hidden": "true" });
  const validity = h("span", { class: "sr-only" });
  const bar = svg("circle", {
    class: "ring__bar",
    cx: "20",
    cy: "20",
    r: String(RING_RADIUS),
    "stroke-dasharray": RING_LENGTH.toFixed(2),
    "stroke-dashoffset": "0",
  });
  const ring = h(
    "span",
    { class: "ring", "aria-hidden": "true" },
    svg(
      "svg",
      { viewBox: "0 0 40 40", focusable: "false" },
      svg("circle", { class: "ring__track", cx: "20", cy: "20", r: String(RING_RADIUS) }),
      bar,
    ),
    seconds,
  );
  const next = h("span", { class: "otp__next", testid: "otp-next", hidden: true });
  const copied = h("span", { class: "otp__copied", "aria-hidden": "true", hidden: true, text: app.t("app.home.otp.copied_short") });
  const hotp = entry.kind.type === "hotp";
  /** @type {string | null} */
  let current = null;

  const copy = h(
    "button",
    {
      type: "button",
      class: "otp",
      testid: "otp-copy",
      disabled: hotp,
      onclick: async () => {
        if (!current) return;
        try {
          await navigator.clipboard.writeText(current);
          app.announce(app.t("app.home.otp.copied", { label: entry.label }));
          copied.hidden = false;
          setTimeout(() => {
            copied.hidden = true;
          }, 1500);
        } catch {
          app.announce(app.t("app.home.otp.copy_failed"));
        }
      },
    },
    h(
      "span",
      { class: "otp__text" },
      h("span", { class: "otp__label", text: entry.label }),
      hotp ? h("span", { class: "otp__hint", text: app.t("app.home.otp.hotp") }) : code,
      validity,
      next,
    ),
    hotp ? null : ring,
    copied,
  );
  const row = h("li", { class: "otp-entry", testid: "otp-entry", "data-otp-id": entry.id }, copy);

  /** @param {OtpCode} fresh */
  const update = (fresh) => {
    const view = codeView(fresh);
    current = fresh.code;
    code.textContent = view.code;
    if (view.remaining !== null) {
      seconds.textContent = String(view.remaining);
      validity.textContent = app.tn("app.home.otp.valid_for", view.remaining);
    }
    // A new period fills the ring at once instead of sweeping back.
    const before = Number(bar.getAttribute("stroke-dashoffset"));
    ring.classList.toggle("ring--jump", view.dashOffset < before);
    bar.setAttribute("stroke-dashoffset", view.dashOffset.toFixed(2));
    row.classList.toggle("otp-entry--urgent", view.urgent);
    next.hidden = view.next === null;
    next.textContent = view.next ? app.t("app.home.otp.next", { code: view.next }) : "";
  };
  return { row, update };
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function homeScreen(app) {
  const { element, body } = frame(app, "home", app.t("app.home.title"));
  const ready = readiness();
  const identities = h("section", { class: "section", "aria-labelledby": "home-identities" });
  const codes = h("section", { class: "section", "aria-labelledby": "home-otp" });
  const status = h("p", { class: "screen__intro", role: "status", text: app.t("app.loading") });
  const inbox = h("div", { class: "actions" });
  body.append(status, inbox, identities, codes);

  /** @type {Map<string, (code: OtpCode) => void>} */
  const rows = new Map();
  /** @type {ReturnType<typeof setInterval> | null} */
  let timer = null;
  let asking = false;
  let gone = false;

  async function refresh() {
    if (asking || gone) return;
    asking = true;
    try {
      const fresh = await app.backend.otpCodes();
      for (const code of fresh) rows.get(code.id)?.(code);
    } catch (error) {
      // Keep the last codes; say why they stopped moving.
      codes.querySelector('[data-testid="otp-error"]')?.remove();
      codes.append(notice(app.errorText(error), "error", "otp-error"));
    } finally {
      asking = false;
    }
  }

  // The way to the notifications, with how many are new (said when known; never in the way).
  const toNotifications = routeLink(app.t("app.home.notifications.title"), "notifications", {
    testid: "notifications-link",
    icon: "shield",
  });
  inbox.append(toNotifications);
  app.backend.notifications().then(
    (all) => {
      const unread = all.filter((n) => !n.read).length;
      const label = toNotifications.querySelector("span:last-child");
      if (unread && label) label.textContent = app.tn("app.home.notifications.new", unread);
    },
    () => {},
  );

  (async () => {
    try {
      const home = await app.backend.home();
      status.remove();
      identities.append(
        h("h2", { id: "home-identities", class: "section__title", text: app.t("app.home.identities.title") }),
        home.identities.length
          ? h("ul", { class: "cards" }, ...home.identities.map((i) => identityCard(app, i)))
          : empty(
              app.t("app.home.identities.empty"),
              "identities-empty",
              // No account at all yet: one can be made at an office counter.
              routeLink(app.t("app.onboard.link"), "onboard", { testid: "onboard-link", icon: "shield" }),
            ),
      );
      codes.append(
        h("h2", { id: "home-otp", class: "section__title", text: app.t("app.home.otp.title") }),
      );
      if (home.otp.length) {
        codes.append(h("p", { class: "section__hint", text: app.t("app.home.otp.hint") }));
        const list = h("ul", { class: "otp-list" });
        for (const entry of home.otp) {
          const { row, update } = otpRow(app, entry);
          rows.set(entry.id, update);
          list.append(row);
        }
        codes.append(list);
        await refresh();
        if (!gone) timer = setInterval(refresh, REFRESH_MS);
      } else {
        codes.append(empty(app.t("app.home.otp.empty"), "otp-empty"));
      }
    } catch (error) {
      status.replaceWith(notice(app.errorText(error), "error", "home-error"));
    }
    ready.resolve();
  })();

  /**
   * @param {string} text
   * @param {string} testid
   * @param {HTMLElement} [other] another way, after scanning
   */
  function empty(text, testid, other) {
    return h(
      "div",
      { class: "empty", testid },
      icon("camera"),
      h("p", { text }),
      routeLink(app.t("app.home.scan"), "scan", { variant: "primary", icon: "camera" }),
      other,
    );
  }

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      if (timer !== null) clearInterval(timer);
    },
  };
}
