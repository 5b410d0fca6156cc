//! The civkey app: a Tauri v2 shell around the web front end in `ui/www`, over
//! [`civkey_app_api`] (the app's API without Tauri) and `civkey_client`.
//!
//! This crate is the Tauri glue only. Each `#[tauri::command]` below is a few lines: take the
//! state, call one method of [`App`] and hand back its answer or `{ "code", "message" }`; the
//! rest is start-up, the plugins, links, events and the lock when the window goes to the
//! background. The commands are listed once, in `command_list.rs`: the handler registration and
//! the app manifest (build.rs) are generated from it; the capability file, the front end's calls
//! and ui/README.md's table are checked against it (`tests.rs`). The commands, their arguments and answers are the contract with
//! the screens: ui/README.md, "The Backend interface"; the answer types are
//! [`civkey_app_api::dto`].
//!
//! **App lock.** Every command but `ui_locale`, `ui_catalogue`, `app_status`, `set_language`,
//! `set_pin`, `unlock`, `lock` and `pending_link` answers `locked` until the PIN was entered. The
//! app locks itself (and emits `locked`) when it goes to the background: on desktop when the
//! window has lost the focus (or was minimised) for [`LOCK_AFTER_SECS`] seconds, or at once when
//! it is hidden; on Android and iOS when it comes back to the foreground (`RunEvent::Resumed`).
//!
//! **Events from the server.** While unlocked, one task per identity holds its event stream open
//! ([`inbox::listen`]; it polls for BOK requests when the server has no stream) and emits
//! `bok-request` and `notification`; the tasks end at the lock and start again at the unlock,
//! after a pairing or an onboarding, and after forgetting an identity.
//!
//! **Profile folder.** `CIVKEY_PROFILE` if set (the end-to-end tests set it), else the app's data
//! folder. Keys and the PIN record are in the OS keystore ([`OsKeyStore`]).
//!
//! **Links.** The `civkey` scheme is registered with the deep-link plugin (tauri.conf.json,
//! `plugins.deep-link`, desktop and mobile). A link the app was started with — the plugin's, or on
//! desktop the first command-line argument, so `civkey-app 'civkey://login?…'` works without a
//! registered handler — is kept for `pending_link`; a link arriving while the app runs (macOS,
//! Android, iOS) is emitted as `open-link`. No single-instance plugin: on Linux it brings a second
//! async runtime and a D-Bus stack (zbus 5, about 35 crates) into a binary that has to stay small;
//! a second launch with a link starts a second window over the same profile instead (its files
//! are locked and replaced atomically, the PIN record is shared through the keystore).

#[macro_use]
mod command_list;

use std::path::PathBuf;
use std::sync::Arc;

use civkey_app_api::dto::{
    AppStatus, BokPrompt, BokResult, CameraEvent, CommandError, Home, Identity, LoginOutcome,
    LoginRequest, Notification, OnboardingStarted, OtpCode, OtpEntry, PairingOutcome,
    PairingStarted, PairingStatus, ReadResult,
};
use civkey_app_api::error_code::ErrorCode;
use civkey_app_api::inbox::{self, AppEvent};
use civkey_app_api::{catalogue_for, is_civkey_link, link_from_args, system_locale, App};
use civkey_client::keystore::OsKeyStore;
use tauri::ipc::{Channel, InvokeBody, Request};
use tauri::{AppHandle, Emitter, Manager, State};
use zeroize::Zeroizing;

/// Every command of the app, in the order of `command_list.rs`.
pub const COMMANDS: &[&str] = with_app_commands!(command_names);

/// Seconds without the focus after which the desktop app locks itself.
pub const LOCK_AFTER_SECS: u64 = 60;

/// The event the app emits when it locked itself.
pub const EVENT_LOCKED: &str = "locked";
/// The event that carries a `civkey:` link arriving while the app runs.
pub const EVENT_OPEN_LINK: &str = "open-link";
/// The event that carries an office's BOK request ([`BokPrompt`]) while the app is unlocked.
pub const EVENT_BOK_REQUEST: &str = "bok-request";
/// The event that carries a new entry of the notification list ([`Notification`]).
pub const EVENT_NOTIFICATION: &str = "notification";

