use std::sync::Arc;

use super::*;
use crate::keystore::{KeyStore, MemoryKeyStore};
use civkey_testkit::ManualClock;

/// A profile in a fresh temporary folder with an in-memory keystore and a pinned clock.
pub(crate) struct Fixture {
    pub(crate) dir: PathBuf,
    pub(crate) store: Arc<MemoryKeyStore>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) profile: Profile,
    /// Removes the folder when the fixture is dropped.
    _tmp: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new(name: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("civkey-otp-{name}-"))
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("profile");
        let store = Arc::new(MemoryKeyStore::new());
        let clock = Arc::new(ManualClock::at(1_767_225_600));
        let profile = Profile::open(&dir, store.clone())
            .unwrap()
            .with_clock(clock.clone());
        Fixture {
            dir,
            store,
            clock,
            profile,
            _tmp: tmp,
        }
    }

    /// The same profile opened again (as another process would).
    pub(crate) fn reopened(&self) -> Profile {
        Profile::open(&self.dir, self.store.clone())
            .unwrap()
            .with_clock(self.clock.clone())
    }

    pub(crate) fn vault_bytes(&self) -> Vec<u8> {
        fs::read(self.dir.join(VAULT_FILE)).unwrap()
    }
}

pub(crate) fn uri(text: &str) -> OtpAccount {
    OtpAccount::parse_uri(text).unwrap()
}

const GITHUB: &str =
    "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub&algorithm=SHA1&digits=6&period=30";
const BANK: &str = "otpauth://totp/Example%20Bank:12345678?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Bank&algorithm=SHA256&digits=8&period=60";
const MASTODON: &str =
    "otpauth://totp/Mastodon:jana%40social.example?secret=UK5OQZ6H6GSOQIY6KFDGC7K44WINJ4QI&issuer=Mastodon";

fn rfc_account(algorithm: Algorithm, seed: &[u8]) -> OtpAccount {
    OtpAccount::new(
        OtpKind::Totp { period: 30 },
        Some("RFC 6238"),
        algorithm.as_str(),
        OtpSecret::from_bytes(seed.to_vec()).unwrap(),
        algorithm,
        8,
    )
    .unwrap()
}

#[test]
fn rfc6238_vectors_come_out_of_the_vault() {
    let f = Fixture::new("rfc6238");
    let vault = f.profile.otp();
    vault
        .add(rfc_account(Algorithm::Sha1, b"12345678901234567890"))
        .unwrap();
    vault
        .add(rfc_account(
            Algorithm::Sha256,
            b"12345678901234567890123456789012",
        ))
        .unwrap();
    vault
        .add(rfc_account(
            Algorithm::Sha512,
            b"1234567890123456789012345678901234567890123456789012345678901234",
        ))
        .unwrap();
    let table: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    let vault = f.reopened();
    let vault = vault.otp();
    for (time, sha1, sha256, sha512) in table {
        assert_eq!(vault.code("SHA1", time).unwrap().code, sha1, "{time}");
        assert_eq!(vault.code("SHA256", time).unwrap().code, sha256, "{time}");
        assert_eq!(vault.code("SHA512", time).unwrap().code, sha512, "{time}");
        let all: Vec<String> = vault
            .codes(time)
            .unwrap()
            .into_iter()
            .map(|c| c.code)
            .collect();
        assert_eq!(all, [sha1, sha256, sha512]);
    }
}

#[test]
fn rfc4226_hotp_codes_advance_the_stored_counter() {
    let f = Fixture::new("rfc4226");
    f.profile
        .otp()
        .add(
            OtpAccount::new(
                OtpKind::Hotp { counter: 0 },
                Some("RFC 4226"),
                "appendix-d",
                OtpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap(),
                Algorithm::Sha1,
                6,
            )
            .unwrap(),
        )
        .unwrap();
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, code) in expected.iter().enumerate() {
        // Each call opens the profile anew: the counter must come from the file.
        let profile = f.reopened();
        let shown = profile.otp().code("RFC 4226", 0).unwrap();
        assert_eq!(shown.code, *code);
        assert_eq!(shown.counter, Some(counter as u64));
    }
    let entry = f.reopened().otp().find("appendix-d").unwrap();
    assert_eq!(entry.kind, OtpKind::Hotp { counter: 10 });
    // HOTP accounts make no code when all codes are listed: that would use up counter values.
    assert!(f.profile.otp().codes(0).unwrap().is_empty());
}

