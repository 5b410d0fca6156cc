//! Property tests: parsers of untrusted text never panic, refuse input over 4 KiB, and what civkey
//! writes reads back to the same value.

// Test-only code: helpers outside #[test] functions may unwrap their fixed inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use civkey_proto::device::{DeviceCallAuth, DeviceName, PushEndpoint};
use civkey_proto::ids::*;
use civkey_proto::login::LoginUri;
use civkey_proto::otp::{Algorithm, MigrationBatch, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::pair::{ConfirmationCode, PairingUri};
use civkey_proto::rules::{AppPin, Bok};
use civkey_proto::sign::{DevicePublicKey, Signature};
use civkey_proto::{Error, Origin, ScannedCode, MAX_INPUT_LEN};
use proptest::prelude::*;

/// Runs every text parser on `input`; any panic fails the property.
fn parse_everything(input: &str) {
    let _ = ScannedCode::parse(input);
    let _ = PairingUri::parse(input);
    let _ = LoginUri::parse(input);
    let _ = OtpAccount::parse_uri(input);
    let _ = MigrationBatch::parse_uri(input);
    let _ = Origin::parse(input);
    let _ = Origin::normalise(input);
    let _ = ConfirmationCode::parse(input);
    let _ = Bok::parse(input);
    let _ = AppPin::choose(input);
    let _ = DevicePublicKey::parse(input);
    let _ = Signature::parse(input);
    let _ = SessionId::parse(input);
    let _ = DeviceName::parse(input);
    let _ = PushEndpoint::parse(input);
    let _ = DeviceCallAuth::from_headers(|_| Some(input));
    let _ = serde_json::from_str::<civkey_proto::pair::PairClaimRequest>(input);
    let _ = serde_json::from_str::<civkey_proto::login::LoginOpenRequest>(input);
    let _ = serde_json::from_str::<civkey_proto::events::Event>(input);
}

/// Text that looks enough like our URIs to get past the first checks.
fn uri_like() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just("civkey://pair?"),
        Just("civkey://login?"),
        Just("otpauth://totp/"),
        Just("otpauth://hotp/"),
        Just("otpauth-migration://offline?data="),
        Just(""),
    ];
    (prefix, "[a-zA-Z0-9%&=:/?#+._~ -]{0,200}").prop_map(|(p, rest)| format!("{p}{rest}"))
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,5}){1,2}".prop_map(|h| format!("https://{h}")),
        (1u16..).prop_map(|p| format!("http://127.0.0.1:{p}")),
        (1u16..).prop_map(|p| format!("https://id.example.gov:{p}")),
    ]
    .prop_filter_map("canonical origin", |s| Origin::normalise(&s).ok())
}

fn label_text() -> impl Strategy<Value = String> {
    // Names as people type them: `:` anywhere (the Key URI format forbids it, but "Bank: Retail"
    // happens), spaces inside, and no surrounding whitespace (names are trimmed on the way in).
    "[^\\p{Cc}]{1,30}".prop_filter("trimmed", |s| s.trim() == s)
}

