// @ts-check
// The app around the screens: language, the app lock, hash routes, and links from outside.
//
// Screens get an `App`: the Backend, the words (`t`, `tn`), the current status, and ways to move
// on (`go`, `openResult`). A screen is `{ element, ready, dispose }`; `ready` settles when its
// first answer from the backend is shown, which is what tests wait for.

import { roughDuration } from "./format.js";
import { t, tn, translate } from "./i18n.js";
import { guard, parseHash, pendingKinds, returnable, routeForOutsideLink, routeForResult } from "./router.js";
import { SCREENS } from "../screens/index.js";
import { errorCode } from "./errors.js";

/** @typedef {import("./backend/index.js").Backend} Backend */
/** @typedef {import("./backend/index.js").AppStatus} AppStatus */
/** @typedef {import("./backend/index.js").ReadResult} ReadResult */
/** @typedef {import("./router.js").Route} Route */

/**
 * @typedef {object} Screen
 * @property {HTMLElement} element the screen's root, `[data-screen]`
 * @property {Promise<void>} ready settles once the screen shows what the backend answered
 * @property {() => void} [dispose] stops its timers, the camera, a pending wait
 */

/** @typedef {{ text: string, tone: "info" | "error" }} Notice */

/**
 * @typedef {object} App
 * @property {Backend} backend
 * @property {string} locale
 * @property {Record<string, string>} catalogue
 * @property {AppStatus} status as of the last screen change
 * @property {(key: string, args?: Record<string, string | number>) => string} t
 * @property {(key: string, n: number, args?: Record<string, string | number>) => string} tn
 * @property {(seconds: number) => string} duration "45 seconds", "3 minutes"
 * @property {(error: unknown) => string} errorText the catalogue's words for a `{ code }` error
 * @property {(route: Route) => Promise<Screen | null>} go shows a route (and records it in history)
 * @property {(text: string) => Promise<void>} openText reads a pasted link and goes where it leads
 * @property {(result: ReadResult) => Promise<Screen | null>} openResult goes where a read link leads
 * @property {(link: string) => Promise<void>} openLink a link from outside (deep link, start-up):
 *   a pairing or login link first shows what it asks and waits for "Continue" before anything is
 *   sent to a server; a link scanned or pasted in the app is the citizen's own act (`openText`)
 * @property {(route: Route) => ReadResult | null} takePending the link that led to `route`, once
 * @property {(notice: Notice) => void} setNotice shown by the next screen
 * @property {() => Notice | null} takeNotice
 * @property {(status: AppStatus) => Promise<void>} unlocked the PIN screen's way out
 * @property {(locale: string) => Promise<void>} setLocale loads a language and shows it
 * @property {(text: string) => void} announce a polite message for screen readers
 * @property {() => number} now milliseconds
 * @property {() => { route: Route, screen: Screen } | null} current
 * @property {() => void} stop removes the app's listeners (tests)
 */

/**
 * Starts the front end in `doc` (the page from index.html) against `backend`.
 * @param {{ backend: Backend, doc?: Document, win?: Window, now?: () => number }} options
 * @returns {Promise<App>}
 */
