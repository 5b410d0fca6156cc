//! Generates the Tauri context and the permissions for the app's own commands.
//!
//! With an app manifest, app commands are no longer allowed by default: the window may call only
//! what `capabilities/default.json` grants (each command, by its `allow-…` permission). The
//! commands come from the one list in `src/command_list.rs`.

include!("src/command_list.rs");

/// Every command of the app.
const COMMANDS: &[&str] = with_app_commands!(command_names);

fn main() {
    println!("cargo:rerun-if-changed=src/command_list.rs");
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    let attributes = tauri_build::Attributes::new().app_manifest(manifest);
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports failure by exiting non-zero; the message goes to cargo's output.
        eprintln!("civkey-app build script: {error:#}");
        std::process::exit(1);
    }
}
