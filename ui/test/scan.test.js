// Scan: the camera, a picture, a pasted link; and links that arrive from outside.
import { describe, expect, test, vi } from "vitest";

import { SAMPLE_LINKS } from "../dev/backend/fake.js";
import { byTestId, click, en, mount, mountEach, onScreen, screenName, screenText, shown, typeDigits } from "./helpers.js";

const start = mountEach();

/** @param {string} text */
function paste(text) {
  const input = /** @type {HTMLInputElement} */ (byTestId("paste-input"));
  input.value = text;
  click("paste-submit");
}

/**
 * Chooses a file in the "scan a picture" input.
 * @param {Uint8Array} bytes
 */
function chooseFile(bytes) {
  const input = /** @type {HTMLInputElement} */ (byTestId("scan-image-input"));
  const file = new File([bytes], "qr.png", { type: "image/png" });
  Object.defineProperty(input, "files", { value: [file], configurable: true });
  input.dispatchEvent(new Event("change"));
}

describe("the camera", () => {
  test("shows the preview and goes where the code it finds leads", async () => {
    const { app } = await start({ unlocked: true, cameraFindsAfterMs: 450 }, "#/scan");
    expect(byTestId("camera-message")?.textContent).toBe(en["app.scan.camera.looking"]);
    await vi.waitFor(() => expect(byTestId("camera-preview")?.getAttribute("src")).toMatch(/^data:image\/jpeg;base64,/));
    expect(byTestId("camera-preview")?.getAttribute("alt")).toBe(en["app.scan.camera.preview"]);
    await onScreen(app, "pair");
  });

  test("no camera is said plainly, pointing to the other ways", async () => {
    await start({ unlocked: true, camera: "none" }, "#/scan");
    const none = byTestId("camera-none");
    expect(none?.textContent).toBe(en["app.scan.camera.none"]);
    expect(none?.getAttribute("role")).toBe("status");
    expect(byTestId("camera-retry")?.hidden).toBe(true);
    expect(byTestId("paste-input")).not.toBeNull();
    expect(byTestId("scan-image-input")).not.toBeNull();
  });

  test("a camera that fails can be tried again", async () => {
    const { backend } = await start({ unlocked: true, camera: "error" }, "#/scan");
    expect(byTestId("camera-error")?.textContent).toBe(en["app.error.camera"]);
    const spy = vi.spyOn(backend, "cameraStart");
    click("camera-retry");
    expect(spy).toHaveBeenCalledOnce();
  });

  test("leaving the screen stops the camera", async () => {
    const { app, backend } = await start({ unlocked: true }, "#/scan");
    const stop = vi.spyOn(backend, "cameraStop");
    await app.go("home");
    expect(stop).toHaveBeenCalled();
  });
});

describe("a pasted link", () => {
  test("a pairing link opens the pairing screen", async () => {
    const { app } = await start({ unlocked: true, camera: "none", pairDelayMs: 60_000 }, "#/scan");
    paste(`  ${SAMPLE_LINKS.pair}\n`);
    await onScreen(app, "pair");
  });

  test("a login link opens the login screen", async () => {
    const { app } = await start({ unlocked: true, camera: "none" }, "#/scan");
    paste(SAMPLE_LINKS.login);
    await onScreen(app, "login");
  });

  test("an unreadable link says so and stays", async () => {
    await start({ unlocked: true, camera: "none" }, "#/scan");
    paste("civkey://pair?v=1&s=nothing");
    const error = await shown("scan-error");
    expect(error.textContent).toBe(en["app.error.unreadable"]);
    expect(error.getAttribute("role")).toBe("alert");
    expect(screenName()).toBe("scan");
    expect(document.activeElement).toBe(byTestId("paste-input"));
  });

  test("something else entirely is named as such", async () => {
    await start({ unlocked: true, camera: "none" }, "#/scan");
    paste("https://example.com/");
    expect((await shown("scan-error")).textContent).toBe(en["app.error.not_civkey"]);
  });

  test("an empty field asks for a link", async () => {
    await start({ unlocked: true, camera: "none" }, "#/scan");
    paste("   ");
    expect((await shown("scan-error")).textContent).toBe(en["app.scan.paste.empty"]);
  });
});

