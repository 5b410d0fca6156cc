//! The app lock: a 6-digit app PIN asked for before anything else.
//!
//! The PIN is never stored. What is stored is one record in the OS keystore, under the profile's
//! [`KeyRef`] `<profile>/app-pin/v1` (never in a plain file): an Argon2id hash of the PIN
//! ([`KDF_M_KIB`] KiB, [`KDF_T`] passes, one lane: OWASP's first choice for Argon2id, about a
//! tenth of a second on a phone, and as much for every guess an attacker makes), the count of
//! wrong PINs in a row, and the time until which no PIN is taken.
//!
//! Wrong PINs slow down ([`wait_after`]): the first three cost nothing, then 30 s, 1 min, 5 min,
//! 15 min, 1 h and 3 h. The tenth wrong PIN in a row resets the app ([`AppLock::reset`]): this
//! device's identities are forgotten here (their keys deleted; the server keeps listing them until
//! they are disconnected in the portal) and the one-time code vault and its key are erased.
//!
//! Each attempt is counted (and its wait written) *before* the PIN is checked, and cleared again
//! when it was right: an app killed while checking has spent the attempt. Because the record is
//! re-read from the keystore for every attempt, the count and the wait hold across restarts and
//! across two app processes. Time comes from the profile's [`Clock`](crate::clock::Clock); a wait
//! is never longer than the schedule says, so setting the clock back does not lock anyone out for
//! longer (setting it forward does shorten a wait: the device's clock is all there is to go by).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use civkey_i18n::{tr_args, Locale};
use civkey_proto::rules::AppPin;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keystore::{KeyRef, KeyStoreError};
use crate::profile::Profile;
use crate::ClientError;

/// The keystore purpose of the app PIN record.
pub const PURPOSE: &str = "app-pin";
/// Argon2id memory in KiB (19 MiB).
pub const KDF_M_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const KDF_T: u32 = 2;
/// Argon2id lanes: one, since a phone hashes on one core.
pub const KDF_P: u32 = 1;
/// The most memory a stored hash may ask for when it is checked (a record that asks for more is
/// damaged, not obeyed).
const MAX_M_KIB: u32 = 256 * 1024;
/// The most passes a stored hash may ask for when it is checked.
const MAX_T: u32 = 16;
/// Wrong PINs in a row that reset the app.
pub const MAX_FAILURES: u32 = 10;
/// The record's format.
const RECORD_VERSION: u32 = 1;

/// Seconds to wait after `failures` wrong PINs in a row: none after the first three, then 30 s,
/// 1 min, 5 min, 15 min, 1 h, and 3 h after the ninth (the tenth resets the app).
pub fn wait_after(failures: u32) -> u64 {
    match failures {
        0..=3 => 0,
        4 => 30,
        5 => 60,
        6 => 5 * 60,
        7 => 15 * 60,
        8 => 60 * 60,
        _ => 3 * 60 * 60,
    }
}

/// What can go wrong with the app PIN. Each has a stable [`AppLockError::code`].
#[derive(Debug, thiserror::Error)]
pub enum AppLockError {
    /// Not six digits.
    #[error("the app PIN {0}")]
    PinFormat(&'static str),
    /// Six digits, but one that is guessed first (`111111`, `123456`, `121212`, …).
    #[error("the app PIN {0}")]
    PinGuessable(&'static str),
    /// A PIN was chosen already; it is not replaced without the old one.
    #[error("an app PIN is already set")]
    PinAlreadySet,
    /// No PIN was chosen yet.
    #[error("no app PIN is set yet")]
    PinNotSet,
    /// The PIN is wrong.
    #[error("the app PIN is wrong: {attempts_left} attempts left before the app resets{}", wait_text(*wait_seconds))]
    WrongPin {
        /// Attempts left before the reset.
        attempts_left: u32,
        /// Seconds until the next PIN is taken.
        wait_seconds: u64,
    },
    /// Too many wrong PINs: no PIN is taken before the wait is over.
    #[error("too many wrong PINs: wait {wait_seconds} s before the next attempt")]
    PinWait {
        /// Seconds until the next PIN is taken.
        wait_seconds: u64,
        /// Attempts left before the reset.
        attempts_left: u32,
    },
    /// The tenth wrong PIN in a row: the app was reset.
    #[error(
        "{MAX_FAILURES} wrong PINs in a row: the app was reset ({} identities forgotten on this \
         device{})",
        .0.identities_forgotten,
        if .0.vault_erased { ", one-time codes erased" } else { "" }
    )]
    AppReset(ResetReport),
    /// The keystore holds something under the PIN's reference that civkey did not write.
    #[error("the app PIN record in the OS keystore is damaged: {0}")]
    Damaged(&'static str),
}

fn wait_text(seconds: u64) -> String {
    if seconds == 0 {
        String::new()
    } else {
        format!(", wait {seconds} s before the next attempt")
    }
}

impl AppLockError {
    /// A stable code for the app and machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            AppLockError::PinFormat(_) => "pin_format",
            AppLockError::PinGuessable(_) => "pin_guessable",
            AppLockError::PinAlreadySet => "pin_already_set",
            AppLockError::PinNotSet => "pin_not_set",
            AppLockError::WrongPin { .. } => "wrong_pin",
            AppLockError::PinWait { .. } => "pin_wait",
            AppLockError::AppReset(_) => "app_reset",
            AppLockError::Damaged(_) => "pin_damaged",
        }
    }

    /// What went wrong, in `locale`: the app's own message (`app.error.<code>`, with `{attempts}`
    /// and `{seconds}` filled in), or the English text where the catalogue has none.
    pub fn describe(&self, locale: Locale) -> String {
        let key = format!("app.error.{}", self.code());
        let (attempts, seconds) = match self {
            AppLockError::WrongPin {
                attempts_left,
                wait_seconds,
            }
            | AppLockError::PinWait {
                wait_seconds,
                attempts_left,
            } => (attempts_left.to_string(), wait_seconds.to_string()),
            _ => (String::new(), String::new()),
        };
        let text = tr_args(
            locale,
            &key,
            &[("attempts", &attempts), ("seconds", &seconds)],
        );
        if text == key {
            self.to_string()
        } else {
            text
        }
    }
}