// ----- commands: the PIN screen and the settings (allowed while locked) -----

/// The front end's language: the chosen one, else the system's (`cs`, `hu` or `en`).
#[tauri::command]
fn ui_locale(app: State<'_, App>) -> &'static str {
    app.locale().tag()
}

/// Every message of `locale`, keyed `area.what` (see `crates/i18n`).
#[tauri::command]
fn ui_catalogue(locale: String) -> Result<tauri::ipc::Response, CommandError> {
    // The catalogue is already JSON: hand it over as is instead of re-encoding it as a string.
    catalogue_for(&locale).map(|json| tauri::ipc::Response::new(json.to_owned()))
}

#[tauri::command]
async fn app_status(app: State<'_, App>) -> Result<AppStatus, CommandError> {
    app.status().await
}

#[tauri::command]
async fn set_language(
    app: State<'_, App>,
    locale: Option<String>,
) -> Result<AppStatus, CommandError> {
    app.set_language(locale.as_deref()).await
}

#[tauri::command]
async fn set_pin(
    handle: AppHandle,
    app: State<'_, App>,
    pin: String,
) -> Result<AppStatus, CommandError> {
    let status = app.set_pin(Zeroizing::new(pin)).await?;
    listen(&handle);
    Ok(status)
}

#[tauri::command]
async fn unlock(
    handle: AppHandle,
    app: State<'_, App>,
    pin: String,
) -> Result<AppStatus, CommandError> {
    let status = app.unlock(Zeroizing::new(pin)).await?;
    listen(&handle);
    Ok(status)
}

#[tauri::command]
async fn lock(app: State<'_, App>) -> Result<AppStatus, CommandError> {
    app.lock_now().await
}

#[tauri::command]
fn pending_link(app: State<'_, App>) -> Option<String> {
    app.take_link()
}

#[tauri::command]
async fn set_screenshot_protection(
    app: State<'_, App>,
    on: bool,
) -> Result<AppStatus, CommandError> {
    app.set_screenshot_protection(on).await
}

// ----- commands behind the PIN -----

#[tauri::command]
async fn home(app: State<'_, App>) -> Result<Home, CommandError> {
    app.home().await
}

#[tauri::command]
async fn otp_codes(app: State<'_, App>) -> Result<Vec<OtpCode>, CommandError> {
    app.otp_codes().await
}

#[tauri::command]
async fn otp_add(app: State<'_, App>, uri: String) -> Result<OtpEntry, CommandError> {
    app.otp_add(&uri).await
}

#[tauri::command]
fn read_text(app: State<'_, App>, text: String) -> Result<ReadResult, CommandError> {
    app.read_text(&text)
}

/// The picture's bytes come as the raw request body (a `Uint8Array`), not as a JSON array.
#[tauri::command]
async fn scan_image(
    app: State<'_, App>,
    request: Request<'_>,
) -> Result<Vec<ReadResult>, CommandError> {
    app.scan_image(raw_body(&request)?.to_vec()).await
}

#[tauri::command]
async fn camera_start(
    app: State<'_, App>,
    on_event: Channel<CameraEvent>,
) -> Result<(), CommandError> {
    app.camera_start(Arc::new(move |event| {
        // The screen may have gone; the scan is stopped by `camera_stop` or the lock.
        let _ = on_event.send(event);
    }))
    .await
}

/// One RGBA frame of the webview's camera (Android, iOS): raw body, size in the
/// `x-frame-width` and `x-frame-height` headers.
#[tauri::command]
fn camera_frame(app: State<'_, App>, request: Request<'_>) -> Result<(), CommandError> {
    let size = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| {
                CommandError::new(ErrorCode::Camera, format!("the {name} header is missing"))
            })
    };
    app.camera_frame(
        size("x-frame-width")?,
        size("x-frame-height")?,
        raw_body(&request)?,
    )
}

