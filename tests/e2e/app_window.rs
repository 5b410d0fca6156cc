//! The app opens a real window.
//!
//! The built `civkey-app` runs under the X display that `scripts/test` provides (Xvfb, inside a
//! private D-Bus session). The test waits for its top-level window titled `civkey`, takes a
//! screenshot with ImageMagick's `import` into `target/e2e/`, and checks the page rendered: the
//! front end keeps the page blank until the app's Rust commands have handed it the language and its
//! words, so a picture with real colours in it means the name and the tagline are on screen.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

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

#[test]
fn xwininfo_tree_lines_are_read() {
    let tree = r#"
xwininfo: Window id: 0x3a5 (the root window) (has no name)

  Root window id: 0x3a5 (the root window) (has no name)
  Parent window id: 0x0 (none)
     2 children:
     0x200003 "civkey": ("civkey-app" "Civkey-app")  420x760+430+20  +430+20
        1 child:
        0x200004 (has no name): ()  1x1+-1+-1  +429+19
     0x200001 "civkey-app": ("civkey-app" "Civkey-app")  10x10+10+10  +10+10
"#;
    let found = parse_tree(tree, "civkey").unwrap();
    assert_eq!(found.id, "0x200003");
    assert_eq!((found.width, found.height), (420, 760));
    assert!(parse_tree(tree, "civ").is_none());
    assert!(parse_tree("     0x9 \"civkey\": ()  1x1+0+0  +0+0", "civkey").is_none());
}

/// The running app, killed (with the WebKit processes it started) when dropped.
struct App {
    child: Child,
}

impl App {
    fn start(binary: &Path, home: &Path, log_path: &Path) -> Result<App> {
        use std::os::unix::process::CommandExt as _;
        let log =
            File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(binary)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so the WebKit helper processes go down with it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(App { child })
    }

    fn check_running(&mut self, log_path: &Path) -> Result<()> {
        let Some(status) = self.child.try_wait().context("checking on the app")? else {
            return Ok(());
        };
        let log = fs::read_to_string(log_path).unwrap_or_default();
        bail!(
            "the app exited early ({status}); its log ({}):\n{log}",
            log_path.display()
        )
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A top-level X window.
#[derive(Debug)]
struct Window {
    id: String,
    width: u32,
    height: u32,
}

fn find_window(title: &str) -> Result<Option<Window>> {
    let output = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .stdin(Stdio::null())
        .output()
        .context("running xwininfo (Debian package x11-utils; scripts/test installs it)")?;
    ensure!(
        output.status.success(),
        "xwininfo failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(parse_tree(&String::from_utf8_lossy(&output.stdout), title))
}

/// The first window named exactly `title` in `xwininfo -root -tree` output that is larger than a
/// placeholder (GTK also maps 1×1 and 10×10 helper windows).
fn parse_tree(tree: &str, title: &str) -> Option<Window> {
    let quoted = format!("\"{title}\":");
    tree.lines().find_map(|line| {
        let line = line.trim();
        let (id, rest) = line.split_once(' ')?;
        if !id.starts_with("0x") || !rest.starts_with(&quoted) {
            return None;
        }
        // The first `WxH+X+Y` after the class names is the window's size.
        let geometry = rest[quoted.len()..]
            .rsplit(')')
            .next()?
            .split_whitespace()
            .next()?;
        let (width, rest) = geometry.split_once('x')?;
        let height = rest.split(['+', '-']).next()?;
        let window = Window {
            id: id.to_string(),
            width: width.parse().ok()?,
            height: height.parse().ok()?,
        };
        (window.width > 50 && window.height > 50).then_some(window)
    })
}

/// Screenshots window `id` to `path` and counts the distinct colours in the picture.
fn screenshot_colours(id: &str, path: &Path) -> Result<u64> {
    // /usr/bin explicitly: some machines put a stand-in `convert` earlier on PATH.
    let import = Command::new("/usr/bin/import")
        .args(["-window", id, "-silent"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context(
            "running /usr/bin/import (Debian package imagemagick; scripts/test installs it)",
        )?;
    ensure!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr).trim()
    );
    let identify = Command::new("/usr/bin/identify")
        .args(["-format", "%k"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("running /usr/bin/identify")?;
    ensure!(
        identify.status.success(),
        "identify failed: {}",
        String::from_utf8_lossy(&identify.stderr).trim()
    );
    let text = String::from_utf8_lossy(&identify.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("identify printed {text:?}, not a colour count"))
}
