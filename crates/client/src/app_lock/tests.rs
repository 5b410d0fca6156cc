use argon2::Params;
use civkey_proto::ids::DeviceId;
use civkey_proto::Origin;

use super::*;
use crate::clock::Clock;
use crate::keystore::KeyStore;
use crate::otp::vault::tests::{uri, Fixture};
use crate::profile::Identity;

const PIN: &str = "480213";
const WRONG: &str = "480214";
const GITHUB: &str = "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub";

/// Argon2id at 1 MiB and one pass: the checks are the same, the tests stay quick.
fn lock(profile: &Profile) -> AppLock<'_> {
    profile
        .app_lock()
        .with_params(Params::new(1024, 1, 1, None).unwrap())
}

fn code(result: Result<(), ClientError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) => e.code(),
    }
}

fn wrong(profile: &Profile) -> (u32, u64) {
    match lock(profile).unlock(WRONG) {
        Err(ClientError::AppLock(AppLockError::WrongPin {
            attempts_left,
            wait_seconds,
        })) => (attempts_left, wait_seconds),
        other => panic!("expected wrong_pin, got {other:?}"),
    }
}

fn paired_identity(f: &Fixture) -> Identity {
    let key = KeyRef::generate(f.profile.profile_id(), "device");
    let public_key = f.store.create_signing_key(&key).unwrap();
    let identity = Identity {
        origin: Origin::parse("https://id.example.gov").unwrap(),
        device_id: DeviceId::from_bytes([7; 16]),
        device_name: "Phone".into(),
        account_name: Some("Jana Nováková".into()),
        paired_at: f.clock.now(),
        public_key,
        key,
    };
    f.profile.add(identity.clone()).unwrap();
    identity
}

#[test]
fn a_chosen_pin_unlocks_and_nothing_unlocks_before_one_is_chosen() {
    let f = Fixture::new("pin-set");
    let status = lock(&f.profile).status().unwrap();
    assert!(!status.pin_set);
    assert_eq!(status.attempts_left, MAX_FAILURES);
    assert_eq!(code(lock(&f.profile).unlock(PIN)), "pin_not_set");
    lock(&f.profile).set(PIN).unwrap();
    let status = lock(&f.profile).status().unwrap();
    assert!(status.pin_set);
    assert_eq!((status.failures, status.wait_seconds), (0, 0));
    lock(&f.profile).unlock(PIN).unwrap();
    assert_eq!(code(lock(&f.profile).set("902731")), "pin_already_set");
    lock(&f.profile).unlock(PIN).unwrap();
}

#[test]
fn malformed_and_guessable_pins_cannot_be_chosen() {
    let f = Fixture::new("pin-choose");
    for (pin, expected) in [
        ("12345", "pin_format"),
        ("1234567", "pin_format"),
        ("12a456", "pin_format"),
        ("", "pin_format"),
        (" 480213", "pin_format"),
        ("123456", "pin_guessable"),
        ("987654", "pin_guessable"),
        ("000000", "pin_guessable"),
        ("121212", "pin_guessable"),
        ("258258", "pin_guessable"),
    ] {
        assert_eq!(code(lock(&f.profile).set(pin)), expected, "{pin:?}");
    }
    assert!(!lock(&f.profile).status().unwrap().pin_set);
    assert!(f.store.is_empty());
}

#[test]
fn the_pin_is_kept_only_as_an_argon2id_hash_in_the_keystore() {
    let f = Fixture::new("pin-stored");
    // The real parameters, as the app uses them.
    f.profile.app_lock().set(PIN).unwrap();
    let key = f.profile.app_lock().key_ref();
    assert!(
        key.as_str()
            .starts_with(&format!("{}/app-pin/", f.profile.profile_id())),
        "{key}"
    );
    let record = f.store.get_secret(&key).unwrap();
    let text = String::from_utf8(record.to_vec()).unwrap();
    assert!(text.contains("$argon2id$v=19$m=19456,t=2,p=1$"), "{text}");
    assert!(!text.contains(PIN), "{text}");
    f.profile.app_lock().unlock(PIN).unwrap();
    // Nothing about the PIN in the profile's files.
    for entry in std::fs::read_dir(&f.dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("argon2") && !text.contains(PIN), "{text}");
    }
}

#[test]
fn wrong_pins_slow_down_after_the_third_and_a_right_one_clears_the_count() {
    let f = Fixture::new("pin-waits");
    lock(&f.profile).set(PIN).unwrap();
    assert_eq!(wrong(&f.profile), (9, 0));
    assert_eq!(wrong(&f.profile), (8, 0));
    assert_eq!(wrong(&f.profile), (7, 0));
    assert_eq!(wrong(&f.profile), (6, 30));
    // During the wait not even the right PIN is checked, and the attempt is not counted.
    match lock(&f.profile).unlock(PIN) {
        Err(ClientError::AppLock(AppLockError::PinWait {
            wait_seconds: 30,
            attempts_left: 6,
        })) => {}
        other => panic!("expected pin_wait, got {other:?}"),
    }
    f.clock.advance(29);
    let status = lock(&f.profile).status().unwrap();
    assert_eq!((status.wait_seconds, status.attempts_left), (1, 6));
    assert_eq!(code(lock(&f.profile).unlock(PIN)), "pin_wait");
    f.clock.advance(1);
    assert_eq!(wrong(&f.profile), (5, 60));
    f.clock.advance(60);
    assert_eq!(wrong(&f.profile), (4, 5 * 60));
    f.clock.advance(5 * 60);
    // Not six digits: refused without counting.
    assert_eq!(code(lock(&f.profile).unlock("4802")), "pin_format");
    assert_eq!(lock(&f.profile).status().unwrap().failures, 6);
    lock(&f.profile).unlock(PIN).unwrap();
    let status = lock(&f.profile).status().unwrap();
    assert_eq!(
        (status.failures, status.wait_seconds, status.attempts_left),
        (0, 0, MAX_FAILURES)
    );
    // The count starts again from nothing.
    assert_eq!(wrong(&f.profile), (9, 0));
}