/// What a reset removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResetReport {
    /// Identities forgotten on this device (their keys deleted).
    pub identities_forgotten: usize,
    /// Whether a one-time code vault was erased.
    pub vault_erased: bool,
}

/// The app lock as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LockStatus {
    /// Whether a PIN was chosen.
    pub pin_set: bool,
    /// Wrong PINs in a row so far.
    pub failures: u32,
    /// Seconds until the next PIN is taken (0: now).
    pub wait_seconds: u64,
    /// Wrong PINs left before the app resets.
    pub attempts_left: u32,
}

/// The record in the keystore.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    /// The PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    hash: Zeroizing<String>,
    /// Wrong PINs in a row.
    failures: u32,
    /// No PIN is taken before this time (Unix seconds).
    wait_until: u64,
}

impl Record {
    fn wait_seconds(&self, now: u64) -> u64 {
        self.wait_until
            .saturating_sub(now)
            .min(wait_after(self.failures))
    }

    fn attempts_left(&self) -> u32 {
        MAX_FAILURES.saturating_sub(self.failures)
    }
}

/// The app lock of a profile. Cheap to make: it reads the keystore on each call.
pub struct AppLock<'p> {
    profile: &'p Profile,
    params: Params,
}

impl Profile {
    /// This profile's app lock.
    pub fn app_lock(&self) -> AppLock<'_> {
        AppLock {
            profile: self,
            params: Params::new(KDF_M_KIB, KDF_T, KDF_P, None).unwrap_or_default(),
        }
    }
}

