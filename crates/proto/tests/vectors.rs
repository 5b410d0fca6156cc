//! Protocol v1 test vectors. Each vector is computed here from fixed inputs and must appear,
//! byte for byte, in a ```text block of docs/protocol.md — so the document and the code cannot drift.
//! To print the blocks after a deliberate protocol change:
//! `cargo test -p civkey-proto --test vectors -- --ignored --nocapture print_vectors`.

// Test-only code: helpers outside #[test] functions may unwrap their fixed inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use civkey_proto::ids::*;
use civkey_proto::login::{qr_mac, LoginUri};
use civkey_proto::otp::{hotp, totp, Algorithm, MigrationBatch, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::pair::{ConfirmationCode, PairingUri};
use civkey_proto::rules::Bok;
use civkey_proto::sign::{
    sign, BokAnswer, Decision, DeviceCall, DevicePublicKey, LoginApproval, PairingProof,
};
use civkey_proto::Origin;

const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");

fn seq<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

fn device_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&seq::<32>(0x20)).unwrap()
}

fn device_public() -> DevicePublicKey {
    DevicePublicKey::from(&p256::PublicKey::from(device_key().verifying_key()))
}

fn server() -> Origin {
    Origin::parse("https://id.example.gov").unwrap()
}

const TIME: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn block(name: &str, lines: &[(&str, String)]) -> String {
    let mut out = format!("vector: {name}\n");
    for (key, value) in lines {
        out.push_str(&format!("{key}: {value}\n"));
    }
    out
}

fn vectors() -> Vec<String> {
    let session_id = SessionId::from_bytes(seq(0x00));
    let secret = PairingSecret::from_bytes(seq(0x10));
    let pairing = PairingUri {
        origin: server(),
        session_id,
        secret: secret.clone(),
    };
    let public = device_public();
    let server_nonce = ServerNonce::from_bytes(seq(0xd0));
    let device_name = "Jana's phone";
    let proof = PairingProof {
        origin: &server(),
        session_id: &session_id,
        secret: &secret,
        public_key: &public,
        device_name,
    }
    .signed_bytes();

    let onboarding_code = civkey_proto::onboard::IdentificationCode::parse("k7qm x2pd 9r").unwrap();
    let onboard_proof = civkey_proto::sign::OnboardingProof {
        origin: &server(),
        public_key: &public,
        device_name,
        device_model: "Pixel 8",
        device_kind: "phone",
        timestamp: TIME,
    }
    .signed_bytes();

    let request_id = LoginRequestId::from_bytes(seq(0x40));
    let qr_secret = QrSecret::from_bytes(seq(0x50));
    let mac = qr_mac(&qr_secret, &request_id, 7);
    let animated = LoginUri::Animated {
        origin: server(),
        request_id,
        elapsed: 7,
        mac,
    };
    let same_device = LoginUri::SameDevice {
        origin: server(),
        request_id,
        launch_token: LaunchToken::from_bytes(seq(0x70)),
    };
    let challenge = Challenge::from_bytes(seq(0x80));
    let service_origin = Origin::parse("https://portal.example.cz").unwrap();
    let approval = LoginApproval {
        origin: &server(),
        request_id: &request_id,
        service_id: "portal-obcana",
        service_origin: &service_origin,
        challenge: &challenge,
        time: TIME,
        decision: Decision::Approve,
    }
    .signed_bytes();

    let bok_request = BokRequestId::from_bytes(seq(0xa0));
    let device_id = DeviceId::from_bytes(seq(0xb0));
    let bok = Bok::parse("123456").unwrap();
    let bok_answer = BokAnswer {
        origin: &server(),
        request_id: &bok_request,
        challenge: &challenge,
        device_id: &device_id,
        bok: &bok,
        time: TIME,
    }
    .signed_bytes();

    let body = br#"{"name":"Jana's phone"}"#;
    let nonce = Nonce::from_bytes(seq(0xc0));
    let call = DeviceCall {
        origin: &server(),
        device_id: &device_id,
        method: "POST",
        path_and_query: "/api/v1/device/rename",
        body,
        timestamp: TIME,
        nonce: &nonce,
    }
    .signed_bytes();

    let totp_account = OtpAccount {
        kind: OtpKind::Totp { period: 30 },
        issuer: Some("Ügyfélkapu+".into()),
        account: "jana.novakova@example.hu".into(),
        secret: OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap(),
        algorithm: Algorithm::Sha256,
        digits: 6,
    };
    let hotp_account = OtpAccount {
        kind: OtpKind::Hotp { counter: 3 },
        issuer: None,
        account: "bank".into(),
        secret: OtpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap(),
        algorithm: Algorithm::Sha1,
        digits: 6,
    };
    let code_at = totp(totp_account.secret.expose(), Algorithm::Sha256, 6, 30, TIME);

    let key = device_key();
    vec![
        block(
            "pairing-uri",
            &[
                ("origin", server().to_string()),
                ("session_id", session_id.to_text()),
                ("secret", secret.expose_text()),
                ("uri", pairing.to_uri()),
            ],
        ),
        block(
            "device-key",
            &[
                ("private_scalar_hex", hex::encode(seq::<32>(0x20))),
                ("public_key", public.to_text()),
                ("fingerprint", public.fingerprint()),
            ],
        ),
        block(
            "confirmation-code",
            &[
                ("session_id", session_id.to_text()),
                ("secret", secret.expose_text()),
                ("public_key", "device-key".into()),
                ("server_nonce", server_nonce.to_text()),
                (
                    "code",
                    ConfirmationCode::derive(&session_id, &secret, &public, &server_nonce)
                        .to_string(),
                ),
            ],
        ),
        block(
            "pairing-proof",
            &[
                ("device_name", device_name.into()),
                ("signed_bytes_hex", hex::encode(&proof)),
                ("signature", sign(&key, &proof).to_text()),
            ],
        ),
        block(
            "login-qr",
            &[
                ("request_id", request_id.to_text()),
                ("qr_secret_hex", hex::encode(qr_secret.expose())),
                ("elapsed", "7".into()),
                ("mac", mac.to_text()),
                ("uri", animated.to_uri()),
            ],
        ),
        block(
            "login-same-device",
            &[
                ("launch_token_hex", hex::encode(seq::<16>(0x70))),
                ("uri", same_device.to_uri()),
            ],
        ),
        block(
            "login-approval",
            &[
                ("service_id", "portal-obcana".into()),
                ("service_origin", service_origin.to_string()),
                ("challenge", challenge.to_text()),
                ("time", TIME.to_string()),
                ("decision", "approve".into()),
                ("signed_bytes_hex", hex::encode(&approval)),
                ("signature", sign(&key, &approval).to_text()),
            ],
        ),
        block(
            "bok-answer",
            &[
                ("request_id", bok_request.to_text()),
                ("device_id", device_id.to_text()),
                ("bok", "123456".into()),
                ("signed_bytes_hex", hex::encode(&bok_answer)),
                ("signature", sign(&key, &bok_answer).to_text()),
            ],
        ),
        block(
            "device-call",
            &[
                ("method", "POST".into()),
                ("path_and_query", "/api/v1/device/rename".into()),
                ("body", String::from_utf8_lossy(body).into_owned()),
                ("nonce", nonce.to_text()),
                ("signed_bytes_hex", hex::encode(&call)),
                ("signature", sign(&key, &call).to_text()),
            ],
        ),
        block(
            "otpauth",
            &[
                ("totp_uri", totp_account.to_uri()),
                ("totp_code_at_time", code_at.code.clone()),
                ("hotp_uri", hotp_account.to_uri()),
                (
                    "hotp_code_counter_3",
                    hotp(b"12345678901234567890", Algorithm::Sha1, 6, 3),
                ),
            ],
        ),
        block(
            "identification-code",
            &[
                ("typed", "k7qm x2pd 9r".to_string()),
                ("code", onboarding_code.grouped()),
                (
                    "lookup_hash_hex",
                    hex::encode(onboarding_code.lookup_hash()),
                ),
            ],
        ),
        block(
            "onboard-proof",
            &[
                ("public_key", "device-key".to_string()),
                ("device_name", device_name.to_string()),
                ("device_model", "Pixel 8".to_string()),
                ("device_kind", "phone".to_string()),
                ("timestamp", TIME.to_string()),
                ("signed_bytes_hex", hex::encode(&onboard_proof)),
                ("signature", sign(&device_key(), &onboard_proof).to_text()),
            ],
        ),
        block(
            "otpauth-migration",
            &[(
                "uri",
                MigrationBatch::encode_uri(&[totp_account, hotp_account], 0, 1, 1234),
            )],
        ),
    ]
}

