// The app's commands: the ONE list (ui/README.md, "The Backend interface"). `build.rs` includes
// this file for the app manifest (each command's `allow-…` permission), `lib.rs` registers the
// handlers from it (`tauri::generate_handler!`), and `lib.rs`'s tests check the capability file
// (capabilities/default.json), the front end's calls (ui/www/lib/backend/tauri.js) and the
// README's table against it. A command added here without its `#[tauri::command]` does not
// build; one written without being added here is dead code (clippy refuses it); one missing from
// the capability or the front end fails a test.
//
// `with_app_commands!(then)` expands to `then! { ui_locale, ui_catalogue, … }`.
macro_rules! with_app_commands {
    ($then:ident) => {
        $then! {
            ui_locale,
            ui_catalogue,
            app_status,
            set_language,
            set_pin,
            unlock,
            lock,
            pending_link,
            set_screenshot_protection,
            home,
            otp_codes,
            otp_add,
            read_text,
            scan_image,
            camera_start,
            camera_frame,
            camera_stop,
            pair_begin,
            pair_finish,
            pair_cancel,
            login_open,
            login_decide,
            rename_identity,
            forget_identity,
            bok_pending,
            bok_submit,
            notifications_list,
            notifications_mark_read,
            onboarding_start,
            onboarding_current,
            onboarding_wait,
            onboarding_cancel,
        }
    };
}

// The names as strings: `with_app_commands!(command_names)` is `&["ui_locale", …]`.
macro_rules! command_names {
    ($($command:ident),* $(,)?) => {
        &[$(stringify!($command)),*]
    };
}
