// @ts-check
// A backend for plain browsers and tests: no Rust, no Tauri, the whole contract in memory.
//
// The scenario: a citizen with an app PIN, two identities (a Czech and a Hungarian portal), three
// one-time code accounts with real TOTP codes (WebCrypto HMAC), a camera that finds a pairing
// link after a moment, a pairing that the "browser" confirms after a delay, a login request, a
// BOK request from an office (the right BOK is 2468; wrong ones count down to blocked), and three
// notifications (a login, the BOK request, an informative one). Everything is configurable through the options, so tests pin each
// state (first run, no camera, a wrong PIN, …), and a plain browser reads the same options from
// the page's query (`?pin=unset&camera=none`, see fakeOptionsFromQuery).
//
// The language comes from the browser's preferences, negotiated like the app does (Czech when
// none matches). Catalogues are either handed in (tests) or read from crates/i18n/locales, so a
// browser pointed at the repository shows the same words as the app without a second copy.

import { t } from "../../www/lib/i18n.js";
import { base32Decode, totp } from "./totp.js";

/** @typedef {import("../../www/lib/backend/index.js").Backend} Backend */
/** @typedef {import("../../www/lib/errors.js").ErrorCode} ErrorCode */
/** @typedef {import("../../www/lib/backend/index.js").AppStatus} AppStatus */
/** @typedef {import("../../www/lib/backend/index.js").Identity} Identity */
/** @typedef {import("../../www/lib/backend/index.js").OtpEntry} OtpEntry */
/** @typedef {import("../../www/lib/backend/index.js").OtpCode} OtpCode */
/** @typedef {import("../../www/lib/backend/index.js").ReadResult} ReadResult */
/** @typedef {import("../../www/lib/backend/index.js").CameraEvent} CameraEvent */
/** @typedef {import("../../www/lib/backend/index.js").PairingOutcome} PairingOutcome */
/** @typedef {import("../../www/lib/backend/index.js").LoginRequest} LoginRequest */
/** @typedef {import("../../www/lib/backend/index.js").BokPrompt} BokPrompt */
/** @typedef {import("../../www/lib/backend/index.js").BokResult} BokResult */
/** @typedef {import("../../www/lib/backend/index.js").AppNotification} AppNotification */

const SUPPORTED = ["cs", "hu", "en"];
const DEFAULT_LOCALE = "cs";
/** In the last this many seconds of a period the next code is given too (as the Rust vault does). */
export const NEXT_CODE_WITHIN_SECS = 5;

/** Links the fake understands, for tests, the README and trying the app in a browser. */
export const SAMPLE_LINKS = {
  pair: "civkey://pair?v=1&s=https%3A%2F%2Fportal.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw",
  login:
    "civkey://login?v=1&s=https%3A%2F%2Fidentita.example.cz&r=AwMDAwMDAwMDAwMDAwMDAw&l=bGF1bmNoLXRva2VuLTE",
  otp: "otpauth://totp/Example%20Bank:jana?secret=GEZDGNBVGY3TQOJQ&issuer=Example%20Bank&digits=8",
  migration: "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU",
};

/**
 * @typedef {object} FakeOtpAccount
 * @property {string | null} issuer
 * @property {string} name
 * @property {string} secret base32
 * @property {"SHA1" | "SHA256" | "SHA512"} [algorithm]
 * @property {number} [digits]
 * @property {number} [period]
 * @property {"totp" | "hotp"} [type]
 * @property {number} [counter]
 */

/**
 * @typedef {object} FakeOptions
 * @property {readonly string[]} [languages] preferred tags; the browser's by default
 * @property {Record<string, Record<string, string>>} [catalogues] catalogues by locale;
 *   fetched from the repository's crates/i18n/locales by default
 * @property {string} [cataloguesUrl] where the locale files are served
 * @property {string | null} [pin] the app PIN (default "135790"); null: first run, none chosen
 * @property {boolean} [unlocked] start unlocked (default: locked, as the app starts)
 * @property {"desktop" | "android" | "ios"} [platform] default "desktop"
 * @property {boolean} [biometrics] whether the platform offers biometrics (default false)
 * @property {Identity[]} [identities] default: two
 * @property {FakeOtpAccount[]} [otp] default: three TOTP accounts
 * @property {"ok" | "none" | "error"} [camera] default "ok"
 * @property {string} [cameraFinds] the link the camera finds (default the sample pairing link)
 * @property {number} [cameraFindsAfterMs] default 2500; Infinity: never
 * @property {string[]} [imageFinds] what a picture holds (default the sample pairing link)
 * @property {"confirmed" | "refused" | "expired"} [pairOutcome] default "confirmed"
 * @property {number} [pairDelayMs] how long the "browser" takes to decide (default 6000)
 * @property {string} [confirmationCode] default: derived from the link, as the server does
 * @property {"completed" | "expired"} [onboardOutcome] what the "clerk" does with the
 *   identification code (default "completed")
 * @property {number} [onboardDelayMs] how long until then (default 8000); Infinity: never, unless
 *   `completeOnboarding()` is called or the code's time runs out
 * @property {string} [identificationCode] default "K7QM-X2PD-9R"
 * @property {number} [onboardTtlSecs] how long a code is valid (default 1800, as the server's)
 * @property {string | null} [onboardName] the new account's name (default "Petr Svoboda")
 * @property {string | null} [pendingLink] the link the app was "opened with"
 * @property {Partial<BokPrompt> | null} [bok] the office's pending request (default one; the
 *   missing fields filled in, expiring two minutes after the start)
 * @property {string} [bokCode] the right BOK (default "2468")
 * @property {number} [bokAttempts] wrong BOKs left before it is blocked (default 5)
 * @property {AppNotification[]} [notifications] the list, newest first (default four)
 * @property {{ freeAttempts?: number, limit?: number, waitSeconds?: number }} [pinPolicy]
 *   wrong PINs without a wait (3), wrong PINs until the reset (10), the first wait (30 s)
 * @property {Record<string, ErrorCode | FakeOnlyCode>} [fail] method name → error code it rejects with
 * @property {() => number} [now] the clock in milliseconds (Date.now)
 */

