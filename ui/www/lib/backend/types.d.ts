// Generated from the Rust answer types in crates/app-api/src/dto.rs by ts-rs: do not edit.
// Regenerate with: CIVKEY_UPDATE_TYPES=1 cargo test -p civkey-app-api types_ts
// Numbers are Unix seconds, counts or pixels; field names are the Rust ones (snake_case).

export type AppStatus = { 
/**
 * `unset` (first run), `locked` or `unlocked`.
 */
pin: "unset" | "locked" | "unlocked", 
/**
 * Seconds before the next PIN is taken (0: now).
 */
wait_seconds: number, 
/**
 * Wrong PINs left before the app resets itself.
 */
attempts_left: number, 
/**
 * The language in use: `cs`, `hu` or `en`.
 */
locale: string, 
/**
 * The language chosen in the settings; `null` follows the system.
 */
language_choice: string | null, 
/**
 * `desktop`, `android` or `ios`.
 */
platform: "desktop" | "android" | "ios", 
/**
 * Whether biometrics can unlock the app (not yet on any platform: docs/mobile.md).
 */
biometrics: boolean, 
/**
 * Screenshot protection on mobile (on by default); `null` on desktop, where it is not offered.
 */
screenshot_protection: boolean | null, };

export type Home = { 
/**
 * Oldest first.
 */
identities: Array<Identity>, 
/**
 * In the citizen's order.
 */
otp: Array<OtpEntry>, };

export type Identity = { 
/**
 * The short id people type (the device id's first eight characters).
 */
id: string, 
/**
 * The server's origin, `https://id.example.gov`.
 */
server: string, 
/**
 * The citizen's name as the server gave it.
 */
account_name: string | null, 
/**
 * This device's name at the server.
 */
device_name: string, 
/**
 * When the pairing was confirmed (Unix seconds).
 */
paired_at: number, };

export type OtpEntry = { 
/**
 * A short random id, stable for the account's life.
 */
id: string, 
/**
 * Where it stands in the list, from 1.
 */
position: number, 
/**
 * `Issuer: name`, or the name alone.
 */
label: string, 
/**
 * The service, when known.
 */
issuer: string | null, 
/**
 * The account name at the service.
 */
name: string, 
/**
 * TOTP with its period, or HOTP with its counter.
 */
kind: { "type": "totp", 
/**
 * Seconds per code.
 */
period: number, } | { "type": "hotp", 
/**
 * The counter the next code uses.
 */
counter: number, }, 
/**
 * `SHA1`, `SHA256` or `SHA512`.
 */
algorithm: "SHA1" | "SHA256" | "SHA512", 
/**
 * Digits per code.
 */
digits: number, 
/**
 * When it was added (Unix seconds).
 */
added_at: number, };

export type OtpCode = { 
/**
 * The account's id.
 */
id: string, 
/**
 * The account's label.
 */
label: string, 
/**
 * The code, zero-padded.
 */
code: string, 
/**
 * Seconds per code.
 */
period: number | null, 
/**
 * Seconds the code stays valid.
 */
remaining: number | null, 
/**
 * The first second the code is no longer valid (Unix seconds).
 */
valid_until: number | null, 
/**
 * In a period's last seconds: the code that follows.
 */
next_code: string | null, };

export type ReadResult = { 
/**
 * What it is.
 */
kind: "pair" | "login" | "otp" | "otp_migration", 
/**
 * The text as read, to hand to `pair_begin` or `login_open`. It may hold a secret: the
 * screens keep it out of logs and never show it.
 */
text: string, 
/**
 * One line for people in the app's language, without secrets ("Pairing QR code for
 * https://id.example.gov").
 */
summary: string, };

export type CameraEvent = { "kind": "preview", 
/**
 * `data:image/jpeg;base64,…`
 */
image: string, 
/**
 * Pixels.
 */
width: number, 
/**
 * Pixels.
 */
height: number, } | { "kind": "found", 
/**
 * What was read.
 */
result: ReadResult, } | { "kind": "error", 
/**
 * Stable.
 */
code: ErrorCode, 
/**
 * For logs.
 */
message: string, };

export type PairingStarted = { 
/**
 * The server's origin.
 */
server: string, 
/**
 * Six digits, `123456` (the screen groups them as `123 456`).
 */
confirmation_code: string, 
/**
 * When the session expires (Unix seconds).
 */
expires_at: number, };

export type PairingOutcome = { 
/**
 * `confirmed`, `refused` or `expired`.
 */
status: "confirmed" | "refused" | "expired", 
/**
 * The new identity, when confirmed.
 */
identity: Identity | null, };

export type OnboardingStarted = { 
/**
 * The server's origin, where the office will create the account.
 */
server: string, 
/**
 * The code for the clerk, grouped: `K7QM-X2PD-9R` (10 characters of Crockford base32).
 */
identification_code: string, 
/**
 * When the code expires (Unix seconds).
 */
expires_at: number, };

