//! `otpauth://` Key URIs, including what authenticator apps accept leniently.
#![no_main]
use civkey_proto::otp::OtpAccount;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Random bytes seldom begin with the scheme; lend it to them so the fuzzer reaches the
        // label and parameter parsing (inputs that bring their own are kept as they are).
        let text = if text.starts_with("otpauth") {
            text.to_string()
        } else {
            format!("otpauth://totp/{text}")
        };
        if let Ok(account) = OtpAccount::parse_uri(&text) {
            // civkey's own spelling of an account reads back to the same account.
            assert_eq!(OtpAccount::parse_uri(&account.to_uri()).ok(), Some(account));
        }
    }
});
