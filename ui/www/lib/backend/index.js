// @ts-check
// The front end's way to the app: screens call a Backend and never Tauri itself.
//
// The Backend mirrors the app's Rust commands one to one (the table in ui/README.md is the
// contract); ./tauri.js is the real one, ./fake.js runs in plain browsers and tests. Every method
// returns a Promise; failures reject with `{ code, message }`, `code` being stable.

import { fakeBackend, fakeOptionsFromQuery } from "./fake.js";
import { tauriAvailable, tauriBackend } from "./tauri.js";

// The shapes shared with Rust. They come from the generated declarations; the stand-in is used
// until src-tauri's ts-rs output (./types.d.ts) is there.
/** @typedef {import("./types.js").AppStatus} AppStatus */
/** @typedef {import("./types.js").Identity} Identity */
/** @typedef {import("./types.js").OtpEntry} OtpEntry */
/** @typedef {import("./types.js").OtpCode} OtpCode */
/** @typedef {import("./types.js").Home} Home */
/** @typedef {import("./types.js").ReadResult} ReadResult */
/** @typedef {import("./types.js").CameraEvent} CameraEvent */
/** @typedef {import("./types.js").PairingStarted} PairingStarted */
/** @typedef {import("./types.js").PairingOutcome} PairingOutcome */
/** @typedef {import("./types.js").OnboardingStarted} OnboardingStarted */
/** @typedef {import("./types.js").LoginRequest} LoginRequest */
/** @typedef {import("./types.js").LoginOutcome} LoginOutcome */
/** @typedef {import("./types.js").BokPrompt} BokPrompt */
/** @typedef {import("./types.js").BokResult} BokResult */
/** @typedef {import("./types.js").Notification} AppNotification */
/** @typedef {import("./types.js").CommandError} CommandError */

/**
 * @typedef {object} Backend
 * @property {"tauri" | "fake"} kind
 * @property {() => Promise<string>} locale
 * @property {(locale: string) => Promise<Record<string, string>>} catalogue
 * @property {() => Promise<AppStatus>} status
 * @property {(locale: string | null) => Promise<AppStatus>} setLanguage
 * @property {(pin: string) => Promise<AppStatus>} setPin
 * @property {(pin: string) => Promise<AppStatus>} unlock
 * @property {() => Promise<AppStatus>} unlockWithBiometrics
 * @property {() => Promise<AppStatus>} lock
 * @property {() => Promise<Home>} home
 * @property {() => Promise<OtpCode[]>} otpCodes
 * @property {(uri: string) => Promise<OtpEntry>} otpAdd
 * @property {(text: string) => Promise<ReadResult>} readText
 * @property {(bytes: Uint8Array) => Promise<ReadResult[]>} scanImage
 * @property {(onEvent: (event: CameraEvent) => void) => Promise<void>} cameraStart
 * @property {() => Promise<void>} cameraStop
 * @property {(uri: string, deviceName?: string) => Promise<PairingStarted>} pairBegin
 * @property {() => Promise<PairingOutcome>} pairFinish
 * @property {() => Promise<void>} pairCancel
 * @property {(serverOrigin: string) => Promise<OnboardingStarted>} onboardingStart
 * @property {() => Promise<OnboardingStarted | null>} onboardingCurrent the code being shown, if any
 * @property {() => Promise<Identity>} onboardingWait the new identity, once a clerk entered the code
 * @property {() => Promise<void>} onboardingCancel
 * @property {(uri: string) => Promise<LoginRequest>} loginOpen
 * @property {(approve: boolean) => Promise<LoginOutcome>} loginDecide
 * @property {(id: string, name: string) => Promise<Identity>} renameIdentity
 * @property {(id: string, localOnly: boolean) => Promise<Home>} forgetIdentity
 * @property {(on: boolean) => Promise<AppStatus>} setScreenshotProtection
 * @property {() => Promise<string | null>} pendingLink
 * @property {(callback: (link: string) => void) => () => void} onOpenLink
 * @property {(callback: () => void) => () => void} onLocked
 * @property {() => Promise<BokPrompt | null>} bokPending
 * @property {(requestId: string, bok: string) => Promise<BokResult>} bokSubmit
 * @property {() => Promise<AppNotification[]>} notifications newest first
 * @property {() => Promise<AppNotification[]>} notificationsMarkRead
 * @property {(callback: (request: BokPrompt) => void) => () => void} onBokRequest
 * @property {(callback: (notification: AppNotification) => void) => () => void} onNotification
 */

/**
 * @param {Location} [where] the page's address; in a plain browser its query configures the fake
 *   backend (`?pin=unset`, `?camera=none`, … see fakeOptionsFromQuery)
 * @returns {Backend} the app's backend inside the webview, the fake one in a plain browser
 */
export function connect(where = window.location) {
  return tauriAvailable() ? tauriBackend() : fakeBackend(fakeOptionsFromQuery(where.search));
}