#[test]
fn an_hotp_code_is_not_shown_when_its_counter_cannot_be_stored() {
    let f = Fixture::new("hotp-store-first");
    let vault = f.profile.otp();
    vault
        .add(uri("otpauth://hotp/bank?secret=GEZDGNBVGY3TQOJQ&counter=7"))
        .unwrap();
    let before = f.vault_bytes();
    // A directory where the temporary file must go makes the write fail.
    let blocker = f
        .dir
        .join(format!(".{VAULT_FILE}.{}.tmp", std::process::id()));
    fs::create_dir(&blocker).unwrap();
    let err = vault.code("bank", 0).unwrap_err();
    assert!(matches!(err, ClientError::Profile { .. }), "{err:?}");
    assert_eq!(f.vault_bytes(), before);
    fs::remove_dir(&blocker).unwrap();
    let code = vault.code("bank", 0).unwrap();
    assert_eq!(code.counter, Some(7));
}

#[test]
fn the_vault_file_holds_nothing_in_the_clear_and_only_its_owner_reads_it() {
    let f = Fixture::new("clear");
    f.profile.otp().add(uri(GITHUB)).unwrap();
    let bytes = f.vault_bytes();
    assert!(bytes.starts_with(MAGIC));
    let secret = OtpSecret::from_base32("2GBTTWW2FOUYT5QP").unwrap();
    for needle in [
        b"2GBTTWW2FOUYT5QP".as_slice(),
        b"2gbttww2fouyt5qp".as_slice(),
        secret.expose(),
        b"octocat".as_slice(),
        b"GitHub".as_slice(),
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the vault holds {:?} in the clear",
            String::from_utf8_lossy(needle)
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(f.dir.join(VAULT_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // One key, in the keystore, named after this profile.
    assert_eq!(f.store.len(), 1);
    // Each write uses a fresh nonce: the same contents encrypt differently.
    f.profile.otp().move_to("octocat", 1).unwrap();
    f.profile.otp().add(uri(MASTODON)).unwrap();
    f.profile.otp().delete("Mastodon").unwrap();
    assert_ne!(f.vault_bytes(), bytes);
}

#[test]
fn a_vault_whose_key_is_missing_is_reported_and_never_replaced() {
    let f = Fixture::new("key-missing");
    let vault = f.profile.otp();
    vault.add(uri(GITHUB)).unwrap();
    let before = f.vault_bytes();
    let header = match Header::parse(&before) {
        Ok(h) => h,
        Err(_) => panic!("the header does not parse"),
    };
    assert!(header
        .key_ref
        .as_str()
        .starts_with(&format!("{}/otp-vault/", f.profile.profile_id())));
    f.store.delete(&header.key_ref).unwrap();
    for result in [
        vault.entries().map(|_| ()),
        vault.add(uri(MASTODON)).map(|_| ()),
        vault.delete("octocat").map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err, ClientError::Otp(OtpError::VaultKeyMissing { .. })),
            "{err:?}"
        );
        assert!(err
            .describe(civkey_i18n::Locale::En)
            .contains("was left as it is"));
    }
    assert_eq!(f.vault_bytes(), before);
    assert!(f.store.is_empty(), "no new key was made");
}

#[test]
fn a_damaged_or_changed_vault_is_reported_and_left_alone() {
    let f = Fixture::new("damaged");
    let vault = f.profile.otp();
    vault.add(uri(GITHUB)).unwrap();
    let good = f.vault_bytes();
    let header_len = good.len()
        - Header::parse(&good)
            .map(|h| h.ciphertext.len())
            .unwrap_or(0);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut flipped = good.clone();
    flipped[header_len + 3] ^= 1;
    cases.push(("ciphertext", flipped));
    let mut nonce = good.clone();
    nonce[header_len - 1] ^= 1;
    cases.push(("nonce", nonce));
    cases.push(("truncated", good[..good.len() - 20].to_vec()));
    cases.push(("cut in the header", good[..20].to_vec()));
    cases.push(("not a vault", b"{\"accounts\": []}".to_vec()));
    for (what, bytes) in cases {
        fs::write(f.dir.join(VAULT_FILE), &bytes).unwrap();
        let err = vault.entries().unwrap_err();
        assert!(
            matches!(err, ClientError::Otp(OtpError::VaultDamaged { .. })),
            "{what}: {err:?}"
        );
        let err = vault.add(uri(MASTODON)).unwrap_err();
        assert!(
            matches!(err, ClientError::Otp(OtpError::VaultDamaged { .. })),
            "{what}: {err:?}"
        );
        assert_eq!(f.vault_bytes(), bytes, "{what}: the file was changed");
    }
    let mut newer = good.clone();
    newer[MAGIC.len()] = 2;
    fs::write(f.dir.join(VAULT_FILE), &newer).unwrap();
    let err = vault.entries().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Otp(OtpError::VaultTooNew { version: 2, .. })
        ),
        "{err:?}"
    );
    fs::write(f.dir.join(VAULT_FILE), &good).unwrap();
    assert_eq!(vault.entries().unwrap().len(), 1);
}

