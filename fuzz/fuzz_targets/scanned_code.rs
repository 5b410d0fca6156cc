//! Anything a camera or a paste can hand the app: every civkey URI parser, plus origins and codes.
#![no_main]
use civkey_proto::{login::LoginUri, pair::PairingUri, Origin, ScannedCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(code) = ScannedCode::parse(text) {
            // What parses must write out and read back to the same value.
            match code {
                ScannedCode::Pair(p) => assert_eq!(PairingUri::parse(&p.to_uri()).ok(), Some(p)),
                ScannedCode::Login(l) => assert_eq!(LoginUri::parse(&l.to_uri()).ok(), Some(l)),
                ScannedCode::Otp(_) | ScannedCode::OtpMigration(_) => {}
            }
        }
        let _ = PairingUri::parse(text);
        let _ = LoginUri::parse(text);
        let _ = Origin::parse(text);
        let _ = civkey_proto::pair::ConfirmationCode::parse(text);
        let _ = civkey_proto::rules::Bok::parse(text);
    }
});
