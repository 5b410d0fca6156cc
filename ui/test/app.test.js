// Every screen: its data-screen root, the heading that gets the focus, the menu, no inline styles,
// named buttons; and the rule that only lib/backend/ knows about Tauri.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { afterEach, describe, expect, test } from "vitest";

import { SAMPLE_LINKS } from "../dev/backend/fake.js";
import { byTestId, en, mount, onScreen, repo } from "./helpers.js";

/** @type {import("../www/lib/app.js").App | null} */
let running = null;
afterEach(() => {
  running?.stop();
  running = null;
});

/** The problems a screen must not have. */
function audit() {
  const problems = [];
  const screens = document.querySelectorAll("[data-screen]");
  if (screens.length !== 1) problems.push(`${screens.length} [data-screen] roots`);
  const h1 = document.querySelectorAll("[data-screen] h1");
  if (h1.length !== 1) problems.push(`${h1.length} h1`);
  for (const element of document.querySelectorAll("[style]")) problems.push(`style= on ${element.outerHTML.slice(0, 60)}`);
  for (const button of document.querySelectorAll("button, a[href]")) {
    const name = button.getAttribute("aria-label") ?? button.textContent?.trim();
    if (!name) problems.push(`unnamed ${button.outerHTML.slice(0, 80)}`);
  }
  for (const input of document.querySelectorAll("input:not([type=hidden])")) {
    const labelled = /** @type {HTMLInputElement} */ (input).labels?.length || input.getAttribute("aria-label");
    if (!labelled) problems.push(`unlabelled ${input.outerHTML.slice(0, 80)}`);
  }
  const text = document.body.textContent ?? "";
  const leftover = text.match(/app\.[a-z_]+\.[a-z_.]+|\{[a-z_]+\}/);
  if (leftover) problems.push(`untranslated ${leftover[0]}`);
  return problems;
}

describe("every screen", () => {
  test.each([
    ["pin", { pin: null }],
    ["pin", {}],
    ["home", { unlocked: true }],
    ["home", { unlocked: true, identities: [], otp: [] }],
    ["scan", { unlocked: true }],
    ["scan", { unlocked: true, camera: "none" }],
    ["pair", { unlocked: true }],
    ["link", { unlocked: true }],
    ["login", { unlocked: true }],
    ["bok", { unlocked: true }],
    ["notifications", { unlocked: true }],
    ["notifications", { unlocked: true, notifications: [] }],
    ["settings", { unlocked: true, platform: "android" }],
    ["otp-add", { unlocked: true }],
  ])("%s is whole, named and focused (%o)", async (name, options) => {
    const { app } = await mount(/** @type {any} */ (options), `#/${name}`);
    running = app;
    await onScreen(app, name);
    expect(audit()).toEqual([]);
    expect(document.activeElement?.tagName).toBe("H1");
  });

  test.each([
    ["pair", SAMPLE_LINKS.pair, "confirmation-code"],
    ["login", SAMPLE_LINKS.login, "login-approve"],
    ["otp-add", SAMPLE_LINKS.otp, "otp-add-confirm"],
  ])("%s with its request is whole too", async (name, link, testid) => {
    const { app } = await mount({ unlocked: true, pairDelayMs: 60_000 });
    running = app;
    await app.openText(link);
    await onScreen(app, name);
    await new Promise((r) => setTimeout(r, 10));
    expect(byTestId(testid)).not.toBeNull();
    expect(audit()).toEqual([]);
  });

  test("the menu shows once unlocked and marks where the citizen is", async () => {
    const { app } = await mount({ unlocked: true }, "#/scan");
    running = app;
    const nav = document.getElementById("nav");
    expect(nav?.hidden).toBe(false);
    expect(nav?.getAttribute("aria-label")).toBe(en["app.nav.label"]);
    expect(byTestId("nav-scan")?.getAttribute("aria-current")).toBe("page");
    expect(byTestId("nav-home")?.hasAttribute("aria-current")).toBe(false);
    expect(byTestId("nav-settings")?.textContent).toBe(en["app.nav.settings"]);
    window.location.hash = "#/settings";
    await onScreen(app, "settings");
    expect(byTestId("nav-settings")?.getAttribute("aria-current")).toBe("page");
    expect(document.title).toBe(en["app.window_title"]);
    expect(document.documentElement.lang).toBe("en");
  });

  test("skip to content focuses the screen's heading and keeps the route", async () => {
    const { app } = await mount({ unlocked: true }, "#/settings");
    running = app;
    /** @type {HTMLElement} */ (document.querySelector("a.skip")).focus();
    /** @type {HTMLElement} */ (document.querySelector("a.skip")).click();
    expect(document.activeElement?.textContent).toBe(en["app.settings.title"]);
    expect(window.location.hash).toBe("#/settings");
  });

  test("the system's language is used: Hungarian", async () => {
    const { app } = await mount({ languages: ["hu-HU"], pin: null });
    running = app;
    expect(document.documentElement.lang).toBe("hu");
    expect(document.querySelector("h1")?.textContent).toBe("Válassza ki az alkalmazás PIN-kódját");
  });

  test("a failing backend shows the reason instead of a blank page", async () => {
    const { app } = await mount({ fail: { home: "unreachable" }, unlocked: true });
    running = app;
    expect(document.body.textContent).toContain(en["app.error.unreachable"]);
  });
});

describe("the structure", () => {
  const www = join(repo, "ui", "www");
  /** @param {string} dir @returns {string[]} */
  const files = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
    );

  test("nothing outside lib/backend/ touches Tauri", () => {
    const offenders = files(www)
      .filter((file) => /\.(js|html)$/.test(file))
      .filter((file) => !relative(www, file).startsWith(join("lib", "backend")))
      .filter((file) => /__TAURI__|@tauri-apps/.test(readFileSync(file, "utf8")));
    expect(offenders).toEqual([]);
  });

  test("the app's bundle (frontendDist) holds no fake backend and imports nothing from outside", () => {
    const conf = JSON.parse(readFileSync(join(repo, "src-tauri", "tauri.conf.json"), "utf8"));
    const dist = resolve(repo, "src-tauri", conf.build.frontendDist);
    const shipped = files(dist);
    expect(shipped.length).toBeGreaterThan(10);
    const fakes = shipped.filter((file) =>
      /export (async )?function fakeBackend|export async function totp/.test(readFileSync(file, "utf8")),
    );
    expect(fakes).toEqual([]);
    // Static imports stay inside the bundle; only connect() reaches out, at run time and only in
    // a plain browser, to the dev-only fake.
    const escaping = shipped
      .filter((file) => file.endsWith(".js"))
      .flatMap((file) =>
        [...readFileSync(file, "utf8").matchAll(/^import [^;]*? from "([^"]+)"/gms)]
          .map((m) => resolve(dirname(file), m[1]))
          .filter((target) => relative(dist, target).startsWith(".."))
          .map((target) => `${relative(repo, file)} -> ${relative(repo, target)}`),
      );
    expect(escaping).toEqual([]);
  });

  test("a plain browser finds the dev-only fake backend where connect() looks for it", async () => {
    const { FAKE_BACKEND } = await import("../www/lib/backend/index.js");
    const fake = resolve(www, "lib", "backend", FAKE_BACKEND);
    expect(relative(repo, fake)).toBe(join("ui", "dev", "backend", "fake.js"));
    expect(readFileSync(fake, "utf8")).toMatch(/export function fakeBackend/);
  });

  test("no inline scripts or styles in the page (the CSP allows neither)", () => {
    const html = readFileSync(join(www, "index.html"), "utf8");
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/);
  });
});