#[test]
fn the_schedule_grows_to_hours() {
    let waits: Vec<u64> = (1..=9).map(wait_after).collect();
    assert_eq!(waits, [0, 0, 0, 30, 60, 300, 900, 3600, 10_800]);
}

#[test]
fn the_wait_holds_across_a_restart() {
    let f = Fixture::new("pin-restart");
    lock(&f.profile).set(PIN).unwrap();
    for _ in 0..4 {
        wrong(&f.profile);
    }
    f.clock.advance(10);
    // Another process (or the app started again) reads the same record from the keystore.
    let again = f.reopened();
    let status = lock(&again).status().unwrap();
    assert_eq!(
        (status.failures, status.wait_seconds, status.attempts_left),
        (4, 20, 6)
    );
    assert_eq!(code(lock(&again).unlock(PIN)), "pin_wait");
    f.clock.advance(20);
    lock(&again).unlock(PIN).unwrap();
}

#[test]
fn setting_the_clock_back_does_not_lengthen_a_wait() {
    let f = Fixture::new("pin-clock-back");
    lock(&f.profile).set(PIN).unwrap();
    for _ in 0..4 {
        wrong(&f.profile);
    }
    // The profile's clock cannot go back; a profile with an earlier clock stands in for it.
    let earlier = std::sync::Arc::new(civkey_testkit::ManualClock::at(f.clock.now() - 86_400));
    let back = f.reopened().with_clock(earlier);
    assert_eq!(lock(&back).status().unwrap().wait_seconds, 30);
}

#[test]
fn the_tenth_wrong_pin_in_a_row_resets_the_app() {
    let f = Fixture::new("pin-reset");
    lock(&f.profile).set(PIN).unwrap();
    paired_identity(&f);
    f.profile.otp().add(uri(GITHUB)).unwrap();
    assert_eq!(f.store.len(), 3, "device key, vault key, PIN record");
    for failures in 1..MAX_FAILURES {
        let (left, wait) = wrong(&f.profile);
        assert_eq!(
            (left, wait),
            (MAX_FAILURES - failures, wait_after(failures))
        );
        f.clock.advance(wait);
    }
    match lock(&f.profile).unlock(WRONG) {
        Err(ClientError::AppLock(AppLockError::AppReset(report))) => assert_eq!(
            report,
            ResetReport {
                identities_forgotten: 1,
                vault_erased: true
            }
        ),
        other => panic!("expected app_reset, got {other:?}"),
    }
    assert!(f.store.is_empty(), "keys were left in the keystore");
    assert!(f.profile.identities().unwrap().is_empty());
    assert!(f.profile.otp().entries().unwrap().is_empty());
    assert!(!f.dir.join(crate::otp::VAULT_FILE).exists());
    // First run again: a new PIN can be chosen.
    let status = lock(&f.profile).status().unwrap();
    assert!(!status.pin_set);
    lock(&f.profile).set("902731").unwrap();
    lock(&f.profile).unlock("902731").unwrap();
}

#[test]
fn a_reset_interrupted_by_a_stop_is_finished_on_the_next_start() {
    let f = Fixture::new("pin-reset-interrupted");
    lock(&f.profile).set(PIN).unwrap();
    paired_identity(&f);
    // As if the app stopped right after counting the tenth wrong PIN.
    let key = lock(&f.profile).key_ref();
    let mut record: serde_json::Value =
        serde_json::from_slice(&f.store.get_secret(&key).unwrap()).unwrap();
    record["failures"] = MAX_FAILURES.into();
    f.store
        .put_secret(&key, &serde_json::to_vec(&record).unwrap())
        .unwrap();
    let status = lock(&f.reopened()).status().unwrap();
    assert!(!status.pin_set);
    assert!(f.profile.identities().unwrap().is_empty());
    assert!(f.store.is_empty());
}

#[test]
fn a_damaged_or_too_costly_record_is_reported_not_obeyed() {
    let f = Fixture::new("pin-damaged");
    let key = lock(&f.profile).key_ref();
    f.store.put_secret(&key, b"not json").unwrap();
    assert_eq!(code(lock(&f.profile).unlock(PIN)), "pin_damaged");
    assert_eq!(code(lock(&f.profile).set(PIN)), "pin_damaged");
    let costly = serde_json::json!({
        "version": 1,
        "hash": "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "failures": 0,
        "wait_until": 0
    });
    f.store
        .put_secret(&key, &serde_json::to_vec(&costly).unwrap())
        .unwrap();
    assert_eq!(code(lock(&f.profile).unlock(PIN)), "pin_damaged");
}

#[test]
fn errors_name_attempts_and_waits_without_the_pin() {
    let error = AppLockError::WrongPin {
        attempts_left: 6,
        wait_seconds: 30,
    };
    let text = error.describe(civkey_i18n::Locale::En);
    assert!(!text.is_empty());
    assert!(!text.contains(PIN));
    assert_eq!(error.code(), "wrong_pin");
    assert!(error.to_string().contains("6 attempts left"), "{error}");
}
