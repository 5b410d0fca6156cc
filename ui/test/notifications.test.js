// Notifications: the list from the server's events, worded in the app's language, newest first;
// reached from home; live while open; read once seen.
import { describe, expect, test, vi } from "vitest";

import { allByTestId, byTestId, catalogues, en, mount, mountEach, onScreen, screenName } from "./helpers.js";

const start = mountEach();
const none = { service_name: null, means: null, device_name: null, office_name: null, title: null, body: null };
const AT = Date.UTC(2026, 2, 1, 9, 30) / 1000;

/** @type {import("../www/lib/backend/index.js").AppNotification[]} */
const LIST = [
  { ...none, id: "a", server: "https://identita.example.cz", at: AT, kind: "login", service_name: "Daňový portál", means: "mobile_key", device_name: "Pixel 8", read: false },
  { ...none, id: "b", server: "https://identita.example.cz", at: AT - 60, kind: "login", service_name: "Portál občana", means: "password_totp", read: false },
  { ...none, id: "c", server: "https://identita.example.cz", at: AT - 120, kind: "bok_request", office_name: "Czech POINT, Praha 1", read: true },
  { ...none, id: "d", server: "https://ugyfelkapu.example.hu", at: AT - 180, kind: "informative", title: "Maintenance", body: "Sunday night.", read: true },
];

describe("notifications", () => {
  test("each entry says what happened in words, with its time and server, newest first", async () => {
    const { backend } = await start({ unlocked: true, notifications: LIST }, "#/notifications");
    expect(document.querySelector("h1")?.textContent).toBe(en["app.notifications.title"]);
    expect(allByTestId("notification-title").map((e) => e.textContent)).toEqual([
      "Login to Daňový portál with the mobile key Pixel 8",
      "Login to Portál občana with password and one-time code",
      "BOK requested by Czech POINT, Praha 1",
      "Maintenance",
    ]);
    expect(byTestId("notification-body")?.textContent).toBe("Sunday night.");
    const items = allByTestId("notification");
    expect(items.map((i) => i.getAttribute("data-notification-kind"))).toEqual(["login", "login", "bok_request", "informative"]);
    expect(allByTestId("notification-new")).toHaveLength(2);
    expect(items[0].textContent).toContain("March 1, 2026");
    expect(items[3].textContent).toContain("ugyfelkapu.example.hu");
    expect(allByTestId("notification-time")[0].getAttribute("datetime")).toBe("2026-03-01T09:30:00.000Z");
    // Seen: read from now on.
    await vi.waitFor(async () => expect((await backend.notifications()).every((n) => n.read)).toBe(true));
  });

  test("in Czech", async () => {
    await start({ unlocked: true, notifications: LIST.slice(0, 1), languages: ["cs"] }, "#/notifications");
    expect(byTestId("notification-title")?.textContent).toBe("Přihlášení do služby Daňový portál pomocí mobilního klíče Pixel 8");
  });

  test("in Hungarian", async () => {
    await start({ unlocked: true, notifications: LIST.slice(2, 3), languages: ["hu"] }, "#/notifications");
    expect(byTestId("notification-title")?.textContent).toBe(
      catalogues.hu["app.notifications.bok_request"].replace("{office}", "Czech POINT, Praha 1"),
    );
  });

  test("a notification arriving while the list is open goes on top", async () => {
    const { backend } = await start({ unlocked: true, notifications: [] }, "#/notifications");
    expect(byTestId("notifications-empty")?.textContent).toBe(en["app.notifications.empty"]);
    backend.emitNotification({ kind: "informative", title: "New notice", body: "Read me." });
    await vi.waitFor(() => expect(byTestId("notification-title")?.textContent).toBe("New notice"));
    expect(byTestId("notifications-empty")).toBeNull();
    backend.emitNotification({ kind: "login", service_name: "Banka", means: "email_code" });
    await vi.waitFor(() =>
      expect(allByTestId("notification-title").map((e) => e.textContent)).toEqual(["Login to Banka with an e-mail code", "New notice"]),
    );
  });

  test("home links to the list and says how many are new", async () => {
    const { app } = await start({ unlocked: true, notifications: LIST });
    const link = byTestId("notifications-link");
    expect(link?.getAttribute("href")).toBe("#/notifications");
    await vi.waitFor(() => expect(link?.textContent).toBe("Notifications: 2 new"));
    await app.go("notifications");
    await onScreen(app, "notifications");
    await app.go("home");
    await vi.waitFor(() => expect(byTestId("notifications-link")?.textContent).toBe(en["app.home.notifications.title"]));
  });

  test("is refused while locked: the PIN screen comes first", async () => {
    const { app } = await mount({ notifications: LIST }, "#/notifications");
    expect(screenName()).toBe("pin");
    app.stop();
  });
});
