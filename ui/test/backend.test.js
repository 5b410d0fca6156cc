// The fake backend (the browser and test stand-in for the Rust commands), its TOTP codes, and the
// Tauri backend's mapping of the contract onto the app's commands.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";

import { fakeBackend, fakeOptionsFromQuery, negotiate, SAMPLE_LINKS } from "../dev/backend/fake.js";
import { asCommandError, tauriAvailable, tauriBackend } from "../www/lib/backend/tauri.js";
import { base32Decode, hotp, totp } from "../dev/backend/totp.js";
import { catalogues, repo } from "./helpers.js";

const ascii = (/** @type {string} */ text) => new TextEncoder().encode(text);

describe("TOTP in the fake backend", () => {
  // RFC 6238, appendix B.
  test.each([
    ["SHA1", "12345678901234567890", 59, "94287082"],
    ["SHA1", "12345678901234567890", 1111111109, "07081804"],
    ["SHA256", "12345678901234567890123456789012", 1234567890, "91819424"],
    ["SHA512", "1234567890123456789012345678901234567890123456789012345678901234", 20000000000, "47863826"],
  ])("%s at %s", async (algorithm, secret, time, code) => {
    const result = await totp(ascii(secret), time, { algorithm: /** @type {any} */ (algorithm), digits: 8 });
    expect(result.code).toBe(code);
  });

  test("RFC 4226 HOTP values and base32 secrets", async () => {
    expect(await hotp(ascii("12345678901234567890"), 1)).toBe("287082");
    expect([...base32Decode("JBSWY3DPEHPK3PXP")]).toEqual([...ascii("Hello!\u00de\u00ad\u00be\u00ef")].slice(0, 6).concat([0xde, 0xad, 0xbe, 0xef]));
    expect(() => base32Decode("not*base32")).toThrow();
  });

  test("the codes come with the seconds left, and the next one in the last five", async () => {
    let now = 1_699_999_990_000; // 10 s into a 30 s period
    const backend = fakeBackend({ catalogues, unlocked: true, now: () => now });
    const early = await backend.otpCodes();
    expect(early).toHaveLength(3);
    expect(early[0].remaining).toBe(20);
    expect(early[0].next_code).toBeNull();
    expect(early[2].code).toMatch(/^\d{8}$/);
    now += 16_000;
    const late = await backend.otpCodes();
    expect(late[0].remaining).toBe(4);
    expect(late[0].code).toBe(early[0].code);
    expect(late[0].next_code).toMatch(/^\d{6}$/);
    now += 4_000;
    expect((await backend.otpCodes())[0].code).toBe(late[0].next_code);
  });
});

