// Pairing, login approval and the BOK-pad against the fake backend.
import { describe, expect, test, vi } from "vitest";

import { SAMPLE_LINKS } from "../dev/backend/fake.js";
import { bokPad } from "../www/screens/bok.js";
import { byTestId, click, en, fakeClock, mount, mountEach, onScreen, screenName, screenText, shown, typeDigits, until } from "./helpers.js";

const start = mountEach();

describe("pairing", () => {
  test("shows the confirmation code large and grouped, what to compare it with, and the time left", async () => {
    const { app } = await start({ unlocked: true, confirmationCode: "482913", pairDelayMs: 60_000 });
    await app.openText(SAMPLE_LINKS.pair);
    await onScreen(app, "pair");
    const code = byTestId("confirmation-code");
    expect(code?.textContent).toBe("482 913");
    expect(code?.getAttribute("aria-label")).toBe("4 8 2 9 1 3");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pair.compare.title"]);
    expect(document.activeElement).toBe(document.querySelector("h1"));
    expect(screenText()).toContain("Connecting to portal.example.gov");
    expect(screenText()).toContain(en["app.pair.compare.text"]);
    expect(screenText()).toContain(`choose “${en["portal.connect.confirm"]}” there`);
    expect(screenText()).toContain(en["app.pair.waiting"]);
    expect(screenText()).toMatch(/Time left: [34]:\d\d/);
  });

  test.each([
    ["confirmed", "pair-confirmed", "app.pair.confirmed.title", "#/home"],
    ["refused", "pair-refused", "app.pair.refused.title", "#/scan"],
    ["expired", "pair-expired", "app.pair.expired.title", "#/scan"],
  ])("the browser's answer %s is shown with what next", async (outcome, testid, title, next) => {
    const { app } = await start({ unlocked: true, pairOutcome: /** @type {any} */ (outcome), pairDelayMs: 5 });
    await app.openText(SAMPLE_LINKS.pair);
    const box = await shown(testid);
    expect(box.querySelector("h2")?.textContent).toBe(en[title]);
    expect(document.activeElement).toBe(box.querySelector("h2"));
    expect(screenName()).toBe("pair");
    expect(document.querySelector(`[data-screen="pair"] a.button--primary`)?.getAttribute("href")).toBe(next);
  });

  test("a confirmed pairing shows the new identity at home", async () => {
    const { app } = await start({ unlocked: true, identities: [], pairDelayMs: 5 });
    await app.openText(SAMPLE_LINKS.pair);
    await shown("pair-confirmed");
    expect(screenText()).toContain("portal.example.gov");
    await app.go("home");
    expect(screenText()).toContain("portal.example.gov");
  });

  test("a pairing the server refuses says why and offers to scan again", async () => {
    const { app } = await start({ unlocked: true, fail: { pairBegin: "pairing_expired" } });
    await app.openText(SAMPLE_LINKS.pair);
    const error = await shown("pair-error");
    expect(error.textContent).toBe(en["app.error.pairing_expired"]);
    expect(document.querySelector("h1")?.textContent).toBe(en["app.pair.failed.title"]);
  });

  test("cancel stops waiting and goes home", async () => {
    const { app, backend } = await start({ unlocked: true, pairDelayMs: 60_000 });
    const cancel = vi.spyOn(backend, "pairCancel");
    await app.openText(SAMPLE_LINKS.pair);
    (await shown("pair-cancel")).click();
    await onScreen(app, "home");
    expect(cancel).toHaveBeenCalled();
  });

  test("without a scanned link it says where to get one", async () => {
    await start({ unlocked: true }, "#/pair");
    expect(byTestId("pair-none")?.textContent).toBe(en["app.pair.none"]);
  });
});

