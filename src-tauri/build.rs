//! Generates the Tauri context and the permissions for the app's own commands.
//!
//! With an app manifest, app commands are no longer allowed by default: the window may call only
//! what `capabilities/default.json` grants (each command below, by its `allow-…` permission).

/// Every command of the app (ui/README.md, "The Backend interface").
const COMMANDS: &[&str] = &[
    "ui_locale",
    "ui_catalogue",
    "app_status",
    "set_language",
    "set_pin",
    "unlock",
    "lock",
    "pending_link",
    "set_screenshot_protection",
    "home",
    "otp_codes",
    "otp_add",
    "read_text",
    "scan_image",
    "camera_start",
    "camera_frame",
    "camera_stop",
    "pair_begin",
    "pair_finish",
    "pair_cancel",
    "login_open",
    "login_decide",
    "rename_identity",
    "forget_identity",
    "bok_pending",
    "bok_submit",
    "notifications_list",
    "notifications_mark_read",
    "onboarding_start",
    "onboarding_current",
    "onboarding_wait",
    "onboarding_cancel",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    let attributes = tauri_build::Attributes::new().app_manifest(manifest);
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports failure by exiting non-zero; the message goes to cargo's output.
        eprintln!("civkey-app build script: {error:#}");
        std::process::exit(1);
    }
}
