// Notifications: the list from the server's events, worded in the app's language, newest first;
// reached from home; live while open; read once seen.
import { describe, expect, test, vi } from "vitest";

import { allByTestId, byTestId, catalogues, en, mount, mountEach, onScreen, screenName, screenText } from "./helpers.js";

const start = mountEach();
const none = { service_name: null, means: null, device_name: null, office_name: null, topic: null, title: null, body: null };
const AT = Date.UTC(2026, 2, 1, 9, 30) / 1000;

/** @type {import("../www/lib/backend/index.js").AppNotification[]} */
const LIST = [
  { ...none, id: "a", server: "https://identita.example.cz", at: AT, kind: "login", service_name: "Daňový portál", means: "mobile_key", device_name: "Pixel 8", read: false },
  { ...none, id: "b", server: "https://identita.example.cz", at: AT - 60, kind: "login", service_name: "Portál občana", means: "password_totp", read: false },
  { ...none, id: "c", server: "https://identita.example.cz", at: AT - 120, kind: "bok_request", office_name: "Czech POINT, Praha 1", read: true },
  { ...none, id: "d", server: "https://ugyfelkapu.example.hu", at: AT - 180, kind: "informative", topic: "other", title: "Maintenance", body: "Sunday night.", read: true },
];

/** A new mobile key, as a server whose citizen reads Czech words it. */
const KEY_CONNECTED = {
  ...none,
  id: "k",
  server: "https://identita.example.cz",
  at: AT,
  kind: /** @type {const} */ ("informative"),
  topic: /** @type {const} */ ("key_connected"),
  device_name: "Pixel 8",
  title: "Připojen nový mobilní klíč",
  body: "K vašemu účtu byl připojen mobilní klíč „Pixel 8“. Pokud jste to nebyli vy, odpojte ho na portálu.",
  read: false,
};

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

  test("an English app words a known topic in English, whatever language the server wrote it in", async () => {
    await start({ unlocked: true, notifications: [KEY_CONNECTED] }, "#/notifications");
    expect(byTestId("notification-title")?.textContent).toBe("A new mobile key was connected");
    expect(byTestId("notification-body")?.textContent).toBe(
      "The mobile key “Pixel 8” was connected to your account. If this was not you, disconnect it in the portal.",
    );
    expect(screenText()).not.toContain("Připojen");
  });

  test("each known topic in the app's language, with its arguments", async () => {
    const base = { ...KEY_CONNECTED, device_name: null, title: "T", body: "B", read: true };
    await start(
      {
        unlocked: true,
        languages: ["hu"],
        notifications: [
          { ...base, id: "1", topic: "key_disconnected", device_name: "iPad" },
          { ...base, id: "2", topic: "bok_blocked" },
          { ...base, id: "3", topic: "bok_unblocked", office_name: "Czech POINT, Praha 1" },
        ],
      },
      "#/notifications",
    );
    const hu = catalogues.hu;
    expect(allByTestId("notification-title").map((e) => e.textContent)).toEqual([
      hu["notify.device_disconnected.title"],
      hu["notify.bok_blocked.title"],
      hu["notify.bok_unblocked.title"],
    ]);
    expect(allByTestId("notification-body").map((e) => e.textContent)).toEqual([
      hu["notify.device_disconnected.body"].replace("{name}", "iPad"),
      hu["notify.bok_blocked.body"],
      hu["notify.bok_unblocked.body"].replace("{office}", "Czech POINT, Praha 1"),
    ]);
  });

  test("an unknown topic, `other`, no topic or a missing argument show the server's title and text", async () => {
    await start(
      {
        unlocked: true,
        notifications: [
          // A newer server's topic (the Rust side reads it as `other`; a stale list might not).
          { ...KEY_CONNECTED, id: "1", topic: /** @type {any} */ ("password_changed"), title: "Heslo změněno", body: "Nové heslo." },
          { ...KEY_CONNECTED, id: "2", topic: "other", title: "Plánovaná údržba", body: "V neděli." },
          { ...KEY_CONNECTED, id: "3", topic: null, title: "Starý server", body: "Bez tématu." },
          { ...KEY_CONNECTED, id: "4", device_name: null },
        ],
      },
      "#/notifications",
    );
    expect(allByTestId("notification-title").map((e) => e.textContent)).toEqual([
      "Heslo změněno",
      "Plánovaná údržba",
      "Starý server",
      "Připojen nový mobilní klíč",
    ]);
    expect(allByTestId("notification-body").map((e) => e.textContent)).toEqual([
      "Nové heslo.",
      "V neděli.",
      "Bez tématu.",
      KEY_CONNECTED.body,
    ]);
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
    backend.emitNotification({ kind: "informative", topic: "bok_blocked", title: "BOK zablokován", body: "…" });
    await vi.waitFor(() => expect(byTestId("notification-title")?.textContent).toBe(en["notify.bok_blocked.title"]));
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