#[tauri::command]
fn camera_stop(app: State<'_, App>) {
    app.camera_stop();
}

#[tauri::command]
async fn pair_begin(
    app: State<'_, App>,
    uri: String,
    device_name: Option<String>,
) -> Result<PairingStarted, CommandError> {
    app.pair_begin(&uri, device_name.as_deref()).await
}

#[tauri::command]
async fn pair_finish(
    handle: AppHandle,
    app: State<'_, App>,
) -> Result<PairingOutcome, CommandError> {
    let outcome = app.pair_finish().await?;
    if outcome.status == PairingStatus::Confirmed {
        listen(&handle);
    }
    Ok(outcome)
}

#[tauri::command]
fn pair_cancel(app: State<'_, App>) {
    app.pair_cancel();
}

#[tauri::command]
async fn onboarding_start(
    app: State<'_, App>,
    server_origin: String,
) -> Result<OnboardingStarted, CommandError> {
    app.onboarding_start(&server_origin).await
}

#[tauri::command]
fn onboarding_current(app: State<'_, App>) -> Result<Option<OnboardingStarted>, CommandError> {
    app.onboarding_current()
}

#[tauri::command]
async fn onboarding_wait(handle: AppHandle, app: State<'_, App>) -> Result<Identity, CommandError> {
    let identity = app.onboarding_wait().await?;
    listen(&handle);
    Ok(identity)
}

#[tauri::command]
fn onboarding_cancel(app: State<'_, App>) {
    app.onboarding_cancel();
}

#[tauri::command]
async fn login_open(app: State<'_, App>, uri: String) -> Result<LoginRequest, CommandError> {
    app.login_open(&uri).await
}

#[tauri::command]
async fn login_decide(app: State<'_, App>, approve: bool) -> Result<LoginOutcome, CommandError> {
    app.login_decide(approve).await
}

#[tauri::command]
async fn rename_identity(
    app: State<'_, App>,
    id: String,
    name: String,
) -> Result<Identity, CommandError> {
    app.rename_identity(&id, &name).await
}

#[tauri::command]
async fn forget_identity(
    handle: AppHandle,
    app: State<'_, App>,
    id: String,
    local_only: bool,
) -> Result<Home, CommandError> {
    let home = app.forget_identity(&id, local_only).await?;
    listen(&handle);
    Ok(home)
}

#[tauri::command]
async fn bok_pending(app: State<'_, App>) -> Result<Option<BokPrompt>, CommandError> {
    app.bok_pending().await
}

#[tauri::command]
async fn bok_submit(
    app: State<'_, App>,
    request_id: String,
    bok: String,
) -> Result<BokResult, CommandError> {
    app.bok_submit(&request_id, Zeroizing::new(bok)).await
}

#[tauri::command]
fn notifications_list(app: State<'_, App>) -> Result<Vec<Notification>, CommandError> {
    app.notifications()
}

#[tauri::command]
fn notifications_mark_read(app: State<'_, App>) -> Result<Vec<Notification>, CommandError> {
    app.notifications_mark_read()
}

fn raw_body<'a>(request: &'a Request<'_>) -> Result<&'a [u8], CommandError> {
    match request.body() {
        InvokeBody::Raw(bytes) => Ok(bytes),
        InvokeBody::Json(_) => Err(CommandError::new(
            ErrorCode::Image,
            "send the bytes as the raw body (a Uint8Array), not as JSON",
        )),
    }
}

// ----- start-up, links and the lock -----

/// The profile folder: `CIVKEY_PROFILE`, else the app's data folder.
fn profile_dir(app: &AppHandle) -> Result<PathBuf, Box<dyn std::error::Error>> {
    match std::env::var_os("CIVKEY_PROFILE") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Ok(app.path().app_data_dir()?),
    }
}

