use aes_gcm::aead::Aead;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde_json::json;

use super::*;
use crate::otp::import::{ImportFile, ImportFormat, ImportIssue, ImportSet};
use crate::otp::vault::tests::Fixture;

/// Encrypts an Aegis `db` the way Aegis does: a random master key encrypts the db with
/// AES-256-GCM, and a password slot wraps the master key under scrypt(password, salt, 2^log_n,
/// 8, 1). A biometric slot (a random key civkey cannot have) comes first, as on a phone that has
/// fingerprint unlock switched on.
pub(crate) fn seal_aegis(db: &serde_json::Value, password: &str, log_n: u8) -> serde_json::Value {
    let random = |n: usize| {
        let mut bytes = vec![0u8; n];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes
    };
    let gcm = |key: &[u8], nonce: &[u8], plain: &[u8]| {
        let sealed = Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(
                <&Nonce<_>>::from(<&[u8; 12]>::try_from(nonce).unwrap()),
                plain,
            )
            .unwrap();
        let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
        (ciphertext.to_vec(), tag.to_vec())
    };
    let master = random(32);
    let salt = random(32);
    let mut derived = [0u8; 32];
    scrypt::scrypt(
        password.as_bytes(),
        &salt,
        &scrypt::Params::new(log_n, 8, 1, 32).unwrap(),
        &mut derived,
    )
    .unwrap();
    let slot_nonce = random(12);
    let (wrapped, slot_tag) = gcm(&derived, &slot_nonce, &master);
    let biometric_nonce = random(12);
    let (biometric_key, biometric_tag) = gcm(&random(32), &biometric_nonce, &master);
    let db_nonce = random(12);
    let (ciphertext, db_tag) = gcm(&master, &db_nonce, db.to_string().as_bytes());
    json!({
        "version": 1,
        "header": {
            "slots": [
                {
                    "type": 2,
                    "uuid": "6e0f1b4c-2f8a-4b7e-9d3c-0a1b2c3d4e5f",
                    "key": hex::encode(biometric_key),
                    "key_params": {"nonce": hex::encode(&biometric_nonce), "tag": hex::encode(biometric_tag)}
                },
                {
                    "type": 1,
                    "uuid": "a8325752-c1be-458a-9b3e-5e0a8154d9ec",
                    "key": hex::encode(wrapped),
                    "key_params": {"nonce": hex::encode(&slot_nonce), "tag": hex::encode(slot_tag)},
                    "n": 1u64 << log_n,
                    "r": 8,
                    "p": 1,
                    "salt": hex::encode(&salt),
                    "repaired": true
                }
            ],
            "params": {"nonce": hex::encode(&db_nonce), "tag": hex::encode(db_tag)}
        },
        "db": STANDARD.encode(ciphertext)
    })
}

/// An Aegis entry for `account`.
pub(crate) fn entry(account: &OtpAccount, uuid: &str) -> serde_json::Value {
    let (kind, extra) = match account.kind {
        OtpKind::Totp { period } => ("totp", json!({ "period": period })),
        OtpKind::Hotp { counter } => ("hotp", json!({ "counter": counter })),
    };
    let mut info = json!({
        "secret": account.secret.to_base32().as_str(),
        "algo": account.algorithm.as_str(),
        "digits": account.digits,
    });
    if let (Some(info), Some(extra)) = (info.as_object_mut(), extra.as_object()) {
        info.extend(extra.clone());
    }
    json!({
        "type": kind,
        "uuid": uuid,
        "name": account.account,
        "issuer": account.issuer.clone().unwrap_or_default(),
        "note": "",
        "favorite": false,
        "icon": null,
        "info": info,
    })
}

fn accounts() -> Vec<OtpAccount> {
    [
        "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub",
        "otpauth://hotp/Bank:jana?secret=GEZDGNBVGY3TQOJQ&issuer=Bank&counter=50&algorithm=SHA256&digits=7",
    ]
    .iter()
    .map(|u| OtpAccount::parse_uri(u).unwrap())
    .collect()
}

fn db(entries: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"version": 2, "entries": entries, "groups": []})
}

fn read(value: &serde_json::Value, password: Option<&str>) -> Result<ImportSet, ClientError> {
    let file = ImportFile::from_bytes("aegis.json", value.to_string().as_bytes())?;
    let mut set = ImportSet::new();
    file.read_into(password, &mut set)?;
    Ok(set)
}

#[test]
fn an_encrypted_export_opens_with_its_password_and_not_without() {
    let accounts = accounts();
    let plain_db = db(accounts.iter().map(|a| entry(a, "x")).collect());
    let sealed = seal_aegis(&plain_db, "hunter2 hunter2", 10);
    let file = ImportFile::from_bytes("aegis.json", sealed.to_string().as_bytes()).unwrap();
    assert_eq!(file.format(), ImportFormat::AegisEncrypted);
    assert!(file.needs_passphrase());

    let set = read(&sealed, Some("hunter2 hunter2")).unwrap();
    let read: Vec<OtpAccount> = set.items.into_iter().map(|i| i.account.unwrap()).collect();
    assert_eq!(read, accounts);

    for (password, expected) in [
        (Some("hunter3 hunter3"), "wrong_passphrase"),
        (None, "passphrase_needed"),
    ] {
        let err = read_err(&sealed, password).code();
        assert_eq!(err, expected);
    }
}

