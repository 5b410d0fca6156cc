//! The app's X11 window under Xvfb: start it in its own process group, find its top-level
//! window with `xwininfo`, and tell whether it has painted with ImageMagick's `import`. Used by the
//! window test (`tests/e2e/app_window.rs`) and the start-up benchmark (`benches/app_start.rs`).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

/// The running app, killed (with the WebKit processes it started) when dropped.
pub struct App {
    child: Child,
}

impl App {
    /// Starts `binary` with its data under `home` (XDG folders and `CIVKEY_PROFILE`), its output
    /// in `log_path`.
    pub fn start(binary: &Path, home: &Path, log_path: &Path) -> Result<App> {
        use std::os::unix::process::CommandExt as _;
        let log =
            File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(binary)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("CIVKEY_PROFILE", home.join("profile"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so the WebKit helper processes go down with it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(App { child })
    }

    /// The app's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the app's log when it has exited.
    pub fn check_running(&mut self, log_path: &Path) -> Result<()> {
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
pub struct Window {
    /// The X window id (`0x400003`).
    pub id: String,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

/// The app's top-level window titled `title`, once it is mapped.
pub fn find_window(title: &str) -> Result<Option<Window>> {
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
pub fn parse_tree(tree: &str, title: &str) -> Option<Window> {
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
pub fn screenshot_colours(id: &str, path: &Path) -> Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
