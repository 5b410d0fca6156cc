// Home: identities and one-time codes with the live countdown; adding an account from a link.
import { describe, expect, test, vi } from "vitest";

import { SAMPLE_LINKS } from "../dev/backend/fake.js";
import { allByTestId, byTestId, click, en, fakeClock, mount, mountEach, onScreen, screenText, shown, until } from "./helpers.js";

const start = mountEach();

describe("home", () => {
  test("lists the identities with server, device and when they were connected", async () => {
    await start({ unlocked: true });
    const cards = allByTestId("identity");
    expect(cards).toHaveLength(2);
    expect(cards[0].textContent).toContain("identita.example.cz");
    expect(cards[0].textContent).toContain("Jana Nováková");
    expect(cards[0].textContent).toContain("Pixel 8");
    expect(cards[0].textContent).toContain(en["app.identity.paired_at"]);
    expect(document.activeElement?.textContent).toBe(en["app.home.title"]);
  });

  test("shows each account's code grouped, with the seconds left on the ring", async () => {
    fakeClock(new Date("2026-03-01T10:00:10Z"));
    await start({ unlocked: true });
    await until(() => expect(allByTestId("otp-code").map((c) => c.textContent)).toEqual([
      expect.stringMatching(/^\d{3} \d{3}$/),
      expect.stringMatching(/^\d{3} \d{3}$/),
      expect.stringMatching(/^\d{4} \d{4}$/),
    ]));
    const first = allByTestId("otp-entry")[0];
    expect(first.textContent).toContain("Ügyfélkapu+: jana.novakova");
    expect(first.querySelector(".otp__seconds")?.textContent).toBe("20");
    expect(first.querySelector(".ring__bar")?.getAttribute("stroke-dashoffset")).toBe("33.51");
    expect(first.querySelector(".sr-only")?.textContent).toBe("valid for 20 more seconds");
    expect(byTestId("otp-next")?.hidden).toBe(true);
  });

  test("counts down every second and shows the next code in the last seconds", async () => {
    fakeClock(new Date("2026-03-01T10:00:20Z"));
    await start({ unlocked: true });
    const entry = () => allByTestId("otp-entry")[0];
    const seconds = () => entry().querySelector(".otp__seconds")?.textContent;
    await until(() => expect(seconds()).toBe("10"));
    const before = entry().querySelector('[data-testid="otp-code"]')?.textContent;
    for (const left of ["9", "8", "7", "6", "5", "4"]) {
      await vi.advanceTimersByTimeAsync(1_000);
      await until(() => expect(seconds()).toBe(left));
    }
    expect(entry().classList.contains("otp-entry--urgent")).toBe(true);
    const next = entry().querySelector('[data-testid="otp-next"]');
    expect(next?.hasAttribute("hidden")).toBe(false);
    expect(next?.textContent).toMatch(/^Next: \d{3} \d{3}$/);
    const promised = next?.textContent?.replace("Next: ", "");
    for (const left of ["3", "2", "1", "30"]) {
      await vi.advanceTimersByTimeAsync(1_000);
      await until(() => expect(seconds()).toBe(left));
    }
    const after = entry().querySelector('[data-testid="otp-code"]')?.textContent;
    expect(after).not.toBe(before);
    expect(after).toBe(promised);
    expect(next?.textContent).toBe("");
    expect(entry().classList.contains("otp-entry--urgent")).toBe(false);
  });

  test("stops asking for codes once the screen is left", async () => {
    fakeClock();
    const { app, backend } = await start({ unlocked: true });
    const spy = vi.spyOn(backend, "otpCodes");
    await app.go("settings");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(spy).not.toHaveBeenCalled();
  });

  test("a tap copies the code and says so", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    await start({ unlocked: true });
    await vi.waitFor(() => expect(allByTestId("otp-code")[1].textContent).toMatch(/\d/));
    const code = allByTestId("otp-code")[1].textContent?.replace(" ", "");
    allByTestId("otp-copy")[1].click();
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith(code));
    await vi.waitFor(() => expect(document.getElementById("announcer")?.textContent).toBe("Code for GitHub: jana-novak copied."));
    // @ts-ignore
    delete navigator.clipboard;
  });

  test("empty lists tell what to do", async () => {
    await start({ unlocked: true, identities: [], otp: [] });
    expect(byTestId("identities-empty")?.textContent).toContain(en["app.home.identities.empty"]);
    expect(byTestId("otp-empty")?.textContent).toContain(en["app.home.otp.empty"]);
    expect(byTestId("otp-empty")?.querySelector("a")?.getAttribute("href")).toBe("#/scan");
  });

  test("a failure to load says why", async () => {
    await start({ unlocked: true, fail: { home: "vault_damaged" } });
    expect(byTestId("home-error")?.textContent).toBe("Something went wrong (vault_damaged). Please try again.");
  });
});

describe("adding a one-time code account", () => {
  test("an otpauth link asks first, then adds it and shows it at home", async () => {
    const { app } = await start({ unlocked: true, otp: [] });
    await app.openText(SAMPLE_LINKS.otp);
    await onScreen(app, "otp-add");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.otp_add.title"]);
    expect(byTestId("otp-add-summary")?.textContent).toBe("One-time code account Example Bank: jana");
    click("otp-add-confirm");
    await onScreen(app, "home");
    expect(screenText()).toContain("Added: Example Bank: jana.");
    expect(allByTestId("otp-entry")).toHaveLength(1);
  });

  test("an account already there is refused with the reason", async () => {
    const { app } = await start({ unlocked: true, otp: [] });
    await app.openText(SAMPLE_LINKS.otp);
    await onScreen(app, "otp-add");
    click("otp-add-confirm");
    await onScreen(app, "home");
    await app.openText(SAMPLE_LINKS.otp);
    await onScreen(app, "otp-add");
    click("otp-add-confirm");
    expect((await shown("otp-add-error")).textContent).toBe(en["app.error.duplicate_account"]);
  });

  test("a Google Authenticator export is named and sent to the civkey command", async () => {
    const { app } = await start({ unlocked: true });
    await app.openText(SAMPLE_LINKS.migration);
    await onScreen(app, "otp-add");
    expect(screenText()).toContain(en["app.otp_add.migration.text"]);
    expect(byTestId("otp-add-confirm")).toBeNull();
  });

  test("without a link the screen says how to get one", async () => {
    await start({ unlocked: true }, "#/otp-add");
    expect(byTestId("otp-add-none")?.textContent).toBe(en["app.otp_add.none"]);
  });
});
