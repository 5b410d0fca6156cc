// @ts-check
// Which screen to show: the hash route, the app lock, and where a link leads. Pure functions.

/** @typedef {import("./backend/index.js").AppStatus} AppStatus */
/** @typedef {import("./backend/index.js").ReadResult} ReadResult */

/** Every route, `#/NAME`. */
export const ROUTES = /** @type {const} */ ([
  "pin",
  "home",
  "scan",
  "pair",
  "link",
  "onboard",
  "login",
  "bok",
  "notifications",
  "settings",
  "otp-add",
]);
/** @typedef {typeof ROUTES[number]} Route */

/** Routes worth returning to after the app was unlocked (the others hold a one-off request). */
// (The onboarding screen is: it shows the code being waited for again, `onboardingCurrent`.)
const RETURNABLE = new Set(["home", "scan", "onboard", "bok", "notifications", "settings"]);

/**
 * @param {string} hash `location.hash`: `#/home`, `#/pair`, …
 * @returns {Route} the route it names; home for anything else
 */
export function parseHash(hash) {
  const name = hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return ROUTES.find((route) => route === name) ?? "home";
}

/**
 * The route to show for `wanted` in the app's state: the PIN screen until the app is unlocked,
 * never the PIN screen after.
 * @param {Route} wanted
 * @param {AppStatus} status
 * @returns {Route}
 */
export function guard(wanted, status) {
  if (status.pin !== "unlocked") return "pin";
  return wanted === "pin" ? "home" : wanted;
}

/**
 * @param {Route} route
 * @returns {boolean} whether to go back there once the app is unlocked again
 */
export function returnable(route) {
  return RETURNABLE.has(route);
}

/**
 * Where a read link leads: pairing, login, or adding one-time code accounts.
 * @param {ReadResult} result
 * @returns {Route}
 */
export function routeForResult(result) {
  switch (result.kind) {
    case "pair":
      return "pair";
    case "login":
      return "login";
    default:
      return "otp-add";
  }
}

/**
 * Where a link opened from outside the app (a deep link, the link it was started with) leads: a
 * link that would contact a server (pairing, login) first to the screen that says so and waits for
 * a tap; the others where a scanned one leads.
 * @param {ReadResult} result
 * @returns {Route}
 */
export function routeForOutsideLink(result) {
  return result.kind === "pair" || result.kind === "login" ? "link" : routeForResult(result);
}

/**
 * The server a `civkey://pair` or `civkey://login` link names (its `s`), for saying where it
 * leads; "" when it names none. The backend has already read the link strictly.
 * @param {string} text
 * @returns {string}
 */
export function linkServer(text) {
  try {
    return new URL(text).searchParams.get("s") ?? "";
  } catch {
    return "";
  }
}

/**
 * The screen's pending kinds: what `takePending(route)` hands each screen.
 * @param {Route} route
 * @returns {ReadResult["kind"][]}
 */
export function pendingKinds(route) {
  if (route === "link") return ["pair", "login"];
  if (route === "pair") return ["pair"];
  if (route === "login") return ["login"];
  if (route === "otp-add") return ["otp", "otp_migration"];
  return [];
}
