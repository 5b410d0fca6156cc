//! Step-up: what changes how an account is protected — connecting a mobile key, disconnecting
//! one, changing which channels announce logins — needs a portal session opened (or opened again)
//! within the last [`STEP_UP_SECS`] with the strongest means the citizen holds. An e-mail code is
//! enough only for a citizen who holds nothing stronger; otherwise it takes the mobile key's
//! approval or the password with a TOTP code.

use super::{ServiceError, Services};
use crate::store::{Means, WebSession};

/// How recent a session's authentication must be for a change that needs step-up.
pub const STEP_UP_SECS: u64 = 5 * 60;

/// The means that would satisfy a step-up, as the "confirm it is you" page offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepUpMeans {
    /// The citizen holds an active mobile key: log in with its approval.
    pub mobile_key: bool,
    /// The citizen has an authenticator: log in with the password and a TOTP code.
    pub password_totp: bool,
    /// Neither: an e-mail code (logged in again) is the strongest means held.
    pub email_code: bool,
}

/// Whether a session's means is strong (the mobile key, or the password with a TOTP code).
fn is_strong(means: Means) -> bool {
    matches!(means, Means::MobileKey | Means::PasswordTotp)
}

impl Services {
    /// `Ok(None)` when `session` may change how the account is protected now: it was opened
    /// within `window` seconds with the strongest means its citizen holds. Otherwise the means
    /// that would do. `window` is [`STEP_UP_SECS`], or longer for the last step of a change the
    /// citizen began within it (confirming a pairing started on a stepped-up page).
    pub async fn step_up_needed(
        &self,
        session: &WebSession,
        window: u64,
    ) -> Result<Option<StepUpMeans>, ServiceError> {
        let citizen = self
            .store
            .citizen_by_id(&session.citizen_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("a session's citizen is gone".into()))?;
        let has_key = !self
            .store
            .active_devices(&session.citizen_id)
            .await?
            .is_empty();
        let has_totp = citizen.totp_secret.is_some();
        let means = StepUpMeans {
            mobile_key: has_key,
            password_totp: has_totp,
            email_code: !has_key && !has_totp,
        };
        let recent = self.clock.now().saturating_sub(session.authenticated_at) <= window;
        let strong_enough = is_strong(session.means) || means.email_code;
        Ok((!(recent && strong_enough)).then_some(means))
    }
}
