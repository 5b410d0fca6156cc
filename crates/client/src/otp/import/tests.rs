//! Every import format against the committed fixtures in tests/fixtures/otp (see its README), and
//! the report's duplicates and failures.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use civkey_proto::otp::{Algorithm, MigrationBatch, OtpKind};

use super::*;
use crate::otp::aegis::tests::{entry, seal_aegis};
use crate::otp::backup::KdfParams;
use crate::otp::vault::tests::{uri, Fixture};

/// The passphrase of tests/fixtures/otp/civkey-backup.json.
const BACKUP_PASSPHRASE: &str = "correct horse battery staple";
/// The password of tests/fixtures/otp/aegis-encrypted.json.
const AEGIS_PASSWORD: &str = "civkey aegis fixture";

pub(crate) fn err_code(error: ClientError) -> &'static str {
    error.code()
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/otp")
}

/// The accounts the fixtures hold: TOTP with each algorithm, 6–8 digits, 30 and 60 s, and HOTP.
fn fixture_accounts() -> Vec<OtpAccount> {
    [
        "otpauth://totp/%C3%9Cgyf%C3%A9lkapu%2B:kovacs.anna%40example.hu?secret=5ABYAL5INCTP3ZT5LBRC3E3PVKLN3L62&issuer=%C3%9Cgyf%C3%A9lkapu%2B",
        "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub",
        "otpauth://totp/Example%20Bank:12345678?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&issuer=Example%20Bank&algorithm=SHA256&digits=8&period=60",
        "otpauth://hotp/jana%40example.cz?secret=JBSWY3DPEHPK3PXP&counter=5",
        "otpauth://totp/Mastodon:jana%40social.example?secret=UK5OQZ6H6GSOQIY6KFDGC7K44WINJ4QI&issuer=Mastodon&algorithm=SHA512&digits=7",
    ]
    .iter()
    .map(|u| uri(u))
    .collect()
}

/// Imports `file` from the fixtures into a fresh profile.
fn import_fixture(name: &str, passphrase: Option<&str>) -> (Fixture, ImportReport) {
    let f = Fixture::new(name);
    let file = ImportFile::open(&fixture_dir().join(name)).unwrap();
    let mut set = ImportSet::new();
    file.read_into(passphrase, &mut set).unwrap();
    let report = f.profile.otp().import(set).unwrap();
    (f, report)
}

/// The imported accounts as (label, kind, algorithm, digits) and their codes at a few times.
fn summary(f: &Fixture) -> Vec<(String, OtpKind, Algorithm, u8, Vec<String>)> {
    let vault = f.profile.otp();
    vault
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| {
            let codes = match e.kind {
                OtpKind::Totp { .. } => [59u64, 1_111_111_109, 2_000_000_000]
                    .iter()
                    .map(|&t| vault.code(&e.id, t).unwrap().code)
                    .collect(),
                OtpKind::Hotp { .. } => Vec::new(),
            };
            (e.label, e.kind, e.algorithm, e.digits, codes)
        })
        .collect()
}

fn expected(accounts: &[OtpAccount]) -> Vec<(String, OtpKind, Algorithm, u8, Vec<String>)> {
    let f = Fixture::new("expected");
    for account in accounts {
        f.profile.otp().add(account.clone()).unwrap();
    }
    summary(&f)
}

#[test]
fn the_otpauth_list_fixture_imports_and_names_each_bad_line() {
    let (f, report) = import_fixture("otpauth-list.txt", None);
    assert_eq!(summary(&f), expected(&fixture_accounts()));
    let failed: Vec<(String, &str)> = report
        .failed
        .iter()
        .map(|x| (x.source.to_text(Locale::En), x.reason.code()))
        .collect();
    let file = fixture_dir().join("otpauth-list.txt").display().to_string();
    assert_eq!(
        failed,
        [
            (format!("{file}, line 9"), "invalid"),
            (format!("{file}, line 10"), "invalid"),
            (format!("{file}, line 11"), "not_a_link"),
        ]
    );
    assert_eq!(report.duplicates.len(), 1);
    assert_eq!(report.duplicates[0].label, "GitHub: mona");
    assert_eq!(report.duplicates[0].existing, "GitHub: octocat");
    assert!(!report.duplicates[0].same_label);
}

#[test]
fn the_google_export_fixture_imports_every_batch() {
    let (f, report) = import_fixture("google-export.txt", None);
    let accounts = fixture_accounts();
    assert_eq!(
        summary(&f),
        expected(&[
            accounts[0].clone(),
            accounts[1].clone(),
            accounts[3].clone()
        ])
    );
    assert!(report.missing_batches.is_empty());
    assert_eq!(report.failed.len(), 1);
    let failure = &report.failed[0];
    assert_eq!(
        failure.source.place,
        Place::Batch {
            line: 2,
            qr: 2,
            of: 2,
            entry: 2
        }
    );
    assert!(failure
        .reason
        .describe(Locale::En)
        .contains("unsupported (SHA1, SHA256 or SHA512)"));
}