describe("a picture", () => {
  test("with a code goes where it leads", async () => {
    const { app } = await start({ unlocked: true, camera: "none", imageFinds: [SAMPLE_LINKS.otp] }, "#/scan");
    chooseFile(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0]));
    await onScreen(app, "otp-add");
  });

  test("with several codes lets the citizen choose", async () => {
    const { app } = await start({ unlocked: true, camera: "none", imageFinds: [SAMPLE_LINKS.otp, SAMPLE_LINKS.login] }, "#/scan");
    chooseFile(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]));
    await shown("scan-choice");
    const choices = [...document.querySelectorAll('[data-testid="scan-choice"]')];
    expect(choices.map((c) => c.textContent)).toEqual([
      "One-time code account Example Bank: jana",
      "Login link for this device from https://identita.example.cz",
    ]);
    /** @type {HTMLElement} */ (choices[1]).click();
    await onScreen(app, "login");
  });

  test("without a code, or not a picture, says which", async () => {
    await start({ unlocked: true, camera: "none", imageFinds: [] }, "#/scan");
    chooseFile(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]));
    expect((await shown("scan-error")).textContent).toBe(en["app.error.no_code"]);
    chooseFile(new TextEncoder().encode("just text"));
    await vi.waitFor(() => expect(byTestId("scan-error")?.textContent).toBe(en["app.error.image"]));
  });
});

describe("links from outside", () => {
  test("a link the app was opened with waits for the PIN, then asks before it opens", async () => {
    const { app, backend } = await start({ pendingLink: SAMPLE_LINKS.login });
    const loginOpen = vi.spyOn(backend, "loginOpen");
    expect(screenName()).toBe("pin");
    typeDigits("pin", "135790");
    await onScreen(app, "link");
    expect(loginOpen).not.toHaveBeenCalled();
    click("link-continue");
    await onScreen(app, "login");
    expect(loginOpen).toHaveBeenCalledOnce();
    expect(screenText()).toContain("Daňový portál");
  });

  test.each([
    ["pair", "pairBegin", "Pair with portal.example.gov?", "connect this app to portal.example.gov"],
    ["login", "loginOpen", "Log in at identita.example.cz?", "log you in at identita.example.cz"],
  ])(
    "a %s link from outside says where it leads and sends nothing until Continue",
    async (kind, method, title, text) => {
      const { app, backend } = await start({ unlocked: true, pairDelayMs: 60_000 });
      const contact = vi.spyOn(backend, /** @type {"pairBegin" | "loginOpen"} */ (method));
      backend.emitOpenLink(SAMPLE_LINKS[/** @type {"pair" | "login"} */ (kind)]);
      await onScreen(app, "link");
      expect(document.querySelector("h1")?.textContent).toBe(title);
      expect(byTestId("link-what")?.textContent).toContain(text);
      expect(screenText()).toContain(en["app.link.check"]);
      await new Promise((r) => setTimeout(r, 20));
      expect(contact).not.toHaveBeenCalled();
      click("link-continue");
      await onScreen(app, kind);
      expect(contact).toHaveBeenCalledOnce();
    },
  );

  test("cancelling a link from outside goes home and sends nothing", async () => {
    const { app, backend } = await start({ unlocked: true });
    const pairBegin = vi.spyOn(backend, "pairBegin");
    backend.emitOpenLink(SAMPLE_LINKS.pair);
    await onScreen(app, "link");
    click("link-cancel");
    await onScreen(app, "home");
    await new Promise((r) => setTimeout(r, 20));
    expect(pairBegin).not.toHaveBeenCalled();
  });

  test("the question is in the citizen's language", async () => {
    const { app, backend } = await start({ unlocked: true, languages: ["cs"] });
    backend.emitOpenLink(SAMPLE_LINKS.pair);
    await onScreen(app, "link");
    expect(document.querySelector("h1")?.textContent).toBe("Spárovat se serverem portal.example.gov?");
    expect(byTestId("link-continue")?.textContent).toBe("Pokračovat");
  });

  test("a link pasted in the app is the citizen's own act and opens at once", async () => {
    const { app, backend } = await start({ unlocked: true, pairDelayMs: 60_000 }, "#/scan");
    const pairBegin = vi.spyOn(backend, "pairBegin");
    paste(SAMPLE_LINKS.pair);
    await onScreen(app, "pair");
    await vi.waitFor(() => expect(pairBegin).toHaveBeenCalledOnce());
  });

  test("a deep link while locked is kept until the PIN is entered", async () => {
    const { app, backend } = await start({});
    backend.emitOpenLink(SAMPLE_LINKS.otp);
    await new Promise((r) => setTimeout(r, 20));
    expect(screenName()).toBe("pin");
    typeDigits("pin", "135790");
    await onScreen(app, "otp-add");
  });

  test("an unreadable deep link lands on the scan screen with the reason", async () => {
    const { app, backend } = await start({ unlocked: true, camera: "none" });
    backend.emitOpenLink("civkey://login?v=1");
    await onScreen(app, "scan");
    expect(screenText()).toContain(en["app.error.unreadable"]);
  });
});
