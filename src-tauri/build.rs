//! Generates the Tauri context and the permissions for the app's own commands.
//!
//! With an app manifest, app commands are no longer allowed by default: the window may call only
//! what `capabilities/default.json` grants (`allow-ui-locale`, `allow-ui-catalogue`).

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&["ui_locale", "ui_catalogue"]);
    let attributes = tauri_build::Attributes::new().app_manifest(manifest);
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports failure by exiting non-zero; the message goes to cargo's output.
        eprintln!("civkey-app build script: {error:#}");
        std::process::exit(1);
    }
}