describe("login approval", () => {
  test("shows which service, from which web address, when, and as whom", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    const { app } = await start({ unlocked: true });
    await app.openText(SAMPLE_LINKS.login);
    await onScreen(app, "login");
    expect(document.querySelector("h1")?.textContent).toBe("Log in to Daňový portál?");
    expect(byTestId("login-service")?.textContent).toBe("Daňový portál");
    expect(byTestId("login-origin")?.textContent).toBe("https://dane.example.cz");
    expect(byTestId("login-time")?.textContent).toBe(new Intl.DateTimeFormat("en", { timeStyle: "short" }).format(new Date("2026-03-01T09:59:56Z")));
    expect(byTestId("login-identity")?.textContent).toBe("Jana Nováková · identita.example.cz");
    expect(screenText()).toContain("1:56");
    expect(byTestId("login-check")?.textContent).toContain("Time to answer: 2 minutes.");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(screenText()).toContain("1:55");
  });

  test("approve says it is done and the browser moves on", async () => {
    const { app, backend } = await start({ unlocked: true });
    const decide = vi.spyOn(backend, "loginDecide");
    await app.openText(SAMPLE_LINKS.login);
    await onScreen(app, "login");
    click("login-approve");
    const done = await shown("login-approved");
    expect(decide).toHaveBeenCalledWith(true);
    expect(done.textContent).toContain("Continue in your browser: the page of Daňový portál moves on by itself.");
    expect(byTestId("login-approve")).toBeNull();
  });

  test("deny says nobody was logged in", async () => {
    const { app, backend } = await start({ unlocked: true });
    const decide = vi.spyOn(backend, "loginDecide");
    await app.openText(SAMPLE_LINKS.login);
    await onScreen(app, "login");
    click("login-deny");
    expect((await shown("login-denied")).querySelector("h2")?.textContent).toBe(en["app.login.denied.title"]);
    expect(decide).toHaveBeenCalledWith(false);
  });

  test("when the time is up the buttons go and the expiry is said", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    const { app } = await start({ unlocked: true });
    await app.openText(SAMPLE_LINKS.login);
    await onScreen(app, "login");
    await vi.advanceTimersByTimeAsync(117_000);
    await until(() => expect(byTestId("login-expired")?.textContent).toBe(en["app.login.expired"]));
    expect(byTestId("login-approve")).toBeNull();
  });

  test("a server this device is not paired with is named", async () => {
    const { app } = await start({ unlocked: true, identities: [] });
    await app.openText(SAMPLE_LINKS.login);
    expect((await shown("login-error")).textContent).toBe(en["app.error.not_paired"]);
  });

  test("without a scanned link it says where to get one", async () => {
    await start({ unlocked: true }, "#/login");
    expect(byTestId("login-none")?.textContent).toBe(en["app.login.none"]);
  });
});

