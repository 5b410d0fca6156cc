//! Google Authenticator export payloads: raw protobuf bytes, and the URI around them.
#![no_main]
use civkey_proto::otp::MigrationBatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = MigrationBatch::decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = MigrationBatch::parse_uri(text);
    }
});
