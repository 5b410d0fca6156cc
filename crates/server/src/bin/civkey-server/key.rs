//! The key-encryption key the database's secrets are sealed under: where it comes from
//! (`--key-file`, `key_file` in the configuration file, or `CIVKEY_KEY`; the demo's own file when
//! `demo` is given none) and `civkey-server key …`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use civkey_server::store::{Kek, Store};
use zeroize::Zeroizing;

use crate::cli::KeyCommand;

/// The variable that may hold the key itself (64 hex digits or base64 of 32 bytes).
const KEY_VARIABLE: &str = "CIVKEY_KEY";

/// Where the demo keeps its key when given none: beside its database, which is fine for a demo
/// on one computer and nowhere else.
pub(crate) fn demo_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.key")
}

/// The key the server runs with: from `key_file`, or from `CIVKEY_KEY` (never both). Without
/// either, `demo` uses (and on its first start makes) DATA_DIR/demo.key; every other command
/// refuses to start: a server without its key would have to keep secrets in clear.
pub(crate) fn server_key(
    key_file: Option<&Path>,
    data_dir: &Path,
    demo: bool,
) -> anyhow::Result<Kek> {
    let from_env = std::env::var(KEY_VARIABLE)
        .ok()
        .filter(|text| !text.trim().is_empty())
        .map(Zeroizing::new);
    match (key_file, from_env) {
        (Some(_), Some(_)) => {
            bail!("the key-encryption key is given twice (--key-file and {KEY_VARIABLE}): give one")
        }
        (Some(path), None) => Ok(Kek::read_file(path)?),
        (None, Some(text)) => {
            Kek::parse(&text).with_context(|| format!("cannot read {KEY_VARIABLE}"))
        }
        (None, None) if demo => {
            let path = demo_key_path(data_dir);
            if path.exists() {
                return Ok(Kek::read_file(&path)?);
            }
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let kek = Kek::write_new_file(&path)?;
            tracing::warn!(key_file = %path.display(), "the demo made its key-encryption key beside its database (for a demo only)");
            Ok(kek)
        }
        (None, None) => bail!(
            "no key-encryption key: pass --key-file PATH (or key_file in the configuration file) \
             or set {KEY_VARIABLE}; `civkey-server key generate --out PATH` makes one \
             (a demo's key is {})",
            demo_key_path(data_dir).display()
        ),
    }
}

/// `civkey-server key generate`: needs no database.
pub(crate) fn generate(out: &Path) -> anyhow::Result<()> {
    let kek = Kek::write_new_file(out)?;
    println!(
        "{}",
        serde_json::json!({ "key_file": out.display().to_string(), "key_id": kek.id() })
    );
    Ok(())
}

/// `civkey-server key …` on an open store (sealed under the current key).
pub(crate) async fn key(command: KeyCommand, store: Store) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate { out } => generate(&out),
        KeyCommand::Rotate { new_key_file } => {
            let new = Kek::read_file(&new_key_file)?;
            if new.id() == store.key_id() {
                bail!("the new key is the key in use: make a new one with `civkey-server key generate`");
            }
            let resealed = store.rotate_kek(&new).await?;
            println!(
                "{}",
                serde_json::json!({ "resealed": resealed, "old_key_id": store.key_id(), "key_id": new.id() })
            );
            Ok(())
        }
    }
}