#[test]
fn a_first_write_that_fails_leaves_no_key_behind() {
    let f = Fixture::new("first-write");
    let blocker = f
        .dir
        .join(format!(".{VAULT_FILE}.{}.tmp", std::process::id()));
    fs::create_dir(&blocker).unwrap();
    assert!(f.profile.otp().add(uri(GITHUB)).is_err());
    assert!(f.store.is_empty());
    assert!(!f.dir.join(VAULT_FILE).exists());
}

#[test]
fn accounts_are_renamed_moved_and_deleted_by_id_label_or_name() {
    let f = Fixture::new("manage");
    let vault = f.profile.otp();
    let github = vault.add(uri(GITHUB)).unwrap();
    vault.add(uri(BANK)).unwrap();
    vault.add(uri(MASTODON)).unwrap();
    assert_eq!(github.position, 1);
    assert_eq!(github.id.len(), 8);

    let renamed = vault
        .rename(&github.id, Some("GitHub Enterprise"), None)
        .unwrap();
    assert_eq!(renamed.label, "GitHub Enterprise: octocat");
    assert_eq!(renamed.id, github.id);
    let renamed = vault.rename("enterprise", Some(""), Some("mona")).unwrap();
    assert_eq!((renamed.issuer, renamed.name.as_str()), (None, "mona"));
    let err = vault.rename("mona", None, Some("  ")).unwrap_err();
    assert!(matches!(err, ClientError::Unreadable(_)), "{err:?}");

    let moved = vault.move_to("mastodon", 1).unwrap();
    assert_eq!(moved.position, 1);
    let order: Vec<String> = vault
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.label)
        .collect();
    assert_eq!(
        order,
        [
            "Mastodon: jana@social.example",
            "mona",
            "Example Bank: 12345678"
        ]
    );
    assert!(matches!(
        vault.move_to("mona", 4),
        Err(ClientError::Otp(OtpError::NoSuchPosition {
            position: 4,
            count: 3
        }))
    ));

    // Exact label, label without the space, name alone: each finds one account.
    assert_eq!(
        vault.find("example bank: 12345678").unwrap().name,
        "12345678"
    );
    assert_eq!(
        vault.find("Example Bank:12345678").unwrap().name,
        "12345678"
    );
    assert_eq!(vault.find("12345678").unwrap().name, "12345678");
    assert!(matches!(
        vault.find("nobody"),
        Err(ClientError::Otp(OtpError::UnknownAccount(_)))
    ));
    // "a" is part of every label.
    assert!(matches!(
        vault.find("a"),
        Err(ClientError::Otp(OtpError::AmbiguousAccount { .. }))
    ));

    let deleted = vault.delete("mona").unwrap();
    assert_eq!(deleted.id, github.id);
    assert_eq!(vault.entries().unwrap().len(), 2);
    // The secret is gone with the account: it can be added again.
    vault.add(uri(GITHUB)).unwrap();
}

