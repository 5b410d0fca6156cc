// @ts-check
// The stable code of a command's rejection. The codes are the Rust enum `ErrorCode`
// (crates/app-api/src/error_code.rs), generated into ./backend/types.d.ts, so `tsc` refuses a
// comparison with a code the app does not have.

/** @typedef {import("./backend/types.js").ErrorCode} ErrorCode */

/**
 * The code of a rejection (`{ code, message }`), or null for anything else.
 * @param {unknown} error
 * @returns {ErrorCode | null}
 */
export function errorCode(error) {
  return error && typeof error === "object" && "code" in error && typeof error.code === "string"
    ? /** @type {ErrorCode} */ (error.code)
    : null;
}
