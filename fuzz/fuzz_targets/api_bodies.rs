//! JSON bodies the server reads from apps, the pairing claim's answer an app reads from a server,
//! and the device-call headers.
#![no_main]
use civkey_proto::{bok, device, login, notify, pair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<pair::PairClaimRequest>(data);
    let _ = serde_json::from_slice::<pair::PairClaimResponse>(data);
    let _ = serde_json::from_slice::<pair::PairOutcomeRequest>(data);
    let _ = serde_json::from_slice::<login::LoginOpenRequest>(data);
    let _ = serde_json::from_slice::<login::LoginDecisionRequest>(data);
    let _ = serde_json::from_slice::<device::RenameDeviceRequest>(data);
    let _ = serde_json::from_slice::<device::PushRegistrationRequest>(data);
    let _ = serde_json::from_slice::<notify::NotificationSettings>(data);
    let _ = serde_json::from_slice::<bok::BokAnswerRequest>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let mut parts = text.splitn(4, '\n');
        let values: Vec<&str> = (0..4).map(|_| parts.next().unwrap_or("")).collect();
        let _ = device::DeviceCallAuth::from_headers(|name| match name {
            device::headers::DEVICE => Some(values[0]),
            device::headers::TIMESTAMP => Some(values[1]),
            device::headers::NONCE => Some(values[2]),
            _ => Some(values[3]),
        });
    }
});