describe("the fake backend", () => {
  test("negotiates the language like the app", () => {
    expect(negotiate(["de-AT", "hu-HU"])).toBe("hu");
    expect(negotiate(["de"])).toBe("cs");
    expect(negotiate(["CZ"])).toBe("cs");
  });

  test("reads its options from a page's query", () => {
    expect(fakeOptionsFromQuery("?pin=unset&camera=none&platform=android&biometrics=1")).toEqual({
      pin: null,
      camera: "none",
      platform: "android",
      biometrics: true,
    });
    const empty = fakeOptionsFromQuery("?empty=1&pin=unlocked&link=civkey%3A%2F%2Fpair%3Fv%3D1");
    expect(empty).toEqual({ identities: [], otp: [], unlocked: true, pendingLink: "civkey://pair?v=1" });
  });

  test("guards everything but the lock behind the PIN", async () => {
    const backend = fakeBackend({ catalogues });
    await expect(backend.home()).rejects.toMatchObject({ code: "locked" });
    await expect(backend.unlock("000000")).rejects.toMatchObject({ code: "wrong_pin" });
    expect((await backend.status()).attempts_left).toBe(9);
    await backend.unlock("135790");
    expect((await backend.home()).identities).toHaveLength(2);
  });

  test("refuses guessable and malformed PINs on first run", async () => {
    const backend = fakeBackend({ catalogues, pin: null });
    await expect(backend.setPin("123456")).rejects.toMatchObject({ code: "pin_guessable" });
    await expect(backend.setPin("111111")).rejects.toMatchObject({ code: "pin_guessable" });
    await expect(backend.setPin("12345")).rejects.toMatchObject({ code: "pin_format" });
    expect((await backend.setPin("274915")).pin).toBe("unlocked");
    await expect(backend.setPin("274915")).rejects.toMatchObject({ code: "pin_already_set" });
  });

  test("makes wrong PINs wait, then resets the app", async () => {
    let now = 0;
    const backend = fakeBackend({ catalogues, now: () => now, pinPolicy: { freeAttempts: 2, limit: 4, waitSeconds: 10 } });
    await expect(backend.unlock("000001")).rejects.toMatchObject({ code: "wrong_pin" });
    expect(await backend.status()).toMatchObject({ wait_seconds: 0, attempts_left: 3 });
    await expect(backend.unlock("000002")).rejects.toMatchObject({ code: "wrong_pin" });
    expect(await backend.status()).toMatchObject({ wait_seconds: 10, attempts_left: 2 });
    await expect(backend.unlock("135790")).rejects.toMatchObject({ code: "pin_wait" });
    now += 10_000;
    await expect(backend.unlock("000003")).rejects.toMatchObject({ code: "wrong_pin" });
    expect((await backend.status()).wait_seconds).toBe(20);
    now += 20_000;
    await expect(backend.unlock("000004")).rejects.toMatchObject({ code: "app_reset" });
    expect((await backend.status()).pin).toBe("unset");
  });

  test("reads links into results with the catalogue's summary", async () => {
    const backend = fakeBackend({ catalogues, languages: ["en"], unlocked: true });
    expect(await backend.readText(` ${SAMPLE_LINKS.pair} `)).toMatchObject({
      kind: "pair",
      summary: "Pairing QR code for https://portal.example.gov",
    });
    expect((await backend.readText(SAMPLE_LINKS.login)).kind).toBe("login");
    expect((await backend.readText(SAMPLE_LINKS.otp)).summary).toBe("One-time code account Example Bank: jana");
    expect((await backend.readText(SAMPLE_LINKS.migration)).kind).toBe("otp_migration");
    await expect(backend.readText("civkey://pair?v=1")).rejects.toMatchObject({ code: "unreadable" });
    await expect(backend.readText("https://example.com")).rejects.toMatchObject({ code: "not_civkey" });
  });

  test("scans pictures, and a text file holding a link", async () => {
    const backend = fakeBackend({ catalogues, unlocked: true });
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    expect((await backend.scanImage(png))[0].kind).toBe("pair");
    expect((await backend.scanImage(ascii(SAMPLE_LINKS.otp)))[0].kind).toBe("otp");
    await expect(backend.scanImage(ascii("hello"))).rejects.toMatchObject({ code: "image" });
    await expect(backend.scanImage(new Uint8Array())).rejects.toMatchObject({ code: "image" });
    const blank = fakeBackend({ catalogues, unlocked: true, imageFinds: [] });
    await expect(blank.scanImage(png)).rejects.toMatchObject({ code: "no_code" });
  });

  test("adds otpauth accounts once", async () => {
    const backend = fakeBackend({ catalogues, unlocked: true, otp: [] });
    const added = await backend.otpAdd(SAMPLE_LINKS.otp);
    expect(added).toMatchObject({ label: "Example Bank: jana", digits: 8, kind: { type: "totp", period: 30 } });
    await expect(backend.otpAdd(SAMPLE_LINKS.otp)).rejects.toMatchObject({ code: "duplicate_account" });
    await expect(backend.otpAdd("otpauth://totp/x")).rejects.toMatchObject({ code: "unreadable" });
  });

  test("answers a BOK with the counter's outcome and counts wrong ones down to blocked", async () => {
    const backend = fakeBackend({ catalogues: {}, unlocked: true, bokAttempts: 2 });
    const first = await backend.bokPending();
    expect(first?.office_name).toBe("Úřad městské části Praha 7");
    if (!first) throw new Error("no request");
    await expect(backend.bokSubmit(first.request_id, "12a4")).rejects.toMatchObject({ code: "bok_invalid_format" });
    expect(await backend.bokSubmit(first.request_id, "1111")).toEqual({ outcome: "not_verified", attempts_left: 1 });
    await expect(backend.bokSubmit(first.request_id, "2468")).rejects.toMatchObject({ code: "bok_unknown" });
    expect(await backend.bokPending()).toBeNull();
    const next = backend.emitBokRequest({ office_name: "Czech POINT" });
    expect(await backend.bokSubmit(next.request_id, "9999")).toEqual({ outcome: "blocked", attempts_left: 0 });
    const list = await backend.notifications();
    expect(list[0]).toMatchObject({ kind: "bok_request", office_name: "Czech POINT", read: false });
    expect((await backend.notificationsMarkRead()).every((n) => n.read)).toBe(true);
  });

  test("rejects any method it is told to fail", async () => {
    const backend = fakeBackend({ catalogues, unlocked: true, fail: { pairBegin: "pairing_expired" } });
    await expect(backend.pairBegin(SAMPLE_LINKS.pair)).rejects.toMatchObject({ code: "pairing_expired" });
  });
});

