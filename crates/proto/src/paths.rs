//! The paths of the app-facing API, in axum's `{param}` syntax. Both sides use these constants.

/// Claim a pairing session (`POST`, [`crate::pair::PairClaimRequest`]).
pub const PAIR_CLAIM: &str = "/api/v1/pairing/{session_id}/claim";
/// Wait for the browser's decision (`POST`, long poll, [`crate::pair::PairOutcomeRequest`]).
pub const PAIR_OUTCOME: &str = "/api/v1/pairing/{session_id}/outcome";
/// Start in-person onboarding (`POST`, [`crate::onboard::OnboardStartRequest`]).
pub const ONBOARD_START: &str = "/api/v1/onboarding";
/// Wait for the clerk to complete onboarding (`POST`, long poll,
/// [`crate::onboard::OnboardOutcomeRequest`]).
pub const ONBOARD_OUTCOME: &str = "/api/v1/onboarding/{onboarding_id}/outcome";
/// Open a login request from a scanned URI (`POST`, device call, [`crate::login::LoginOpenRequest`]).
pub const LOGIN_OPEN: &str = "/api/v1/login/{request_id}/open";
/// Approve or deny a login request (`POST`, [`crate::login::LoginDecisionRequest`]).
pub const LOGIN_DECISION: &str = "/api/v1/login/{request_id}/decision";
/// The citizen's devices (`GET`, device call, [`crate::device::DeviceList`]).
pub const DEVICE_LIST: &str = "/api/v1/device/list";
/// Rename the calling device (`POST`, device call, [`crate::device::RenameDeviceRequest`]).
pub const DEVICE_RENAME: &str = "/api/v1/device/rename";
/// Disconnect the calling device (`DELETE`, device call).
pub const DEVICE_SELF: &str = "/api/v1/device";
/// Register a push endpoint (`POST`, device call, [`crate::device::PushRegistrationRequest`]).
pub const DEVICE_PUSH: &str = "/api/v1/device/push";
/// Notification settings (`GET`/`PUT`, device call, [`crate::notify::NotificationSettings`]).
pub const NOTIFICATIONS: &str = "/api/v1/notifications";
/// Pending BOK requests for the calling device (`GET`, device call).
pub const BOK_PENDING: &str = "/api/v1/bok/pending";
/// Answer a BOK request (`POST`, device call, [`crate::bok::BokAnswerRequest`]).
pub const BOK_ANSWER: &str = "/api/v1/bok/{request_id}/answer";
/// The event stream (`GET`, device call, server-sent events of [`crate::events::Event`]).
pub const EVENTS: &str = "/api/v1/events";

/// Fills `{name}` placeholders in a path template with already URL-safe values (ids are base64url).
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}
