//! The TypeScript declarations of the answer types ([`crate::dto`]), generated with `ts-rs` into
//! one file the screens use: `ui/www/lib/backend/types.d.ts`. The test fails when the committed
//! file is stale; `CIVKEY_UPDATE_TYPES=1 cargo test -p civkey-app-api` rewrites it.

use std::path::PathBuf;

use ts_rs::{Config, TS};

use crate::dto::*;

/// Where the declarations go, from the crate's folder.
const TYPES_FILE: &str = "../../ui/www/lib/backend/types.d.ts";

const HEADER: &str = "\
// Generated from the Rust answer types in crates/app-api/src/dto.rs by ts-rs: do not edit.
// Regenerate with: CIVKEY_UPDATE_TYPES=1 cargo test -p civkey-app-api types_ts
// Numbers are Unix seconds, counts or pixels; field names are the Rust ones (snake_case).
";

/// The declarations, in the order the contract lists them.
pub fn generate() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        AppStatus::decl(&cfg),
        Home::decl(&cfg),
        Identity::decl(&cfg),
        OtpEntry::decl(&cfg),
        OtpCode::decl(&cfg),
        ReadResult::decl(&cfg),
        CameraEvent::decl(&cfg),
        PairingStarted::decl(&cfg),
        PairingOutcome::decl(&cfg),
        OnboardingStarted::decl(&cfg),
        LoginRequest::decl(&cfg),
        LoginOutcome::decl(&cfg),
        BokPrompt::decl(&cfg),
        BokResult::decl(&cfg),
        Notification::decl(&cfg),
        CommandError::decl(&cfg),
        ErrorCode::decl(&cfg),
    ];
    let mut out = String::from(HEADER);
    for decl in decls {
        out.push('\n');
        out.push_str("export ");
        out.push_str(decl.trim());
        out.push('\n');
    }
    out
}

#[test]
fn the_typescript_declarations_are_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(TYPES_FILE);
    let generated = generate();
    if std::env::var_os("CIVKEY_UPDATE_TYPES").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: regenerate it with `CIVKEY_UPDATE_TYPES=1 cargo test -p civkey-app-api types_ts`",
        path.display()
    );
}

#[test]
fn the_declarations_name_every_contract_type_and_use_plain_numbers() {
    let text = generate();
    for name in [
        "AppStatus",
        "Home",
        "Identity",
        "OtpEntry",
        "OtpCode",
        "ReadResult",
        "CameraEvent",
        "PairingStarted",
        "PairingOutcome",
        "OnboardingStarted",
        "LoginRequest",
        "LoginOutcome",
        "BokPrompt",
        "BokResult",
        "Notification",
        "CommandError",
        "ErrorCode",
    ] {
        assert!(
            text.contains(&format!("export type {name} = ")),
            "{name}\n{text}"
        );
    }
    assert!(!text.contains("bigint"), "{text}");
    assert!(
        text.contains("\"unset\" | \"locked\" | \"unlocked\""),
        "{text}"
    );
    assert!(
        text.contains("code: ErrorCode") && text.contains("\"pairing_expired\""),
        "{text}"
    );
}
