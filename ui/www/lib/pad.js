// @ts-check
// The digit pad shared by the app PIN (6 digits) and the BOK-pad (4–10 digits): big keys, masked
// dots, the physical keyboard too. The digits never reach the DOM as text.

import { h, icon } from "./dom.js";

/** @typedef {import("./app.js").App} App */

/**
 * The value after pressing `key` (`0`–`9` or `back`): digits only, at most `max`.
 * @param {string} value
 * @param {string} key
 * @param {number} max
 * @returns {string}
 */
export function padPress(value, key, max) {
  if (key === "back") return value.slice(0, -1);
  if (!/^[0-9]$/.test(key)) return value;
  return value.length >= max ? value : value + key;
}

/**
 * @param {string} value
 * @param {number} min
 * @param {number} max
 * @returns {boolean} whether `value` is `min` to `max` digits and nothing else
 */
export function padComplete(value, min, max) {
  return /^[0-9]*$/.test(value) && value.length >= min && value.length <= max;
}

/**
 * @typedef {object} PadOptions
 * @property {string} prefix `data-testid`s: `PREFIX-key-7`, `PREFIX-key-back`, `PREFIX-submit`
 * @property {number} min
 * @property {number} max
 * @property {string} label what the digits are, for assistive technology ("App PIN")
 * @property {(value: string) => void} onSubmit
 * @property {string} [submitLabel] a submit button; without it the pad submits at `max` digits
 * @property {HTMLElement} [extraKey] shown left of 0 (the biometrics button)
 */

/**
 * @typedef {object} Pad
 * @property {HTMLElement} element
 * @property {() => string} value
 * @property {() => void} clear
 * @property {(disabled: boolean) => void} setDisabled
 * @property {() => void} dispose
 */

/**
 * @param {App} app
 * @param {PadOptions} options
 * @returns {Pad}
 */
export function createPad(app, options) {
  const { prefix, min, max, onSubmit } = options;
  let value = "";
  let disabled = false;

  const dots = h("div", { class: "pad__dots", "aria-hidden": "true", testid: `${prefix}-dots` });
  const count = h("p", { class: "sr-only", "aria-live": "polite", testid: `${prefix}-count` });
  const keys = h("div", { class: "pad__keys", role: "group", "aria-label": options.label });
  /** @type {HTMLButtonElement[]} */
  const buttons = [];

  /** @param {string} key @param {Node | string} face @param {string} [label] */
  const key = (key, face, label) => {
    const button = h(
      "button",
      {
        type: "button",
        class: `pad__key${key === "back" ? " pad__key--quiet" : ""}`,
        testid: `${prefix}-key-${key}`,
        "aria-label": label,
        onclick: () => press(key),
      },
      face,
    );
    buttons.push(button);
    return button;
  };
  for (const digit of ["1", "2", "3", "4", "5", "6", "7", "8", "9"]) keys.append(key(digit, digit));
  keys.append(options.extraKey ?? h("span", { class: "pad__gap" }));
  keys.append(key("0", "0"));
  keys.append(key("back", icon("back"), app.t("app.pad.delete")));

  const submit = options.submitLabel
    ? h("button", {
        type: "button",
        class: "button button--primary pad__submit",
        testid: `${prefix}-submit`,
        text: options.submitLabel,
        onclick: () => submitNow(),
      })
    : null;

  const element = h("div", { class: "pad" }, dots, count, keys, submit);

  function render() {
    const slots = min === max ? max : Math.max(min, value.length);
    dots.replaceChildren(
      ...Array.from({ length: slots }, (_, i) =>
        h("span", { class: i < value.length ? "pad__dot pad__dot--on" : "pad__dot" }),
      ),
    );
    count.textContent =
      min === max
        ? app.t("app.pad.entered_of", { n: value.length, max })
        : app.tn("app.pad.entered", value.length);
    for (const button of buttons) button.disabled = disabled;
    if (submit) submit.disabled = disabled || !padComplete(value, min, max);
  }

  /** @param {string} pressed */
  function press(pressed) {
    if (disabled) return;
    value = padPress(value, pressed, max);
    render();
    if (!submit && value.length === max) submitNow();
  }

  function submitNow() {
    if (disabled || !padComplete(value, min, max)) return;
    onSubmit(value);
  }

  /** @param {KeyboardEvent} event */
  function onKey(event) {
    const target = /** @type {HTMLElement | null} */ (event.target);
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (/^[0-9]$/.test(event.key)) press(event.key);
    else if (event.key === "Backspace") press("back");
    else if (event.key === "Enter" && submit) submitNow();
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);

  render();
  return {
    element,
    value: () => value,
    clear: () => {
      value = "";
      render();
    },
    setDisabled: (next) => {
      disabled = next;
      render();
    },
    dispose: () => document.removeEventListener("keydown", onKey),
  };
}