#[test]
fn the_same_secret_is_not_added_twice() {
    let f = Fixture::new("duplicate");
    let vault = f.profile.otp();
    vault.add(uri(GITHUB)).unwrap();
    let renamed = GITHUB.replace("octocat", "someone-else");
    let err = vault.add(uri(&renamed)).unwrap_err();
    match err {
        ClientError::Otp(OtpError::Duplicate { label, existing }) => {
            assert_eq!(label, "GitHub: someone-else");
            assert_eq!(existing, "GitHub: octocat");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(vault.entries().unwrap().len(), 1);
}

#[test]
fn the_next_code_is_shown_in_the_last_seconds_of_a_period() {
    let f = Fixture::new("next");
    let vault = f.profile.otp();
    vault.add(uri(GITHUB)).unwrap();
    let start = 1_767_225_600; // a multiple of 30
    let current = vault.code("octocat", start + 24).unwrap();
    assert_eq!(current.remaining, Some(6));
    assert_eq!(current.next_code, None);
    let following = vault.code("octocat", start + 30).unwrap().code;
    for second in 25..30 {
        let code = vault.code("octocat", start + second).unwrap();
        assert_eq!(code.code, current.code);
        assert_eq!(code.remaining, Some(30 - second));
        assert_eq!(code.next_code.as_deref(), Some(following.as_str()));
        assert_eq!(code.valid_until, Some(start + 30));
    }
}

#[test]
fn two_handles_on_one_vault_see_each_others_changes() {
    let f = Fixture::new("shared");
    let other = f.reopened();
    f.profile.otp().add(uri(GITHUB)).unwrap();
    other.otp().add(uri(BANK)).unwrap();
    assert_eq!(f.profile.otp().entries().unwrap().len(), 2);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let profile = f.reopened();
            std::thread::spawn(move || {
                let secret = OtpSecret::from_bytes(vec![i + 1; 10]).unwrap();
                let account = OtpAccount::new(
                    OtpKind::Totp { period: 30 },
                    None,
                    &format!("thread {i}"),
                    secret,
                    Algorithm::Sha1,
                    6,
                )
                .unwrap();
                profile.otp().add(account).unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(f.profile.otp().entries().unwrap().len(), 6);
}

#[test]
fn erasing_removes_the_vault_and_its_key() {
    let f = Fixture::new("erase");
    assert!(!f.profile.otp().erase().unwrap(), "no vault yet");
    f.profile.otp().add(uri(GITHUB)).unwrap();
    assert_eq!(f.store.len(), 1);
    assert!(f.profile.otp().erase().unwrap());
    assert!(f.store.is_empty(), "the vault key was left in the keystore");
    assert!(!f.dir.join(VAULT_FILE).exists());
    assert!(f.profile.otp().entries().unwrap().is_empty());
    // A new vault starts afresh with a new key.
    f.profile.otp().add(uri(MASTODON)).unwrap();
    assert_eq!(f.profile.otp().entries().unwrap().len(), 1);
}

#[test]
fn a_damaged_vault_is_erased_all_the_same() {
    let f = Fixture::new("erase-damaged");
    fs::write(f.dir.join(VAULT_FILE), b"not a vault").unwrap();
    assert!(f.profile.otp().erase().unwrap());
    assert!(!f.dir.join(VAULT_FILE).exists());
}

// Issue 23: names too long for a link are refused at entry now, but one kept from before that
// rule must not lock the rest of the vault away.
#[test]
fn an_account_kept_before_the_link_length_limit_still_opens() {
    let f = Fixture::new("long-names");
    let long = "\u{1F511}".repeat(200);
    let kept = OtpAccount {
        kind: OtpKind::Totp { period: 30 },
        issuer: Some(long.clone()),
        account: long.clone(),
        secret: OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap(),
        algorithm: Algorithm::Sha1,
        digits: 6,
    };
    assert!(kept.clone().validate().is_err(), "refused at entry");
    let vault = f.profile.otp();
    vault.add(kept).unwrap();
    vault.add(uri(GITHUB)).unwrap();
    let reopened = f.reopened();
    let entries = reopened.otp().entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, long);
    assert!(reopened.otp().code("GitHub", 0).is_ok());
}
