// @ts-check
// A few lines instead of a framework: build elements with their attributes and listeners.
// No `style` attribute is ever set (the CSP allows styles from app.css only): looks change
// through classes, the `hidden` attribute and SVG presentation attributes.

/** @typedef {Node | string | number | null | undefined | false} Child */
/**
 * `class`, `text`, `testid` (→ `data-testid`), `onclick`-style listeners, and attributes
 * (`true` → present, `false`/`null`/`undefined` → absent).
 * @typedef {Record<string, unknown>} Props
 */

/**
 * @param {Element} element
 * @param {Props} props
 */
function apply(element, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.setAttribute("class", String(value));
    else if (name === "text") element.textContent = String(value);
    else if (name === "testid") element.setAttribute("data-testid", String(value));
    else if (name === "style") throw new Error("no inline styles: the CSP forbids them");
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else element.setAttribute(name, value === true ? "" : String(value));
  }
}

/**
 * @param {Element} element
 * @param {Child[]} children
 */
function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "object" ? child : String(child));
  }
}

/**
 * An HTML element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  apply(element, props);
  append(element, /** @type {Child[]} */ (children.flat()));
  return element;
}

/**
 * An SVG element.
 * @param {string} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {SVGElement}
 */
export function svg(tag, props = {}, ...children) {
  const element = /** @type {SVGElement} */ (
    document.createElementNS("http://www.w3.org/2000/svg", tag)
  );
  apply(element, props);
  append(element, children);
  return element;
}

/** The icons the screens use, drawn with the current text colour (24×24 grid). */
const ICONS = {
  back: "M21 5H9l-6 7 6 7h12zM17 9.5l-5 5M12 9.5l5 5",
  fingerprint:
    "M12 11v3c0 2-1 4-2.5 5.5M8.5 8.5A5 5 0 0 1 17 12v2c0 1.5-.3 3-.8 4.2M5 15.5c.6-1.1 1-2.2 1-3.5a6 6 0 0 1 9-5.2M19 9.5c.4.8.6 1.6.7 2.5",
  camera: "M4 8h3l2-3h6l2 3h3v11H4zM12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z",
  image: "M4 5h16v14H4zM4 16l5-5 4 4 2-2 5 5M15.5 9.5a1.5 1.5 0 1 0 0-.01",
  link: "M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  check: "M5 12.5l4.5 4.5L19 7.5",
  cross: "M6 6l12 12M18 6L6 18",
  clock: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 7v5l3 2",
  shield: "M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6z",
  warning: "M12 4l9 16H3zM12 10v4M12 17v.5",
};

/**
 * @param {keyof typeof ICONS} name
 * @returns {SVGElement} a decorative icon (hidden from assistive technology)
 */
export function icon(name) {
  return svg(
    "svg",
    { class: `icon icon--${name}`, viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    svg("path", { d: ICONS[name] }),
  );
}

/**
 * A copy of the brand mark kept once in index.html's `<template id="brand-mark">`.
 * @param {string} className
 * @returns {Element}
 */
export function brandMark(className) {
  const template = /** @type {HTMLTemplateElement | null} */ (document.getElementById("brand-mark"));
  const mark = template?.content.firstElementChild?.cloneNode(true);
  if (!(mark instanceof Element)) return h("span");
  mark.setAttribute("class", `${mark.getAttribute("class") ?? ""} ${className}`.trim());
  return mark;
}
