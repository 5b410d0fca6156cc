// @ts-check
// The one-time codes' countdown: what the home screen draws for an `OtpCode` at a given second.

import { groupCode } from "./format.js";

/** @typedef {import("./backend/index.js").OtpCode} OtpCode */

/** Radius of the countdown ring in its 40×40 box; the dash length is its circumference. */
export const RING_RADIUS = 16;
export const RING_LENGTH = 2 * Math.PI * RING_RADIUS;
/** The last seconds of a period, drawn in the warning colour (when the next code shows too). */
export const URGENT_WITHIN = 5;

/**
 * @typedef {object} CodeView
 * @property {string} code grouped for reading (`123 456`)
 * @property {number | null} remaining whole seconds the code stays valid (null: HOTP)
 * @property {number} period
 * @property {number} fraction of the period left, 0–1 (how full the ring is)
 * @property {number} dashOffset the ring's `stroke-dashoffset`
 * @property {boolean} urgent in the last seconds
 * @property {string | null} next the following code, grouped, when the backend gave it
 */

/**
 * @param {OtpCode} code as `otpCodes()` answered
 * @returns {CodeView}
 */
export function codeView(code) {
  const period = Number(code.period ?? 30) || 30;
  const remaining = code.remaining === undefined || code.remaining === null ? null : Number(code.remaining);
  const fraction = remaining === null ? 1 : Math.min(1, Math.max(0, remaining / period));
  return {
    code: groupCode(code.code),
    remaining,
    period,
    fraction,
    dashOffset: RING_LENGTH * (1 - fraction),
    urgent: remaining !== null && remaining <= URGENT_WITHIN,
    next: code.next_code ? groupCode(code.next_code) : null,
  };
}
