//! The app opens a real window.
//!
//! The built `civkey-app` runs under the X display that `scripts/test` provides (Xvfb, inside a
//! private D-Bus session). The test waits for its top-level window titled `civkey`, takes a
//! screenshot with ImageMagick's `import` into `target/e2e/`, and checks the page rendered: the
//! front end keeps the page blank until the app's Rust commands have handed it the language and its
//! words, so a picture with real colours in it means the name and the tagline are on screen.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use civkey_tests::x11::{find_window, screenshot_colours, App};

const APP: &str = "civkey-app";
const WINDOW_TITLE: &str = "civkey";
const DEADLINE: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(200);
/// A blank or background-only window has one or two colours; rendered text and the mark, dozens.
const MIN_COLOURS: u64 = 16;

#[test]
fn app_opens_a_window_showing_its_name() -> Result<()> {
    ensure!(
        std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()),
        "DISPLAY is not set: run this test through scripts/test, which provides Xvfb \
         (or by hand: dbus-run-session -- xvfb-run -a -s \"-screen 0 1280x800x24\" \
         cargo nextest run --workspace)"
    );
    let binary = civkey_tests::built_binary(APP, "civkey-app")?;
    let out = civkey_tests::target_dir().join("e2e");
    let home = out.join("app-window-home");
    // A fresh data directory each run: the app must start from nothing, and leaves nothing in ~.
    if home.exists() {
        fs::remove_dir_all(&home).with_context(|| format!("clearing {}", home.display()))?;
    }
    fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let log_path = out.join("app_window.log");
    let screenshot = out.join("app_window.png");
    let _ = fs::remove_file(&screenshot);

    let mut app = App::start(&binary, &home, &log_path)?;
    let started = Instant::now();

    let window = loop {
        app.check_running(&log_path)?;
        if let Some(window) = find_window(WINDOW_TITLE)? {
            break window;
        }
        ensure!(
            started.elapsed() < DEADLINE,
            "no window titled {WINDOW_TITLE:?} appeared within {DEADLINE:?}; app log: {}",
            log_path.display()
        );
        std::thread::sleep(POLL_EVERY);
    };

    // The window exists before the webview has painted: take pictures until the page shows.
    loop {
        app.check_running(&log_path)?;
        let last = match screenshot_colours(&window.id, &screenshot) {
            Ok(colours) if colours >= MIN_COLOURS => {
                println!(
                    "window {} ({}x{}) rendered with {colours} colours after {:?}: {}",
                    window.id,
                    window.width,
                    window.height,
                    started.elapsed(),
                    screenshot.display()
                );
                break;
            }
            Ok(colours) => format!("the window showed only {colours} colour(s)"),
            Err(error) => format!("{error:#}"),
        };
        ensure!(
            started.elapsed() < DEADLINE,
            "the {WINDOW_TITLE:?} window did not render its page within {DEADLINE:?}: {last}; \
             screenshot: {}, app log: {}",
            screenshot.display(),
            log_path.display()
        );
        std::thread::sleep(POLL_EVERY);
    }

    ensure!(
        window.width >= 300 && window.height >= 500,
        "the window should be phone-shaped, got {}x{}",
        window.width,
        window.height
    );
    app.check_running(&log_path)?;
    Ok(())
}
