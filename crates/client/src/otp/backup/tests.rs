use civkey_proto::otp::OtpKind;

use super::*;
use crate::otp::import::{ImportFile, ImportFormat, ImportSet};
use crate::otp::vault::tests::{uri, Fixture};

/// Cheap enough for unit tests; the default cost is exercised by the e2e round trip.
const FAST: KdfParams = KdfParams {
    m_kib: 256,
    t: 1,
    p: 1,
};

const ACCOUNTS: [&str; 3] = [
    "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub",
    "otpauth://totp/Example%20Bank:12345678?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Bank&algorithm=SHA512&digits=8&period=60",
    "otpauth://hotp/jana%40example.cz?secret=JBSWY3DPEHPK3PXP&counter=42&digits=7",
];

fn filled(name: &str) -> Fixture {
    let f = Fixture::new(name);
    for text in ACCOUNTS {
        f.profile.otp().add(uri(text)).unwrap();
    }
    f
}

fn restore(bytes: &[u8], passphrase: &str) -> Result<Fixture, ClientError> {
    let file = ImportFile::from_bytes("backup.json", bytes)?;
    assert_eq!(file.format(), ImportFormat::CivkeyBackup);
    assert!(file.needs_passphrase());
    let mut set = ImportSet::new();
    file.read_into(Some(passphrase), &mut set)?;
    let fresh = Fixture::new("restored");
    let report = fresh.profile.otp().import(set)?;
    assert!(report.is_complete(), "{report:?}");
    Ok(fresh)
}

#[test]
fn a_backup_restored_into_a_new_profile_gives_the_same_codes() {
    let f = filled("backup");
    let bytes = f
        .profile
        .otp()
        .backup("correct horse battery", FAST)
        .unwrap();
    let restored = restore(&bytes, "correct horse battery").unwrap();
    let (old, new) = (f.profile.otp(), restored.profile.otp());
    let labels = |v: &crate::otp::OtpVault<'_>| -> Vec<(String, OtpKind)> {
        v.entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.label, e.kind))
            .collect()
    };
    assert_eq!(labels(&old), labels(&new));
    for time in [0, 59, 1_111_111_109, 2_000_000_000] {
        assert_eq!(old.codes(time).unwrap(), {
            // Ids differ between vaults; codes, labels and timing do not.
            let mut codes = new.codes(time).unwrap();
            for (a, b) in codes.iter_mut().zip(old.codes(time).unwrap()) {
                a.id = b.id;
            }
            codes
        });
    }
    assert_eq!(
        old.code("jana", 0).unwrap().code,
        new.code("jana", 0).unwrap().code
    );
}

#[test]
fn the_backup_holds_nothing_in_the_clear_and_says_how_it_was_made() {
    let f = filled("backup-clear");
    let bytes = f
        .profile
        .otp()
        .backup("correct horse battery", FAST)
        .unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    for needle in ["2GBTTWW2FOUYT5QP", "octocat", "Example Bank", "otpauth"] {
        assert!(!text.contains(needle), "{needle} is in the clear");
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["civkey_otp_backup"], 1);
    assert_eq!(json["kdf"]["name"], "argon2id");
    assert_eq!(json["kdf"]["m_kib"], 256);
    assert_eq!(json["cipher"], "xchacha20poly1305");
}

#[test]
fn a_wrong_passphrase_is_told_apart_from_a_changed_file() {
    let f = filled("backup-wrong");
    let bytes = f
        .profile
        .otp()
        .backup("correct horse battery", FAST)
        .unwrap();
    let err = restore(&bytes, "correct horse batter").err().unwrap();
    assert!(
        matches!(err, ClientError::Otp(OtpError::WrongPassphrase)),
        "{err:?}"
    );

    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let data = json["data"].as_str().unwrap().to_string();
    let mut raw = STANDARD.decode(&data).unwrap();
    raw[5] ^= 0x40;
    json["data"] = STANDARD.encode(&raw).into();
    let err = restore(&serde_json::to_vec(&json).unwrap(), "correct horse battery")
        .err()
        .unwrap();
    assert!(
        matches!(err, ClientError::Otp(OtpError::BackupDamaged(ref r)) if r.contains("changed or damaged")),
        "{err:?}"
    );
}

