// @ts-check
// Pieces every screen uses: its frame with the heading that gets the focus, notices, buttons.

import { h, icon } from "../lib/dom.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Notice} Notice */
/** @typedef {import("../lib/router.js").Route} Route */
/** @typedef {import("../lib/dom.js").Child} Child */

/**
 * A screen's root `[data-screen=NAME]` with its `h1` (focused when shown) and the notice the
 * previous screen left, if any.
 * @param {App} app
 * @param {string} name
 * @param {string} title
 * @returns {{ element: HTMLElement, heading: HTMLHeadingElement, body: HTMLElement }}
 */
export function frame(app, name, title) {
  const heading = h("h1", { class: "screen__title", tabindex: "-1", text: title });
  const body = h("div", { class: "screen__body" });
  const left = app.takeNotice();
  const element = h(
    "section",
    { class: `screen screen--${name}`, "data-screen": name, "aria-labelledby": `${name}-title` },
    heading,
    left && notice(left.text, left.tone),
    body,
  );
  heading.id = `${name}-title`;
  return { element, heading, body };
}

/**
 * A message box: `info` is a polite status, `error` an alert.
 * @param {string} text
 * @param {"info" | "error" | "warning" | "success"} [tone]
 * @param {string} [testid]
 */
export function notice(text, tone = "info", testid) {
  const role = tone === "error" ? "alert" : "status";
  const glyph = tone === "error" || tone === "warning" ? "warning" : tone === "success" ? "check" : "shield";
  return h(
    "div",
    { class: `notice notice--${tone}`, role, testid },
    icon(glyph),
    h("p", { class: "notice__text", text }),
  );
}

/**
 * A spinner with what the screen waits for, said to screen readers as a status.
 * @param {string} text
 */
export function waitingStatus(text) {
  return h(
    "div",
    { class: "waiting", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    h("span", { text }),
  );
}

/**
 * @param {string} label
 * @param {() => void} onclick
 * @param {{ variant?: "primary" | "secondary" | "danger" | "quiet", testid?: string, icon?: Parameters<typeof icon>[0] }} [options]
 */
export function button(label, onclick, options = {}) {
  return h(
    "button",
    { type: "button", class: `button button--${options.variant ?? "secondary"}`, testid: options.testid, onclick },
    options.icon && icon(options.icon),
    h("span", { text: label }),
  );
}

/**
 * A link styled as a button, to another route.
 * @param {string} label
 * @param {Route} route
 * @param {{ variant?: "primary" | "secondary", testid?: string, icon?: Parameters<typeof icon>[0] }} [options]
 */
export function routeLink(label, route, options = {}) {
  return h(
    "a",
    { href: `#/${route}`, class: `button button--${options.variant ?? "secondary"}`, testid: options.testid },
    options.icon && icon(options.icon),
    h("span", { text: label }),
  );
}

/**
 * A row of actions.
 * @param {...Child} children
 */
export function actions(...children) {
  return h("div", { class: "actions" }, ...children);
}

/**
 * Moves the focus to a heading that just appeared (an outcome), so it is read out.
 * @param {HTMLElement} heading
 */
export function focusHeading(heading) {
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

/**
 * A promise with its resolve function, for `Screen.ready`.
 * @returns {{ promise: Promise<void>, resolve: () => void }}
 */
export function readiness() {
  /** @type {() => void} */
  let resolve = () => {};
  const promise = new Promise((r) => {
    resolve = () => r(undefined);
  });
  return { promise, resolve };
}