/// The parts of a name where a label goes wrong: colons, spaces (also leading and trailing),
/// nothing at all, `%` and other text that escaping must keep apart.
fn name_part() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(":"),
            Just(" "),
            Just("%3A"),
            Just("%20"),
            Just("+"),
            Just("a"),
            Just("Bank"),
            Just("é"),
            Just("\u{a0}"),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn otp_account(totp_period: impl Strategy<Value = u32>) -> impl Strategy<Value = OtpAccount> {
    (
        prop::option::of(label_text()),
        label_text(),
        prop::collection::vec(any::<u8>(), 1..64),
        prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ],
        6u8..=8,
        prop_oneof![
            totp_period.prop_map(|period| OtpKind::Totp { period }),
            any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        ],
    )
        .prop_filter_map(
            "valid account",
            |(issuer, account, secret, algorithm, digits, kind)| {
                let issuer = issuer.filter(|i| !i.trim().is_empty());
                if account.trim().is_empty() {
                    return None;
                }
                Some(OtpAccount {
                    kind,
                    issuer,
                    account,
                    secret: OtpSecret::from_bytes(secret).ok()?,
                    algorithm,
                    digits,
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(input in any::<String>()) {
        parse_everything(&input);
    }

    #[test]
    fn parsers_never_panic_on_uri_like_text(input in uri_like()) {
        parse_everything(&input);
    }

    #[test]
    fn migration_decoder_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = MigrationBatch::decode(&bytes);
    }

    #[test]
    fn input_over_4_kib_is_refused_before_it_is_read(extra in 1usize..2000, c in "[a-z]") {
        let long = format!("civkey://pair?v=1&s={}", c.repeat(MAX_INPUT_LEN + extra));
        for result in [
            ScannedCode::parse(&long).err(),
            PairingUri::parse(&long).err(),
            LoginUri::parse(&long).err(),
            OtpAccount::parse_uri(&long.replace("civkey://pair", "otpauth://totp/x")).err(),
            MigrationBatch::parse_uri(&long.replace("civkey://pair", "otpauth-migration://offline")).err(),
        ] {
            prop_assert!(matches!(result, Some(Error::TooLong { .. })), "{result:?}");
        }
    }

    #[test]
    fn pairing_uris_round_trip(origin in origin(), id in any::<[u8; 16]>(), secret in any::<[u8; 16]>()) {
        let uri = PairingUri { origin, session_id: SessionId::from_bytes(id), secret: PairingSecret::from_bytes(secret) };
        let text = uri.to_uri();
        prop_assert!(text.len() < 300);
        prop_assert_eq!(PairingUri::parse(&text).unwrap(), uri.clone());
        prop_assert_eq!(ScannedCode::parse(&text).unwrap(), ScannedCode::Pair(uri));
    }

    #[test]
    fn login_uris_round_trip(origin in origin(), id in any::<[u8; 16]>(), mac in any::<[u8; 32]>(), elapsed in any::<u64>(), token in any::<[u8; 16]>()) {
        let request_id = LoginRequestId::from_bytes(id);
        for uri in [
            LoginUri::Animated { origin: origin.clone(), request_id, elapsed, mac: QrMac::from_bytes(mac) },
            LoginUri::SameDevice { origin: origin.clone(), request_id, launch_token: LaunchToken::from_bytes(token) },
        ] {
            prop_assert_eq!(LoginUri::parse(&uri.to_uri()).unwrap(), uri);
        }
    }

    #[test]
    fn otpauth_uris_round_trip(account in otp_account(1u32..=86_400)) {
        prop_assert_eq!(OtpAccount::parse_uri(&account.to_uri()).unwrap(), account);
    }

    // Issue 23: whatever names civkey accepts for an account, its link reads back to them.
    #[test]
    fn otpauth_labels_with_colons_spaces_and_empty_parts_round_trip(issuer in prop::option::of(name_part()), name in name_part(), hotp in any::<bool>()) {
        let kind = if hotp { OtpKind::Hotp { counter: 7 } } else { OtpKind::Totp { period: 30 } };
        let secret = OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let Ok(account) = OtpAccount::new(kind, issuer.as_deref(), &name, secret, Algorithm::Sha1, 6) else {
            // Only a name that is blank is refused.
            prop_assert!(name.trim().is_empty());
            return Ok(());
        };
        let expected_issuer = issuer.as_deref().map(str::trim).filter(|i| !i.is_empty());
        prop_assert_eq!(account.issuer.as_deref(), expected_issuer);
        prop_assert_eq!(account.account.as_str(), name.trim());
        prop_assert_eq!(OtpAccount::parse_uri(&account.to_uri()).unwrap(), account.clone());
        let batch = MigrationBatch::parse_uri(&MigrationBatch::encode_uri(std::slice::from_ref(&account), 0, 1, 1)).unwrap();
        let read: Vec<OtpAccount> = batch.entries.into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, vec![account]);
    }

    #[test]
    fn migration_batches_round_trip(accounts in prop::collection::vec(otp_account(Just(30u32)), 1..8), index in 0i32..5, id in any::<i32>()) {
        let accounts: Vec<OtpAccount> = accounts.into_iter().map(|mut a| { if a.digits == 7 { a.digits = 6 } a }).collect();
        let uri = MigrationBatch::encode_uri(&accounts, index, 5, id);
        let batch = MigrationBatch::parse_uri(&uri).unwrap();
        prop_assert_eq!((batch.batch_index, batch.batch_size, batch.batch_id), (index, 5, id));
        let read: Vec<OtpAccount> = batch.entries.into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, accounts);
    }

    #[test]
    fn a_one_character_change_never_panics_and_never_misreads(origin in origin(), id in any::<[u8; 16]>(), secret in any::<[u8; 16]>(), at in any::<prop::sample::Index>(), c in any::<char>()) {
        let uri = PairingUri { origin, session_id: SessionId::from_bytes(id), secret: PairingSecret::from_bytes(secret) };
        let text = uri.to_uri();
        let mut chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len());
        chars[i] = c;
        let mutated: String = chars.into_iter().collect();
        if let Ok(parsed) = PairingUri::parse(&mutated) {
            // Whatever still parses must be exactly what the mutated text says (the scheme's case
            // aside, which RFC 3986 leaves free).
            let (scheme, rest) = mutated.split_once("://").unwrap();
            prop_assert_eq!(parsed.to_uri(), format!("{}://{rest}", scheme.to_ascii_lowercase()));
        }
    }

    #[test]
    fn bok_accepts_exactly_4_to_10_digits(s in "[0-9]{0,12}") {
        prop_assert_eq!(Bok::parse(&s).is_ok(), (4..=10).contains(&s.len()));
    }

    #[test]
    fn confirmation_codes_are_six_digits(id in any::<[u8; 16]>(), secret in any::<[u8; 16]>(), k in 1u8..=0xfe, nonce in any::<[u8; 16]>()) {
        let key = p256::ecdsa::SigningKey::from_slice(&[k; 32]).unwrap();
        let public = DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()));
        let code = ConfirmationCode::derive(&SessionId::from_bytes(id), &PairingSecret::from_bytes(secret), &public, &ServerNonce::from_bytes(nonce));
        let shown = code.to_string();
        prop_assert_eq!(shown.len(), 7);
        prop_assert_eq!(ConfirmationCode::parse(&shown).unwrap(), code);
    }
}
