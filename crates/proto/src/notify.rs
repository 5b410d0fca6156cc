//! Notification settings: what each channel (e-mail, phone, each mobile key) is told.

use serde::{Deserialize, Serialize};

use crate::ids::DeviceId;

/// A contact channel that is not a mobile key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    /// The citizen's e-mail address.
    Email,
    /// The citizen's phone number (SMS).
    Phone,
}

/// Settings for an e-mail address or phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSettings {
    /// Which channel.
    pub channel: ContactChannel,
    /// The address or number, partly masked when the server sends it (`j***@example.cz`).
    pub address: String,
    /// Informative notifications on or off.
    pub informative: bool,
}

/// Settings for one mobile key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceNotificationSettings {
    /// The device.
    pub device_id: DeviceId,
    /// Informative notifications on or off.
    pub informative: bool,
    /// A notification whenever the citizen logs in, by any means.
    pub login: bool,
    /// Use this device as a BOK-pad at office counters.
    pub bok_pad: bool,
}

impl DeviceNotificationSettings {
    /// The settings a device gets when it is paired: everything on.
    pub fn at_pairing(device_id: DeviceId) -> Self {
        Self {
            device_id,
            informative: true,
            login: true,
            bok_pad: true,
        }
    }
}

/// `GET` / `PUT /api/v1/notifications`: all of a citizen's notification settings. A `PUT` replaces
/// them as a whole (the portal's Save button), so nothing changes until it is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// E-mail and phone.
    pub contacts: Vec<ContactSettings>,
    /// Each paired mobile key.
    pub devices: Vec<DeviceNotificationSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_have_the_documented_shape() {
        let s = NotificationSettings {
            contacts: vec![ContactSettings {
                channel: ContactChannel::Email,
                address: "j***@example.cz".into(),
                informative: true,
            }],
            devices: vec![DeviceNotificationSettings::at_pairing(
                DeviceId::from_bytes([0; 16]),
            )],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"contacts":[{"channel":"email","address":"j***@example.cz","informative":true}],"devices":[{"device_id":"AAAAAAAAAAAAAAAAAAAAAA","informative":true,"login":true,"bok_pad":true}]}"#
        );
        assert_eq!(
            serde_json::from_str::<NotificationSettings>(&json).unwrap(),
            s
        );
    }
}
