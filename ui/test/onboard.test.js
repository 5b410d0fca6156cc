// In-person onboarding: the identification code for the office counter, its countdown, and the
// outcomes (set up, expired, cancelled), against the fake backend.
import { describe, expect, test, vi } from "vitest";

import { serverAddress } from "../dev/backend/fake.js";
import { groupIdentificationCode, spokenCode } from "../www/screens/onboard.js";
import { byTestId, click, en, fakeClock, mountEach, onScreen, screenName, screenText, shown, typeDigits, until } from "./helpers.js";

const start = mountEach();

/** The server field. */
const serverField = () => /** @type {HTMLInputElement} */ (byTestId("onboard-server"));

/**
 * Types `server` and asks for a code.
 * @param {string} server
 */
function askForCode(server) {
  serverField().value = server;
  click("onboard-start");
}

describe("in-person onboarding", () => {
  test("shows the identification code large, grouped and monospace, what to do, and the time left", async () => {
    const { app } = await start({ unlocked: true, identities: [], onboardDelayMs: Infinity }, "#/onboard");
    expect(screenName()).toBe("onboard");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.onboard.title"]);
    expect(serverField().value).toBe("");
    askForCode(" identita.example.cz ");
    const code = await shown("identification-code");
    expect(code.textContent).toBe("K7QM-X2PD-9R");
    expect(code.classList.contains("big-code__digits--mono")).toBe(true);
    expect(code.getAttribute("aria-label")).toBe("K 7 Q M, X 2 P D, 9 R");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.onboard.code.title"]);
    expect(document.activeElement).toBe(document.querySelector("h1"));
    expect(byTestId("onboard-show")?.textContent).toBe(en["app.onboard.show"]);
    expect(en["app.onboard.show"]).toMatch(/identity document/);
    expect(screenText()).toContain("Account at identita.example.cz");
    expect(screenText()).toContain(en["app.onboard.waiting"]);
    expect(byTestId("onboard-time-left")?.textContent).toMatch(/^(30:00|29:59)$/);
    expect(app.current()?.route).toBe("onboard");
  });

  test("the countdown ticks down to the code's expiry", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    await start({ unlocked: true, identities: [], onboardDelayMs: Infinity }, "#/onboard");
    askForCode("identita.example.cz");
    await until(() => expect(byTestId("onboard-time-left")?.textContent).toBe("30:00"));
    await vi.advanceTimersByTimeAsync(61_000);
    expect(byTestId("onboard-time-left")?.textContent).toBe("28:59");
    await vi.advanceTimersByTimeAsync(28 * 60_000);
    expect(byTestId("onboard-time-left")?.textContent).toBe("0:59");
  });

  test("when the clerk enters the code it says the account's name and goes home with it", async () => {
    const { app, backend } = await start({ unlocked: true, identities: [], onboardDelayMs: Infinity }, "#/onboard");
    askForCode("https://identita.example.cz");
    await shown("identification-code");
    expect(backend.completeOnboarding("Petr Svoboda")).toBe(true);
    const box = await shown("onboard-done");
    expect(box.textContent).toContain("You're set up: Petr Svoboda — this device is now your mobile key.");
    expect(box.querySelector("h2")?.textContent).toBe(en["app.onboard.done.title"]);
    // The screen's heading no longer asks to show the code.
    expect(document.querySelector("h1")?.textContent).toBe(en["app.onboard.title"]);
    expect(document.activeElement).toBe(box.querySelector("h2"));
    expect(byTestId("onboard-time-left")).toBeNull();
    click("onboard-home");
    await onScreen(app, "home");
    expect(screenText()).toContain("Petr Svoboda");
    expect(screenText()).toContain("identita.example.cz");
  });

  test("a code nobody entered in time says so and offers a new one", async () => {
    const { backend } = await start(
      { unlocked: true, identities: [], onboardOutcome: "expired", onboardDelayMs: 5 },
      "#/onboard",
    );
    const begin = vi.spyOn(backend, "onboardingStart");
    askForCode("identita.example.cz");
    const box = await shown("onboard-expired");
    expect(box.querySelector("h2")?.textContent).toBe(en["app.onboard.expired.title"]);
    expect(document.querySelector("h1")?.textContent).toBe(en["app.onboard.title"]);
    expect(box.textContent).toContain(en["app.onboard.expired.text"]);
    expect(document.activeElement).toBe(box.querySelector("h2"));
    click("onboard-again");
    await until(() => expect(begin).toHaveBeenCalledTimes(2));
    expect(begin).toHaveBeenLastCalledWith("https://identita.example.cz");
    await shown("onboard-expired");
  });

  test("the code expires when its time is up", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    await start({ unlocked: true, identities: [], onboardDelayMs: Infinity, onboardTtlSecs: 120 }, "#/onboard");
    askForCode("identita.example.cz");
    await until(() => expect(byTestId("onboard-time-left")?.textContent).toBe("2:00"));
    await vi.advanceTimersByTimeAsync(120_000);
    await until(() => expect(byTestId("onboard-expired")).not.toBeNull());
    expect(byTestId("onboard-again")?.textContent).toBe(en["app.onboard.again"]);
  });

  test("cancel abandons the code and goes home", async () => {
    const { app, backend } = await start({ unlocked: true, identities: [], onboardDelayMs: Infinity }, "#/onboard");
    const cancel = vi.spyOn(backend, "onboardingCancel");
    askForCode("identita.example.cz");
    await shown("identification-code");
    expect(backend.inspect().onboarding).toBe(true);
    click("onboard-cancel");
    await onScreen(app, "home");
    expect(cancel).toHaveBeenCalled();
    expect(backend.inspect().onboarding).toBe(false);
    expect(backend.completeOnboarding()).toBe(false);
  });

  test("the server the app knows is filled in", async () => {
    await start({ unlocked: true }, "#/onboard");
    expect(serverField().value).toBe("https://identita.example.cz");
    const label = document.querySelector('label[for="onboard-server"]');
    expect(label?.textContent).toBe(en["app.onboard.server.label"]);
  });

  test("a malformed server address is said plainly and the form stays", async () => {
    const { backend } = await start({ unlocked: true, identities: [] }, "#/onboard");
    askForCode("http://identita.example.cz/onboard");
    const error = await shown("onboard-error");
    expect(error.textContent).toBe(en["app.error.server_address"]);
    expect(serverField().value).toBe("http://identita.example.cz/onboard");
    expect(backend.inspect().onboarding).toBe(false);
    askForCode("  ");
    expect(byTestId("onboard-error")?.textContent).toBe(en["app.error.server_address"]);
  });

  test("an unreachable server is said, with the form to try again", async () => {
    await start({ unlocked: true, identities: [], fail: { onboardingStart: "unreachable" } }, "#/onboard");
    askForCode("identita.example.cz");
    const error = await shown("onboard-error");
    expect(error.textContent).toBe(en["app.error.unreachable"]);
    expect(byTestId("onboard-start")).not.toBeNull();
  });

  test("the app locking while the code is shown does not abandon it: it is shown again after the unlock", async () => {
    const { app, backend } = await start({ unlocked: true, identities: [], onboardDelayMs: Infinity }, "#/onboard");
    const cancel = vi.spyOn(backend, "onboardingCancel");
    askForCode("identita.example.cz");
    await shown("identification-code");
    backend.emitLocked();
    await onScreen(app, "pin");
    expect(cancel).not.toHaveBeenCalled();
    expect(backend.inspect().onboarding).toBe(true);
    typeDigits("pin", "135790");
    await onScreen(app, "onboard");
    expect((await shown("identification-code")).textContent).toBe("K7QM-X2PD-9R");
    expect(screenText()).toContain("Account at identita.example.cz");
    expect(backend.completeOnboarding("Petr Svoboda")).toBe(true);
    expect((await shown("onboard-done")).textContent).toContain("You're set up: Petr Svoboda");
    expect(cancel).not.toHaveBeenCalled();
  });

  test("home without an identity and the settings lead to it", async () => {
    const { app } = await start({ unlocked: true, identities: [] }, "#/home");
    const link = await shown("onboard-link");
    expect(link.getAttribute("href")).toBe("#/onboard");
    expect(link.textContent).toBe(en["app.onboard.link"]);
    await app.go("settings");
    await onScreen(app, "settings");
    const fromSettings = await shown("settings-onboard");
    expect(fromSettings.getAttribute("href")).toBe("#/onboard");
    fromSettings.click();
    await onScreen(app, "onboard");
  });

  test("home with identities does not push it", async () => {
    await start({ unlocked: true }, "#/home");
    expect(byTestId("onboard-link")).toBeNull();
  });
});

describe("onboarding helpers", () => {
  test("codes are grouped and spelt out", () => {
    expect(groupIdentificationCode("k7qmx2pd9r")).toBe("K7QM-X2PD-9R");
    expect(groupIdentificationCode("K7QM-X2PD-9R")).toBe("K7QM-X2PD-9R");
    expect(groupIdentificationCode("short")).toBe("short");
    expect(spokenCode("K7QM-X2PD-9R")).toBe("K 7 Q M, X 2 P D, 9 R");
  });

  test("the fake reads server addresses like the app", () => {
    expect(serverAddress("identita.example.cz")).toBe("https://identita.example.cz");
    expect(serverAddress(" https://Identita.example.cz/ ")).toBe("https://identita.example.cz");
    expect(serverAddress("http://127.0.0.1:8443")).toBe("http://127.0.0.1:8443");
    for (const bad of ["", "not a server", "http://identita.example.cz", "https://a.cz/path", "ftp://a.cz"]) {
      expect(serverAddress(bad), bad).toBeNull();
    }
  });
});
