// @ts-check
// Login approval: which service asks, from which web address, when, and how long is left;
// Approve or Deny; then the outcome.

import { h } from "../lib/dom.js";
import { clock, formatTime, hostOf } from "../lib/format.js";
import { actions, button, focusHeading, frame, notice, readiness, routeLink } from "./common.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").Identity} Identity */
/** @typedef {import("../lib/backend/index.js").LoginRequest} LoginRequest */

/**
 * Seconds left to answer, never below zero.
 * @param {Pick<LoginRequest, "expires_at">} request
 * @param {number} nowMs
 */
export function secondsLeft(request, nowMs) {
  return Math.max(0, Math.ceil(Number(request.expires_at) - nowMs / 1000));
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function loginScreen(app) {
  const link = app.takePending("login");
  const { element, heading, body } = frame(app, "login", app.t("app.login.title_none"));
  const ready = readiness();
  let gone = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  let timer = null;
  const stopTimer = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };

  if (!link) {
    body.append(
      h("p", { class: "screen__intro", testid: "login-none", text: app.t("app.login.none") }),
      actions(routeLink(app.t("app.home.scan"), "scan", { variant: "primary", icon: "camera" })),
    );
    ready.resolve();
    return { element, ready: ready.promise };
  }

  heading.textContent = app.t("app.login.opening");
  body.append(h("p", { class: "screen__intro", role: "status", text: app.t("app.login.contacting") }));

  /** @param {unknown} error */
  const failed = (error) => {
    stopTimer();
    heading.textContent = app.t("app.login.failed.title");
    body.replaceChildren(
      notice(app.errorText(error), "error", "login-error"),
      actions(
        routeLink(app.t("app.scan.again"), "scan", { variant: "primary", icon: "camera" }),
        routeLink(app.t("app.nav.home"), "home"),
      ),
    );
    heading.focus();
  };

  (async () => {
    /** @type {LoginRequest} */
    let request;
    try {
      request = await app.backend.loginOpen(link.text);
    } catch (error) {
      if (!gone) failed(error);
      ready.resolve();
      return;
    }
    /** @type {Identity | undefined} */
    const identity = await app.backend
      .home()
      .then((home) => home.identities.find((i) => i.id === request.identity_id))
      .catch(() => undefined);
    if (gone) return ready.resolve();

    heading.textContent = app.t("app.login.title", { service: request.service_name });
    const left = h("span", { class: "countdown__value", text: clock(secondsLeft(request, app.now())) });
    const approve = button(app.t("app.login.approve"), () => decide(true), { variant: "primary", testid: "login-approve", icon: "check" });
    const deny = button(app.t("app.login.deny"), () => decide(false), { variant: "danger", testid: "login-deny", icon: "cross" });
    const decision = h("div", { class: "login__decision" });
    const as = identity
      ? [identity.account_name, hostOf(identity.server)].filter(Boolean).join(" · ")
      : hostOf(request.server);

    decision.append(
      notice(
        app.t("app.login.check", { time: app.duration(secondsLeft(request, app.now())) }),
        "warning",
        "login-check",
      ),
      actions(approve, deny),
    );

    body.replaceChildren(
      h(
        "dl",
        { class: "facts facts--large" },
        h("dt", { text: app.t("app.login.service") }),
        h("dd", { testid: "login-service", text: request.service_name }),
        h("dt", { text: app.t("app.login.origin") }),
        h("dd", { class: "origin", testid: "login-origin", text: request.service_origin }),
        h("dt", { text: app.t("app.login.asked_at") }),
        h("dd", { testid: "login-time", text: formatTime(app.locale, Number(request.started_at)) }),
        h("dt", { text: app.t("app.login.as") }),
        h("dd", { testid: "login-identity", text: as }),
        h("dt", { text: app.t("app.login.time_left") }),
        h("dd", { class: "countdown" }, left),
      ),
      decision,
    );
    heading.focus();
    ready.resolve();

    const tick = () => {
      const seconds = secondsLeft(request, app.now());
      left.textContent = clock(seconds);
      if (seconds <= 0) {
        stopTimer();
        decision.replaceChildren(
          notice(app.t("app.login.expired"), "warning", "login-expired"),
          actions(routeLink(app.t("app.nav.home"), "home", { variant: "primary" })),
        );
      }
    };
    timer = setInterval(tick, 1000);

    /** @param {boolean} yes */
    async function decide(yes) {
      approve.disabled = true;
      deny.disabled = true;
      try {
        const outcome = await app.backend.loginDecide(yes);
        if (gone) return;
        stopTimer();
        const approved = outcome.decision === "approve";
        const title = h("h2", {
          class: "outcome__title",
          text: app.t(approved ? "app.login.approved.title" : "app.login.denied.title"),
        });
        decision.replaceChildren(
          h(
            "div",
            {
              class: `outcome outcome--${approved ? "success" : "warning"}`,
              role: "status",
              testid: approved ? "login-approved" : "login-denied",
            },
            title,
            h("p", { text: app.t(approved ? "app.login.approved.text" : "app.login.denied.text", { service: request.service_name }) }),
          ),
          actions(routeLink(app.t("app.done"), "home", { variant: "primary" })),
        );
        focusHeading(title);
      } catch (error) {
        if (!gone) failed(error);
      }
    }
  })();

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      stopTimer();
    },
  };
}
