// The PIN screen against the fake backend: first run, unlocking, wrong PINs, waits, the reset.
import { describe, expect, test, vi } from "vitest";

import { byTestId, click, en, mount, mountEach, mountOn, onScreen, screenName, screenText, shown, testBackend, typeDigits } from "./helpers.js";

const start = mountEach();

describe("first run", () => {
  test("chooses a PIN by typing it twice, then shows home", async () => {
    const { app, backend } = await start({ pin: null }, "#/settings");
    expect(screenName()).toBe("pin");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pin.choose.title"]);
    expect(document.activeElement).toBe(document.querySelector("h1"));
    expect(byTestId("nav-home")?.closest("nav")?.hidden).toBe(true);
    typeDigits("pin", "274915");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pin.again.title"]);
    typeDigits("pin", "274915");
    await onScreen(app, "settings");
    expect(backend.inspect()).toMatchObject({ pin: "274915", unlocked: true });
    expect(byTestId("nav-home")?.closest("nav")?.hidden).toBe(false);
  });

  test("two different PINs start over and say so", async () => {
    await start({ pin: null });
    typeDigits("pin", "274915");
    typeDigits("pin", "274916");
    expect(byTestId("pin-error")?.textContent).toBe(en["app.pin.mismatch"]);
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pin.choose.title"]);
  });

  test("a guessable PIN is refused with the reason", async () => {
    await start({ pin: null });
    typeDigits("pin", "111111");
    typeDigits("pin", "111111");
    expect((await shown("pin-error")).textContent).toBe(en["app.error.pin_guessable"]);
    expect(screenName()).toBe("pin");
  });
});

describe("unlocking", () => {
  test("the right PIN opens the route that was asked for", async () => {
    const { app } = await start({}, "#/scan");
    expect(screenName()).toBe("pin");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pin.enter.title"]);
    typeDigits("pin", "135790");
    await onScreen(app, "scan");
  });

  test("the digits are masked: dots fill, no digit is written", async () => {
    await start();
    typeDigits("pin", "135");
    const dots = byTestId("pin-dots");
    expect(dots?.querySelectorAll(".pad__dot--on")).toHaveLength(3);
    expect(dots?.textContent).toBe("");
    expect(byTestId("pin-count")?.textContent).toBe("3 of 6 digits entered");
    click("pin-key-back");
    expect(dots?.querySelectorAll(".pad__dot--on")).toHaveLength(2);
  });

  test("the keyboard types too", async () => {
    const { app } = await start();
    for (const key of "13x5790") document.dispatchEvent(new KeyboardEvent("keydown", { key }));
    await onScreen(app, "home");
  });

  test("a wrong PIN says so with the attempts left", async () => {
    await start();
    typeDigits("pin", "111000");
    const error = await shown("pin-error");
    expect(error.textContent).toBe(`${en["app.error.wrong_pin"]} 9 attempts left.`);
    expect(error.getAttribute("role")).toBe("alert");
    expect(byTestId("pin-warning")).toBeNull();
    expect(byTestId("pin-key-1")?.hasAttribute("disabled")).toBe(false);
  });

  test("near the limit it warns about the reset", async () => {
    await start({ pinPolicy: { freeAttempts: 10, limit: 3 } });
    typeDigits("pin", "111000");
    await shown("pin-warning");
    expect(byTestId("pin-error")?.textContent).toContain("2 attempts left.");
    expect(byTestId("pin-warning")?.textContent).toBe(en["app.pin.reset_warning"]);
  });

  test("after too many it waits, with the pad off and a clock, then lets the citizen try again", async () => {
    vi.useFakeTimers();
    const { app } = await start({ pinPolicy: { freeAttempts: 1, waitSeconds: 30 } });
    typeDigits("pin", "111000");
    const wait = await shown("pin-wait");
    expect(wait.textContent).toBe("Try again in 30 seconds.");
    expect(byTestId("pin-key-5")?.hasAttribute("disabled")).toBe(true);
    expect(screenText()).toContain("0:30");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(screenText()).toContain("0:20");
    await vi.advanceTimersByTimeAsync(21_000);
    expect(byTestId("pin-wait")).toBeNull();
    expect(byTestId("pin-key-5")?.hasAttribute("disabled")).toBe(false);
    typeDigits("pin", "135790");
    await onScreen(app, "home");
  });

  test("a wait already running when the screen opens is shown at once", async () => {
    const backend = testBackend({ pinPolicy: { freeAttempts: 1, waitSeconds: 120 } });
    await backend.unlock("000000").catch(() => {});
    const app = await mountOn(backend, "#/pin");
    try {
      expect(byTestId("pin-error")?.textContent).toBe(en["app.error.pin_wait"]);
      expect(byTestId("pin-wait")?.textContent).toBe("Try again in 2 minutes.");
      expect(byTestId("pin-key-1")?.hasAttribute("disabled")).toBe(true);
    } finally {
      app.stop();
    }
  });

  test("the last wrong PIN resets the app and asks for a new PIN", async () => {
    const { backend } = await start({ pinPolicy: { freeAttempts: 10, limit: 1 } });
    typeDigits("pin", "111000");
    await vi.waitFor(() => expect(document.querySelector("h1")?.textContent).toBe(en["app.pin.choose.title"]));
    expect(screenText()).toContain(en["app.error.app_reset"]);
    expect(backend.inspect().pin).toBeNull();
  });

  test("biometrics are offered only where the platform has them", async () => {
    const first = await start();
    expect(byTestId("pin-biometrics")).toBeNull();
    first.app.stop();
    const { app } = await start({ biometrics: true });
    const button = byTestId("pin-biometrics");
    expect(button?.getAttribute("aria-label")).toBe(en["app.pin.biometrics"]);
    button?.click();
    await onScreen(app, "home");
  });

  test("locking from the app goes back to the PIN screen, and unlocking returns", async () => {
    const { app, backend } = await start({ unlocked: true }, "#/settings");
    expect(screenName()).toBe("settings");
    backend.emitLocked();
    await onScreen(app, "pin");
    typeDigits("pin", "135790");
    await onScreen(app, "settings");
  });

  test("a lock done behind the UI's back is noticed on the next route change", async () => {
    const { app, backend } = await start({ unlocked: true });
    await backend.lock();
    window.location.hash = "#/pin";
    await onScreen(app, "pin");
    typeDigits("pin", "111000");
    await shown("pin-error");
  });
});
