//! The app's state and the bodies of its commands, as plain methods: `src-tauri` wraps each in a
//! `#[tauri::command]` of a few lines, and the tests call them without a webview.
//!
//! Every flow is `civkey_client`'s; what lives here is what only the app has: whether it is
//! unlocked, the pairing waiting between `pair_begin` and `pair_finish`, the in-person onboarding
//! waiting between `onboarding_start` and `onboarding_wait`, the login opened between
//! `login_open` and `login_decide`, the running camera scan, the link the app was opened with, and
//! the settings. No lock is held across a wait for the network: a pairing that waits for the
//! browser, or an onboarding that waits for the clerk, leaves every other command free (and
//! `pair_cancel` / `onboarding_cancel` able to stop it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use civkey_client::keystore::KeyStore;
use civkey_client::login::OpenedLogin;
use civkey_client::onboarding::PendingOnboarding;
use civkey_client::pairing::PendingPairing;
use civkey_client::profile::{Forget, Profile};
use civkey_client::scan::{CancelHandle, ScanError};
use civkey_client::server_api::DeviceDescription;
use civkey_client::{ClientError, CodeSummary};
use civkey_i18n::Locale;
use civkey_proto::device::{DeviceKind, DeviceName};
use civkey_proto::sign::Decision as ClientDecision;
use civkey_proto::Origin;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::camera::{self, FramePusher, PushedFrames, Sink};
use crate::dto::{
    AppStatus, BokPrompt, BokResult, CommandError, Decision, Home, Identity, LoginOutcome,
    LoginRequest, Notification, OnboardingStarted, OtpCode, OtpEntry, PairingOutcome,
    PairingStarted, PairingStatus, PinState, Platform, ReadResult,
};
use crate::error_code::ErrorCode;
use crate::inbox::{self, Emit, SharedInbox};
use crate::settings::Settings;

/// A flow between its two commands: the pairing between `pair_begin` and `pair_finish`.
enum FlowSlot<T> {
    Idle,
    /// Started; the code is shown; the wait has not been called yet.
    Started(Box<T>),
    /// The wait runs (for the browser, for the clerk); sending stops it.
    Waiting(oneshot::Sender<()>),
}

/// The onboarding between `onboarding_start` and its outcome. Every `onboarding_wait` waits on
/// the one wait for the clerk (`outcome`), so a screen shown again after the app locked and
/// unlocked waits along with the call still running; the long polls run while one of them does.
/// Dropping the flow stops them (`stop`'s receivers), and the last one to stop drops the wait,
/// which deletes the new key.
struct OnboardingFlow {
    /// Tells this flow from one started later.
    id: u64,
    started: OnboardingStarted,
    outcome: Shared<BoxFuture<'static, Result<Identity, CommandError>>>,
    stop: tokio::sync::watch::Sender<()>,
}

/// Why a flow's wait did not start.
enum WaitRefused {
    /// Nothing was started.
    NotStarted,
    /// Another call already waits.
    Busy,
}

/// The running camera scan.
struct CameraSlot {
    cancel: CancelHandle,
    /// The screen's end of a webview-fed scan (mobile), dropped when the scan stops.
    pusher: Option<FramePusher>,
}

/// The app: its profile (identities, one-time codes, app PIN) and what the screens are doing.
pub struct App {
    profile: Profile,
    settings_path: PathBuf,
    settings: Mutex<Settings>,
    unlocked: Mutex<bool>,
    /// One PIN check at a time: two at once would both read the same count of wrong PINs.
    pin_checks: tokio::sync::Mutex<()>,
    pairing: Mutex<FlowSlot<PendingPairing>>,
    onboarding: Mutex<Option<OnboardingFlow>>,
    onboardings: AtomicU64,
    login: Mutex<Option<OpenedLogin>>,
    camera: Mutex<Option<CameraSlot>>,
    pending_link: Mutex<Option<String>>,
    system_locale: Locale,
    /// BOK requests and notifications from the server.
    inbox: SharedInbox,
    /// The listening tasks stop when this sender is dropped (at the lock, or when restarted).
    listening: Mutex<Option<tokio::sync::watch::Sender<()>>>,
}