/**
 * @typedef {object} FakeControls
 * @property {(link: string) => void} emitOpenLink a deep link arrives while running
 * @property {() => void} emitLocked the app locks itself (as when sent to the background)
 * @property {(request?: Partial<BokPrompt>) => BokPrompt} emitBokRequest an office asks now
 *   (the request becomes the pending one; its notification is listed and emitted too)
 * @property {(notification: Partial<AppNotification>) => AppNotification} emitNotification
 * @property {(accountName?: string) => boolean} completeOnboarding a clerk enters the
 *   identification code now (true when an onboarding was waiting)
 * @property {() => { wrongPins: number, pin: string | null, unlocked: boolean, onboarding: boolean }} inspect
 */

/**
 * @param {readonly string[]} tags preferred language tags, most wanted first (`hu-HU`, `en`, …)
 * @returns {string} the first one civkey speaks, as `cs`, `hu` or `en`
 */
export function negotiate(tags) {
  for (const tag of tags) {
    const primary = String(tag).trim().split(/[-_.@]/)[0].toLowerCase();
    const known = primary === "cz" ? "cs" : primary;
    if (SUPPORTED.includes(known)) return known;
  }
  return DEFAULT_LOCALE;
}

/**
 * Fake options from a page's query, so the app can be tried (and photographed) in each state
 * in a plain browser: `pin=unset|locked|unlocked`, `camera=ok|none|error`,
 * `platform=desktop|android|ios`, `biometrics=1`, `empty=1` (no identities, no accounts),
 * `lang=cs|hu|en` (instead of the browser's languages),
 * `link=<civkey:// or otpauth:// link the app was opened with>`,
 * `pairing=confirmed|refused|expired`, `onboarding=completed|expired`, `bok=none`,
 * `notifications=none`.
 * @param {string} search `location.search`
 * @returns {FakeOptions}
 */
export function fakeOptionsFromQuery(search) {
  const query = new URLSearchParams(search);
  /** @type {FakeOptions} */
  const options = {};
  const pin = query.get("pin");
  if (pin === "unset") options.pin = null;
  if (pin === "unlocked") options.unlocked = true;
  const camera = query.get("camera");
  if (camera === "ok" || camera === "none" || camera === "error") options.camera = camera;
  const platform = query.get("platform");
  if (platform === "desktop" || platform === "android" || platform === "ios") {
    options.platform = platform;
  }
  if (query.get("biometrics") === "1") options.biometrics = true;
  if (query.get("empty") === "1") {
    options.identities = [];
    options.otp = [];
  }
  const lang = query.get("lang");
  if (lang) options.languages = [lang];
  const link = query.get("link");
  if (link) options.pendingLink = link;
  const pairing = query.get("pairing");
  if (pairing === "confirmed" || pairing === "refused" || pairing === "expired") {
    options.pairOutcome = pairing;
  }
  const onboarding = query.get("onboarding");
  if (onboarding === "completed" || onboarding === "expired") options.onboardOutcome = onboarding;
  if (query.get("bok") === "none") options.bok = null;
  if (query.get("notifications") === "none") options.notifications = [];
  return options;
}

/**
 * The sample notification list, newest first: a login with this phone, an office's BOK request,
 * a new mobile key (a topic the app words itself; the server's text is Czech) and a notice from
 * the identity point (topic `other`: its title and text as they came).
 * @param {number} now Unix seconds
 * @returns {AppNotification[]}
 */
