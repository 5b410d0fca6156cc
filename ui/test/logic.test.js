// The pure pieces: code grouping, times, plurals, the pad's limits, PIN choosing, router rules.
import { describe, expect, test } from "vitest";

import { clock, groupCode, hostOf, roughDuration } from "../www/lib/format.js";
import { pluralCategory, t, tn } from "../www/lib/i18n.js";
import { codeView, RING_LENGTH } from "../www/lib/otp.js";
import { padComplete, padPress } from "../www/lib/pad.js";
import { guard, parseHash, pendingKinds, routeForResult } from "../www/lib/router.js";
import { untilNextSecond, validBok } from "../www/screens/bok.js";
import { secondsLeft } from "../www/screens/login.js";
import { outcomeKeys, spokenDigits } from "../www/screens/pair.js";
import { chooseStep } from "../www/screens/pin.js";
import { languageSelection, offersScreenshotProtection } from "../www/screens/settings.js";

describe("codes are grouped for reading", () => {
  test.each([
    ["123456", "123 456"],
    ["12345678", "1234 5678"],
    ["1234567", "123 4567"],
    ["123456789", "123 456 789"],
    ["1234", "1234"],
    ["123 456", "123 456"],
  ])("%s → %s", (code, grouped) => {
    expect(groupCode(code)).toBe(grouped);
  });

  test("a screen reader hears the digits one by one", () => {
    expect(spokenDigits("123 456")).toBe("1 2 3 4 5 6");
  });
});

describe("times and places", () => {
  test("a countdown reads m:ss and never goes below zero", () => {
    expect(clock(240)).toBe("4:00");
    expect(clock(59.2)).toBe("1:00");
    expect(clock(7)).toBe("0:07");
    expect(clock(-3)).toBe("0:00");
  });

  test("waits are said in seconds under a minute, else in whole minutes", () => {
    expect(roughDuration(30)).toEqual({ unit: "seconds", n: 30 });
    expect(roughDuration(60)).toEqual({ unit: "minutes", n: 1 });
    expect(roughDuration(61)).toEqual({ unit: "minutes", n: 2 });
  });

  test("servers are shown by their host", () => {
    expect(hostOf("https://identita.example.cz")).toBe("identita.example.cz");
    expect(hostOf("http://127.0.0.1:8443")).toBe("127.0.0.1:8443");
    expect(hostOf("not a url")).toBe("not a url");
  });

  test("a login request's time left counts down to zero", () => {
    expect(secondsLeft({ expires_at: 1_000 }, 940_500)).toBe(60);
    expect(secondsLeft({ expires_at: 1_000 }, 1_200_000)).toBe(0);
  });
});

describe("plurals follow the Rust side", () => {
  test("Czech has few for 2–4", () => {
    expect([1, 2, 4, 5, 0].map((n) => pluralCategory("cs", n))).toEqual(["one", "few", "few", "other", "other"]);
    expect(pluralCategory("hu", 3)).toBe("other");
  });

  test("tn picks the form and fills {n}; t keeps unknown placeholders", () => {
    const catalogue = { "x.one": "{n} pokus", "x.few": "{n} pokusy", "x.other": "{n} pokusů" };
    expect(tn(catalogue, "cs", "x", 3)).toBe("3 pokusy");
    expect(tn(catalogue, "cs", "x", 7)).toBe("7 pokusů");
    expect(tn({ "x.other": "{n} próbálkozás" }, "hu", "x", 1)).toBe("1 próbálkozás");
    expect(t({ a: "{x} and {y}" }, "a", { x: 1 })).toBe("1 and {y}");
    expect(t({}, "app.missing")).toBe("app.missing");
  });
});