describe("the Tauri backend", () => {
  afterEach(() => {
    delete window.__TAURI__;
  });

  function installTauri(platform = "desktop") {
    const invoke = vi.fn(async (/** @type {string} */ command, /** @type {unknown} */ _args) => {
      if (command === "broken") throw "a plain string";
      if (command === "app_status") return { platform };
      return { command };
    });
    const unlisten = vi.fn();
    const listen = vi.fn(async () => unlisten);
    class Channel {
      /** @type {(m: unknown) => void} */
      onmessage = () => {};
    }
    window.__TAURI__ = /** @type {any} */ ({ core: { invoke, Channel }, event: { listen } });
    return { invoke, listen, unlisten };
  }

  test("is used only inside the app's webview", () => {
    expect(tauriAvailable()).toBe(false);
    installTauri();
    expect(tauriAvailable()).toBe(true);
  });

  test("calls the contract's commands with camelCase arguments", async () => {
    const { invoke } = installTauri();
    const backend = tauriBackend();
    await backend.unlock("274915");
    await backend.pairBegin("civkey://pair?x", "Pixel");
    await backend.forgetIdentity("k3v9q2mx", true);
    await backend.setLanguage(null);
    await backend.otpAdd("otpauth://totp/x");
    await backend.scanImage(Uint8Array.from([1, 2]));
    await backend.bokPending();
    await backend.bokSubmit("r1", "482913");
    await backend.notifications();
    await backend.notificationsMarkRead();
    expect(invoke.mock.calls).toEqual([
      ["unlock", { pin: "274915" }],
      ["pair_begin", { uri: "civkey://pair?x", deviceName: "Pixel" }],
      ["forget_identity", { id: "k3v9q2mx", localOnly: true }],
      ["set_language", { locale: null }],
      ["otp_add", { uri: "otpauth://totp/x" }],
      ["scan_image", Uint8Array.from([1, 2])],
      ["bok_pending", undefined],
      ["bok_submit", { requestId: "r1", bok: "482913" }],
      ["notifications_list", undefined],
      ["notifications_mark_read", undefined],
    ]);
  });

  test("hands camera events over a channel", async () => {
    const { invoke } = installTauri();
    const events = /** @type {unknown[]} */ ([]);
    await tauriBackend().cameraStart((event) => events.push(event));
    const [command, args] = /** @type {[string, any]} */ (invoke.mock.calls[0]);
    expect(command).toBe("camera_start");
    args.onEvent.onmessage({ kind: "found" });
    expect(events).toEqual([{ kind: "found" }]);
    expect(invoke.mock.calls.map((c) => c[0])).toEqual(["camera_start", "app_status"]);
  });

  test("on a phone without a webview camera says no_camera and stops the scan", async () => {
    const { invoke } = installTauri("android");
    await expect(tauriBackend().cameraStart(() => {})).rejects.toMatchObject({ code: "no_camera" });
    expect(invoke.mock.calls.map((c) => c[0])).toEqual(["camera_start", "app_status", "camera_stop"]);
  });

  test("turns events into callbacks with a synchronous unsubscribe", async () => {
    const { listen, unlisten } = installTauri();
    const links = /** @type {string[]} */ ([]);
    const stop = tauriBackend().onOpenLink((link) => links.push(link));
    const [name, handler] = /** @type {[string, (e: any) => void]} */ (/** @type {unknown} */ (listen.mock.calls[0]));
    expect(name).toBe("open-link");
    handler({ event: "open-link", payload: "civkey://login?x" });
    expect(links).toEqual(["civkey://login?x"]);
    stop();
    await vi.waitFor(() => expect(unlisten).toHaveBeenCalled());
  });

  test("hands BOK requests and notifications from the server to their callbacks", async () => {
    const { listen } = installTauri();
    const backend = tauriBackend();
    const requests = /** @type {unknown[]} */ ([]);
    const notes = /** @type {unknown[]} */ ([]);
    backend.onBokRequest((r) => requests.push(r));
    backend.onNotification((n) => notes.push(n));
    const handlers = Object.fromEntries(
      /** @type {[string, (e: any) => void][]} */ (/** @type {unknown} */ (listen.mock.calls)),
    );
    expect(Object.keys(handlers)).toEqual(["bok-request", "notification"]);
    handlers["bok-request"]({ payload: { request_id: "r1", office_name: "Czech POINT" } });
    handlers.notification({ payload: { id: "n1", kind: "informative" } });
    expect(requests).toEqual([{ request_id: "r1", office_name: "Czech POINT" }]);
    expect(notes).toEqual([{ id: "n1", kind: "informative" }]);
  });

  test("rejects with { code, message } whatever Rust threw", async () => {
    installTauri();
    await expect(tauriBackend().lock()).resolves.toEqual({ command: "lock" });
    expect(asCommandError({ code: "wrong_pin", message: "no" })).toEqual({ code: "wrong_pin", message: "no" });
    expect(asCommandError("boom")).toEqual({ code: "generic", message: "boom" });
  });
});