export function defaultNotifications(now) {
  const none = { service_name: null, means: null, device_name: null, office_name: null, topic: null, title: null, body: null };
  return [
    {
      ...none,
      id: "n3",
      server: "https://identita.example.cz",
      at: now - 300,
      kind: "login",
      service_name: "Daňový portál",
      means: "mobile_key",
      device_name: "Pixel 8",
      read: false,
    },
    {
      ...none,
      id: "n2",
      server: "https://identita.example.cz",
      at: now - 3600,
      kind: "bok_request",
      office_name: "Úřad městské části Praha 7",
      read: true,
    },
    {
      ...none,
      id: "n1b",
      server: "https://identita.example.cz",
      at: now - 86400,
      kind: "informative",
      topic: "key_connected",
      device_name: "Pixel 8",
      title: "Připojen nový mobilní klíč",
      body: "K vašemu účtu byl připojen mobilní klíč „Pixel 8“. Pokud jste to nebyli vy, odpojte ho na portálu.",
      read: true,
    },
    {
      ...none,
      id: "n1",
      server: "https://identita.example.cz",
      at: now - 86400 * 2,
      kind: "informative",
      topic: "other",
      title: "Plánovaná údržba",
      body: "V neděli od 22:00 do 23:00 nemusí přihlašování fungovat.",
      read: true,
    },
  ];
}

/**
 * Codes only the fake gives (the app's are `ErrorCode`, generated from Rust); `pin_unset` is the
 * app's `pin_not_set`.
 * @typedef {"catalogue_unavailable" | "device_name" | "generic" | "pin_unset"} FakeOnlyCode
 */

/**
 * @param {ErrorCode | FakeOnlyCode} code
 * @param {string} [message]
 */
function failure(code, message = code) {
  return { code, message };
}

/**
 * The parameters of a `civkey://KIND?…` link, or null when it is not one.
 * @param {string} text
 * @param {string} kind
 */
function civkeyParams(text, kind) {
  const prefix = `civkey://${kind}?`;
  if (!text.startsWith(prefix)) return null;
  return new URLSearchParams(text.slice(prefix.length));
}

/**
 * @param {string | null} origin
 * @returns {string | null} the origin when it is an http(s) origin
 */
function checkedOrigin(origin) {
  if (!origin) return null;
  try {
    const url = new URL(origin);
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

/**
 * A server address as a citizen types it (`identita.example.cz`, `https://identita.example.cz/`),
 * read like the app does: https assumed, plain http only on this computer, no path.
 * @param {string} typed
 * @returns {string | null} the origin, or null when it is not a server's address
 */
export function serverAddress(typed) {
  const text = typed.trim();
  if (!text || /\s/.test(text)) return null;
  let url;
  try {
    url = new URL(text.includes("://") ? text : `https://${text}`);
  } catch {
    return null;
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) return null;
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) {
    return null;
  }
  return url.origin;
}

/**
 * An `otpauth://` link read into an account.
 * @param {string} text
 * @returns {FakeOtpAccount & { label: string }}
 */
export function parseOtpauth(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw failure("unreadable", "not a link");
  }
  const type = url.host.toLowerCase();
  if (url.protocol !== "otpauth:" || (type !== "totp" && type !== "hotp")) {
    throw failure("unreadable", "not an otpauth://totp or hotp link");
  }
  const label = decodeURIComponent(url.pathname.replace(/^\//, ""));
  const secret = url.searchParams.get("secret") ?? "";
  if (!label || !secret) throw failure("unreadable", "an otpauth link needs a label and a secret");
  base32Decode(secret);
  const [labelIssuer, labelName] = label.includes(":") ? label.split(/:(.*)/s) : [null, label];
  const issuer = url.searchParams.get("issuer") ?? labelIssuer;
  const name = (labelName ?? label).trim();
  const algorithm = (url.searchParams.get("algorithm") ?? "SHA1").toUpperCase();
  if (algorithm !== "SHA1" && algorithm !== "SHA256" && algorithm !== "SHA512") {
    throw failure("unreadable", `unknown algorithm ${algorithm}`);
  }
  const digits = Number(url.searchParams.get("digits") ?? 6);
  const period = Number(url.searchParams.get("period") ?? 30);
  if (![6, 7, 8].includes(digits) || !(period > 0)) throw failure("unreadable", "bad digits or period");
  return {
    type,
    issuer: issuer ? issuer.trim() : null,
    name,
    secret,
    algorithm,
    digits,
    period,
    counter: Number(url.searchParams.get("counter") ?? 0),
    label: issuer ? `${issuer.trim()}: ${name}` : name,
  };
}

/** A grey 1×1 JPEG: the preview frame where no canvas can draw a better one (tests). */
const GREY_PIXEL =
  "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAABAAEDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAgP/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCZAVB//9k=";

/**
 * A synthetic camera frame: a dim room with a QR-code-like square drifting across it.
 * @param {number} index
 * @returns {Promise<string>} a data URL
 */
async function previewFrame(index) {
  if (typeof OffscreenCanvas !== "function" || typeof FileReader !== "function") return GREY_PIXEL;
  const canvas = new OffscreenCanvas(320, 240);
  const g = canvas.getContext("2d");
  if (!g) return GREY_PIXEL;
  g.fillStyle = "#3b4350";
  g.fillRect(0, 0, 320, 240);
  const x = 100 + Math.round(12 * Math.sin(index / 4));
  const y = 60 + Math.round(8 * Math.cos(index / 5));
  g.fillStyle = "#f4f4f0";
  g.fillRect(x, y, 120, 120);
  g.fillStyle = "#111";
  for (let row = 0; row < 10; row++) {
    for (let col = 0; col < 10; col++) {
      const corner = (row < 3 && col < 3) || (row < 3 && col > 6) || (row > 6 && col < 3);
      if (corner || (row * 7 + col * 3 + row * col) % 3 === 0) {
        g.fillRect(x + 10 + col * 10, y + 10 + row * 10, 10, 10);
      }
    }
  }
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.7 });
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => resolve(GREY_PIXEL);
    reader.readAsDataURL(blob);
  });
}