impl AppLock<'_> {
    /// The keystore reference of the PIN record: fixed per profile, so it is found again.
    pub fn key_ref(&self) -> KeyRef {
        KeyRef::from_stored(format!("{}/{PURPOSE}/v1", self.profile.profile_id()))
    }

    /// Hashes with cheaper Argon2id parameters (tests only: every other caller gets the phone
    /// parameters above). The record names its parameters, so a check uses those it was made with.
    #[cfg(test)]
    pub(crate) fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// Whether a PIN is set, the wrong PINs so far and the wait. A reset that was interrupted
    /// (the app stopped during one) is finished here first.
    pub fn status(&self) -> Result<LockStatus, ClientError> {
        let Some(record) = self.load()? else {
            return Ok(LockStatus {
                pin_set: false,
                failures: 0,
                wait_seconds: 0,
                attempts_left: MAX_FAILURES,
            });
        };
        if record.failures >= MAX_FAILURES {
            self.reset()?;
            return Ok(LockStatus {
                pin_set: false,
                failures: 0,
                wait_seconds: 0,
                attempts_left: MAX_FAILURES,
            });
        }
        Ok(LockStatus {
            pin_set: true,
            failures: record.failures,
            wait_seconds: record.wait_seconds(self.profile.clock().now()),
            attempts_left: record.attempts_left(),
        })
    }

    /// Chooses the PIN (first run): six digits, not a guessable one. A PIN already set is not
    /// replaced ([`AppLockError::PinAlreadySet`]).
    pub fn set(&self, pin: &str) -> Result<(), ClientError> {
        let pin = AppPin::parse(pin).map_err(|e| AppLockError::PinFormat(reason(&e)))?;
        let pin =
            AppPin::choose(pin.expose()).map_err(|e| AppLockError::PinGuessable(reason(&e)))?;
        if self.load()?.is_some() {
            return Err(AppLockError::PinAlreadySet.into());
        }
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let hash = self
            .argon2()
            .hash_password(pin.expose().as_bytes(), &salt)
            .map_err(|_| AppLockError::Damaged("the PIN could not be hashed"))?;
        self.save(&Record {
            version: RECORD_VERSION,
            hash: Zeroizing::new(hash.to_string()),
            failures: 0,
            wait_until: 0,
        })
    }

    /// Checks `pin`. Right: the count of wrong PINs is cleared. Wrong:
    /// [`AppLockError::WrongPin`], or [`AppLockError::AppReset`] for the tenth in a row (the
    /// reset is done before this returns). During a wait no PIN is checked
    /// ([`AppLockError::PinWait`]); text that is not six digits is refused without counting
    /// ([`AppLockError::PinFormat`]).
    pub fn unlock(&self, pin: &str) -> Result<(), ClientError> {
        let mut record = self.load()?.ok_or(AppLockError::PinNotSet)?;
        if record.failures >= MAX_FAILURES {
            let report = self.reset()?;
            return Err(AppLockError::AppReset(report).into());
        }
        let now = self.profile.clock().now();
        let wait_seconds = record.wait_seconds(now);
        if wait_seconds > 0 {
            return Err(AppLockError::PinWait {
                wait_seconds,
                attempts_left: record.attempts_left(),
            }
            .into());
        }
        let pin = AppPin::parse(pin).map_err(|e| AppLockError::PinFormat(reason(&e)))?;
        let hash = PasswordHash::new(&record.hash)
            .map_err(|_| AppLockError::Damaged("the stored hash is not a PHC string"))?;
        check_cost(&hash)?;
        // Count the attempt before checking it: stopping the app mid-check spends it.
        record.failures = record.failures.saturating_add(1);
        record.wait_until = now.saturating_add(wait_after(record.failures));
        self.save(&record)?;
        let right = self
            .argon2()
            .verify_password(pin.expose().as_bytes(), &hash)
            .is_ok();
        if right {
            record.failures = 0;
            record.wait_until = 0;
            return self.save(&record);
        }
        if record.failures >= MAX_FAILURES {
            let report = self.reset()?;
            return Err(AppLockError::AppReset(report).into());
        }
        Err(AppLockError::WrongPin {
            attempts_left: record.attempts_left(),
            wait_seconds: wait_after(record.failures),
        }
        .into())
    }

    /// Resets the app: forgets every identity on this device (deleting its key; the server is not
    /// told), erases the one-time code vault and its key, and finally deletes the PIN record, so
    /// the next start asks for a new PIN. A reset stopped half-way is finished by the next
    /// [`AppLock::status`] or [`AppLock::unlock`], as the record still counts ten wrong PINs.
    pub fn reset(&self) -> Result<ResetReport, ClientError> {
        if let Some(mut record) = self.load()? {
            if record.failures < MAX_FAILURES {
                record.failures = MAX_FAILURES;
                self.save(&record)?;
            }
        }
        let identities = self.profile.identities()?;
        for identity in &identities {
            self.profile.forget_here(identity)?;
        }
        let vault_erased = self.profile.otp().erase()?;
        self.profile.store().delete(&self.key_ref())?;
        Ok(ResetReport {
            identities_forgotten: identities.len(),
            vault_erased,
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn load(&self) -> Result<Option<Record>, ClientError> {
        let key = self.key_ref();
        let bytes = match self.profile.store().get_secret(&key) {
            Ok(bytes) => bytes,
            Err(KeyStoreError::Missing(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let record: Record = serde_json::from_slice(&bytes)
            .map_err(|_| AppLockError::Damaged("it is not a civkey PIN record"))?;
        if record.version != RECORD_VERSION {
            return Err(AppLockError::Damaged("it was written by another civkey version").into());
        }
        Ok(Some(record))
    }

    fn save(&self, record: &Record) -> Result<(), ClientError> {
        let bytes = Zeroizing::new(
            serde_json::to_vec(record)
                .map_err(|_| AppLockError::Damaged("the record could not be written"))?,
        );
        self.profile.store().put_secret(&self.key_ref(), &bytes)?;
        Ok(())
    }
}

/// Refuses a stored hash that is not Argon2id or asks for more work than civkey would ever have
/// chosen (a changed record must not make every unlock take minutes).
fn check_cost(hash: &PasswordHash<'_>) -> Result<(), AppLockError> {
    let damaged = AppLockError::Damaged("the stored hash is not one civkey makes");
    if hash.algorithm.as_str() != "argon2id" {
        return Err(damaged);
    }
    let params = Params::try_from(hash).map_err(|_| AppLockError::Damaged("bad parameters"))?;
    if params.m_cost() > MAX_M_KIB || params.t_cost() > MAX_T || params.p_cost() > 4 {
        return Err(damaged);
    }
    Ok(())
}

fn reason(error: &civkey_proto::Error) -> &'static str {
    match error {
        civkey_proto::Error::Invalid { reason, .. } => reason,
        _ => "must be 6 digits",
    }
}

#[cfg(test)]
mod tests;