#[test]
fn corrupt_or_foreign_backups_are_refused_with_the_reason() {
    let f = filled("backup-corrupt");
    let bytes = f
        .profile
        .otp()
        .backup("correct horse battery", FAST)
        .unwrap();
    let good: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let change = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json = good.clone();
        edit(&mut json);
        serde_json::to_vec(&json).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "another cipher",
            change(&|j| j["cipher"] = "aes-256-gcm".into()),
            "not XChaCha20-Poly1305",
        ),
        (
            "another kdf",
            change(&|j| j["kdf"]["name"] = "pbkdf2".into()),
            "not Argon2id",
        ),
        (
            "a newer format",
            change(&|j| j["civkey_otp_backup"] = 2.into()),
            "format 2",
        ),
        (
            "a memory cost meant to exhaust the machine",
            change(&|j| j["kdf"]["m_kib"] = (4u64 * 1024 * 1024).into()),
            "beyond what civkey accepts",
        ),
        (
            "a cut nonce",
            change(&|j| j["nonce"] = "AAAA".into()),
            "nonce",
        ),
        (
            "not base64",
            change(&|j| j["data"] = "%%%".into()),
            "not base64",
        ),
        (
            "a missing field",
            change(&|j| {
                j.as_object_mut().unwrap().remove("key_check");
            }),
            "header",
        ),
    ];
    for (what, bytes, reason) in cases {
        let err = restore(&bytes, "correct horse battery").err().unwrap();
        match err {
            ClientError::Otp(OtpError::BackupDamaged(r)) => {
                assert!(r.contains(reason), "{what}: {r}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // A changed cost derives another key: it reads as a wrong passphrase.
    let cheaper = change(&|j| j["kdf"]["t"] = 2.into());
    assert!(matches!(
        restore(&cheaper, "correct horse battery").err().unwrap(),
        ClientError::Otp(OtpError::WrongPassphrase)
    ));
}

#[test]
fn a_short_passphrase_and_an_empty_vault_write_no_backup() {
    let f = filled("backup-short");
    assert!(matches!(
        f.profile.otp().backup("short", FAST),
        Err(ClientError::Otp(OtpError::PassphraseTooShort { min: 8 }))
    ));
    let empty = Fixture::new("backup-empty");
    assert!(matches!(
        empty.profile.otp().backup("correct horse battery", FAST),
        Err(ClientError::Otp(OtpError::NothingToExport))
    ));
}

#[test]
fn restoring_a_backup_twice_reports_duplicates_and_adds_nothing() {
    let f = filled("backup-twice");
    let bytes = f
        .profile
        .otp()
        .backup("correct horse battery", FAST)
        .unwrap();
    let file = ImportFile::from_bytes("backup.json", &bytes).unwrap();
    let mut set = ImportSet::new();
    file.read_into(Some("correct horse battery"), &mut set)
        .unwrap();
    let before = f.vault_bytes();
    let report = f.profile.otp().import(set).unwrap();
    assert!(report.imported.is_empty());
    assert_eq!(report.duplicates.len(), 3);
    assert!(report.duplicates.iter().all(|d| d.same_label));
    assert_eq!(f.vault_bytes(), before, "nothing new: nothing written");
}

#[test]
fn the_plain_export_is_one_link_a_line_and_reads_back() {
    let f = filled("plain");
    let text = f.profile.otp().export_uris().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.starts_with("otpauth://")));
    let mut set = ImportSet::new();
    ImportFile::from_bytes("plain.txt", text.as_bytes())
        .unwrap()
        .read_into(None, &mut set)
        .unwrap();
    let fresh = Fixture::new("plain-restored");
    let report = fresh.profile.otp().import(set).unwrap();
    assert_eq!(report.imported.len(), 3);
    assert_eq!(
        f.profile.otp().code("jana", 0).unwrap().code,
        fresh.profile.otp().code("jana", 0).unwrap().code
    );
}

// Issue 23: a name that looks like `Issuer: account` must not be split by a backup's links.
#[test]
fn names_with_colons_survive_an_encrypted_and_a_plain_backup() {
    let f = filled("colons");
    let vault = f.profile.otp();
    vault.rename("jana", None, Some(":x:")).unwrap();
    vault.rename("GitHub", Some(""), Some("Bank: me")).unwrap();
    vault
        .rename("Example Bank", Some("Bank: Retail"), Some("jana:home"))
        .unwrap();
    let names = |v: &crate::otp::OtpVault<'_>| -> Vec<(Option<String>, String)> {
        v.entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.issuer, e.name))
            .collect()
    };
    let expected = vec![
        (None, "Bank: me".to_string()),
        (Some("Bank: Retail".to_string()), "jana:home".to_string()),
        (None, ":x:".to_string()),
    ];
    assert_eq!(names(&vault), expected);

    let sealed = vault.backup("correct horse battery", FAST).unwrap();
    let restored = restore(&sealed, "correct horse battery").unwrap();
    assert_eq!(names(&restored.profile.otp()), expected, "encrypted backup");

    let text = vault.export_uris().unwrap();
    let mut set = ImportSet::new();
    ImportFile::from_bytes("plain.txt", text.as_bytes())
        .unwrap()
        .read_into(None, &mut set)
        .unwrap();
    let fresh = Fixture::new("colons-plain");
    let report = fresh.profile.otp().import(set).unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(names(&fresh.profile.otp()), expected, "plain export");
}