export type LoginRequest = { 
/**
 * The identity server's origin.
 */
server: string, 
/**
 * The asking service's name.
 */
service_name: string, 
/**
 * The web origin the citizen will be sent back to.
 */
service_origin: string, 
/**
 * When the request started (Unix seconds).
 */
started_at: number, 
/**
 * When it expires (Unix seconds).
 */
expires_at: number, 
/**
 * The short id of the identity that will answer.
 */
identity_id: string, };

export type LoginOutcome = { 
/**
 * `approve` or `deny`.
 */
decision: "approve" | "deny", };

export type BokPrompt = { 
/**
 * The request, for `bok_submit`.
 */
request_id: string, 
/**
 * The office asking ("Czech POINT, Praha 1").
 */
office_name: string, 
/**
 * The identity server's origin.
 */
server: string, 
/**
 * When the clerk started it (Unix seconds).
 */
created_at: number, 
/**
 * When it expires (Unix seconds).
 */
expires_at: number, };

export type BokResult = { 
/**
 * Verified, not verified or blocked.
 */
outcome: "verified" | "not_verified" | "blocked", 
/**
 * Wrong codes left before the BOK is blocked.
 */
attempts_left: number, };

export type Notification = { 
/**
 * Unique in the list.
 */
id: string, 
/**
 * The identity server's origin.
 */
server: string, 
/**
 * When it happened (Unix seconds).
 */
at: number, 
/**
 * What it is about; the fields that kind uses are set, the others `null`.
 */
kind: "login" | "bok_request" | "informative", 
/**
 * Login: the service.
 */
service_name: string | null, 
/**
 * Login: how.
 */
means: "mobile_key" | "password_totp" | "email_code" | null, 
/**
 * Login with a mobile key: the device's name; informative `key_connected` and
 * `key_disconnected`: the mobile key's name.
 */
device_name: string | null, 
/**
 * BOK request: the office; informative `bok_unblocked`: the office that lifted the block.
 */
office_name: string | null, 
/**
 * Informative: what it is about, for the screens to word in the app's language.
 */
topic: "key_connected" | "key_disconnected" | "bok_blocked" | "bok_unblocked" | "other" | null, 
/**
 * Informative: its title, as the server worded it (in the citizen's language on the portal).
 */
title: string | null, 
/**
 * Informative: its text, as the server worded it.
 */
body: string | null, 
/**
 * Whether the list was opened since it came.
 */
read: boolean, };

export type CommandError = { 
/**
 * Stable: `locked`, `wrong_pin`, `pairing_expired`, `no_camera`, … (ui/README.md).
 */
code: ErrorCode, 
/**
 * What happened, for logs and developers.
 */
message: string, };

export type ErrorCode = "locked" | "unknown_locale" | "not_available" | "no_pairing" | "pairing_busy" | "no_onboarding" | "no_login" | "bok_unknown" | "server_address" | "internal" | "aegis_damaged" | "ambiguous_account" | "ambiguous_identity" | "app_reset" | "backup_damaged" | "bad_answer" | "bok_invalid_format" | "camera" | "cancelled" | "code_mismatch" | "counter_exhausted" | "duplicate_account" | "image" | "invalid" | "keystore_damaged" | "keystore_missing" | "keystore_refused" | "keystore_unavailable" | "no_bok_request" | "no_camera" | "no_code" | "no_such_position" | "not_a_link" | "not_civkey" | "not_found" | "not_login" | "not_paired" | "not_pairing" | "nothing_to_export" | "onboarding_expired" | "pairing_expired" | "pairing_refused" | "passphrase_needed" | "passphrase_too_short" | "pin_already_set" | "pin_damaged" | "pin_format" | "pin_guessable" | "pin_not_set" | "pin_wait" | "profile" | "scan_failed" | "timeout" | "unknown_account" | "unknown_format" | "unknown_identity" | "unreachable" | "unreadable" | "unsupported_type" | "vault_damaged" | "vault_key_damaged" | "vault_key_missing" | "vault_too_new" | "wrong_passphrase" | "wrong_pin" | "bad_request" | "body_too_large" | "unsupported_media_type" | "method_not_allowed" | "rate_limited" | "unauthorized" | "forbidden" | "csrf_failed" | "wrong_credentials" | "bad_signature" | "replayed" | "device_unknown" | "device_disconnected" | "pairing_unknown" | "pairing_used" | "pairing_taken" | "onboarding_unknown" | "onboarding_used" | "username_taken" | "login_unknown" | "login_expired" | "login_used" | "login_qr_stale" | "login_qr_invalid" | "launch_token_invalid" | "login_denied" | "bok_blocked" | "bok_expired" | "bok_answered" | "bok_pad_off" | "bok_not_set" | "bok_no_device" | "push_endpoint_refused" | "unknown";
