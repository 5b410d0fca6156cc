//! What each page shows: plain data handed from the handlers (`web/<feature>/handlers.rs`) to the
//! page functions (`web/<feature>/pages.rs`), which feed it to their askama templates. Page
//! functions only format; they never touch the store.

use civkey_i18n::Locale;

pub use crate::store::Means;

/// A message for a page: a catalogue key with its arguments, translated when the page is drawn
/// (a key the catalogue lacks shows the generic message, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The catalogue key (`portal.login.error.rate_limited`).
    pub key: &'static str,
    /// The values of its placeholders (`{seconds}`), by name.
    pub args: Vec<(&'static str, String)>,
}

impl Msg {
    /// The message `key` without arguments.
    pub fn new(key: &'static str) -> Self {
        Msg {
            key,
            args: Vec::new(),
        }
    }

    /// The message with its placeholder `name` set to `value`.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }
}

/// What every page needs.
#[derive(Debug, Clone)]
pub struct PageContext {
    /// The page's language.
    pub locale: Locale,
    /// The request path without query, for the language switcher's links (`/portal/keys`).
    pub path: String,
    /// The anti-forgery token to put in every form (`<input type="hidden" name="csrf" …>`);
    /// `None` on pages without a session (the login page has its own, see [`LoginView`]).
    pub csrf: Option<String>,
    /// The logged-in citizen's full name, for the header (with a "Log out" form), if any.
    pub citizen_name: Option<String>,
}

/// `GET /portal/login`: username + password + TOTP code, or username for an e-mail code.
#[derive(Debug, Clone, Default)]
pub struct LoginView {
    /// Pre-login anti-forgery token (bound to a short-lived cookie).
    pub csrf: String,
    /// The username typed before, to keep on an error.
    pub username: String,
    /// A message to show above the form (`portal.login.error.wrong`; `{seconds}` for rate
    /// limiting).
    pub error: Option<Msg>,
    /// Where to go after logging in (kept in a hidden `next` field).
    pub next: Option<String>,
}

/// `GET /portal/login/email`: the form to type the 6-digit code sent by e-mail.
#[derive(Debug, Clone, Default)]
pub struct EmailCodeView {
    /// Pre-login anti-forgery token.
    pub csrf: String,
    /// The username the code was sent for (hidden field).
    pub username: String,
    /// An error to show above the form.
    pub error: Option<Msg>,
    /// Where to go after logging in.
    pub next: Option<String>,
}

/// `GET`/`POST /portal/totp/remove`: remove a lost authenticator with the deletion code.
#[derive(Debug, Clone, Default)]
pub struct TotpRemovalView {
    /// Pre-login anti-forgery token.
    pub csrf: String,
    /// The username typed before.
    pub username: String,
    /// An error to show above the form.
    pub error: Option<Msg>,
    /// True once removed: the page says so and points to the e-mail code login.
    pub removed: bool,
}

/// `GET /portal`: the dashboard with tiles.
#[derive(Debug, Clone)]
pub struct DashboardView {
    /// The citizen's full name.
    pub full_name: String,
    /// Paired mobile keys (active).
    pub device_count: usize,
    /// Whether a TOTP authenticator is enrolled.
    pub totp_enrolled: bool,
    /// The most recent logins to services, newest first.
    pub recent_logins: Vec<LoginRow>,
}

/// One login in the dashboard's history.
#[derive(Debug, Clone)]
pub struct LoginRow {
    /// The service's name.
    pub service: String,
    /// When (Unix seconds).
    pub at: u64,
    /// How the citizen logged in.
    pub means: Means,
    /// For the mobile key: its name, if it is still connected.
    pub device_name: Option<String>,
}

/// `GET /portal/connect`: the pairing QR code and its countdown, then the live steps.
#[derive(Debug, Clone)]
pub struct ConnectView {
    /// The pairing session id (for the form actions `/portal/connect/{id}/confirm|refuse`).
    pub session_id: String,
    /// The pairing URI (`civkey://pair?…`): the QR code's content and the same-device link.
    pub pairing_uri: String,
    /// The QR code as an SVG document (render it as `<img src="data:image/svg+xml;base64,…"
    /// alt="…">` with the translated alt text "Pairing QR code").
    pub qr_svg: String,
    /// Seconds until the session expires (240 at first): the live countdown starts here.
    pub expires_in: u64,
    /// Where the page's script listens for server-sent events (`/portal/connect/{id}/events`).
    /// Each event's `data:` is a `civkey_proto::pair::PairingPageEvent` as JSON:
    /// `{"status":"waiting"}`, `{"status":"claimed","confirmation_code":"140829","device_name":"Pixel 8"}`,
    /// `{"status":"confirmed"}`, `{"status":"refused"}`, `{"status":"expired"}`.
    pub events_url: String,
    /// Download links for the app (label, URL).
    pub downloads: Vec<(String, String)>,
}

/// The outcome of a pairing, after the citizen decided (`POST …/confirm|refuse`) or it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingOutcomeView {
    /// Paired.
    Confirmed,
    /// The citizen said the codes differed: nothing was paired.
    Refused,
    /// Four minutes passed.
    Expired,
    /// The session was already decided or does not exist.
    Gone,
}

/// One row of "My mobile keys".
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// The device id (for the forms `/portal/keys/{id}/rename|disconnect`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its model.
    pub model: String,
    /// `phone`, `tablet` or `desktop`.
    pub kind: String,
    /// When it was paired (Unix seconds).
    pub paired_at: u64,
    /// When it was last used (Unix seconds), if ever.
    pub last_used_at: Option<u64>,
}

