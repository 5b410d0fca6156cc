//! The desktop entry point; the app itself is in the library, which mobile builds link directly.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    civkey_app_lib::run();
}