/**
 * Six digits from the link, like the server's confirmation code (SHA-256, here without a key).
 * @param {string} text
 */
async function derivedCode(text) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return "482913";
  const digest = new Uint8Array(await subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const number = ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
  return String(number % 1_000_000).padStart(6, "0");
}

/** @param {string} pin */
function guessable(pin) {
  const digits = [...pin].map(Number);
  const steps = new Set(digits.slice(1).map((d, i) => (d - digits[i] + 10) % 10));
  return steps.size === 1 && (steps.has(0) || steps.has(1) || steps.has(9));
}

/**
 * Unix seconds `days` before `nowMs`.
 * @param {number} days
 * @returns {(nowMs: number) => number}
 */
const daysAgo = (days) => (nowMs) => Math.floor(nowMs / 1000) - days * 86_400;

/**
 * @param {FakeOptions} [options]
 * @returns {Backend & FakeControls}
 */
export function fakeBackend(options = {}) {
  const languages = options.languages ?? navigator.languages ?? [navigator.language];
  const cataloguesUrl =
    options.cataloguesUrl ?? new URL("../../crates/i18n/locales/", document.baseURI).href;
  const nowMs = options.now ?? (() => Date.now());
  const nowSecs = () => Math.floor(nowMs() / 1000);
  const platform = options.platform ?? "desktop";
  const policy = { freeAttempts: 3, limit: 10, waitSeconds: 30, ...options.pinPolicy };
  const fail = options.fail ?? {};

  let pin = options.pin === undefined ? "135790" : options.pin;
  let unlocked = pin !== null && (options.unlocked ?? false);
  let wrongPins = 0;
  let waitUntilMs = 0;
  /** @type {string | null} */
  let languageChoice = null;
  let screenshotProtection = platform === "desktop" ? null : true;
  let pendingLink = options.pendingLink ?? null;
  /** @param {Partial<BokPrompt>} given @returns {BokPrompt} */
  const bokPrompt = (given) => {
    const created = given.created_at ?? nowSecs();
    return {
      request_id: "bok-7f3a",
      office_name: "Úřad městské části Praha 7",
      server: "https://identita.example.cz",
      created_at: created,
      expires_at: created + 120,
      ...given,
    };
  };
  /** @type {BokPrompt | null} */
  let bok = options.bok === null ? null : bokPrompt(options.bok ?? {});
  const bokCode = options.bokCode ?? "2468";
  let bokAttempts = options.bokAttempts ?? 5;
  /** @type {AppNotification[]} */
  let notifications = (options.notifications ?? defaultNotifications(nowSecs())).map((n) => ({ ...n }));
  /** @type {Set<(request: BokPrompt) => void>} */
  const bokListeners = new Set();
  /** @type {Set<(notification: AppNotification) => void>} */
  const notificationListeners = new Set();

  const start = nowMs();
  /** @type {Identity[]} */
  let identities = (
    options.identities ?? [
      {
        id: "k3v9q2mx",
        server: "https://identita.example.cz",
        account_name: "Jana Nováková",
        device_name: "Pixel 8",
        paired_at: daysAgo(41)(start),
      },
      {
        id: "p7d2w4ra",
        server: "https://ugyfelkapu.example.hu",
        account_name: "Novák Jana",
        device_name: "Pixel 8",
        paired_at: daysAgo(3)(start),
      },
    ]
  ).map((identity) => ({ ...identity }));

  let nextOtpId = 1;
  /** @type {(FakeOtpAccount & { id: string, added_at: number })[]} */
  let accounts = (
    options.otp ?? [
      { issuer: "Ügyfélkapu+", name: "jana.novakova", secret: "JBSWY3DPEHPK3PXP" },
      { issuer: "GitHub", name: "jana-novak", secret: "KRSXG5CTMVRXEZLU" },
      {
        issuer: "Example Bank",
        name: "12345678",
        secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        algorithm: "SHA256",
        digits: 8,
      },
    ]
  ).map((account) => ({ ...account, id: `otp${nextOtpId++}`, added_at: daysAgo(20)(start) }));

  /** @type {Set<(link: string) => void>} */
  const linkListeners = new Set();
  /** @type {Set<() => void>} */
  const lockListeners = new Set();
  /** @type {Record<string, Record<string, string>>} */
  const loaded = {};

  /** @type {ReturnType<typeof setInterval> | null} */
  let cameraTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let cameraFound = null;
  /** @type {{ server: string, code: string, expiresAt: number } | null} */
  let pairing = null;
  /** @type {((outcome: PairingOutcome | null) => void) | null} */
  let settlePairing = null;
  /** @type {LoginRequest | null} */
  let login = null;
  /**
   * The onboarding between `onboardingStart` and its outcome; `settle` is set once
   * `onboardingWait` waits, and every wait gets the same `result`.
   * @typedef {{ identity: Identity } | { error: ErrorCode } | null} OnboardResult
   * @type {{ server: string, code: string, expiresAt: number,
   *   settle: ((result: OnboardResult) => void) | null, result: Promise<OnboardResult> | null } | null}
   */
  let onboarding = null;
  /** @type {ReturnType<typeof setTimeout>[]} */
  let onboardTimers = [];

  const stopOnboarding = () => {
    for (const timer of onboardTimers) clearTimeout(timer);
    onboardTimers = [];
    const settle = onboarding?.settle;
    onboarding = null;
    settle?.(null);
  };

  /** @param {string} [accountName] */
  const completeOnboarding = (accountName) => {
    const started = onboarding;
    if (!started?.settle) return false;
    /** @type {Identity} */
    const identity = {
      id: Math.random().toString(36).slice(2, 10).padEnd(8, "x"),
      server: started.server,
      account_name: accountName ?? (options.onboardName === undefined ? "Petr Svoboda" : options.onboardName),
      device_name: "Pixel 8",
      paired_at: nowSecs(),
    };
    identities.push(identity);
    started.settle({ identity: { ...identity } });
    return true;
  };

  const locale = () => languageChoice ?? negotiate(languages);

  /** @param {string} wanted */
  const catalogue = async (wanted) => {
    if (!SUPPORTED.includes(wanted)) {
      throw failure("unknown_locale", `no catalogue for ${JSON.stringify(wanted)}`);
    }
    if (options.catalogues) return options.catalogues[wanted] ?? {};
    if (!loaded[wanted]) {
      const response = await fetch(new URL(`${wanted}.json`, cataloguesUrl));
      if (!response.ok) {
        throw failure("catalogue_unavailable", `${response.status} ${response.url}`);
      }
      loaded[wanted] = await response.json();
    }
    return loaded[wanted];
  };

  /** @param {string} key @param {Record<string, string | number>} args */
  const say = async (key, args) => t(await catalogue(locale()), key, args);

  /** @returns {AppStatus} */
  const status = () => ({
    pin: pin === null ? "unset" : unlocked ? "unlocked" : "locked",
    wait_seconds: Math.max(0, Math.ceil((waitUntilMs - nowMs()) / 1000)),
    attempts_left: policy.limit - wrongPins,
    locale: locale(),
    language_choice: languageChoice,
    platform,
    biometrics: options.biometrics ?? false,
    screenshot_protection: screenshotProtection,
  });

  /** Rejects like the app does when the method was told to fail, or when locked. */
  /** @param {string} method @param {boolean} [needsUnlock] */
  const gate = (method, needsUnlock = true) => {
    if (fail[method]) throw failure(fail[method], `${method} told to fail`);
    if (needsUnlock && !unlocked) throw failure("locked", "unlock the app first");
  };

  /** @returns {OtpEntry[]} */
  const entries = () =>
    accounts.map((account, index) => ({
      id: account.id,
      position: index + 1,
      label: account.issuer ? `${account.issuer}: ${account.name}` : account.name,
      issuer: account.issuer,
      name: account.name,
      kind:
        account.type === "hotp"
          ? { type: "hotp", counter: account.counter ?? 0 }
          : { type: "totp", period: account.period ?? 30 },
      algorithm: account.algorithm ?? "SHA1",
      digits: account.digits ?? 6,
      added_at: account.added_at,
    }));

  /** @param {string} raw @returns {Promise<ReadResult>} */
  const readText = async (raw) => {
    const text = raw.trim();
    const pair = civkeyParams(text, "pair");
    if (pair) {
      const origin = checkedOrigin(pair.get("s"));
      if (!origin || !pair.get("id") || !pair.get("k")) throw failure("unreadable", "a pairing link needs s, id and k");
      return { kind: "pair", text, summary: await say("cli.inspect.pairing", { origin }) };
    }
    const loginLink = civkeyParams(text, "login");
    if (loginLink) {
      const origin = checkedOrigin(loginLink.get("s"));
      const sameDevice = loginLink.has("l");
      if (!origin || !loginLink.get("r") || !(sameDevice || (loginLink.has("t") && loginLink.has("c")))) {
        throw failure("unreadable", "a login link needs s, r and either l or t and c");
      }
      const key = sameDevice ? "cli.inspect.login_same_device" : "cli.inspect.login";
      return { kind: "login", text, summary: await say(key, { origin }) };
    }
    if (/^otpauth:/i.test(text)) {
      const account = parseOtpauth(text);
      return { kind: "otp", text, summary: await say("cli.inspect.otp", { label: account.label }) };
    }
    if (/^otpauth-migration:/i.test(text)) {
      const summary = await say("cli.inspect.migration", { count: 1, index: 1, size: 1 });
      return { kind: "otp_migration", text, summary };
    }
    if (/^civkey:/i.test(text)) throw failure("unreadable", "an unknown civkey:// link");
    throw failure("not_civkey", "neither a civkey:// nor an otpauth:// link");
  };

  const stopCamera = () => {
    if (cameraTimer !== null) clearInterval(cameraTimer);
    if (cameraFound !== null) clearTimeout(cameraFound);
    cameraTimer = null;
    cameraFound = null;
  };

  /** @type {Backend & FakeControls} */
  const controls = {
    kind: "fake",
    locale: async () => locale(),
    catalogue,
    status: async () => status(),

    setLanguage: async (wanted) => {
      gate("setLanguage");
      if (wanted !== null && !SUPPORTED.includes(wanted)) throw failure("unknown_locale");
      languageChoice = wanted;
      return status();
    },

    setPin: async (chosen) => {
      gate("setPin", false);
      if (pin !== null) throw failure("pin_already_set");
      if (!/^\d{6}$/.test(chosen)) throw failure("pin_format");
      if (guessable(chosen)) throw failure("pin_guessable");
      pin = chosen;
      unlocked = true;
      wrongPins = 0;
      return status();
    },

    unlock: async (typed) => {
      gate("unlock", false);
      if (pin === null) throw failure("pin_unset");
      if (unlocked) return status();
      if (waitUntilMs > nowMs()) throw failure("pin_wait");
      if (typed !== pin) {
        wrongPins += 1;
        if (wrongPins >= policy.limit) {
          pin = null;
          stopOnboarding();
          identities = [];
          accounts = [];
          wrongPins = 0;
          waitUntilMs = 0;
          throw failure("app_reset", "too many wrong PINs: identities and codes forgotten");
        }
        if (wrongPins >= policy.freeAttempts) {
          const doubling = 2 ** (wrongPins - policy.freeAttempts);
          waitUntilMs = nowMs() + policy.waitSeconds * doubling * 1000;
        }
        throw failure("wrong_pin");
      }
      wrongPins = 0;
      waitUntilMs = 0;
      unlocked = true;
      return status();
    },

    unlockWithBiometrics: async () => {
      gate("unlockWithBiometrics", false);
      if (!options.biometrics) throw failure("not_available");
      if (pin === null) throw failure("pin_unset");
      unlocked = true;
      return status();
    },

    lock: async () => {
      gate("lock", false);
      if (pin !== null) unlocked = false;
      stopCamera();
      return status();
    },

    home: async () => {
      gate("home");
      return { identities: identities.map((i) => ({ ...i })), otp: entries() };
    },

    otpCodes: async () => {
      gate("otpCodes");
      const now = nowMs() / 1000;
      /** @type {OtpCode[]} */
      const codes = [];
      for (const entry of entries()) {
        if (entry.kind.type !== "totp") continue;
        const account = accounts[entry.position - 1];
        const secret = base32Decode(account.secret);
        const settings = { algorithm: entry.algorithm, digits: entry.digits, period: entry.kind.period };
        const current = await totp(secret, now, settings);
        /** @type {OtpCode} */
        const code = {
          id: entry.id,
          label: entry.label,
          code: current.code,
          period: entry.kind.period,
          remaining: current.remaining,
          valid_until: current.valid_until,
          // As the app answers: null unless the period is in its last seconds.
          next_code: null,
        };
        if (current.remaining <= NEXT_CODE_WITHIN_SECS && entry.kind.period > NEXT_CODE_WITHIN_SECS) {
          code.next_code = (await totp(secret, current.valid_until, settings)).code;
        }
        codes.push(code);
      }
      return codes;
    },

    otpAdd: async (uri) => {
      gate("otpAdd");
      const account = parseOtpauth(uri.trim());
      const existing = accounts.find((a) => a.secret.replace(/=/g, "") === account.secret.replace(/=/g, ""));
      if (existing) throw failure("duplicate_account", `${account.label} is already here`);
      const { label, ...stored } = account;
      accounts.push({ ...stored, id: `otp${nextOtpId++}`, added_at: nowSecs() });
      const added = entries().at(-1);
      if (!added) throw failure("generic");
      return added;
    },

    readText: async (text) => {
      gate("readText");
      return readText(text);
    },

    scanImage: async (bytes) => {
      gate("scanImage");
      if (bytes.length === 0) throw failure("image", "an empty file");
      // A text file holding a link stands in for a picture of its QR code.
      const asText = new TextDecoder().decode(bytes.slice(0, 4096)).trim();
      if (/^(civkey|otpauth(-migration)?):/i.test(asText)) return [await readText(asText)];
      const png = bytes[0] === 0x89 && bytes[1] === 0x50;
      const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
      if (!png && !jpeg) throw failure("image", "not a PNG or JPEG picture");
      const finds = options.imageFinds ?? [SAMPLE_LINKS.pair];
      if (finds.length === 0) throw failure("no_code");
      return Promise.all(finds.map(readText));
    },

    cameraStart: async (onEvent) => {
      gate("cameraStart");
      const camera = options.camera ?? "ok";
      if (camera === "none") throw failure("no_camera", "no camera on this device");
      if (camera === "error") throw failure("camera", "the camera is busy in another app");
      stopCamera();
      let frame = 0;
      cameraTimer = setInterval(() => {
        previewFrame(frame++).then((image) => {
          if (cameraTimer !== null) onEvent({ kind: "preview", image, width: 320, height: 240 });
        });
      }, 200);
      const after = options.cameraFindsAfterMs ?? 2500;
      if (Number.isFinite(after)) {
        cameraFound = setTimeout(() => {
          stopCamera();
          readText(options.cameraFinds ?? SAMPLE_LINKS.pair).then(
            (result) => onEvent({ kind: "found", result }),
            (error) => onEvent({ kind: "error", code: error.code, message: error.message }),
          );
        }, after);
      }
    },

    cameraStop: async () => {
      stopCamera();
    },

    pairBegin: async (uri) => {
      gate("pairBegin");
      const read = await readText(uri);
      if (read.kind !== "pair") throw failure("not_pairing");
      const server = checkedOrigin(civkeyParams(read.text, "pair")?.get("s") ?? null) ?? "";
      const code = options.confirmationCode ?? (await derivedCode(read.text));
      pairing = { server, code, expiresAt: nowSecs() + 240 };
      return { server, confirmation_code: code, expires_at: pairing.expiresAt };
    },

    pairFinish: async () => {
      gate("pairFinish");
      const started = pairing;
      if (!started) throw failure("pairing_unknown", "no pairing was begun");
      const outcome = await new Promise((resolve) => {
        settlePairing = resolve;
        setTimeout(() => {
          const status = options.pairOutcome ?? "confirmed";
          /** @type {Identity | null} */
          let identity = null;
          if (status === "confirmed") {
            identity = {
              id: Math.random().toString(36).slice(2, 10).padEnd(8, "x"),
              server: started.server,
              account_name: "Jana Nováková",
              device_name: "Pixel 8",
              paired_at: nowSecs(),
            };
            identities.push(identity);
          }
          resolve({ status, identity: identity && { ...identity } });
        }, options.pairDelayMs ?? 6000);
      });
      settlePairing = null;
      pairing = null;
      if (!outcome) throw failure("cancelled", "pairing cancelled");
      return outcome;
    },

    pairCancel: async () => {
      pairing = null;
      settlePairing?.(null);
    },

    onboardingStart: async (serverOrigin) => {
      gate("onboardingStart");
      const server = serverAddress(serverOrigin);
      if (!server) throw failure("server_address", "this is not a civkey server's address");
      stopOnboarding();
      const code = options.identificationCode ?? "K7QM-X2PD-9R";
      onboarding = { server, code, expiresAt: nowSecs() + (options.onboardTtlSecs ?? 1800), settle: null, result: null };
      return { server, identification_code: code, expires_at: onboarding.expiresAt };
    },

    onboardingCurrent: async () => {
      gate("onboardingCurrent");
      return onboarding && { server: onboarding.server, identification_code: onboarding.code, expires_at: onboarding.expiresAt };
    },

    onboardingWait: async () => {
      gate("onboardingWait");
      const started = onboarding;
      if (!started) throw failure("no_onboarding", "no onboarding was started");
      started.result ??= new Promise((resolve) => {
        started.settle = resolve;
        const delay = options.onboardDelayMs ?? 8000;
        if (Number.isFinite(delay)) {
          onboardTimers.push(
            setTimeout(() => {
              if ((options.onboardOutcome ?? "completed") === "completed") completeOnboarding();
              else resolve({ error: "onboarding_expired" });
            }, delay),
          );
        }
        const untilExpiry = Math.max(0, started.expiresAt * 1000 - nowMs());
        onboardTimers.push(setTimeout(() => resolve({ error: "onboarding_expired" }), untilExpiry));
      });
      const result = await started.result;
      if (onboarding === started) {
        for (const timer of onboardTimers) clearTimeout(timer);
        onboardTimers = [];
        onboarding = null;
      }
      if (!result) throw failure("cancelled", "the onboarding was cancelled");
      if ("error" in result) throw failure(result.error);
      return result.identity;
    },

    onboardingCancel: async () => {
      stopOnboarding();
    },

    loginOpen: async (uri) => {
      gate("loginOpen");
      const read = await readText(uri);
      if (read.kind !== "login") throw failure("not_login");
      const server = checkedOrigin(civkeyParams(read.text, "login")?.get("s") ?? null) ?? "";
      const identity = identities.find((i) => i.server === server);
      if (!identity) throw failure("not_paired", `not paired with ${server}`);
      const now = nowSecs();
      login = {
        server,
        service_name: "Daňový portál",
        service_origin: "https://dane.example.cz",
        started_at: now - 4,
        expires_at: now + 116,
        identity_id: identity.id,
      };
      return { ...login };
    },

    loginDecide: async (approve) => {
      gate("loginDecide");
      if (!login) throw failure("login_unknown");
      if (login.expires_at <= nowSecs()) throw failure("login_expired");
      login = null;
      return { decision: approve ? "approve" : "deny" };
    },

    renameIdentity: async (id, name) => {
      gate("renameIdentity");
      const identity = identities.find((i) => i.id === id);
      if (!identity) throw failure("unknown_identity");
      const trimmed = name.trim();
      if (trimmed.length < 1 || trimmed.length > 64) throw failure("device_name");
      identity.device_name = trimmed;
      return { ...identity };
    },

    forgetIdentity: async (id) => {
      gate("forgetIdentity");
      if (!identities.some((i) => i.id === id)) throw failure("unknown_identity");
      identities = identities.filter((i) => i.id !== id);
      return { identities: identities.map((i) => ({ ...i })), otp: entries() };
    },

    setScreenshotProtection: async (on) => {
      gate("setScreenshotProtection");
      if (platform === "desktop") throw failure("not_available");
      screenshotProtection = on;
      return status();
    },

    pendingLink: async () => {
      const link = pendingLink;
      pendingLink = null;
      return link;
    },

    onOpenLink: (callback) => {
      linkListeners.add(callback);
      return () => linkListeners.delete(callback);
    },

    onLocked: (callback) => {
      lockListeners.add(callback);
      return () => lockListeners.delete(callback);
    },

    bokPending: async () => {
      gate("bokPending");
      return bok && { ...bok };
    },

    bokSubmit: async (requestId, code) => {
      gate("bokSubmit");
      if (!/^\d{4,10}$/.test(code)) throw failure("bok_invalid_format");
      if (!bok || bok.request_id !== requestId) throw failure("bok_unknown");
      if (bokAttempts === 0) throw failure("bok_blocked");
      if (bok.expires_at <= nowSecs()) {
        bok = null;
        throw failure("bok_expired");
      }
      bok = null;
      /** @type {BokResult} */
      let result;
      if (code === bokCode) {
        bokAttempts = options.bokAttempts ?? 5;
        result = { outcome: "verified", attempts_left: bokAttempts };
      } else {
        bokAttempts -= 1;
        result = { outcome: bokAttempts === 0 ? "blocked" : "not_verified", attempts_left: bokAttempts };
      }
      return result;
    },

    notifications: async () => {
      gate("notifications");
      return notifications.map((n) => ({ ...n }));
    },

    notificationsMarkRead: async () => {
      gate("notificationsMarkRead");
      notifications = notifications.map((n) => ({ ...n, read: true }));
      return notifications.map((n) => ({ ...n }));
    },

    onBokRequest: (callback) => {
      bokListeners.add(callback);
      return () => bokListeners.delete(callback);
    },

    onNotification: (callback) => {
      notificationListeners.add(callback);
      return () => notificationListeners.delete(callback);
    },

    emitBokRequest: (given = {}) => {
      const request = bokPrompt({ request_id: `bok-${Math.random().toString(36).slice(2, 8)}`, ...given });
      bok = request;
      for (const listener of bokListeners) listener({ ...request });
      controls.emitNotification({
        id: `bok:${request.request_id}`,
        server: request.server,
        at: request.created_at,
        kind: "bok_request",
        office_name: request.office_name,
      });
      return request;
    },

    emitNotification: (given) => {
      /** @type {AppNotification} */
      const notification = {
        id: `n${Math.random().toString(36).slice(2, 10)}`,
        server: "https://identita.example.cz",
        at: nowSecs(),
        kind: "informative",
        service_name: null,
        means: null,
        device_name: null,
        office_name: null,
        topic: given.kind === undefined || given.kind === "informative" ? "other" : null,
        title: null,
        body: null,
        read: false,
        ...given,
      };
      notifications = [notification, ...notifications.filter((n) => n.id !== notification.id)].slice(0, 100);
      for (const listener of notificationListeners) listener({ ...notification });
      return notification;
    },

    emitOpenLink: (link) => {
      for (const listener of linkListeners) listener(link);
    },

    emitLocked: () => {
      if (pin !== null) unlocked = false;
      stopCamera();
      for (const listener of lockListeners) listener();
    },

    completeOnboarding,

    inspect: () => ({ wrongPins, pin, unlocked, onboarding: onboarding !== null }),
  };
  return controls;
}
