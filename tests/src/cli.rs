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

/// The key-encryption key file of the server data in `dir`: DIR/demo.key, the file `demo` makes
/// and uses when given no key, made here if it is not there yet (so admin commands and `demo`
/// share it, in either order).
pub fn data_dir_key(dir: &Path) -> PathBuf {
    let path = dir.join("demo.key");
    if !path.exists() {
        std::fs::create_dir_all(dir).unwrap();
        civkey_server::store::Kek::write_new_file(&path).unwrap();
    }
    path
}

/// `civkey-server --data-dir DIR --key-file DIR/demo.key ARGS…`, as an operator runs it on the
/// server data in `dir`.
pub fn admin_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(built_binary("civkey-server", "civkey-server").unwrap());
    command
        .arg("--data-dir")
        .arg(dir)
        .arg("--key-file")
        .arg(data_dir_key(dir))
        .env("CIVKEY_DATABASE", data_dir_database(dir))
        .args(args)
        .env_remove("CIVKEY_KEY")
        .env("CIVKEY_LOG", "warn");
    command
}

/// `civkey-server ARGS…` on the database in `dir`, with `stdin`.
pub fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = admin_command(dir, args)
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

/// The database of the server data in `dir`: DIR/civkey.db (what `--data-dir DIR` uses), or in
/// the `e2e_postgres` binary a fresh database on the suite's PostgreSQL server, its URL kept in
/// DIR/postgres-url so that every command on `dir` (and `demo`) finds the same one.
pub fn data_dir_database(dir: &Path) -> String {
    if !crate::postgres::this_binary_runs_on_postgres() {
        return format!("sqlite://{}/civkey.db", dir.display());
    }
    let file = dir.join("postgres-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = crate::postgres::fresh_database_blocking();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&file, &url).unwrap();
    url
}
