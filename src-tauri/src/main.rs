//! The desktop entry point; the app itself is in the library, which mobile builds link directly.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // WebKitGTK's accelerated compositing took two thirds of the time to the first screen and
    // about 90 MB (docs/benchmarks.md); the app's screens are plain documents and do not need
    // it. Set before anything starts a thread; a value the user set is kept.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    civkey_app_lib::run();
}