export async function startApp({ backend, doc = document, win = window, now = () => Date.now() }) {
  const view = doc.getElementById("view");
  const nav = doc.getElementById("nav");
  const announcer = doc.getElementById("announcer");
  if (!view || !nav || !announcer) throw new Error("index.html lacks #view, #nav or #announcer");

  let locale = await backend.locale();
  let catalogue = await backend.catalogue(locale);
  translate(doc, catalogue, locale);

  /** @type {{ route: Route, screen: Screen } | null} */
  let current = null;
  /** @type {ReadResult | null} */
  let pending = null;
  /** @type {Notice | null} */
  let notice = null;
  /** @type {string | null} a link that came while the app was locked */
  let deferredLink = null;
  /** @type {Route | null} where to go back to after unlocking */
  let intended = null;
  let showing = 0;

  /** @type {App} */
  const app = {
    backend,
    get locale() {
      return locale;
    },
    get catalogue() {
      return catalogue;
    },
    // Until the first screen asks: locked, the safe assumption.
    status: {
      pin: "locked",
      wait_seconds: 0,
      attempts_left: 0,
      locale,
      language_choice: null,
      platform: "desktop",
      biometrics: false,
      screenshot_protection: null,
    },
    t: (key, args) => t(catalogue, key, args),
    tn: (key, n, args) => tn(catalogue, locale, key, n, args),
    duration: (seconds) => {
      const { unit, n } = roughDuration(seconds);
      return app.tn(unit === "seconds" ? "common.seconds" : "app.time.minutes", n);
    },
    errorText: (error) => {
      const code = errorCode(error) ?? "generic";
      const key = `app.error.${code}`;
      return Object.hasOwn(catalogue, key) ? app.t(key, { code }) : app.t("app.error.generic", { code });
    },
    go: async (route) => {
      const hash = `#/${route}`;
      if (win.location.hash !== hash) win.history.pushState(null, "", hash);
      return show(route);
    },
    openText: async (text) => {
      const result = await backend.readText(text);
      await app.openResult(result);
    },
    openResult: async (result) => {
      pending = result;
      return app.go(routeForResult(result));
    },
    openLink: async (link) => {
      if (app.status.pin !== "unlocked") {
        deferredLink = link;
        return;
      }
      try {
        // Reading a link is local; only the screen it leads to contacts a server.
        pending = await backend.readText(link);
        await app.go(routeForOutsideLink(pending));
      } catch (error) {
        app.setNotice({ text: app.errorText(error), tone: "error" });
        await app.go("scan");
      }
    },
    takePending: (route) => {
      const kinds = pendingKinds(route);
      if (!pending || !kinds.includes(pending.kind)) return null;
      const taken = pending;
      pending = null;
      return taken;
    },
    setNotice: (next) => {
      notice = next;
    },
    takeNotice: () => {
      const taken = notice;
      notice = null;
      return taken;
    },
    unlocked: async (status) => {
      app.status = status;
      const link = deferredLink ?? (await backend.pendingLink().catch(() => null));
      deferredLink = null;
      const back = intended;
      intended = null;
      if (link) await app.openLink(link);
      else await app.go(back ?? "home");
    },
    setLocale: async (next) => {
      catalogue = await backend.catalogue(next);
      locale = next;
      translate(doc, catalogue, locale);
      if (current) await show(current.route);
    },
    announce: (text) => {
      // Cleared first, so the same words said twice are announced twice.
      announcer.textContent = "";
      win.setTimeout(() => {
        announcer.textContent = text;
      }, 50);
    },
    now,
    current: () => current,
    stop: () => {
      win.removeEventListener("hashchange", onHashChange);
      stopLinks();
      stopLocked();
      stopBok();
      current?.screen.dispose?.();
    },
  };

  /**
   * @param {Route} wanted
   * @returns {Promise<Screen | null>}
   */
  async function show(wanted) {
    const turn = ++showing;
    let status;
    try {
      status = await backend.status();
    } catch (error) {
      if (turn !== showing) return null;
      current?.screen.dispose?.();
      current = null;
      view?.replaceChildren(failure(app.errorText(error)));
      return null;
    }
    if (turn !== showing) return null;
    app.status = status;
    const route = guard(wanted, status);
    if (route === "pin" && wanted !== "pin" && returnable(wanted)) intended = wanted;
    const hash = `#/${route}`;
    if (win.location.hash !== hash) win.history.replaceState(null, "", hash);

    current?.screen.dispose?.();
    const screen = SCREENS[route](app);
    current = { route, screen };
    view?.replaceChildren(screen.element);
    showNav(route, status);
    screen.element.querySelector("h1")?.focus();
    return screen;
  }

  /**
   * @param {Route} route
   * @param {AppStatus} status
   */
  function showNav(route, status) {
    nav?.toggleAttribute("hidden", status.pin !== "unlocked");
    for (const link of nav?.querySelectorAll("a[data-route]") ?? []) {
      if (link.getAttribute("data-route") === route) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /** @param {string} text */
  function failure(text) {
    const box = doc.createElement("p");
    box.className = "notice notice--error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    return box;
  }

  function onHashChange() {
    const route = parseHash(win.location.hash);
    if (route !== current?.route) show(route);
  }

  win.addEventListener("hashchange", onHashChange);
  // "Skip to content" moves the focus to the screen's heading, not the address to #view (which
  // would be read as a route).
  const skip = doc.querySelector("a.skip");
  skip?.addEventListener("click", (event) => {
    event.preventDefault();
    /** @type {HTMLElement | null} */ (view?.querySelector("h1") ?? view)?.focus();
  });
  const stopLinks = backend.onOpenLink((link) => {
    app.openLink(link);
  });
  const stopLocked = backend.onLocked(() => {
    if (current && returnable(current.route)) intended = current.route;
    app.status = { ...app.status, pin: "locked" };
    app.go("pin");
  });

  // An office asks for the BOK while the app is unlocked: the BOK-pad opens (unless it already
  // shows a pad or an outcome the citizen is reading).
  const stopBok = backend.onBokRequest(() => {
    if (app.status.pin !== "unlocked") return;
    const shown = current?.route === "bok" ? current.screen.element : null;
    if (shown && !shown.querySelector('[data-testid="bok-none"]')) return;
    if (shown) show("bok");
    else app.go("bok");
  });

  await show(parseHash(win.location.hash));
  // Opened with a link and already unlocked (otherwise the PIN screen's way out takes it).
  if (app.status.pin === "unlocked") {
    const link = await backend.pendingLink().catch(() => null);
    if (link) await app.openLink(link);
  }
  return app;
}