describe("the BOK-pad", () => {
  test("shows the office's name and sends 4 to 10 digits", async () => {
    const { app, backend } = await start({ unlocked: true, bok: { office_name: "Úřad Praha 7", request_id: "r1" } }, "#/bok");
    const submit = vi.spyOn(backend, "bokSubmit");
    expect(byTestId("bok-office")?.textContent).toBe("Úřad Praha 7 asks for your security personal code (BOK).");
    typeDigits("bok", "123");
    expect(byTestId("bok-submit")?.hasAttribute("disabled")).toBe(true);
    expect(byTestId("bok-dots")?.children).toHaveLength(4);
    typeDigits("bok", "45678901234");
    expect(byTestId("bok-dots")?.querySelectorAll(".pad__dot--on")).toHaveLength(10);
    expect(byTestId("bok-dots")?.textContent).toBe("");
    expect(byTestId("bok-count")?.textContent).toBe("10 digits entered");
    click("bok-submit");
    const outcome = await shown("bok-not-verified");
    expect(submit).toHaveBeenCalledWith("r1", "1234567890");
    expect(outcome.querySelector("h2")?.textContent).toBe(en["app.bok.not_verified.title"]);
    expect(outcome.textContent).toContain("The code was wrong. 4 more wrong codes block it");
    expect(document.activeElement).toBe(outcome.querySelector("h2"));
    expect(byTestId("bok-submit")).toBeNull();
    expect(screenName()).toBe("bok");
    void app;
  });

  test("the right code is verified", async () => {
    await start({ unlocked: true, bokCode: "482913" }, "#/bok");
    typeDigits("bok", "482913");
    click("bok-submit");
    const verified = await shown("bok-verified");
    expect(verified.textContent).toBe(
      en["app.bok.verified.title"] + en["app.bok.verified.text"].replace("{office}", "Úřad městské části Praha 7"),
    );
  });

  test("the last wrong code blocks", async () => {
    await start({ unlocked: true, bokAttempts: 1 }, "#/bok");
    typeDigits("bok", "1111");
    click("bok-submit");
    expect((await shown("bok-blocked")).textContent).toBe(en["app.bok.blocked.title"] + en["app.bok.blocked.text"]);
  });

  test("shows how long the request stays open, counting down each second", async () => {
    fakeClock(new Date("2026-03-01T10:00:00.400Z"));
    const created = Date.parse("2026-03-01T10:00:00Z") / 1000;
    await start({ unlocked: true, bok: { created_at: created, expires_at: created + 120 } }, "#/bok");
    const left = byTestId("bok-time-left");
    expect(left?.parentElement?.textContent).toBe(`${en["app.bok.time_left"]} 2:00`);
    expect(left?.closest("[aria-live]")).toBeNull();
    await vi.advanceTimersByTimeAsync(600);
    expect(left?.textContent).toBe("1:59");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(left?.textContent).toBe("0:59");
    expect(byTestId("bok-submit")).not.toBeNull();
  });

  test("when the time is up the pad goes and the expiry is said, without asking the server", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    const created = Date.parse("2026-03-01T10:00:00Z") / 1000;
    const { backend } = await start({ unlocked: true, bok: { created_at: created, expires_at: created + 120 } }, "#/bok");
    const submit = vi.spyOn(backend, "bokSubmit");
    typeDigits("bok", "24");
    await vi.advanceTimersByTimeAsync(119_999);
    expect(byTestId("bok-time-left")?.textContent).toBe("0:01");
    expect(byTestId("bok-error")).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    const error = await until(() => {
      const e = byTestId("bok-error");
      if (!e) throw new Error("not expired yet");
      return e;
    });
    expect(error.textContent).toBe(en["app.error.bok_expired"]);
    expect(error.getAttribute("role")).toBe("alert");
    expect(byTestId("bok-submit")).toBeNull();
    expect(byTestId("bok-key-2")).toBeNull();
    expect(byTestId("bok-time-left")).toBeNull();
    expect(document.querySelector('[data-screen="bok"] a.button--primary')?.getAttribute("href")).toBe("#/home");
    expect(submit).not.toHaveBeenCalled();
    // Nothing ticks on.
    expect(vi.getTimerCount()).toBe(0);
  });

  test("a request already expired when the pad opens says so at once", async () => {
    const { backend } = await start({ unlocked: true, bok: { created_at: 1000, expires_at: 1120 } }, "#/bok");
    const submit = vi.spyOn(backend, "bokSubmit");
    expect((await shown("bok-error")).textContent).toBe(en["app.error.bok_expired"]);
    expect(byTestId("bok-submit")).toBeNull();
    expect(submit).not.toHaveBeenCalled();
  });

  test("the server's bok_expired refusal (its clock ahead of the phone's) looks the same", async () => {
    const first = await start({ unlocked: true, bok: { created_at: 1000, expires_at: 1120 } }, "#/bok");
    const local = (await shown("bok-error")).closest(".bok")?.innerHTML;
    first.app.stop();
    await start({ unlocked: true, fail: { bokSubmit: "bok_expired" } }, "#/bok");
    typeDigits("bok", "2468");
    click("bok-submit");
    const refused = await shown("bok-error");
    expect(refused.textContent).toBe(en["app.error.bok_expired"]);
    expect(refused.closest(".bok")?.innerHTML).toBe(local);
  });

  test("a code on its way when the time runs out gets the server's answer", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    const { app } = await start({ unlocked: true, bok: null });
    /** @type {(result: import("../www/lib/backend/index.js").BokResult) => void} */
    let answer = () => {};
    const pad = bokPad(app, {
      officeName: "X",
      expiresAt: Date.now() / 1000 + 5,
      onSubmit: () => new Promise((resolve) => (answer = resolve)),
    });
    document.body.append(pad.element);
    typeDigits("bok", "2468");
    click("bok-submit");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(byTestId("bok-error")).toBeNull();
    expect(pad.element.textContent).toContain(en["app.bok.sending"]);
    answer({ outcome: "verified", attempts_left: 5 });
    await until(() => expect(byTestId("bok-verified")).not.toBeNull());
    pad.dispose();
  });

  test("a refusal that comes after the time ran out ends in the expiry", async () => {
    fakeClock(new Date("2026-03-01T10:00:00Z"));
    const { app } = await start({ unlocked: true, bok: null });
    /** @type {(error: unknown) => void} */
    let refuse = () => {};
    const pad = bokPad(app, {
      officeName: "X",
      expiresAt: Date.now() / 1000 + 5,
      onSubmit: () => new Promise((_, reject) => (refuse = reject)),
    });
    document.body.append(pad.element);
    typeDigits("bok", "2468");
    click("bok-submit");
    await vi.advanceTimersByTimeAsync(6_000);
    refuse({ code: "unreachable", message: "" });
    const error = await until(() => {
      const e = byTestId("bok-error");
      if (!e) throw new Error("no error yet");
      return e;
    });
    expect(error.textContent).toBe(en["app.error.bok_expired"]);
    expect(byTestId("bok-submit")).toBeNull();
    pad.dispose();
  });

  test("an office's request while the app is open opens the pad", async () => {
    const { app, backend } = await start({ unlocked: true, bok: null }, "#/bok");
    expect(byTestId("bok-none")).not.toBeNull();
    backend.emitBokRequest({ office_name: "Czech POINT, Praha 1", request_id: "r9" });
    await vi.waitFor(() => expect(byTestId("bok-office")?.textContent).toContain("Czech POINT, Praha 1"));
    await app.go("home");
    backend.emitBokRequest({ office_name: "Úřad Brno", request_id: "r10" });
    await onScreen(app, "bok");
    await vi.waitFor(() => expect(byTestId("bok-office")?.textContent).toContain("Úřad Brno"));
    typeDigits("bok", "2468");
    click("bok-submit");
    await shown("bok-verified");
    // A request arriving while the outcome is read does not take it away.
    backend.emitBokRequest({ office_name: "Úřad Ostrava", request_id: "r11" });
    await new Promise((r) => setTimeout(r, 20));
    expect(byTestId("bok-verified")).not.toBeNull();
  });

  test("Enter on the keyboard sends; letters are ignored", async () => {
    const sent = /** @type {string[]} */ ([]);
    const { app } = await start({ unlocked: true, bok: null });
    const pad = bokPad(app, { officeName: "X", onSubmit: async (bok) => void sent.push(bok) });
    document.body.append(pad.element);
    for (const key of ["1", "a", "2", "3", "Enter", "4", "Enter"]) {
      document.dispatchEvent(new KeyboardEvent("keydown", { key }));
    }
    await vi.waitFor(() => expect(sent).toEqual(["1234"]));
    pad.dispose();
  });

  test("an error from the submit callback is shown and the pad is ready again", async () => {
    const { app } = await start({ unlocked: true, bok: null });
    const pad = bokPad(app, {
      officeName: "X",
      onSubmit: async () => {
        throw { code: "unreachable", message: "" };
      },
    });
    document.body.append(pad.element);
    typeDigits("bok", "9999");
    click("bok-submit");
    expect((await shown("bok-error")).textContent).toBe(en["app.error.unreachable"]);
    expect(byTestId("bok-dots")?.querySelectorAll(".pad__dot--on")).toHaveLength(0);
    expect(byTestId("bok-key-1")?.hasAttribute("disabled")).toBe(false);
    pad.dispose();
  });

  test("with no request pending it says what will happen", async () => {
    await start({ unlocked: true, bok: null }, "#/bok");
    expect(byTestId("bok-none")?.textContent).toBe(en["app.bok.none"]);
  });
});