/// `GET /portal/keys`: the citizen's paired devices.
#[derive(Debug, Clone)]
pub struct DevicesView {
    /// Active devices, most recently paired first.
    pub devices: Vec<DeviceRow>,
    /// True when the citizen has no password+TOTP and no e-mail: disconnecting the last device
    /// would leave no way to log in, so the disconnect button carries a clear warning.
    pub keys_are_only_means: bool,
    /// A notice after an action, as a catalogue key (`portal.keys.renamed`, `portal.keys.disconnected`).
    pub notice: Option<String>,
    /// An error as a catalogue key (`portal.keys.error.name`).
    pub error: Option<String>,
}

/// The login page a service sends the citizen to (OpenID Connect authorization).
#[derive(Debug, Clone)]
pub struct SigninView {
    /// The asking service's name.
    pub service_name: String,
    /// The web origin it will send the citizen back to.
    pub service_origin: String,
    /// This second's login URI: the page's script draws it as a QR code, and every second the
    /// next one from the events.
    pub qr_uri: String,
    /// The same-device link.
    pub launch_uri: String,
    /// Seconds the request has left.
    pub expires_in: u64,
    /// Where the page's script listens for the next QR code and the outcome.
    pub events_url: String,
    /// Logging in with a means the portal knows instead (`/oidc/login/{id}/continue`): a link
    /// there, or, with a portal session (the page context's citizen), a form posting there.
    pub other_means_url: String,
}

/// `GET /oidc/login/{id}/continue` with a portal session: log in to the service as this citizen.
#[derive(Debug, Clone)]
pub struct SigninContinueView {
    /// The asking service's name.
    pub service_name: String,
    /// The web origin the citizen returns to.
    pub service_origin: String,
    /// The logged-in citizen's name.
    pub citizen_name: String,
    /// Where the form posts (the same path).
    pub action: String,
}

/// Who is at the counter: the counter pages' header shows the clerk and the office.
#[derive(Debug, Clone)]
pub struct ClerkBadge {
    /// The clerk's full name.
    pub full_name: String,
    /// The clerk's office.
    pub office_name: String,
}

/// `GET /counter/login`: a clerk's username and password.
#[derive(Debug, Clone, Default)]
pub struct CounterLoginView {
    /// Pre-login anti-forgery token (bound to a short-lived cookie under `/counter`).
    pub csrf: String,
    /// The username typed before, to keep on an error.
    pub username: String,
    /// An error to show above the form (`counter.login.error.wrong`).
    pub error: Option<Msg>,
}

/// A citizen the clerk looked up, as the counter page shows them.
#[derive(Debug, Clone)]
pub struct CounterCitizenRow {
    /// Login name (for the forms' hidden `username`).
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Whether a BOK is on record.
    pub bok_set: bool,
    /// Whether the BOK is blocked (the unblock button shows).
    pub blocked: bool,
    /// Consecutive wrong answers.
    pub wrong_answers: u64,
    /// Connected devices with BOK-pad on.
    pub bok_pad_devices: u64,
    /// The last unblock: clerk's username, office, when (Unix seconds).
    pub last_unblock: Option<(String, String, u64)>,
}

/// `GET /counter`: find a citizen; their BOK state; start a verification or unblock.
#[derive(Debug, Clone, Default)]
pub struct CounterView {
    /// What was searched for (kept in the search field).
    pub username: String,
    /// The citizen found, if any.
    pub citizen: Option<CounterCitizenRow>,
    /// True when a search found nobody.
    pub not_found: bool,
    /// A notice after an action, as a catalogue key (`counter.unblocked`).
    pub notice: Option<String>,
    /// An error after an action, as a catalogue key (`counter.error.bok_blocked`).
    pub error: Option<String>,
}

/// `GET /counter/bok/{id}`: one verification, live.
#[derive(Debug, Clone)]
pub struct BokLiveView {
    /// The citizen's full name.
    pub citizen_name: String,
    /// The citizen's login name (for "Verify again" and "Back to the citizen").
    pub citizen_username: String,
    /// The office the pad shows.
    pub office_name: String,
    /// Seconds until it expires: the countdown starts here.
    pub expires_in: u64,
    /// Where the page's script listens (`/counter/bok/{id}/events`); each event's `data:` is a
    /// `civkey_proto::bok::BokCounterEvent` as JSON.
    pub events_url: String,
    /// Where it stands as the page is drawn.
    pub status: civkey_proto::bok::BokCounterEvent,
}

/// `GET`/`POST /counter/onboard`: the "Onboard a new citizen" form, or its result.
#[derive(Debug, Clone, Default)]
pub struct CounterOnboardView {
    /// What was typed (kept on an error; empty on a fresh form).
    pub input: crate::services::onboarding::OnboardInput,
    /// An error to show above the form (`counter.onboard.error.code_unknown`).
    pub error: Option<Msg>,
    /// After success: the citizen's full name, username and the mobile key's name.
    pub done: Option<(String, String, String)>,
}

/// `GET /portal/confirm`: the change at `next` needs a fresh login with the strongest means held.
#[derive(Debug, Clone)]
pub struct StepUpView {
    /// Where the citizen goes back after logging in again.
    pub next: String,
    /// Offer the mobile key's approval.
    pub mobile_key: bool,
    /// Offer the password with a TOTP code.
    pub password_totp: bool,
    /// Offer an e-mail code (when the citizen holds nothing stronger).
    pub email_code: bool,
}
