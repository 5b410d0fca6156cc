//! Importing Google Authenticator's export: "Transfer accounts" shows one or more QR codes, each
//! an `otpauth-migration://offline?data=…` link ([`civkey_proto::otp::MigrationBatch`] reads it)
//! holding some of the accounts and its place in the export (QR code 2 of 3). Each account is
//! imported or reported on its own; QR codes of the export that were not given are named in the
//! report, so that an export is never imported half without saying so.

use civkey_proto::otp::MigrationBatch;

use super::import::{BatchSeen, ImportIssue, ImportSet, Place, Source};

/// Reads the export QR code's link on `line` of `file` into `set`.
pub(crate) fn read_line(file: &str, line: usize, text: &str, set: &mut ImportSet) {
    let batch = match MigrationBatch::parse_uri(text) {
        Ok(batch) => batch,
        Err(e) => {
            set.push(Source::line(file, line), Err(ImportIssue::Invalid(e)));
            return;
        }
    };
    // A single code says 1 of 1; a size of 0 or less (older exports) means the same.
    let size = batch.batch_size.max(1);
    set.batches.push(BatchSeen {
        id: batch.batch_id,
        index: batch.batch_index,
        size,
    });
    for (i, entry) in batch.entries.into_iter().enumerate() {
        set.push(
            Source {
                file: file.to_string(),
                place: Place::Batch {
                    line,
                    qr: batch.batch_index.saturating_add(1),
                    of: size,
                    entry: i + 1,
                },
            },
            entry.map_err(ImportIssue::Invalid),
        );
    }
}

#[cfg(test)]
mod tests {
    use civkey_proto::otp::{Algorithm, OtpAccount, OtpKind, OtpSecret};

    use super::super::import::{ImportFile, ImportReport};
    use super::*;

    fn account(name: &str, secret: &[u8]) -> OtpAccount {
        OtpAccount::new(
            OtpKind::Totp { period: 30 },
            Some("Example"),
            name,
            OtpSecret::from_bytes(secret.to_vec()).unwrap(),
            Algorithm::Sha1,
            6,
        )
        .unwrap()
    }

    #[test]
    fn every_batch_of_an_export_is_read_and_missing_ones_are_named() {
        let first = MigrationBatch::encode_uri(&[account("a", b"aaaaaaaaaa")], 0, 3, 99);
        let third = MigrationBatch::encode_uri(
            &[account("c", b"cccccccccc"), account("d", b"dddddddddd")],
            2,
            3,
            99,
        );
        let text = format!("{first}\n{third}\n");
        let mut set = ImportSet::new();
        ImportFile::from_bytes("export.txt", text.as_bytes())
            .unwrap()
            .read_into(None, &mut set)
            .unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(
            set.items[2].source.place,
            Place::Batch {
                line: 2,
                qr: 3,
                of: 3,
                entry: 2
            }
        );
        let report = ImportReport::new(&set);
        assert_eq!(report.missing_batches.len(), 1);
        assert_eq!(
            (report.missing_batches[0].qr, report.missing_batches[0].of),
            (2, 3)
        );
    }

    #[test]
    fn a_broken_export_code_is_a_failed_line() {
        let mut set = ImportSet::new();
        read_line("x", 4, "otpauth-migration://offline?data=%%%", &mut set);
        assert_eq!(set.len(), 1);
        assert!(set.items[0].account.is_err());
        assert!(set.batches.is_empty());
    }

    #[test]
    fn a_hostile_batch_size_lists_a_bounded_number_of_missing_codes() {
        let uri = MigrationBatch::encode_uri(&[account("a", b"aaaaaaaaaa")], 0, i32::MAX, 1);
        let mut set = ImportSet::new();
        read_line("x", 1, &uri, &mut set);
        assert_eq!(ImportReport::new(&set).missing_batches.len(), 100);
    }
}