describe("the catalogue", () => {
  const www = join(repo, "ui", "www");
  /** @param {string} dir @returns {string[]} */
  const sources = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? sources(join(dir, entry.name))
        : /\.(js|html)$/.test(entry.name)
          ? [readFileSync(join(dir, entry.name), "utf8")]
          : [],
    );

  test("has every app.* (and shared notify.*) key the front end names, in every language", () => {
    const named = new Set(
      sources(www).flatMap((text) => text.match(/["'](?:app|notify)\.[a-z_.]+[a-z_]["']/g) ?? []).map((k) => k.slice(1, -1)),
    );
    named.delete("app.js");
    named.delete("app.css");
    expect(named.size).toBeGreaterThan(100);
    expect(named).toContain("notify.device_connected.title");
    for (const [lang, catalogue] of Object.entries(catalogues)) {
      const missing = [...named].filter((key) => !(key in catalogue) && !(`${key}.other` in catalogue));
      expect(missing, lang).toEqual([]);
    }
  });

  test("has the same app.* messages in Czech, Hungarian and English", () => {
    const ids = (/** @type {Record<string, string>} */ c) =>
      Object.keys(c)
        .filter((k) => k.startsWith("app."))
        .map((k) => k.replace(/\.(one|few|other)$/, ""))
        .filter((k, i, all) => all.indexOf(k) === i)
        .sort();
    expect(ids(catalogues.cs)).toEqual(ids(catalogues.en));
    expect(ids(catalogues.hu)).toEqual(ids(catalogues.en));
  });
});