/// A background task to spawn (the listening of one identity).
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    /// The app over the profile in `dir`, keeping keys in `store`.
    pub fn open(
        dir: &Path,
        store: Arc<dyn KeyStore>,
        system_locale: Locale,
    ) -> Result<Self, CommandError> {
        let profile = Profile::open(dir, store)?;
        Ok(Self::with_profile(profile, system_locale))
    }

    /// The app over `profile` (tests pin its clock).
    pub fn with_profile(profile: Profile, system_locale: Locale) -> Self {
        let settings_path = Settings::path_in(profile.dir());
        let settings = Settings::load(&settings_path);
        let inbox = inbox::Inbox::read_through(settings.notifications_read_through.clone());
        App {
            profile,
            settings_path,
            settings: Mutex::new(settings),
            unlocked: Mutex::new(false),
            pin_checks: tokio::sync::Mutex::new(()),
            pairing: Mutex::new(FlowSlot::Idle),
            onboarding: Mutex::new(None),
            onboardings: AtomicU64::new(0),
            login: Mutex::new(None),
            camera: Mutex::new(None),
            pending_link: Mutex::new(None),
            system_locale,
            inbox: Arc::new(Mutex::new(inbox)),
            listening: Mutex::new(None),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The language in use: the chosen one, else the system's.
    pub fn locale(&self) -> Locale {
        guard(&self.settings).locale().unwrap_or(self.system_locale)
    }

    /// Refuses with `locked` unless the PIN was entered.
    pub fn require_unlocked(&self) -> Result<(), CommandError> {
        if *guard(&self.unlocked) {
            Ok(())
        } else {
            Err(CommandError::locked())
        }
    }

    /// Locks the app, stopping the camera and dropping the opened login. True when it was
    /// unlocked (the `locked` event is sent then).
    pub fn lock(&self) -> bool {
        let was = std::mem::replace(&mut *guard(&self.unlocked), false);
        if was {
            self.camera_stop();
            guard(&self.login).take();
        }
        // The listening tasks end.
        guard(&self.listening).take();
        was
    }

    // ----- the PIN screen and the settings (allowed while locked) -----

    /// `app_status`.
    pub async fn status(&self) -> Result<AppStatus, CommandError> {
        let lock = self.profile.app_lock().status()?;
        let unlocked = lock.pin_set && *guard(&self.unlocked);
        if !lock.pin_set {
            // After a reset (or a PIN record deleted elsewhere) nothing stays open.
            self.lock();
        }
        let settings = guard(&self.settings).clone();
        let platform = Platform::current();
        Ok(AppStatus {
            pin: match (lock.pin_set, unlocked) {
                (false, _) => PinState::Unset,
                (true, false) => PinState::Locked,
                (true, true) => PinState::Unlocked,
            },
            wait_seconds: lock.wait_seconds,
            attempts_left: lock.attempts_left,
            locale: self.locale().tag().to_string(),
            language_choice: settings.locale().map(|l| l.tag().to_string()),
            platform,
            biometrics: false,
            screenshot_protection: match platform {
                Platform::Desktop => None,
                Platform::Android | Platform::Ios => Some(settings.screenshot_protection),
            },
        })
    }

    /// `set_language`: a tag civkey speaks, or `None` to follow the system.
    pub async fn set_language(&self, tag: Option<&str>) -> Result<AppStatus, CommandError> {
        let language = match tag {
            None => None,
            Some(tag) => Some(
                Locale::from_tag(tag)
                    .ok_or_else(|| {
                        CommandError::new(
                            ErrorCode::UnknownLocale,
                            format!("civkey has no catalogue for the language tag {tag:?}"),
                        )
                    })?
                    .tag()
                    .to_string(),
            ),
        };
        self.change_settings(|s| s.language = language)?;
        self.status().await
    }

    /// `set_screenshot_protection`: mobile only (`not_available` on desktop).
    pub async fn set_screenshot_protection(&self, on: bool) -> Result<AppStatus, CommandError> {
        self.require_unlocked()?;
        if Platform::current() == Platform::Desktop {
            return Err(CommandError::new(
                ErrorCode::NotAvailable,
                "screenshot protection is offered on Android and iOS only",
            ));
        }
        self.change_settings(|s| s.screenshot_protection = on)?;
        self.status().await
    }

    /// Whether screenshot protection is on (for the window, on mobile).
    pub fn screenshot_protection(&self) -> bool {
        guard(&self.settings).screenshot_protection
    }

    fn change_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<(), CommandError> {
        let mut settings = guard(&self.settings);
        let mut changed = settings.clone();
        change(&mut changed);
        changed.save(&self.settings_path)?;
        *settings = changed;
        Ok(())
    }

    /// `set_pin`: chooses the PIN on first run; the app is unlocked afterwards.
    pub async fn set_pin(&self, pin: Zeroizing<String>) -> Result<AppStatus, CommandError> {
        let _one_at_a_time = self.pin_checks.lock().await;
        let profile = self.profile.clone();
        blocking(move || profile.app_lock().set(&pin)).await?;
        *guard(&self.unlocked) = true;
        self.status().await
    }

    /// `unlock`: checks the PIN (Argon2id, off the async threads).
    pub async fn unlock(&self, pin: Zeroizing<String>) -> Result<AppStatus, CommandError> {
        let _one_at_a_time = self.pin_checks.lock().await;
        let profile = self.profile.clone();
        let result = blocking(move || profile.app_lock().unlock(&pin)).await;
        if let Err(error) = result {
            if error.code == ErrorCode::AppReset {
                self.forget_flows();
            }
            return Err(error);
        }
        *guard(&self.unlocked) = true;
        self.status().await
    }

    /// `lock`.
    pub async fn lock_now(&self) -> Result<AppStatus, CommandError> {
        self.lock();
        self.status().await
    }

    fn forget_flows(&self) {
        self.lock();
        self.pair_cancel();
        self.onboarding_cancel();
    }

    // ----- links -----

    /// Keeps a `civkey:` link the app was opened with, for `pending_link`.
    pub fn keep_link(&self, link: String) {
        *guard(&self.pending_link) = Some(link);
    }

    /// `pending_link`: the link the app was opened with, once.
    pub fn take_link(&self) -> Option<String> {
        guard(&self.pending_link).take()
    }

    /// Whether `link` is the one kept and not yet taken (it is not announced twice).
    pub fn is_pending(&self, link: &str) -> bool {
        guard(&self.pending_link).as_deref() == Some(link)
    }

    // ----- home -----

    /// `home`.
    pub async fn home(&self) -> Result<Home, CommandError> {
        self.require_unlocked()?;
        let identities = self.profile.identities()?;
        let otp = self.profile.otp().entries()?;
        Ok(Home {
            identities: identities.iter().map(Identity::from).collect(),
            otp: otp.iter().map(OtpEntry::from).collect(),
        })
    }

    /// `otp_codes`: the TOTP codes now.
    pub async fn otp_codes(&self) -> Result<Vec<OtpCode>, CommandError> {
        self.require_unlocked()?;
        let now = self.profile.clock().now();
        Ok(self
            .profile
            .otp()
            .codes(now)?
            .into_iter()
            .map(OtpCode::from)
            .collect())
    }

    /// `otp_add`: adds the `otpauth://` account of `uri` to the vault.
    pub async fn otp_add(&self, uri: &str) -> Result<OtpEntry, CommandError> {
        self.require_unlocked()?;
        let account =
            civkey_proto::otp::OtpAccount::parse_uri(uri.trim()).map_err(ClientError::from)?;
        let entry = self.profile.otp().add(account)?;
        Ok(OtpEntry::from(&entry))
    }

    /// `rename_identity`: at the server, then here.
    pub async fn rename_identity(&self, id: &str, name: &str) -> Result<Identity, CommandError> {
        self.require_unlocked()?;
        let renamed = self.profile.rename(id, name).await?;
        Ok(Identity::from(&renamed))
    }

    /// `forget_identity`: disconnects at the server first unless `local_only`.
    pub async fn forget_identity(&self, id: &str, local_only: bool) -> Result<Home, CommandError> {
        self.require_unlocked()?;
        let how = if local_only {
            Forget::LocalOnly
        } else {
            Forget::TellServer
        };
        self.profile.forget(id, how).await?;
        self.home().await
    }

    // ----- reading codes -----

    /// `read_text`: what a pasted or scanned text is.
    pub fn read_text(&self, text: &str) -> Result<ReadResult, CommandError> {
        self.require_unlocked()?;
        let text = text.trim();
        match CodeSummary::read(text) {
            Ok(summary) => Ok(ReadResult::new(text.to_string(), &summary, self.locale())),
            Err(error) if looks_like_ours(text) => Err(error.into()),
            Err(error) => Err(CommandError::new(ErrorCode::NotCivkey, error.to_string())),
        }
    }

    /// `scan_image`: every civkey code in a picture (PNG or JPEG bytes).
    pub async fn scan_image(&self, bytes: Vec<u8>) -> Result<Vec<ReadResult>, CommandError> {
        self.require_unlocked()?;
        let texts = blocking(move || {
            civkey_client::scan::scan_image_bytes(&bytes, Path::new("the picture"))
                .map_err(ClientError::from)
        })
        .await?;
        let locale = self.locale();
        let mut results = Vec::new();
        let mut other = None;
        for text in texts {
            match CodeSummary::read(&text) {
                Ok(summary) => results.push(ReadResult::new(text, &summary, locale)),
                Err(e) => {
                    other.get_or_insert(e);
                }
            }
        }
        match (results.is_empty(), other) {
            (true, Some(e)) => Err(CommandError::new(ErrorCode::NotCivkey, e.to_string())),
            (true, None) => Err(ClientError::from(ScanError::NoCodeInImage {
                path: PathBuf::from("the picture"),
            })
            .into()),
            _ => Ok(results),
        }
    }

    /// `camera_start`: scans this computer's camera (`no_camera` without one); on Android and
    /// iOS the screen feeds frames from the webview's camera with `camera_frame`.
    pub async fn camera_start(&self, sink: Sink) -> Result<(), CommandError> {
        self.require_unlocked()?;
        self.camera_stop();
        let locale = self.locale();
        let slot = if Platform::current() == Platform::Desktop {
            let cancel = blocking(move || camera::start_desktop(sink, locale)).await?;
            CameraSlot {
                cancel,
                pusher: None,
            }
        } else {
            self.start_pushed(sink)?
        };
        *guard(&self.camera) = Some(slot);
        Ok(())
    }

    /// Starts a scan over frames the screen hands over (`camera_frame`).
    fn start_pushed(&self, sink: Sink) -> Result<CameraSlot, CommandError> {
        let (source, pusher) = PushedFrames::new();
        let cancel = camera::run(Box::new(source), sink, self.locale())?;
        Ok(CameraSlot {
            cancel,
            pusher: Some(pusher),
        })
    }

    /// `camera_frame`: one RGBA frame from the webview's camera (mobile).
    pub fn camera_frame(&self, width: u32, height: u32, rgba: &[u8]) -> Result<(), CommandError> {
        self.require_unlocked()?;
        let frame = camera::frame_from_rgba(width, height, rgba).map_err(ClientError::from)?;
        match guard(&self.camera).as_ref().and_then(|s| s.pusher.as_ref()) {
            Some(pusher) => {
                pusher.push(frame);
                Ok(())
            }
            None => Err(CommandError::new(
                ErrorCode::Camera,
                "no scan is waiting for frames: call camera_start first",
            )),
        }
    }

    /// `camera_stop` (also when the app locks).
    pub fn camera_stop(&self) {
        if let Some(slot) = guard(&self.camera).take() {
            slot.cancel.cancel();
        }
    }

    // ----- the server's events: BOK requests and notifications -----

    /// The listening tasks for every identity (the caller spawns them), replacing those running;
    /// none while locked. They tell the screens through `emit` and end when the app locks.
    pub fn start_listening(&self, emit: Emit) -> Vec<Task> {
        if self.require_unlocked().is_err() {
            return Vec::new();
        }
        let identities = self.profile.identities().unwrap_or_default();
        let (stop, watch) = tokio::sync::watch::channel(());
        *guard(&self.listening) = Some(stop);
        identities
            .into_iter()
            .map(|identity| {
                Box::pin(inbox::listen(
                    self.profile.clone(),
                    identity,
                    self.inbox.clone(),
                    emit.clone(),
                    watch.clone(),
                )) as Task
            })
            .collect()
    }

    /// `bok_pending`: the oldest office's request waiting for the BOK, asked of every identity's
    /// server (a device with BOK-pad off has none); `None` when nothing waits.
    pub async fn bok_pending(&self) -> Result<Option<BokPrompt>, CommandError> {
        self.require_unlocked()?;
        let mut failure = None;
        for identity in self.profile.identities()? {
            match civkey_client::bok::pending(&self.profile, &identity).await {
                Ok(requests) => {
                    let mut inbox = inbox::lock(&self.inbox);
                    for request in requests {
                        inbox.keep_bok(&identity, request);
                    }
                }
                Err(e) if e.code() == "bok_pad_off" => {}
                Err(e) => failure = Some(e),
            }
        }
        let open = inbox::lock(&self.inbox).open_bok(self.profile.clock().now());
        match (open, failure) {
            (Some(prompt), _) => Ok(Some(prompt)),
            (None, Some(e)) => Err(e.into()),
            (None, None) => Ok(None),
        }
    }

    /// `bok_submit`: checks the BOK (4–10 digits; nothing is sent otherwise) and answers the
    /// request `request_id` with it, signed by the identity's device key.
    pub async fn bok_submit(
        &self,
        request_id: &str,
        bok: Zeroizing<String>,
    ) -> Result<BokResult, CommandError> {
        self.require_unlocked()?;
        let bok = civkey_client::bok::read_bok(&bok)?;
        let (identity, request) = inbox::lock(&self.inbox).bok(request_id).ok_or_else(|| {
            CommandError::new(
                ErrorCode::BokUnknown,
                "no such BOK request is waiting: it was answered or has expired",
            )
        })?;
        let answered = civkey_client::bok::answer(&self.profile, &identity, &request, &bok).await;
        let keep = matches!(&answered, Err(e) if !e.code().starts_with("bok_"));
        if !keep {
            inbox::lock(&self.inbox).drop_bok(request_id);
        }
        Ok(BokResult::from(answered?))
    }

    /// `notifications_list`: newest first.
    pub fn notifications(&self) -> Result<Vec<Notification>, CommandError> {
        self.require_unlocked()?;
        Ok(inbox::lock(&self.inbox).notifications())
    }

    /// `notifications_mark_read`: every notification read; the list.
    pub fn notifications_mark_read(&self) -> Result<Vec<Notification>, CommandError> {
        self.require_unlocked()?;
        // Saved under the inbox's lock, so two calls cannot save an older mark after a newer one.
        let mut inbox = inbox::lock(&self.inbox);
        let read_through = inbox.mark_read();
        self.change_settings(|s| s.notifications_read_through = read_through)?;
        Ok(inbox.notifications())
    }

    /// The inbox (tests feed it events).
    pub fn inbox(&self) -> &SharedInbox {
        &self.inbox
    }

    // ----- pairing -----

    /// `pair_begin`: claims the pairing session of `uri` with a new device key and answers the
    /// code to compare. A pairing begun before is abandoned (its key deleted).
    pub async fn pair_begin(
        &self,
        uri: &str,
        device_name: Option<&str>,
    ) -> Result<PairingStarted, CommandError> {
        self.require_unlocked()?;
        let device = this_device(device_name)?;
        self.pair_cancel();
        let pending = self.profile.begin_pairing(uri.trim(), &device).await?;
        let started = PairingStarted {
            server: pending.started.origin.to_string(),
            confirmation_code: pending.started.confirmation_code.digits(),
            expires_at: pending.started.expires_at,
        };
        let old = std::mem::replace(
            &mut *guard(&self.pairing),
            FlowSlot::Started(Box::new(pending)),
        );
        stop(old);
        Ok(started)
    }

    /// `pair_finish`: waits for the browser's decision on the pairing `pair_begin` claimed.
    pub async fn pair_finish(&self) -> Result<PairingOutcome, CommandError> {
        self.require_unlocked()?;
        let result = match wait_in(&self.pairing, |pending| pending.finish()).await {
            Ok(result) => result,
            Err(WaitRefused::NotStarted) => {
                return Err(CommandError::new(
                    ErrorCode::NoPairing,
                    "no pairing was begun: scan or paste a pairing code first",
                ))
            }
            Err(WaitRefused::Busy) => {
                return Err(CommandError::new(
                    ErrorCode::PairingBusy,
                    "this pairing is already waiting for the browser",
                ))
            }
        };
        match result {
            None => Err(CommandError::new(
                ErrorCode::Cancelled,
                "the pairing was cancelled",
            )),
            Some(Ok(identity)) => Ok(PairingOutcome {
                status: PairingStatus::Confirmed,
                identity: Some(Identity::from(&identity)),
            }),
            Some(Err(ClientError::PairingRefused)) => Ok(PairingOutcome {
                status: PairingStatus::Refused,
                identity: None,
            }),
            Some(Err(ClientError::PairingExpired)) => Ok(PairingOutcome {
                status: PairingStatus::Expired,
                identity: None,
            }),
            Some(Err(error)) => Err(error.into()),
        }
    }

    /// Whether a `pair_finish` is waiting for the browser (tests wait for this instead of sleeping).
    #[cfg(test)]
    fn pairing_is_waiting(&self) -> bool {
        matches!(&*guard(&self.pairing), FlowSlot::Waiting(_))
    }

    /// How many `onboarding_wait` calls wait for the clerk (tests wait for this instead of
    /// sleeping).
    #[cfg(test)]
    fn onboarding_waiters(&self) -> usize {
        guard(&self.onboarding)
            .as_ref()
            .map_or(0, |flow| flow.stop.receiver_count())
    }

    /// `pair_cancel`: abandons the pairing (its new key is deleted); nothing when there is none.
    pub fn pair_cancel(&self) {
        let old = std::mem::replace(&mut *guard(&self.pairing), FlowSlot::Idle);
        stop(old);
    }

    // ----- in-person onboarding -----

    /// `onboarding_start`: makes a new device key, starts onboarding at the server the citizen
    /// typed (`identita.example.cz` or `https://identita.example.cz`; `server_address` when it is
    /// not one) and answers the identification code to show the clerk. An onboarding started
    /// before is abandoned (its key deleted).
    pub async fn onboarding_start(
        &self,
        server_origin: &str,
    ) -> Result<OnboardingStarted, CommandError> {
        self.require_unlocked()?;
        let origin = server_address(server_origin)?;
        let device = this_device(None)?;
        self.onboarding_cancel();
        let pending: PendingOnboarding = self.profile.begin_onboarding(&origin, &device).await?;
        let started = OnboardingStarted {
            server: pending.started.origin.to_string(),
            identification_code: pending.started.identification_code.grouped(),
            expires_at: pending.started.expires_at,
        };
        let outcome = async move {
            match pending.finish().await {
                Ok(identity) => Ok(Identity::from(&identity)),
                Err(error) => Err(CommandError::from(error)),
            }
        }
        .boxed()
        .shared();
        let flow = OnboardingFlow {
            id: self.onboardings.fetch_add(1, Ordering::Relaxed),
            started: started.clone(),
            outcome,
            stop: tokio::sync::watch::channel(()).0,
        };
        // One started meanwhile is abandoned too.
        let old = guard(&self.onboarding).replace(flow);
        drop(old);
        Ok(started)
    }

    /// `onboarding_current`: the identification code being shown, if an onboarding was started
    /// and has not ended (the screen shows it again after the app locked and unlocked).
    pub fn onboarding_current(&self) -> Result<Option<OnboardingStarted>, CommandError> {
        self.require_unlocked()?;
        Ok(guard(&self.onboarding)
            .as_ref()
            .map(|flow| flow.started.clone()))
    }

    /// `onboarding_wait`: waits for a clerk to enter the code `onboarding_start` showed, and
    /// answers the new identity, stored like a paired one. Several calls wait on the same
    /// onboarding and get the same answer. Errors: `onboarding_expired`, `cancelled`
    /// (`onboarding_cancel`, or a new code, meanwhile), `no_onboarding`, `unreachable`, …
    pub async fn onboarding_wait(&self) -> Result<Identity, CommandError> {
        self.require_unlocked()?;
        let (id, outcome, mut stop) = match guard(&self.onboarding).as_ref() {
            Some(flow) => (flow.id, flow.outcome.clone(), flow.stop.subscribe()),
            None => {
                return Err(CommandError::new(
                    ErrorCode::NoOnboarding,
                    "no onboarding was started: ask for an identification code first",
                ))
            }
        };
        let result = tokio::select! {
            // An outcome that is in counts, even if the flow was dropped at the same time.
            biased;
            result = outcome => result,
            _ = stop.changed() => {
                return Err(CommandError::new(ErrorCode::Cancelled, "the onboarding was cancelled"))
            }
        };
        // Over: forgotten (unless another one was started meanwhile).
        let over = {
            let mut slot = guard(&self.onboarding);
            slot.take_if(|flow| flow.id == id)
        };
        drop(over);
        result
    }

    /// `onboarding_cancel`: abandons the onboarding (its new key is deleted, a waiting
    /// `onboarding_wait` answers `cancelled`); nothing when there is none.
    pub fn onboarding_cancel(&self) {
        let old = guard(&self.onboarding).take();
        drop(old);
    }

    // ----- login -----

    /// `login_open`: opens the login request of `uri` and says who asks.
    pub async fn login_open(&self, uri: &str) -> Result<LoginRequest, CommandError> {
        self.require_unlocked()?;
        let opened = self.profile.open_login(uri.trim()).await?;
        let request = LoginRequest {
            server: opened.identity.origin.to_string(),
            service_name: opened.info.service_name.clone(),
            service_origin: opened.info.service_origin.to_string(),
            started_at: opened.info.started_at,
            expires_at: opened.info.expires_at,
            identity_id: opened.identity.short_id(),
        };
        *guard(&self.login) = Some(opened);
        Ok(request)
    }

    /// `login_decide`: signs and sends the decision on the request `login_open` opened (once).
    pub async fn login_decide(&self, approve: bool) -> Result<LoginOutcome, CommandError> {
        self.require_unlocked()?;
        let opened = guard(&self.login).take().ok_or_else(|| {
            CommandError::new(
                ErrorCode::NoLogin,
                "no login request is open: scan the login QR code first",
            )
        })?;
        let decision = if approve {
            ClientDecision::Approve
        } else {
            ClientDecision::Deny
        };
        let decided = self.profile.decide_login(&opened, decision).await?;
        Ok(LoginOutcome {
            decision: match decided {
                ClientDecision::Approve => Decision::Approve,
                ClientDecision::Deny => Decision::Deny,
            },
        })
    }
}

/// Stops whatever the slot held: a started flow is dropped (its key deleted), a waiting one is
/// told to stop.
fn stop<T>(slot: FlowSlot<T>) {
    match slot {
        FlowSlot::Idle | FlowSlot::Started(_) => {}
        FlowSlot::Waiting(tx) => {
            let _ = tx.send(());
        }
    }
}

/// Runs `finish` on the flow `slot` holds until it ends (`Some`) or is stopped (`None`); the slot
/// says `Waiting` meanwhile, without a lock held across the wait.
async fn wait_in<T, R, Fut>(
    slot: &Mutex<FlowSlot<T>>,
    finish: impl FnOnce(T) -> Fut,
) -> Result<Option<R>, WaitRefused>
where
    Fut: std::future::Future<Output = R>,
{
    let (cancel_tx, cancel_rx) = oneshot::channel();
    let started = {
        let mut slot = guard(slot);
        match std::mem::replace(&mut *slot, FlowSlot::Idle) {
            FlowSlot::Started(started) => {
                *slot = FlowSlot::Waiting(cancel_tx);
                started
            }
            FlowSlot::Idle => return Err(WaitRefused::NotStarted),
            waiting @ FlowSlot::Waiting(_) => {
                *slot = waiting;
                return Err(WaitRefused::Busy);
            }
        }
    };
    let result = tokio::select! {
        result = finish(*started) => Some(result),
        _ = cancel_rx => None,
    };
    // Idle again, unless another flow was started (or is waiting) meanwhile.
    let mut slot = guard(slot);
    if matches!(&*slot, FlowSlot::Waiting(tx) if tx.is_closed()) {
        *slot = FlowSlot::Idle;
    }
    Ok(result)
}

/// How this device describes itself to the server: its name (the host name unless given), model,
/// and kind (a phone on Android and iOS).
fn this_device(name: Option<&str>) -> Result<DeviceDescription, CommandError> {
    let mut device = civkey_client::this_computer().map_err(ClientError::from)?;
    if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
        device.name = DeviceName::parse(name).map_err(ClientError::from)?;
    }
    if Platform::current() != Platform::Desktop {
        device.kind = DeviceKind::Phone;
    }
    Ok(device)
}

/// The server a citizen typed: `identita.example.cz` (https is assumed),
/// `https://identita.example.cz/`, `http://127.0.0.1:8443` (plain http on this computer only).
/// Anything else is `server_address`.
pub fn server_address(text: &str) -> Result<Origin, CommandError> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    Origin::normalise(&with_scheme).map_err(|e| {
        CommandError::new(
            ErrorCode::ServerAddress,
            format!("this is not a civkey server's address: {e}"),
        )
    })
}

/// Text that claims to be one of ours (so a failure to read it is `unreadable`, not `not_civkey`).
fn looks_like_ours(text: &str) -> bool {
    let scheme = text
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(scheme.as_str(), "civkey" | "otpauth" | "otpauth-migration")
}

/// Runs `work` on the blocking threads (Argon2id, image decoding, opening a camera).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, CommandError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(CommandError::from),
        Err(e) => Err(CommandError::new(
            ErrorCode::Internal,
            format!("a task failed: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests;
