//! Importing `otpauth://` links (the Key URI format; [`civkey_proto::otp::OtpAccount::parse_uri`]
//! reads them): a text file with one link a line, as civkey's plain export, Aegis' and many other
//! apps' text exports write it, or a picture of an account's QR code.

use civkey_proto::otp::OtpAccount;

use super::import::{ImportIssue, ImportSet, Source};

/// Reads the link on `line` of `file` into `set`, or the reason it cannot be used.
pub(crate) fn read_line(file: &str, line: usize, text: &str, set: &mut ImportSet) {
    set.push(
        Source::line(file, line),
        OtpAccount::parse_uri(text).map_err(ImportIssue::Invalid),
    );
}

#[cfg(test)]
mod tests {
    use super::super::import::{ImportFile, ImportFormat, ImportIssue, Place};
    use super::*;

    #[test]
    fn a_list_of_links_reads_every_line_and_names_the_bad_ones() {
        let text = "# exported accounts\n\
            otpauth://totp/GitHub:octocat?secret=JBSWY3DPEHPK3PXP&issuer=GitHub\n\
            \n\
            otpauth://totp/x?secret=JBSWY3DPEHPK3PX1\n\
            https://example.com\n\
            otpauth://hotp/bank?secret=GEZDGNBVGY3TQOJQ&counter=3\n";
        let file = ImportFile::from_bytes("list.txt", text.as_bytes()).unwrap();
        assert_eq!(file.format(), ImportFormat::Links);
        let mut set = ImportSet::new();
        file.read_into(None, &mut set).unwrap();
        let places: Vec<(Place, bool)> = set
            .items
            .iter()
            .map(|i| (i.source.place.clone(), i.account.is_ok()))
            .collect();
        assert_eq!(
            places,
            vec![
                (Place::Line { line: 2 }, true),
                (Place::Line { line: 4 }, false),
                (Place::Line { line: 5 }, false),
                (Place::Line { line: 6 }, true),
            ]
        );
        assert!(matches!(
            set.items[1].account,
            Err(ImportIssue::Invalid(civkey_proto::Error::InvalidParam {
                param: "secret",
                ..
            }))
        ));
        assert!(matches!(set.items[2].account, Err(ImportIssue::NotALink)));
    }
}
