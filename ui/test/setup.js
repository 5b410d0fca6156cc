// Runs before every test file (jsdom): WebCrypto for the fake backend's TOTP codes, where the
// DOM environment lacks it.
import { webcrypto } from "node:crypto";

if (!globalThis.crypto?.subtle) {
  Object.defineProperty(globalThis, "crypto", { value: webcrypto, configurable: true });
}