#[test]
fn an_incomplete_google_export_names_the_missing_qr_code() {
    let (f, report) = import_fixture("google-export-incomplete.txt", None);
    assert_eq!(f.profile.otp().entries().unwrap().len(), 1);
    assert_eq!(
        report.missing_batches,
        [MissingBatch {
            batch_id: 778,
            qr: 2,
            of: 2
        }]
    );
    assert!(!report.is_complete());
}

#[test]
fn the_plain_aegis_fixture_imports_and_reports_what_civkey_cannot_use() {
    let (f, report) = import_fixture("aegis-plain.json", None);
    assert_eq!(summary(&f), expected(&fixture_accounts()));
    let failed: Vec<(Option<&str>, &str)> = report
        .failed
        .iter()
        .map(|x| (x.label.as_deref(), x.reason.code()))
        .collect();
    assert_eq!(
        failed,
        [
            (Some("Steam: gaben"), "unsupported_type"),
            (Some("Shop: broken"), "invalid"),
        ]
    );
}

#[test]
fn the_encrypted_aegis_fixture_opens_with_its_password() {
    let file = ImportFile::open(&fixture_dir().join("aegis-encrypted.json")).unwrap();
    assert_eq!(file.format(), ImportFormat::AegisEncrypted);
    let mut set = ImportSet::new();
    let err = file
        .read_into(Some("civkey aegis fixtur"), &mut set)
        .unwrap_err();
    assert_eq!(err_code(err), "wrong_passphrase");
    assert!(set.is_empty());
    let (f, report) = import_fixture("aegis-encrypted.json", Some(AEGIS_PASSWORD));
    assert!(report.is_complete());
    assert_eq!(summary(&f), expected(&fixture_accounts()));
}

#[test]
fn the_civkey_backup_fixture_restores_with_its_passphrase() {
    let (f, report) = import_fixture("civkey-backup.json", Some(BACKUP_PASSPHRASE));
    assert!(report.is_complete());
    assert_eq!(summary(&f), expected(&fixture_accounts()));
}

#[test]
fn a_picture_of_a_google_export_qr_code_imports() {
    let picture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/qr/1080p-05-otpauth_migration.jpg");
    let file = ImportFile::open(&picture).unwrap();
    assert_eq!(file.format(), ImportFormat::Picture);
    let mut set = ImportSet::new();
    file.read_into(None, &mut set).unwrap();
    let f = Fixture::new("picture");
    let report = f.profile.otp().import(set).unwrap();
    let labels: Vec<&str> = report.imported.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Example Bank: 12345678", "Mastodon: jana@social.example"]
    );
}

#[test]
fn files_in_no_known_format_are_refused() {
    for bytes in [
        b"just some notes\nnothing here\n".as_slice(),
        b"{\"some\": \"json\"}".as_slice(),
        b"{not json".as_slice(),
        b"\xff\xfe\x00binary".as_slice(),
        b"".as_slice(),
    ] {
        let err = ImportFile::from_bytes("x", bytes).err().unwrap();
        assert_eq!(err_code(err), "unknown_format", "{bytes:?}");
    }
}

#[test]
fn duplicates_within_one_import_and_against_the_vault_are_reported_not_dropped() {
    let f = Fixture::new("duplicates");
    let accounts = fixture_accounts();
    f.profile.otp().add(accounts[1].clone()).unwrap();
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        accounts[0].to_uri(),
        accounts[1].to_uri(),
        accounts[0].to_uri(),
        accounts[0].to_uri().replace("kovacs.anna", "anna")
    );
    let mut set = ImportSet::new();
    ImportFile::from_bytes("dups.txt", text.as_bytes())
        .unwrap()
        .read_into(None, &mut set)
        .unwrap();
    let report = f.profile.otp().import(set).unwrap();
    assert_eq!(report.imported.len(), 1);
    let dups: Vec<(&Place, bool)> = report
        .duplicates
        .iter()
        .map(|d| (&d.source.place, d.same_label))
        .collect();
    assert_eq!(
        dups,
        [
            (&Place::Line { line: 2 }, true),
            (&Place::Line { line: 3 }, true),
            (&Place::Line { line: 4 }, false),
        ]
    );
    assert_eq!(
        report.imported.len() + report.duplicates.len() + report.failed.len(),
        4,
        "every account is accounted for"
    );
}

#[test]
fn a_report_serialises_with_codes_and_messages() {
    let (_f, report) = import_fixture("otpauth-list.txt", None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["failed"][2]["reason"]["code"], "not_a_link");
    assert_eq!(json["failed"][2]["source"]["line"], 11);
    assert!(json["imported"][0].get("secret").is_none());
    assert!(!json.to_string().contains("2GBTTWW2FOUYT5QP"));
}

