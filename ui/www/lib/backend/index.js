// The front end's way to the app: screens call a Backend and never Tauri itself.
//
// A Backend (the same shape as the Rust commands in src-tauri/src/lib.rs):
//   kind: "tauri" | "fake"
//   locale(): Promise<string>                 the system language negotiated to `cs`, `hu` or `en`
//   catalogue(locale): Promise<Record<string, string>>  every message of that language
// Failures reject with `{ code, message }`; `code` is stable, `message` is for logs.

import { fakeBackend } from "./fake.js";
import { tauriAvailable, tauriBackend } from "./tauri.js";

/**
 * @typedef {object} Backend
 * @property {"tauri" | "fake"} kind
 * @property {() => Promise<string>} locale
 * @property {(locale: string) => Promise<Record<string, string>>} catalogue
 */

/** @returns {Backend} the app's backend inside the webview, the fake one in a plain browser */
export function connect() {
  return tauriAvailable() ? tauriBackend() : fakeBackend();
}