/// (Re)starts listening to every identity's server while the app is unlocked: BOK requests and
/// notifications go to the screens as [`EVENT_BOK_REQUEST`] and [`EVENT_NOTIFICATION`].
fn listen(handle: &AppHandle) {
    let events = handle.clone();
    let emit: inbox::Emit = Arc::new(move |event| {
        let _ = match event {
            AppEvent::BokRequest(prompt) => events.emit(EVENT_BOK_REQUEST, prompt),
            AppEvent::Notification(n) => events.emit(EVENT_NOTIFICATION, n),
        };
    });
    for task in handle.state::<App>().start_listening(emit) {
        tauri::async_runtime::spawn(task);
    }
}

/// Locks the app and tells the screens, if it was unlocked.
fn lock_and_tell(app: &AppHandle) {
    if app.state::<App>().lock() {
        let _ = app.emit(EVENT_LOCKED, ());
    }
}

/// A link from outside while the app runs: to the screens (unless it is the one kept at start).
fn open_link(app: &AppHandle, link: String) {
    if !is_civkey_link(&link) || app.state::<App>().is_pending(&link) {
        return;
    }
    let _ = app.emit(EVENT_OPEN_LINK, link);
}

/// Desktop: the window lost the focus; lock after [`LOCK_AFTER_SECS`] unless it comes back, at
/// once if the window is hidden meanwhile.
#[cfg(desktop)]
mod background {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tauri::{Manager, WebviewWindow, Window, WindowEvent};

    /// Counts focus changes: a timer started before the latest change is void.
    #[derive(Default)]
    pub struct Focus(AtomicU64);

    pub fn on_window_event(window: &Window, event: &WindowEvent) {
        let WindowEvent::Focused(focused) = event else {
            return;
        };
        let app = window.app_handle().clone();
        let generation = app.state::<Focus>().0.fetch_add(1, Ordering::SeqCst) + 1;
        if *focused {
            return;
        }
        let Some(webview) = app.get_webview_window(window.label()) else {
            return;
        };
        tauri::async_runtime::spawn(async move {
            for _ in 0..super::LOCK_AFTER_SECS {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if app.state::<Focus>().0.load(Ordering::SeqCst) != generation {
                    return;
                }
                if is_hidden(&webview) {
                    break;
                }
            }
            super::lock_and_tell(&app);
        });
    }

    fn is_hidden(window: &WebviewWindow) -> bool {
        !window.is_visible().unwrap_or(true)
    }
}

/// The handlers of every command in the list.
macro_rules! handlers {
    ($($command:ident),* $(,)?) => {
        tauri::generate_handler![$($command),*]
    };
}

/// Starts the app: the desktop binary calls this from `main`, mobile builds through the entry point.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_deep_link::init())
        .invoke_handler(with_app_commands!(handlers))
        .setup(|app| {
            let handle = app.handle().clone();
            let state = App::open(
                &profile_dir(&handle)?,
                Arc::new(OsKeyStore::new()),
                system_locale(),
            )
            .map_err(|e| format!("cannot open the profile: {}", e.message))?;
            let title = civkey_i18n::tr(state.locale(), "app.window_title");
            app.manage(state);
            #[cfg(desktop)]
            app.manage(background::Focus::default());
            if let Some(window) = app.get_webview_window("main") {
                window.set_title(title)?;
            }
            use tauri_plugin_deep_link::DeepLinkExt;
            let app_state = handle.state::<App>();
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                if let Some(url) = urls
                    .into_iter()
                    .map(String::from)
                    .find(|u| is_civkey_link(u))
                {
                    app_state.keep_link(url);
                }
            }
            #[cfg(desktop)]
            if let Some(link) = link_from_args(std::env::args()) {
                app_state.keep_link(link);
            }
            let links = handle.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    open_link(&links, url.into());
                }
            });
            Ok(())
        });
    #[cfg(desktop)]
    let builder = builder.on_window_event(background::on_window_event);
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("civkey: the app could not start: {error}");
            std::process::exit(1);
        }
    };
    app.run(|_handle, _event| {
        // Android and iOS: back from the background (the app was paused), ask for the PIN again.
        #[cfg(mobile)]
        if let tauri::RunEvent::Resumed = _event {
            lock_and_tell(_handle);
        }
    });
}

#[cfg(test)]
mod tests;
