//! The built binaries as a user runs them: the `civkey` command and `civkey-server`'s admin
//! commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::built_binary;

pub fn civkey() -> PathBuf {
    built_binary("civkey", "civkey-cli").unwrap()
}

/// `civkey --profile DIR ARGS…` in English.
pub fn cli(profile: &Path) -> Command {
    let mut command = Command::new(civkey());
    command
        .arg("--profile")
        .arg(profile)
        .env("LC_ALL", "en_US.UTF-8")
        .env_remove("CIVKEY_PROFILE");
    command
}

pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `civkey-server ARGS…` on the database in `dir`, with `stdin`.
pub fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child =
        std::process::Command::new(built_binary("civkey-server", "civkey-server").unwrap())
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env("CIVKEY_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