describe("the digit pad", () => {
  test("takes digits only, up to its maximum, and deletes the last", () => {
    let value = "";
    for (const key of ["1", "a", "2", ".", "3"]) value = padPress(value, key, 4);
    expect(value).toBe("123");
    value = padPress(padPress(value, "4", 4), "5", 4);
    expect(value).toBe("1234");
    expect(padPress(value, "back", 4)).toBe("123");
    expect(padPress("", "back", 4)).toBe("");
  });

  test("is complete between its limits", () => {
    expect(padComplete("123", 4, 10)).toBe(false);
    expect(padComplete("1234", 4, 10)).toBe(true);
    expect(padComplete("12345678901", 4, 10)).toBe(false);
    expect(padComplete("12a4", 4, 10)).toBe(false);
  });

  test("a BOK is 4 to 10 digits", () => {
    expect(["1234", "1234567890"].every(validBok)).toBe(true);
    expect(["123", "12345678901", "12 34", "abcd", ""].some(validBok)).toBe(false);
  });

  test("the BOK-pad's countdown ticks when the time left crosses a whole second, and at the expiry", () => {
    expect(untilNextSecond(120_000, 400)).toBe(600);
    expect(untilNextSecond(120_000, 1_000)).toBe(1_000);
    expect(untilNextSecond(120_000, 119_999)).toBe(1);
    expect(untilNextSecond(120_000, 119_999.6)).toBe(1);
    expect(untilNextSecond(120_000, 121_300)).toBe(700);
  });
});

describe("choosing a PIN", () => {
  test("the second entry must match the first", () => {
    const first = chooseStep(null, "274915");
    expect(first).toEqual({ first: "274915", outcome: "again" });
    expect(chooseStep(first.first, "274915")).toEqual({ first: null, outcome: "chosen" });
    expect(chooseStep(first.first, "274916")).toEqual({ first: null, outcome: "mismatch" });
  });
});

describe("the countdown ring", () => {
  test("is as full as the period left, and urgent in the last seconds", () => {
    const view = codeView({ id: "a", label: "A", code: "123456", period: 30, remaining: 15 });
    expect(view.code).toBe("123 456");
    expect(view.fraction).toBe(0.5);
    expect(view.dashOffset).toBeCloseTo(RING_LENGTH / 2);
    expect(view.urgent).toBe(false);
    expect(view.next).toBeNull();
    const late = codeView({ id: "a", label: "A", code: "123456", period: 30, remaining: 3, next_code: "654321" });
    expect(late.urgent).toBe(true);
    expect(late.next).toBe("654 321");
  });

  test("a counter-based code has a full ring and no seconds", () => {
    const view = codeView({ id: "h", label: "H", code: "000111", counter: 4 });
    expect(view.remaining).toBeNull();
    expect(view.fraction).toBe(1);
  });
});

describe("routes", () => {
  const status = /** @type {any} */ ({ pin: "unlocked" });

  test("hashes name routes; anything else is home", () => {
    expect(parseHash("#/pair")).toBe("pair");
    expect(parseHash("#/otp-add")).toBe("otp-add");
    expect(parseHash("#/nowhere")).toBe("home");
    expect(parseHash("")).toBe("home");
  });

  test("the PIN screen comes first until unlocked, and never after", () => {
    expect(guard("settings", { ...status, pin: "locked" })).toBe("pin");
    expect(guard("home", { ...status, pin: "unset" })).toBe("pin");
    expect(guard("pin", status)).toBe("home");
    expect(guard("scan", status)).toBe("scan");
  });

  test("a read link leads to its screen", () => {
    const read = (/** @type {any} */ kind) => routeForResult({ kind, text: "", summary: "" });
    expect(read("pair")).toBe("pair");
    expect(read("login")).toBe("login");
    expect(read("otp")).toBe("otp-add");
    expect(read("otp_migration")).toBe("otp-add");
    expect(pendingKinds("otp-add")).toEqual(["otp", "otp_migration"]);
    expect(pendingKinds("home")).toEqual([]);
  });

  test("pairing outcomes say what next", () => {
    expect(outcomeKeys("confirmed").next).toBe("home");
    expect(outcomeKeys("refused").next).toBe("scan");
    expect(outcomeKeys("expired").title).toBe("app.pair.expired.title");
  });
});

describe("settings", () => {
  test("the language radio follows the choice, else the system", () => {
    expect(languageSelection({ language_choice: null })).toBe("system");
    expect(languageSelection({ language_choice: "hu" })).toBe("hu");
  });

  test("screenshot protection is offered on mobile only", () => {
    expect(offersScreenshotProtection({ platform: "desktop", screenshot_protection: null })).toBe(false);
    expect(offersScreenshotProtection({ platform: "android", screenshot_protection: true })).toBe(true);
    expect(offersScreenshotProtection({ platform: "ios", screenshot_protection: false })).toBe(true);
  });
});