#[test]
fn every_vector_is_in_protocol_md_verbatim() {
    for block in vectors() {
        assert!(
            PROTOCOL_MD.contains(&block),
            "docs/protocol.md lacks or differs from this vector:\n{block}"
        );
    }
}

#[test]
fn vectors_parse_back_to_their_inputs() {
    // The URIs in the document read back into exactly the values that produced them.
    for block in vectors() {
        for line in block.lines() {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            if key.ends_with("uri") {
                let scanned = civkey_proto::ScannedCode::parse(value).unwrap();
                let again = match scanned {
                    civkey_proto::ScannedCode::Pair(p) => p.to_uri(),
                    civkey_proto::ScannedCode::Login(l) => l.to_uri(),
                    civkey_proto::ScannedCode::Otp(o) => o.to_uri(),
                    civkey_proto::ScannedCode::OtpMigration(m) => {
                        let accounts: Vec<_> = m.entries.into_iter().map(Result::unwrap).collect();
                        MigrationBatch::encode_uri(
                            &accounts,
                            m.batch_index,
                            m.batch_size,
                            m.batch_id,
                        )
                    }
                };
                assert_eq!(again, value);
            }
        }
    }
}

#[test]
fn vector_signatures_verify_with_the_device_key() {
    let public = device_public();
    for block in vectors() {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_string))
        };
        if let (Some(bytes), Some(sig)) = (field("signed_bytes_hex"), field("signature")) {
            let sig = civkey_proto::sign::Signature::parse(&sig).unwrap();
            public.verify(&hex::decode(bytes).unwrap(), &sig).unwrap();
        }
    }
}

#[test]
#[ignore = "prints the vector blocks for docs/protocol.md"]
fn print_vectors() {
    for block in vectors() {
        println!("```text\n{block}```\n");
    }
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    for code in civkey_proto::ErrorCode::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.http_status());
        assert!(
            PROTOCOL_MD.contains(&row),
            "docs/protocol.md lacks the row starting {row}"
        );
    }
}
