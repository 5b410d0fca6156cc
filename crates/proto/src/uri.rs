//! What the app reads from a QR code or link, and the strict reader shared by `civkey://` URIs.

use crate::encoding::{escape, split_query, strip_scheme, truncate, unescape};
use crate::login::LoginUri;
use crate::otp::{MigrationBatch, OtpAccount};
use crate::pair::PairingUri;
use crate::{check_len, Error, Origin, PROTOCOL_VERSION};

/// Anything the app can read from a QR code or link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannedCode {
    /// `civkey://pair?…`: connect this device to an identity.
    Pair(PairingUri),
    /// `civkey://login?…`: log in to a service.
    Login(LoginUri),
    /// `otpauth://…`: a one-time code account.
    Otp(OtpAccount),
    /// `otpauth-migration://offline?data=…`: a Google Authenticator export batch.
    OtpMigration(MigrationBatch),
}

impl ScannedCode {
    /// Reads any code civkey understands, or says why the text is not one.
    pub fn parse(text: &str) -> Result<Self, Error> {
        check_len(text)?;
        let text = text.trim();
        let scheme = text
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "civkey" => {
                let rest = strip_scheme(text, "civkey")?;
                let kind = rest.split(['?', '#']).next().unwrap_or_default();
                match kind {
                    "pair" => PairingUri::parse(text).map(ScannedCode::Pair),
                    "login" => LoginUri::parse(text).map(ScannedCode::Login),
                    other => Err(Error::UnknownKind(truncate(other))),
                }
            }
            "otpauth" => OtpAccount::parse_uri(text).map(ScannedCode::Otp),
            "otpauth-migration" => MigrationBatch::parse_uri(text).map(ScannedCode::OtpMigration),
            _ if text.is_empty() => Err(Error::Empty),
            _ => Err(Error::WrongScheme {
                expected: "civkey, otpauth or otpauth-migration",
                found: truncate(text),
            }),
        }
    }
}

/// The parameters of a `civkey://KIND?…` URI after the common checks: length, scheme, kind, no
/// fragment, no duplicate or unknown parameters, and `v=1`.
pub(crate) struct CivkeyParams<'a> {
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> CivkeyParams<'a> {
    pub(crate) fn read(
        input: &'a str,
        kind: &'static str,
        allowed: &[&str],
    ) -> Result<Self, Error> {
        check_len(input)?;
        if input.is_empty() {
            return Err(Error::Empty);
        }
        let rest = strip_scheme(input, "civkey")?;
        if rest.contains('#') {
            return Err(Error::Malformed("a civkey link has no fragment (#…)"));
        }
        let (found_kind, query) = rest
            .split_once('?')
            .ok_or(Error::Malformed("the link has no parameters"))?;
        if found_kind != kind {
            return Err(Error::UnknownKind(truncate(found_kind)));
        }
        if query.split('&').any(|part| !part.contains('=')) {
            return Err(Error::Malformed(
                "every parameter must be written name=value",
            ));
        }
        let params = split_query(query)?;
        match params.iter().find(|(k, _)| *k == "v") {
            None => return Err(Error::MissingParam("v")),
            Some((_, v)) if *v != PROTOCOL_VERSION.to_string() => {
                return Err(Error::UnsupportedVersion(truncate(v)))
            }
            Some(_) => {}
        }
        if let Some((unknown, _)) = params
            .iter()
            .find(|(k, _)| *k != "v" && !allowed.contains(k))
        {
            return Err(Error::UnknownParam(truncate(unknown)));
        }
        Ok(CivkeyParams { params })
    }

    pub(crate) fn get(&self, name: &'static str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    pub(crate) fn require(&self, name: &'static str) -> Result<&'a str, Error> {
        self.get(name).ok_or(Error::MissingParam(name))
    }

    pub(crate) fn origin(&self) -> Result<Origin, Error> {
        let raw = self.require("s")?;
        let origin = Origin::parse(&unescape(raw, false, "server origin")?)?;
        // One text, one meaning: the origin must be escaped exactly as civkey escapes it.
        if escape(origin.as_str()) != raw {
            return Err(Error::InvalidParam {
                param: "s",
                reason: "not escaped canonically",
            });
        }
        Ok(origin)
    }
}
