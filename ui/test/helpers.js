// Shared by the screen tests: the real index.html, the real catalogues, the fake backend.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, vi } from "vitest";

import { startApp } from "../www/lib/app.js";
import { fakeBackend } from "../dev/backend/fake.js";

/** The repository's root (paths, not URLs: jsdom's URL is not the one node:fs takes). */
export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** @param {string} lang */
const catalogue = (lang) =>
  JSON.parse(readFileSync(join(repo, "crates", "i18n", "locales", `${lang}.json`), "utf8"));

export const catalogues = { en: catalogue("en"), cs: catalogue("cs"), hu: catalogue("hu") };
export const en = catalogues.en;

const indexHtml = readFileSync(join(repo, "ui", "www", "index.html"), "utf8");
const inner = /<html[^>]*>([\s\S]*)<\/html>/i.exec(indexHtml)?.[1] ?? "";

/** Puts index.html's page in the document (its script does not run). */
export function loadPage() {
  document.documentElement.innerHTML = inner;
}

/**
 * Starts the app on `hash` against a fake backend with `options` (English, no delays, a camera
 * that never finds anything unless told).
 * @param {import("../dev/backend/fake.js").FakeOptions} [options]
 * @param {string} [hash]
 */
export async function mount(options = {}, hash = "#/home") {
  loadPage();
  window.history.replaceState(null, "", hash);
  const backend = fakeBackend({
    catalogues,
    languages: ["en"],
    pairDelayMs: 0,
    cameraFindsAfterMs: Infinity,
    ...options,
  });
  const app = await startApp({ backend });
  await app.current()?.screen.ready;
  return { app, backend };
}

/**
 * Starts the app over a backend that already went through something (a wrong PIN, …).
 * @param {import("../www/lib/backend/index.js").Backend} backend
 * @param {string} [hash]
 */
export async function mountOn(backend, hash = "#/home") {
  loadPage();
  window.history.replaceState(null, "", hash);
  const app = await startApp({ backend });
  await app.current()?.screen.ready;
  return app;
}

/** A fake backend with the tests' defaults (English, no delays). */
export function testBackend(/** @type {import("../dev/backend/fake.js").FakeOptions} */ options = {}) {
  return fakeBackend({ catalogues, languages: ["en"], pairDelayMs: 0, cameraFindsAfterMs: Infinity, ...options });
}

/** The `data-screen` shown. */
export function screenName() {
  return document.querySelector("[data-screen]")?.getAttribute("data-screen") ?? null;
}

/** @param {string} testid */
export function byTestId(testid) {
  return /** @type {HTMLElement | null} */ (document.querySelector(`[data-testid="${testid}"]`));
}

/** @param {string} testid */
export function allByTestId(testid) {
  return [...document.querySelectorAll(`[data-testid="${testid}"]`)];
}

/** @param {string} testid */
export function click(testid) {
  const element = byTestId(testid);
  if (!element) throw new Error(`no [data-testid="${testid}"] in: ${screenText()}`);
  element.click();
}

/**
 * Presses `digits` on the pad `prefix` (`pin`, `bok`).
 * @param {string} prefix
 * @param {string} digits
 */
export function typeDigits(prefix, digits) {
  for (const digit of digits) click(`${prefix}-key-${digit}`);
}

/** Waits until the screen `name` is shown and ready. */
export async function onScreen(/** @type {import("../www/lib/app.js").App} */ app, /** @type {string} */ name) {
  await vi.waitFor(() => {
    if (screenName() !== name) throw new Error(`on ${screenName()}, not ${name}`);
  });
  await app.current()?.screen.ready;
}

/** Waits until `[data-testid=testid]` exists; returns it. */
export async function shown(/** @type {string} */ testid) {
  return vi.waitFor(() => {
    const element = byTestId(testid);
    if (!element) throw new Error(`no ${testid} in:\n${document.querySelector("[data-screen]")?.textContent}`);
    return element;
  });
}

/** The visible text of the screen. */
export function screenText() {
  return document.querySelector("[data-screen]")?.textContent ?? "";
}

/** Fake clocks for the tests that count seconds; `setImmediate` stays real for `until`. */
export function fakeClock(/** @type {Date | undefined} */ now) {
  vi.useFakeTimers({ now, toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
}

/**
 * Retries `check` while promises settle, without moving a fake clock (unlike vi.waitFor).
 * @template T
 * @param {() => T} check
 * @returns {Promise<T>}
 */
export async function until(check) {
  let last;
  for (let i = 0; i < 500; i++) {
    try {
      return check();
    } catch (error) {
      last = error;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  throw last;
}

/**
 * The `start` of a test file: mounts the app like `mount`, and stops it (and puts real timers
 * back) after each test.
 * @returns {(...args: Parameters<typeof mount>) => ReturnType<typeof mount>}
 */
export function mountEach() {
  /** @type {import("../www/lib/app.js").App | null} */
  let running = null;
  afterEach(() => {
    running?.stop();
    running = null;
    vi.useRealTimers();
  });
  return async (...args) => {
    const mounted = await mount(...args);
    running = mounted.app;
    return mounted;
  };
}
