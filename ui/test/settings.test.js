// Settings: rename, forget (here only, or also at the server), language, screenshot protection, lock.
import { afterEach, describe, expect, test, vi } from "vitest";

import { allByTestId, byTestId, catalogues, click, en, mount, onScreen, screenName, shown } from "./helpers.js";

/** @type {import("../www/lib/app.js").App | null} */
let running = null;
afterEach(() => {
  running?.stop();
  running = null;
});

/** @param {Parameters<typeof mount>} args */
async function start(...args) {
  const mounted = await mount(...args);
  running = mounted.app;
  return mounted;
}

/** @param {number} index */
const identity = (index) => /** @type {HTMLElement} */ (allByTestId("settings-identity")[index]);
/** @param {HTMLElement} root @param {string} testid */
const inside = (root, testid) => /** @type {HTMLElement} */ (root.querySelector(`[data-testid="${testid}"]`));

describe("identities", () => {
  test("are listed with their server and a rename field holding the device name", async () => {
    await start({ unlocked: true }, "#/settings");
    expect(allByTestId("settings-identity")).toHaveLength(2);
    expect(identity(0).querySelector("h3")?.textContent).toBe("identita.example.cz");
    expect(/** @type {HTMLInputElement} */ (inside(identity(0), "rename-input")).value).toBe("Pixel 8");
    const label = identity(0).querySelector("label");
    expect(label?.textContent).toBe(en["app.settings.rename.label"]);
    expect(document.getElementById(label?.getAttribute("for") ?? "")).toBe(inside(identity(0), "rename-input"));
  });

  test("rename sends the new name and confirms it", async () => {
    const { backend } = await start({ unlocked: true }, "#/settings");
    const rename = vi.spyOn(backend, "renameIdentity");
    const input = /** @type {HTMLInputElement} */ (inside(identity(1), "rename-input"));
    input.value = "  Jana's phone ";
    inside(identity(1), "rename-save").click();
    await vi.waitFor(() => expect(inside(identity(1), "rename-done")?.textContent).toBe("Renamed to Jana's phone."));
    expect(rename).toHaveBeenCalledWith("p7d2w4ra", "Jana's phone");
    expect(input.value).toBe("Jana's phone");
  });

  test("an empty name is refused before asking the server", async () => {
    const { backend } = await start({ unlocked: true }, "#/settings");
    const rename = vi.spyOn(backend, "renameIdentity");
    /** @type {HTMLInputElement} */ (inside(identity(0), "rename-input")).value = " ";
    inside(identity(0), "rename-save").click();
    expect(inside(identity(0), "rename-error")?.textContent).toBe(en["app.settings.rename.empty"]);
    expect(rename).not.toHaveBeenCalled();
  });

  test("forget asks first, and disconnects at the server by default", async () => {
    const { backend } = await start({ unlocked: true }, "#/settings");
    const forget = vi.spyOn(backend, "forgetIdentity");
    const panel = inside(identity(0), "forget-panel");
    expect(panel.hidden).toBe(true);
    inside(identity(0), "forget").click();
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector("legend")?.textContent).toBe("Forget identita.example.cz on this device?");
    expect(/** @type {HTMLInputElement} */ (inside(panel, "forget-server")).checked).toBe(true);
    expect(document.activeElement).toBe(inside(panel, "forget-server"));
    inside(panel, "forget-confirm").click();
    await vi.waitFor(() => expect(allByTestId("settings-identity")).toHaveLength(1));
    expect(forget).toHaveBeenCalledWith("k3v9q2mx", false);
  });

  test("forget only here tells the server nothing", async () => {
    const { backend } = await start({ unlocked: true }, "#/settings");
    const forget = vi.spyOn(backend, "forgetIdentity");
    inside(identity(1), "forget").click();
    inside(identity(1), "forget-local").click();
    inside(identity(1), "forget-confirm").click();
    await vi.waitFor(() => expect(forget).toHaveBeenCalledWith("p7d2w4ra", true));
  });

  test("cancel keeps the identity", async () => {
    const { backend } = await start({ unlocked: true }, "#/settings");
    const forget = vi.spyOn(backend, "forgetIdentity");
    inside(identity(0), "forget").click();
    inside(identity(0), "forget-cancel").click();
    expect(inside(identity(0), "forget-panel").hidden).toBe(true);
    expect(document.activeElement).toBe(inside(identity(0), "forget"));
    expect(forget).not.toHaveBeenCalled();
  });

  test("none on this device says so", async () => {
    await start({ unlocked: true, identities: [] }, "#/settings");
    expect(byTestId("settings-identities-empty")?.textContent).toBe(en["app.settings.identities.empty"]);
  });
});

describe("language", () => {
  test("follows the system until another is chosen, and switches the whole app", async () => {
    const { app } = await start({ unlocked: true }, "#/settings");
    const system = /** @type {HTMLInputElement} */ (byTestId("language-system"));
    expect(system.checked).toBe(true);
    expect(system.labels?.[0].textContent).toBe("Follow the system (English)");
    const czech = /** @type {HTMLInputElement} */ (byTestId("language-cs"));
    czech.checked = true;
    czech.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(document.querySelector("h1")?.textContent).toBe(catalogues.cs["app.settings.title"]));
    expect(document.documentElement.lang).toBe("cs");
    expect(byTestId("nav-home")?.textContent).toBe(catalogues.cs["app.nav.home"]);
    expect(/** @type {HTMLInputElement} */ (byTestId("language-cs")).checked).toBe(true);
    expect(document.activeElement).toBe(byTestId("language-cs"));
    expect(app.status.language_choice).toBe("cs");
    const back = /** @type {HTMLInputElement} */ (byTestId("language-system"));
    back.checked = true;
    back.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(document.documentElement.lang).toBe("en"));
  });

  test("the languages are named in their own words", async () => {
    await start({ unlocked: true }, "#/settings");
    expect(["cs", "hu", "en"].map((l) => byTestId(`language-${l}`)?.nextElementSibling?.textContent)).toEqual(["Čeština", "Magyar", "English"]);
    expect(byTestId("language-hu")?.nextElementSibling?.getAttribute("lang")).toBe("hu");
  });
});

describe("screenshot protection", () => {
  test("is not offered on desktop", async () => {
    await start({ unlocked: true }, "#/settings");
    expect(byTestId("screenshot-protection")).toBeNull();
  });

  test("is on by default on mobile and can be turned off", async () => {
    const { backend } = await start({ unlocked: true, platform: "android" }, "#/settings");
    const toggle = /** @type {HTMLInputElement} */ (byTestId("screenshot-protection"));
    expect(toggle.checked).toBe(true);
    toggle.click();
    await vi.waitFor(async () => expect((await backend.status()).screenshot_protection).toBe(false));
    expect(toggle.checked).toBe(false);
  });

  test("a refusal puts the switch back and says why", async () => {
    await start({ unlocked: true, platform: "ios", fail: { setScreenshotProtection: "not_available" } }, "#/settings");
    const toggle = /** @type {HTMLInputElement} */ (byTestId("screenshot-protection"));
    toggle.click();
    expect((await shown("screenshot-error")).textContent).toBe(en["app.error.not_available"]);
    expect(toggle.checked).toBe(true);
  });
});

describe("app lock", () => {
  test("lock now goes to the PIN screen", async () => {
    const { app } = await start({ unlocked: true }, "#/settings");
    click("lock-now");
    await onScreen(app, "pin");
    expect(screenName()).toBe("pin");
  });
});
