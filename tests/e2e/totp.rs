//! `civkey totp`: one-time code accounts through the command, with the vault's key in the real
//! Secret Service (the private GNOME Keyring scripts/test starts).
//!
//! The RFC 4226 and RFC 6238 test vectors, export → import into a fresh profile, every import
//! fixture of tests/fixtures/otp, the bad input the issue lists (each a clear error that leaves
//! the vault as it was), and a vault written while the process is killed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use civkey_client::otp::VAULT_FILE;
use civkey_tests::TempDir;
use serde_json::Value;

use civkey_tests::cli::cli;

use civkey_tests::cli::json_lines;

use civkey_tests::keyring::keystore_entries;

use civkey_tests::keyring::secret_service;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs `civkey --profile DIR ARGS…` with `stdin` as its standard input.
fn run(profile: &Path, args: &[&str], stdin: &str) -> Output {
    let _ = secret_service();
    let mut child = cli(profile)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that exits before reading its input (a refusal) closes the pipe: its output is
    // what the test checks, not the write.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.unwrap(),
    }
    child.wait_with_output().unwrap()
}

/// Runs it and expects success; returns stdout.
fn ok(profile: &Path, args: &[&str], stdin: &str) -> String {
    let output = run(profile, args, stdin);
    assert!(
        output.status.success(),
        "civkey {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs it and expects exit status 1; returns stderr.
fn refused(profile: &Path, args: &[&str], stdin: &str) -> String {
    let output = run(profile, args, stdin);
    assert_eq!(
        output.status.code(),
        Some(1),
        "civkey {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

fn vault_bytes(profile: &Path) -> Vec<u8> {
    std::fs::read(profile.join(VAULT_FILE)).unwrap()
}

/// The labels of the accounts, in order.
fn labels(profile: &Path) -> Vec<String> {
    json_lines(ok(profile, &["--json", "totp", "list"], "").as_bytes())
        .iter()
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect()
}

/// (label, code) of every TOTP account at `at`.
fn codes_at(profile: &Path, at: u64) -> Vec<(String, String)> {
    let text = ok(
        profile,
        &["--json", "totp", "code", "--at", &at.to_string()],
        "",
    );
    json_lines(text.as_bytes())
        .iter()
        .filter(|c| c.get("code").is_some())
        .map(|c| {
            (
                c["label"].as_str().unwrap().to_string(),
                c["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const RFC6238: [(u64, &str, &str, &str); 6] = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
];

#[test]
fn totp_code_at_prints_the_rfc6238_vectors() {
    let home = TempDir::new("civkey-totp-rfc6238");
    // The RFC's seeds, typed in: the secret comes from stdin, never the command line.
    for (algorithm, seed) in [
        ("SHA1", "12345678901234567890"),
        ("SHA256", "12345678901234567890123456789012"),
        (
            "SHA512",
            "1234567890123456789012345678901234567890123456789012345678901234",
        ),
    ] {
        let secret = civkey_proto::otp::OtpSecret::from_bytes(seed.as_bytes().to_vec())
            .unwrap()
            .to_base32();
        let added = ok(
            &home.0,
            &[
                "totp",
                "add",
                "--issuer",
                "RFC 6238",
                "--account",
                algorithm,
                "--algorithm",
                algorithm,
                "--digits",
                "8",
                "--secret",
                "-",
            ],
            &format!("{}\n", secret.as_str()),
        );
        assert!(
            added.starts_with(&format!("Added RFC 6238: {algorithm} (id ")),
            "{added}"
        );
    }
    for (time, sha1, sha256, sha512) in RFC6238 {
        for (name, expected) in [("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)] {
            let printed = ok(
                &home.0,
                &["totp", "code", name, "--at", &time.to_string()],
                "",
            );
            assert_eq!(printed, format!("{expected}\n"), "{name} at {time}");
        }
    }
    // With --json: the seconds left, and in the last seconds of a period the next code.
    let at_59 = &json_lines(
        ok(
            &home.0,
            &["--json", "totp", "code", "SHA1", "--at", "59"],
            "",
        )
        .as_bytes(),
    )[0];
    assert_eq!(at_59["code"], "94287082");
    assert_eq!(at_59["remaining"], 1);
    assert_eq!(at_59["valid_until"], 60);
    let at_60 = ok(&home.0, &["totp", "code", "SHA1", "--at", "60"], "");
    assert_eq!(at_59["next_code"].as_str().unwrap(), at_60.trim());
    let at_40 = &json_lines(
        ok(
            &home.0,
            &["--json", "totp", "code", "SHA1", "--at", "40"],
            "",
        )
        .as_bytes(),
    )[0];
    assert_eq!(at_40["remaining"], 20);
    assert!(at_40.get("next_code").is_none());

    // All accounts at once, grouped for people to read.
    let all = ok(&home.0, &["totp", "code", "--at", "59"], "");
    assert!(
        all.contains("9428 7082  RFC 6238: SHA1  (1 s); next "),
        "{all}"
    );
}

#[test]
fn totp_code_prints_the_rfc4226_vectors_and_advances_the_stored_counter() {
    let home = TempDir::new("civkey-totp-rfc4226");
    // "12345678901234567890" in base32; the link comes from stdin.
    ok(
        &home.0,
        &["totp", "add", "-"],
        "otpauth://hotp/RFC%204226:appendix-d?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=RFC%204226&counter=0\n",
    );
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, code) in expected.iter().enumerate() {
        let shown =
            &json_lines(ok(&home.0, &["--json", "totp", "code", "appendix-d"], "").as_bytes())[0];
        assert_eq!(shown["code"], *code);
        assert_eq!(shown["counter"], counter);
    }
    let listed = &json_lines(ok(&home.0, &["--json", "totp", "list"], "").as_bytes())[0];
    assert_eq!(listed["kind"]["type"], "hotp");
    assert_eq!(listed["kind"]["counter"], 10);
    // Listing every code makes none for HOTP: that would use up counter values.
    let all = ok(&home.0, &["totp", "code"], "");
    assert!(all.contains("HOTP: civkey totp code"), "{all}");
    let listed = &json_lines(ok(&home.0, &["--json", "totp", "list"], "").as_bytes())[0];
    assert_eq!(listed["kind"]["counter"], 10);
}

#[test]
fn an_encrypted_backup_restored_into_a_fresh_profile_gives_the_same_codes() {
    let first = TempDir::new("civkey-totp-backup-a");
    // The list has bad lines on purpose (the import exits 1 for them); its 5 accounts import.
    run(
        &first.0,
        &[
            "totp",
            "import",
            fixtures().join("otp/otpauth-list.txt").to_str().unwrap(),
        ],
        "",
    );
    let accounts = labels(&first.0);
    assert_eq!(accounts.len(), 5, "{accounts:?}");

    // The vault's key is in the Secret Service; the vault file holds no secret in the clear.
    assert_eq!(keystore_entries(&first.0).len(), 1);
    let vault = vault_bytes(&first.0);
    for needle in ["2GBTTWW2FOUYT5QP", "octocat", "otpauth"] {
        assert!(
            !vault.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is in the vault file in the clear"
        );
    }

    let backup = first.0.join("civkey-backup.json");
    let backup_arg = backup.to_str().unwrap();
    let written = ok(
        &first.0,
        &["totp", "export", "--out", backup_arg, "--passphrase-stdin"],
        "a long passphrase to remember\n",
    );
    assert!(written.contains("accounts: 5"), "{written}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // It does not overwrite a file without --force.
    let again = refused(
        &first.0,
        &["totp", "export", "--out", backup_arg, "--passphrase-stdin"],
        "a long passphrase to remember\n",
    );
    assert!(again.contains("already exists"), "{again}");

    let second = TempDir::new("civkey-totp-backup-b");
    let restored = ok(
        &second.0,
        &["totp", "import", backup_arg, "--passphrase-stdin"],
        "a long passphrase to remember\n",
    );
    assert!(
        restored.contains("Imported: 5. Already in civkey: 0. Not imported: 0."),
        "{restored}"
    );
    assert_eq!(labels(&second.0), accounts);
    for at in [59, 1_111_111_109, 1_767_225_629, 20_000_000_000] {
        assert_eq!(codes_at(&first.0, at), codes_at(&second.0, at));
    }
    // The HOTP account goes on from the same counter in both.
    let code = |dir: &Path| ok(dir, &["totp", "code", "jana@example.cz"], "");
    assert_eq!(code(&first.0), code(&second.0));
    // Each profile has a vault key of its own.
    assert_eq!(keystore_entries(&second.0).len(), 1);
    assert_ne!(keystore_entries(&first.0), keystore_entries(&second.0));
}

/// `ok` for an import whose fixture holds bad accounts on purpose: exit 1, and the report.
fn import_json(profile: &Path, file: &Path, passphrase: Option<&str>) -> (Option<i32>, Value) {
    let mut args = vec!["--json", "totp", "import", file.to_str().unwrap()];
    if passphrase.is_some() {
        args.push("--passphrase-stdin");
    }
    let output = run(profile, &args, &format!("{}\n", passphrase.unwrap_or("")));
    let lines = json_lines(&output.stdout);
    assert_eq!(
        lines.len(),
        1,
        "{lines:?} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), lines[0]["report"].clone())
}

fn count(report: &Value, key: &str) -> usize {
    report[key].as_array().unwrap().len()
}

#[test]
fn every_import_format_imports_through_the_command() {
    let otp = fixtures().join("otp");
    let cases: [(&str, Option<&str>, i32, [usize; 4]); 6] = [
        // file, passphrase, exit status, [imported, duplicates, failed, missing QR codes]
        ("otpauth-list.txt", None, 1, [5, 1, 3, 0]),
        ("google-export.txt", None, 1, [3, 0, 1, 0]),
        ("google-export-incomplete.txt", None, 1, [1, 0, 0, 1]),
        ("aegis-plain.json", None, 1, [5, 0, 2, 0]),
        (
            "aegis-encrypted.json",
            Some("civkey aegis fixture"),
            0,
            [5, 0, 0, 0],
        ),
        (
            "civkey-backup.json",
            Some("correct horse battery staple"),
            0,
            [5, 0, 0, 0],
        ),
    ];
    for (file, passphrase, status, [imported, duplicates, failed, missing]) in cases {
        let home = TempDir::new("civkey-totp-import");
        let (code, report) = import_json(&home.0, &otp.join(file), passphrase);
        assert_eq!(code, Some(status), "{file}: {report}");
        assert_eq!(count(&report, "imported"), imported, "{file}: {report}");
        assert_eq!(count(&report, "duplicates"), duplicates, "{file}: {report}");
        assert_eq!(count(&report, "failed"), failed, "{file}: {report}");
        assert_eq!(
            count(&report, "missing_batches"),
            missing,
            "{file}: {report}"
        );
        for failure in report["failed"].as_array().unwrap() {
            assert!(
                !failure["reason"]["message"].as_str().unwrap().is_empty(),
                "{failure}"
            );
        }
        assert_eq!(labels(&home.0).len(), imported, "{file}");
    }

    // The text report says what was left out, and why.
    let home = TempDir::new("civkey-totp-import-text");
    let output = run(
        &home.0,
        &[
            "totp",
            "import",
            otp.join("aegis-plain.json").to_str().unwrap(),
        ],
        "",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(": Aegis export"), "{text}");
    assert!(
        text.contains("entry 6 (Steam: gaben): steam codes are not supported (only TOTP and HOTP)"),
        "{text}"
    );
    assert!(
        text.contains("entry 7 (Shop: broken): parameter \"secret\" is invalid"),
        "{text}"
    );
    assert!(
        text.contains("Imported: 5. Already in civkey: 0. Not imported: 2."),
        "{text}"
    );
    // Importing again: everything is already there.
    let again = run(
        &home.0,
        &[
            "totp",
            "import",
            otp.join("aegis-encrypted.json").to_str().unwrap(),
            "--passphrase-stdin",
        ],
        "civkey aegis fixture\n",
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("Imported: 0. Already in civkey: 5. Not imported: 0."),
        "{text}"
    );

    // An incomplete Google export names the QR code that is missing.
    let home = TempDir::new("civkey-totp-import-google");
    let output = run(
        &home.0,
        &[
            "totp",
            "import",
            otp.join("google-export-incomplete.txt").to_str().unwrap(),
        ],
        "",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("QR code 2 of 2 of the Google Authenticator export was not given"),
        "{text}"
    );
}

#[test]
fn accounts_are_added_from_pictures_of_their_qr_codes() {
    let home = TempDir::new("civkey-totp-picture");
    let qr = fixtures().join("qr");
    let added = ok(
        &home.0,
        &[
            "totp",
            "add",
            "--image",
            qr.join("480p-04-otpauth.jpg").to_str().unwrap(),
        ],
        "",
    );
    assert!(
        added.starts_with("Added Mastodon: jana@social.example"),
        "{added}"
    );
    // A picture of a Google export QR code imports its accounts.
    let imported = ok(
        &home.0,
        &[
            "totp",
            "import",
            qr.join("1080p-05-otpauth_migration.jpg").to_str().unwrap(),
        ],
        "",
    );
    assert!(imported.contains(": QR code picture"), "{imported}");
    assert!(imported.contains("Imported: 2."), "{imported}");
    // A picture of a pairing code is not an account.
    let err = refused(
        &home.0,
        &[
            "totp",
            "add",
            "--image",
            qr.join("480p-01-pairing.jpg").to_str().unwrap(),
        ],
        "",
    );
    assert!(err.contains("no one-time code QR code"), "{err}");
    assert_eq!(labels(&home.0).len(), 3);
}

#[test]
fn bad_input_is_a_clear_error_and_the_vault_is_left_as_it_was() {
    let home = TempDir::new("civkey-totp-bad");
    ok(
        &home.0,
        &["totp", "add", "-"],
        "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub\n",
    );
    let before = vault_bytes(&home.0);

    let links = [
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PX1", "not valid base32"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5", "unsupported (SHA1, SHA256 or SHA512)"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9", "must be 6, 7 or 8"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5", "must be 6, 7 or 8"),
        ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0", "between 1 and 86400 seconds"),
        ("otpauth://totp/Issuer:?secret=JBSWY3DPEHPK3PXP&issuer=Issuer", "has no account name"),
        ("otpauth://totp/GitHub:mona?secret=2GBTTWW2FOUYT5QP", "already in civkey as GitHub: octocat"),
        ("civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw", "not a one-time code account but: Pairing QR code"),
    ];
    for (link, says) in links {
        let err = refused(&home.0, &["totp", "add", "-"], &format!("{link}\n"));
        assert!(err.contains(says), "{link}: {err}");
        assert_eq!(vault_bytes(&home.0), before, "{link} changed the vault");
    }
    // The same checks for accounts typed in.
    let typed = [
        (vec!["--secret", "-"], "NOT*BASE32\n", "not valid base32"),
        (
            vec!["--secret", "-", "--algorithm", "MD5"],
            "JBSWY3DPEHPK3PXP\n",
            "unsupported",
        ),
        (
            vec!["--secret", "-", "--digits", "9"],
            "JBSWY3DPEHPK3PXP\n",
            "must be 6, 7 or 8",
        ),
        (
            vec!["--secret", "-", "--period", "0"],
            "JBSWY3DPEHPK3PXP\n",
            "between 1 and 86400",
        ),
    ];
    for (extra, stdin, says) in typed {
        let mut args = vec!["totp", "add", "--account", "typed"];
        args.extend(extra);
        let err = refused(&home.0, &args, stdin);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let err = refused(
        &home.0,
        &["totp", "add", "--account", "  ", "--secret", "-"],
        "JBSWY3DPEHPK3PXP\n",
    );
    assert!(err.contains("has no account name"), "{err}");
    assert_eq!(vault_bytes(&home.0), before);

    // Backups: corrupt, wrongly encrypted, and a wrong passphrase.
    let source = TempDir::new("civkey-totp-bad-source");
    ok(
        &source.0,
        &["totp", "add", "-"],
        "otpauth://totp/Bank:jana?secret=JBSWY3DPEHPK3PXP&issuer=Bank\n",
    );
    let backup = source.0.join("backup.json");
    ok(
        &source.0,
        &[
            "totp",
            "export",
            "--out",
            backup.to_str().unwrap(),
            "--passphrase-stdin",
        ],
        "the right passphrase\n",
    );
    let good: Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = source.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let full = std::fs::read(&backup).unwrap();
    let truncated = write("truncated.json", &full[..full.len() / 2]);
    let mut flipped = good.clone();
    let data = flipped["data"].as_str().unwrap().to_string();
    let changed = if data.starts_with('A') { "B" } else { "A" };
    flipped["data"] = format!("{changed}{}", &data[1..]).into();
    let tampered = write("tampered.json", flipped.to_string().as_bytes());
    let mut foreign = good.clone();
    foreign["cipher"] = "aes-256-cbc".into();
    let foreign = write("foreign.json", foreign.to_string().as_bytes());
    let not_a_backup = write("notes.txt", b"shopping list\nmilk\n");
    let cases: [(&Path, &str, &str); 5] = [
        (
            &backup,
            "the wrong passphrase\n",
            "The passphrase is wrong. Nothing was imported",
        ),
        (
            &truncated,
            "the right passphrase\n",
            "is not a file civkey can import",
        ),
        (
            &tampered,
            "the right passphrase\n",
            "the file was changed or damaged after it was written",
        ),
        (
            &foreign,
            "the right passphrase\n",
            "is not XChaCha20-Poly1305",
        ),
        (&not_a_backup, "", "is not a file civkey can import"),
    ];
    for (path, passphrase, says) in cases {
        let err = refused(
            &home.0,
            &[
                "totp",
                "import",
                path.to_str().unwrap(),
                "--passphrase-stdin",
            ],
            passphrase,
        );
        assert!(err.contains(says), "{}: {err}", path.display());
        assert_eq!(
            vault_bytes(&home.0),
            before,
            "{} changed the vault",
            path.display()
        );
    }
    // An Aegis export with the wrong password.
    let err = refused(
        &home.0,
        &[
            "totp",
            "import",
            fixtures()
                .join("otp/aegis-encrypted.json")
                .to_str()
                .unwrap(),
            "--passphrase-stdin",
        ],
        "not the password\n",
    );
    assert!(err.contains("The passphrase is wrong"), "{err}");
    // Without a terminal and without --passphrase-stdin civkey says how to give it.
    let err = refused(&home.0, &["totp", "import", backup.to_str().unwrap()], "");
    assert!(err.contains("--passphrase-stdin"), "{err}");
    // A new backup passphrase that is too short.
    let err = refused(
        &home.0,
        &[
            "totp",
            "export",
            "--out",
            home.0.join("b.json").to_str().unwrap(),
            "--passphrase-stdin",
        ],
        "short\n",
    );
    assert!(err.contains("at least 8 characters"), "{err}");
    assert!(!home.0.join("b.json").exists());
    assert_eq!(vault_bytes(&home.0), before);

    // The vault's key gone from the Secret Service: a clear error, and the vault is not replaced.
    let entries = keystore_entries(&home.0);
    assert_eq!(entries.len(), 1);
    let cleared = Command::new("secret-tool")
        .args([
            "clear",
            "service",
            civkey_client::keystore::KEYSTORE_SERVICE,
            "username",
            &entries[0],
        ])
        .status()
        .unwrap();
    assert!(cleared.success());
    for args in [vec!["totp", "list"], vec!["totp", "add", "-"]] {
        let err = refused(
            &home.0,
            &args,
            "otpauth://totp/New:one?secret=MFRGGZDFMZTWQ2LK&issuer=New\n",
        );
        assert!(
            err.contains("is missing from the OS keystore") && err.contains("was left as it is"),
            "{err}"
        );
    }
    assert_eq!(vault_bytes(&home.0), before);
    assert!(keystore_entries(&home.0).is_empty(), "no new key was made");
}

#[test]
fn accounts_are_renamed_moved_and_deleted_only_when_confirmed() {
    let home = TempDir::new("civkey-totp-manage");
    ok(
        &home.0,
        &[
            "totp",
            "import",
            fixtures().join("otp/civkey-backup.json").to_str().unwrap(),
            "--passphrase-stdin",
        ],
        "correct horse battery staple\n",
    );
    let renamed = ok(
        &home.0,
        &["totp", "rename", "octocat", "--issuer", "GitHub Enterprise"],
        "",
    );
    assert_eq!(renamed, "Renamed to GitHub Enterprise: octocat.\n");
    let moved = ok(&home.0, &["totp", "move", "Mastodon", "--to", "1"], "");
    assert_eq!(moved, "Mastodon: jana@social.example is now number 1.\n");
    assert_eq!(
        labels(&home.0)[..2],
        [
            "Mastodon: jana@social.example",
            "Ügyfélkapu+: kovacs.anna@example.hu"
        ]
    );

    // Without a terminal, delete needs --yes; nothing is deleted without it.
    let err = refused(&home.0, &["totp", "delete", "Mastodon"], "y\n");
    assert!(err.contains("Add --yes"), "{err}");
    assert_eq!(labels(&home.0).len(), 5);
    let err = refused(&home.0, &["totp", "delete", "jana", "--yes"], "");
    assert!(err.contains("matches more than one account"), "{err}");
    let deleted = ok(&home.0, &["totp", "delete", "Mastodon", "--yes"], "");
    assert_eq!(deleted, "Deleted Mastodon: jana@social.example.\n");
    assert_eq!(labels(&home.0).len(), 4);

    // The plain export needs an explicit yes, warns, and writes one link a line.
    let plain = home.0.join("plain.txt");
    let err = refused(
        &home.0,
        &[
            "totp",
            "export",
            "--plain",
            "--out",
            plain.to_str().unwrap(),
        ],
        "y\n",
    );
    assert!(
        err.contains("unencrypted") && err.contains("--i-understand-this-is-unencrypted"),
        "{err}"
    );
    assert!(!plain.exists());
    let output = run(
        &home.0,
        &[
            "totp",
            "export",
            "--plain",
            "--i-understand-this-is-unencrypted",
            "--out",
            plain.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("Warning: the file will hold every secret unencrypted"));
    let text = std::fs::read_to_string(&plain).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.lines().all(|l| l.starts_with("otpauth://")));
}

/// A vault written by a process that is killed at any moment is the old vault or the new one,
/// whole: `civkey totp add` is started again and again and SIGKILLed after delays spread over
/// the time one run takes.
#[test]
fn a_vault_written_while_the_process_is_killed_is_the_old_or_the_new_one() {
    let home = TempDir::new("civkey-totp-kill");
    // A vault with some weight, so that a write takes a while.
    ok(
        &home.0,
        &[
            "totp",
            "import",
            fixtures().join("otp/civkey-backup.json").to_str().unwrap(),
            "--passphrase-stdin",
        ],
        "correct horse battery staple\n",
    );
    let link = |i: usize| {
        let secret = civkey_proto::otp::OtpSecret::from_bytes(
            format!("kill test secret {i:04}").into_bytes(),
        )
        .unwrap()
        .to_base32();
        format!(
            "otpauth://totp/Kill:account-{i}?secret={}&issuer=Kill\n",
            secret.as_str()
        )
    };
    let spawn = |i: usize| {
        let mut child = cli(&home.0)
            .args(["totp", "add", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(link(i).as_bytes())
            .unwrap();
        child
    };
    // How long one uninterrupted run takes here (the slowest of three, as the machine is shared).
    let full = (0..3)
        .map(|i| {
            let started = Instant::now();
            assert!(spawn(1000 + i).wait().unwrap().success());
            started.elapsed()
        })
        .max()
        .unwrap();
    let mut expected = labels(&home.0);
    let (mut old, mut new, mut mid_write) = (0, 0, 0);
    let temporary_files = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(&home.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    };
    let mut left_behind = temporary_files();
    let rounds = 60;
    for i in 1..=rounds {
        // From at once to a little after a whole run in even steps (the write is near the end of
        // a run), then one round well after it.
        let delay = if i == rounds {
            full * 3
        } else {
            full.mul_f64(1.2 * (i - 1) as f64 / (rounds - 2) as f64)
        };
        let mut child = spawn(i);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // A new temporary file left behind: this kill landed between creating it and the rename.
        let now_left = temporary_files();
        if now_left.difference(&left_behind).next().is_some() {
            mid_write += 1;
        }
        left_behind = now_left;
        let now = labels(&home.0);
        if now == expected {
            old += 1;
        } else {
            let mut grown = expected.clone();
            grown.push(format!("Kill: account-{i}"));
            assert_eq!(
                now, grown,
                "after a kill {delay:?} in, the vault is neither old nor new"
            );
            new += 1;
            expected = now;
        }
    }
    eprintln!(
        "{old} kills left the old vault, {new} the new one, {mid_write} landed mid-write \
         (a run takes {full:?})"
    );
    assert!(
        old > 0 && new > 0,
        "the kills did not span a write: {old} old, {new} new"
    );
    // The next write clears what killed writers left behind.
    ok(&home.0, &["totp", "add", "-"], &link(rounds + 1));
    assert!(temporary_files().is_empty());
    assert_eq!(
        keystore_entries(&home.0).len(),
        1,
        "one vault key, never replaced"
    );
}