// ----- the fixtures -----

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A Google export QR code with `accounts` and, after them, one MD5 account Google's format
/// allows but no authenticator civkey knows supports.
fn google_with_md5(accounts: &[OtpAccount], index: i32, size: i32, id: i32) -> String {
    let uri = MigrationBatch::encode_uri(accounts, index, size, id);
    let data = uri
        .trim_start_matches("otpauth-migration://offline?data=")
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    let mut payload = STANDARD.decode(data).unwrap();
    let mut md5 = Vec::new();
    for (field, bytes) in [
        (1u64, b"0123456789".as_slice()),
        (2, b"Legacy VPN:jana"),
        (3, b"Legacy VPN"),
    ] {
        push_varint(&mut md5, (field << 3) | 2);
        push_varint(&mut md5, bytes.len() as u64);
        md5.extend_from_slice(bytes);
    }
    md5.extend_from_slice(&[4 << 3, 4]); // algorithm = MD5
    push_varint(&mut payload, (1 << 3) | 2);
    push_varint(&mut payload, md5.len() as u64);
    payload.extend_from_slice(&md5);
    let encoded = STANDARD
        .encode(&payload)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("otpauth-migration://offline?data={encoded}")
}

/// Writes tests/fixtures/otp anew (salts and nonces are random, so the files change; the tests
/// above pin what they hold). Run with `cargo test -p civkey-client --lib -- --ignored
/// regenerate_otp_fixtures`.
#[test]
#[ignore = "writes the committed fixtures"]
fn regenerate_otp_fixtures() {
    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let accounts = fixture_accounts();
    let uris: Vec<String> = accounts.iter().map(OtpAccount::to_uri).collect();

    // A list of otpauth links, with the mistakes people's lists have.
    let mut list = String::from("# One-time code accounts, one otpauth:// link a line.\n\n");
    for uri in &uris {
        list.push_str(uri);
        list.push('\n');
    }
    list.push('\n');
    list.push_str("otpauth://totp/Shop:broken?secret=NOT-BASE32!&issuer=Shop\n");
    list.push_str("otpauth://totp/Forum:?secret=JBSWY3DPEHPK3PXQ&issuer=Forum\n");
    list.push_str("https://example.com/not-an-account\n");
    list.push_str(&uris[1].replace("octocat", "mona"));
    list.push('\n');
    std::fs::write(dir.join("otpauth-list.txt"), list).unwrap();

    // Google Authenticator: one export shown as two QR codes, the second with an MD5 account.
    let google = format!(
        "{}\n{}\n",
        MigrationBatch::encode_uri(&[accounts[0].clone(), accounts[1].clone()], 0, 2, 777),
        google_with_md5(&[accounts[3].clone()], 1, 2, 777)
    );
    std::fs::write(dir.join("google-export.txt"), google).unwrap();
    let incomplete = format!(
        "{}\n",
        MigrationBatch::encode_uri(&[accounts[0].clone()], 0, 2, 778)
    );
    std::fs::write(dir.join("google-export-incomplete.txt"), incomplete).unwrap();

    // Aegis: plain with a Steam entry and a broken one; encrypted with the accounts.
    let mut entries: Vec<serde_json::Value> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| entry(a, &format!("00000000-0000-4000-8000-00000000000{i}")))
        .collect();
    let encrypted_db = serde_json::json!({"version": 3, "entries": entries.clone(), "groups": []});
    entries.push(serde_json::json!({
        "type": "steam", "uuid": "00000000-0000-4000-8000-000000000010", "name": "gaben",
        "issuer": "Steam", "note": "", "favorite": false, "icon": null,
        "info": {"secret": "JRZCL47CMXVOQMNPZR2F7J4RGI", "algo": "SHA1", "digits": 5, "period": 30}
    }));
    entries.push(serde_json::json!({
        "type": "totp", "uuid": "00000000-0000-4000-8000-000000000011", "name": "broken",
        "issuer": "Shop", "note": "", "favorite": false, "icon": null,
        "info": {"secret": "NOT-BASE32!", "algo": "SHA1", "digits": 6, "period": 30}
    }));
    let plain = serde_json::json!({
        "version": 1,
        "header": {"slots": null, "params": null},
        "db": {"version": 3, "entries": entries, "groups": []}
    });
    std::fs::write(
        dir.join("aegis-plain.json"),
        serde_json::to_string_pretty(&plain).unwrap() + "\n",
    )
    .unwrap();
    // Aegis' own cost: N = 2^15, r = 8, p = 1.
    let sealed = seal_aegis(&encrypted_db, AEGIS_PASSWORD, 15);
    std::fs::write(
        dir.join("aegis-encrypted.json"),
        serde_json::to_string_pretty(&sealed).unwrap() + "\n",
    )
    .unwrap();

    // civkey's own backup, at the cost `civkey totp export` uses.
    let secrets: Vec<zeroize::Zeroizing<String>> = uris
        .iter()
        .map(|u| zeroize::Zeroizing::new(u.clone()))
        .collect();
    let backup = crate::otp::backup::seal(
        &secrets,
        1_767_225_600,
        BACKUP_PASSPHRASE,
        KdfParams::DEFAULT,
    )
    .unwrap();
    std::fs::write(dir.join("civkey-backup.json"), backup).unwrap();
}