fn read_err(value: &serde_json::Value, password: Option<&str>) -> ClientError {
    match read(value, password) {
        Ok(_) => panic!("the file was read"),
        Err(e) => e,
    }
}

#[test]
fn a_changed_encrypted_export_is_reported_as_damaged() {
    let sealed = seal_aegis(&db(vec![entry(&accounts()[0], "x")]), "pw", 10);
    let mut changed = sealed.clone();
    let mut raw = STANDARD.decode(changed["db"].as_str().unwrap()).unwrap();
    raw[0] ^= 1;
    changed["db"] = STANDARD.encode(raw).into();
    let err = read_err(&changed, Some("pw"));
    assert!(
        matches!(err, ClientError::Otp(OtpError::AegisDamaged(ref r)) if r.contains("changed or damaged")),
        "{err:?}"
    );

    let mut hostile = sealed.clone();
    hostile["header"]["slots"][1]["n"] = (1u64 << 30).into();
    let err = read_err(&hostile, Some("pw"));
    assert!(
        matches!(err, ClientError::Otp(OtpError::AegisDamaged(ref r)) if r.contains("scrypt parameters")),
        "{err:?}"
    );

    let mut biometric_only = sealed;
    biometric_only["header"]["slots"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let err = read_err(&biometric_only, Some("pw"));
    assert!(
        matches!(err, ClientError::Otp(OtpError::AegisDamaged(ref r)) if r.contains("no password slot")),
        "{err:?}"
    );
}

#[test]
fn entries_civkey_cannot_use_are_reported_with_their_name_and_the_rest_read() {
    let mut entries: Vec<serde_json::Value> = accounts().iter().map(|a| entry(a, "x")).collect();
    entries.push(json!({
        "type": "steam", "uuid": "s", "name": "Sophia", "issuer": "Steam",
        "info": {"secret": "JRZCL47CMXVOQMNPZR2F7J4RGI", "algo": "SHA1", "digits": 5, "period": 30}
    }));
    entries.push(json!({
        "type": "totp", "uuid": "b", "name": "broken", "issuer": "Shop",
        "info": {"secret": "NOT BASE32!", "algo": "SHA1", "digits": 6, "period": 30}
    }));
    entries.push(json!({
        "type": "totp", "uuid": "m", "name": "old", "issuer": "Legacy",
        "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "MD5", "digits": 6, "period": 30}
    }));
    entries.push(json!({"type": "totp", "no": "info"}));
    let plain = json!({"version": 1, "header": {"slots": null, "params": null}, "db": db(entries)});
    let set = read(&plain, None).unwrap();
    assert_eq!(set.len(), 6);
    let failures: Vec<(Option<String>, &ImportIssue)> = set
        .items
        .iter()
        .filter_map(|i| i.account.as_ref().err().map(|e| (i.label.clone(), e)))
        .collect();
    assert_eq!(failures.len(), 4);
    assert_eq!(failures[0].0.as_deref(), Some("Steam: Sophia"));
    assert_eq!(failures[0].1, &ImportIssue::UnsupportedType("steam".into()));
    assert!(matches!(
        failures[1].1,
        ImportIssue::Invalid(civkey_proto::Error::InvalidParam {
            param: "secret",
            ..
        })
    ));
    assert!(matches!(
        failures[2].1,
        ImportIssue::Invalid(civkey_proto::Error::InvalidParam {
            param: "algorithm",
            ..
        })
    ));
    assert_eq!(failures[3].0, None);
}

#[test]
fn an_aegis_export_imports_into_the_vault_once() {
    let f = Fixture::new("aegis-vault");
    let sealed = seal_aegis(
        &db(accounts().iter().map(|a| entry(a, "x")).collect()),
        "pw",
        10,
    );
    let report = f
        .profile
        .otp()
        .import(read(&sealed, Some("pw")).unwrap())
        .unwrap();
    assert_eq!(report.imported.len(), 2);
    let again = f
        .profile
        .otp()
        .import(read(&sealed, Some("pw")).unwrap())
        .unwrap();
    assert_eq!((again.imported.len(), again.duplicates.len()), (0, 2));
}

#[test]
fn newer_or_foreign_files_are_refused() {
    let plain = json!({"version": 2, "header": {"slots": null, "params": null}, "db": db(vec![])});
    assert!(matches!(
        read(&plain, None).err(),
        Some(ClientError::Otp(OtpError::AegisDamaged(_)))
    ));
    let newer_db = json!({"version": 1, "header": {"slots": null, "params": null}, "db": {"version": 9, "entries": []}});
    assert!(matches!(
        read(&newer_db, None).err(),
        Some(ClientError::Otp(OtpError::AegisDamaged(ref r))) if r.contains("version 9")
    ));
    let encrypted_without_slots =
        json!({"version": 1, "header": {"slots": null, "params": null}, "db": "AAAA"});
    assert!(matches!(
        read(&encrypted_without_slots, None).err(),
        Some(ClientError::Otp(OtpError::AegisDamaged(_)))
    ));
}
