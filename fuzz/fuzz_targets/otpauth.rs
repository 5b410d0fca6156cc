//! `otpauth://` Key URIs, including what authenticator apps accept leniently.
#![no_main]
use civkey_proto::otp::OtpAccount;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(account) = OtpAccount::parse_uri(text) {
            // civkey's own spelling of an account reads back to the same account.
            assert_eq!(OtpAccount::parse_uri(&account.to_uri()).ok(), Some(account));
        }
    }
});
