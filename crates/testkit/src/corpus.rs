//! The fixture corpus of generated camera frames in `tests/fixtures/qr/`: what it holds, how it
//! is regenerated, and how tests and benchmarks load it.
//!
//! Three resolutions (640×480, 1280×720, 1920×1080), 17 frames each: 13 with a code — pairing,
//! login (animated and same-device), `otpauth://` with an issuer, `otpauth-migration://` batches
//! of 2 and 3 accounts, and one code holding something else (a web address, Wi-Fi details, a
//! civkey link of an unknown version) — at three levels of difficulty, and 4 frames from which
//! nothing may be read: a printed page on a desk, a web page with finder-like emblems but no
//! code, a code under a finger, and a code with scrambled data.
//!
//! Everything is drawn by [`crate::frames`] from [`SEED`], so the corpus regenerates
//! byte-identically: `cargo test -p civkey-testkit --lib -- --ignored regenerate_qr_fixture_corpus`.

use std::path::{Path, PathBuf};

use civkey_proto::ids::{LaunchToken, LoginRequestId, PairingSecret, QrMac, SessionId};
use civkey_proto::login::LoginUri;
use civkey_proto::otp::{Algorithm, MigrationBatch, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::pair::PairingUri;
use civkey_proto::Origin;
use serde::{Deserialize, Serialize};

use civkey_client::scan::ScanError;

use crate::frames::{encode_jpeg, Distortion, Scene, SplitMix64, Subject};

/// The seed every frame and payload of the corpus is drawn from.
pub const SEED: u64 = 0xC1C0_0004_5CA7_0001;

/// The JPEG quality the frames are stored at, as a webcam or phone compresses its frames.
pub const JPEG_QUALITY: u8 = 85;

/// The corpus's description, as stored in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What this is and how to regenerate it.
    pub about: String,
    /// The frames.
    pub frames: Vec<Entry>,
}

/// One frame of the corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The file name, in the corpus folder.
    pub file: String,
    /// The text a decoder must read, or null when nothing may be read.
    pub expected: Option<String>,
    /// What the code is: `pairing`, `login`, `login_same_device`, `otpauth`,
    /// `otpauth_migration`, `other` (a code civkey does not use), or `none`.
    pub kind: String,
    /// `mild`, `moderate` or `harsh`.
    pub difficulty: String,
    /// `WIDTHxHEIGHT`.
    pub resolution: String,
    /// Everything needed to draw it again.
    pub scene: Scene,
}

impl Entry {
    /// The frame's file in corpus folder `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file)
    }

    /// Whether a code civkey uses is in the frame.
    pub fn is_civkey(&self) -> bool {
        self.expected.is_some() && self.kind != "other"
    }
}

impl Manifest {
    /// Reads `manifest.json` in `dir`.
    pub fn load(dir: &Path) -> Result<Manifest, ScanError> {
        let path = dir.join("manifest.json");
        let fail = |reason: String| ScanError::Image {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(format!("cannot read the corpus manifest ({e})")))?;
        serde_json::from_str(&text).map_err(|e| fail(format!("invalid corpus manifest ({e})")))
    }
}

/// `tests/fixtures/qr` in the source tree this crate was built from.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/qr")
}

const RESOLUTIONS: [(u32, u32, &str); 3] = [
    (640, 480, "480p"),
    (1280, 720, "720p"),
    (1920, 1080, "1080p"),
];

const CODE_KINDS: [&str; 13] = [
    "pairing",
    "login",
    "login_same_device",
    "otpauth",
    "otpauth_migration",
    "login",
    "pairing",
    "otpauth",
    "otpauth_migration",
    "login_same_device",
    "login",
    "other",
    "pairing",
];

const DIFFICULTIES: [&str; 3] = ["mild", "moderate", "harsh"];

const ORIGINS: [&str; 3] = [
    "https://id.example.gov",
    "https://mobilkulcs.example.hu",
    "https://login.example.cz:8443",
];

/// The corpus as the generator plans it (the manifest's frames).
pub fn plan() -> Result<Vec<Entry>, ScanError> {
    plan_seeded(SEED)
}

/// A corpus of the same make-up drawn from another seed: fresh frames the decoder strategy was
/// not chosen on, to check that the choice holds beyond the committed frames.
pub fn plan_seeded(seed: u64) -> Result<Vec<Entry>, ScanError> {
    let mut rng = SplitMix64::new(seed);
    let mut entries = Vec::new();
    for (r, (width, height, label)) in RESOLUTIONS.into_iter().enumerate() {
        for (i, kind) in CODE_KINDS.iter().enumerate() {
            let difficulty = DIFFICULTIES[(i + r) % 3];
            let text = payload(kind, i, r, &mut rng)?;
            let distortion = distortion(difficulty, width, height, Some(&text), &mut rng)?;
            entries.push(Entry {
                file: format!("{label}-{:02}-{kind}.jpg", i + 1),
                expected: Some(text.clone()),
                kind: kind.to_string(),
                difficulty: difficulty.to_string(),
                resolution: format!("{width}x{height}"),
                scene: Scene {
                    subject: Subject::Code(text),
                    distortion,
                    seed: rng.next_u64(),
                },
            });
        }
        let no_code = [
            ("desk", Subject::Desk),
            ("page", Subject::Page),
            (
                "covered",
                Subject::Covered(payload("pairing", 0, r, &mut rng)?),
            ),
            (
                "scrambled",
                Subject::Scrambled(payload("login", 0, r, &mut rng)?),
            ),
        ];
        for (j, (name, subject)) in no_code.into_iter().enumerate() {
            let difficulty = DIFFICULTIES[j % 2];
            let text = match &subject {
                Subject::Covered(t) | Subject::Scrambled(t) => Some(t.clone()),
                _ => None,
            };
            let distortion = distortion(difficulty, width, height, text.as_deref(), &mut rng)?;
            entries.push(Entry {
                file: format!("{label}-{:02}-none-{name}.jpg", CODE_KINDS.len() + j + 1),
                expected: None,
                kind: "none".to_string(),
                difficulty: difficulty.to_string(),
                resolution: format!("{width}x{height}"),
                scene: Scene {
                    subject,
                    distortion,
                    seed: rng.next_u64(),
                },
            });
        }
    }
    Ok(entries)
}

/// Draws every frame of the plan into `dir` as JPEG and writes `manifest.json` there.
pub fn write(dir: &Path) -> Result<Manifest, ScanError> {
    let fail = |path: &Path, e: std::io::Error| ScanError::Image {
        path: path.to_path_buf(),
        reason: format!("cannot write ({e})"),
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let manifest = manifest()?;
    for entry in &manifest.frames {
        let frame = entry.scene.render_uncompressed()?;
        let jpeg = encode_jpeg(&frame, JPEG_QUALITY)?;
        let path = entry.path(dir);
        std::fs::write(&path, jpeg).map_err(|e| fail(&path, e))?;
    }
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest_json(&manifest)?).map_err(|e| fail(&path, e))?;
    Ok(manifest)
}

/// The manifest the generator plans.
pub fn manifest() -> Result<Manifest, ScanError> {
    Ok(Manifest {
        about: "Generated camera-like frames for the QR scanning tests and benchmarks of \
                civkey-client (crates/testkit/src/corpus.rs). Do not edit: regenerate with \
                `cargo test -p civkey-testkit --lib -- --ignored regenerate_qr_fixture_corpus`."
            .to_string(),
        frames: plan()?,
    })
}

/// The manifest as stored: pretty JSON and a final newline.
fn manifest_json(manifest: &Manifest) -> Result<String, ScanError> {
    let mut json = serde_json::to_string_pretty(manifest)
        .map_err(|e| ScanError::Generate(format!("cannot write the manifest: {e}")))?;
    json.push('\n');
    Ok(json)
}

/// The distortion for a difficulty at a resolution. The code is made large enough that a module
/// spans a few pixels, as a person moves the camera closer to a dense code.
fn distortion(
    difficulty: &str,
    width: u32,
    height: u32,
    text: Option<&str>,
    rng: &mut SplitMix64,
) -> Result<Distortion, ScanError> {
    let scale = f64::from(height) / 720.0;
    let (size_lo, size_hi, min_module) = match height {
        0..=480 => (0.5, 0.7, 3.6),
        481..=720 => (0.42, 0.62, 4.5),
        _ => (0.35, 0.55, 5.5),
    };
    let modules = match text {
        Some(text) => qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
            .map_err(|e| ScanError::Generate(format!("cannot make a QR code: {e}")))?
            .width(),
        None => 37,
    } as f64
        + 8.0;
    let mut code_size = rng.range(size_lo, size_hi);
    code_size = code_size
        .max(min_module * modules / f64::from(height))
        .min(0.85);
    // (tilt, roll, blur, dark, light, shading, glare, glare chance, noise), as ranges.
    let (tilt, roll, blur, dark, light, shading, glare, glare_p, noise) = match difficulty {
        "mild" => (
            (0.0, 6.0),
            6.0,
            (0.5, 0.9),
            (25.0, 55.0),
            (195.0, 235.0),
            (0.05, 0.15),
            (0.1, 0.2),
            0.3,
            (1.5, 2.5),
        ),
        "moderate" => (
            (6.0, 11.0),
            10.0,
            (0.9, 1.3),
            (55.0, 80.0),
            (170.0, 200.0),
            (0.1, 0.2),
            (0.2, 0.35),
            0.6,
            (2.5, 3.5),
        ),
        _ => (
            (12.0, 15.0),
            15.0,
            (1.3, 1.7),
            (85.0, 95.0),
            (155.0, 165.0),
            (0.15, 0.25),
            (0.3, 0.45),
            1.0,
            (3.5, 4.5),
        ),
    };
    let glare_on = rng.chance(glare_p);
    // Rounded, for a readable manifest.
    let round = |x: f64| (x * 1e4).round() / 1e4;
    Ok(Distortion {
        width,
        height,
        code_size: round(code_size),
        tilt_deg: round(rng.range(tilt.0, tilt.1)),
        tilt_axis_deg: round(rng.range(0.0, 180.0)),
        roll_deg: round(rng.range(-roll, roll)),
        blur_px: round(rng.range(blur.0, blur.1) * scale),
        dark: rng.range(dark.0, dark.1).round() as u8,
        light: rng.range(light.0, light.1).round() as u8,
        shading: round(rng.range(shading.0, shading.1)),
        glare: if glare_on {
            round(rng.range(glare.0, glare.1))
        } else {
            0.0
        },
        noise: round(rng.range(noise.0, noise.1)),
        jpeg_quality: Some(JPEG_QUALITY),
    })
}

/// A realistic text of each kind, built with `civkey-proto`'s own writers.
fn payload(kind: &str, i: usize, r: usize, rng: &mut SplitMix64) -> Result<String, ScanError> {
    let bad = |e: civkey_proto::Error| ScanError::Generate(format!("cannot build a payload: {e}"));
    let origin = Origin::parse(ORIGINS[(i + r) % ORIGINS.len()]).map_err(bad)?;
    Ok(match kind {
        "pairing" => PairingUri {
            origin,
            session_id: SessionId::from_bytes(rng.bytes()),
            secret: PairingSecret::from_bytes(rng.bytes()),
        }
        .to_uri(),
        "login" => LoginUri::Animated {
            origin,
            request_id: LoginRequestId::from_bytes(rng.bytes()),
            elapsed: rng.below(180),
            mac: QrMac::from_bytes(rng.bytes()),
        }
        .to_uri(),
        "login_same_device" => LoginUri::SameDevice {
            origin,
            request_id: LoginRequestId::from_bytes(rng.bytes()),
            launch_token: LaunchToken::from_bytes(rng.bytes()),
        }
        .to_uri(),
        "otpauth" => account(i + r, rng)?.to_uri(),
        "otpauth_migration" => {
            let count = if i < 6 { 2 } else { 3 };
            let accounts = (0..count)
                .map(|k| {
                    // Google's export has no period: every account in it uses 30 seconds.
                    account(i + r + k, rng).map(|a| OtpAccount {
                        kind: OtpKind::Totp { period: 30 },
                        ..a
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            MigrationBatch::encode_uri(&accounts, 0, 1, rng.below(1 << 30) as i32)
        }
        _ => match r {
            0 => "https://example.com/".to_string(),
            1 => "WIFI:T:WPA;S:Office Guest;P:correct-horse-battery;;".to_string(),
            // A civkey link of a protocol version this app does not speak.
            _ => format!(
                "civkey://pair?v=2&s=https%3A%2F%2Fid.example.gov&id={}&k={}",
                SessionId::from_bytes(rng.bytes()),
                SessionId::from_bytes(rng.bytes())
            ),
        },
    })
}

/// One-time code accounts as services issue them.
fn account(k: usize, rng: &mut SplitMix64) -> Result<OtpAccount, ScanError> {
    let bad = |e: civkey_proto::Error| ScanError::Generate(format!("cannot build an account: {e}"));
    let (issuer, name, secret, algorithm, digits, period) = match k % 4 {
        0 => (
            "Ügyfélkapu+",
            "kovacs.anna@example.hu",
            rng.bytes::<20>().to_vec(),
            Algorithm::Sha1,
            6,
            30,
        ),
        1 => (
            "GitHub",
            "octocat",
            rng.bytes::<10>().to_vec(),
            Algorithm::Sha1,
            6,
            30,
        ),
        2 => (
            "Example Bank",
            "12345678",
            rng.bytes::<32>().to_vec(),
            Algorithm::Sha256,
            8,
            60,
        ),
        _ => (
            "Mastodon",
            "jana@social.example",
            rng.bytes::<20>().to_vec(),
            Algorithm::Sha1,
            6,
            30,
        ),
    };
    Ok(OtpAccount {
        kind: OtpKind::Totp { period },
        issuer: Some(issuer.to_string()),
        account: name.to_string(),
        secret: OtpSecret::from_bytes(secret).map_err(bad)?,
        algorithm,
        digits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use civkey_client::scan::{decode, decode_with, load_image, Decoder, Found};

    #[test]
    #[ignore = "rewrites tests/fixtures/qr; run it on purpose after changing the generator"]
    fn regenerate_qr_fixture_corpus() {
        let dir = fixture_dir();
        let manifest = write(&dir).unwrap();
        let bytes: u64 = manifest
            .frames
            .iter()
            .map(|e| std::fs::metadata(e.path(&dir)).unwrap().len())
            .sum();
        println!("{} frames, {} KiB", manifest.frames.len(), bytes / 1024);
    }

    #[test]
    fn the_committed_manifest_is_what_the_generator_plans() {
        let stored = std::fs::read_to_string(fixture_dir().join("manifest.json")).unwrap();
        let planned = manifest_json(&manifest().unwrap()).unwrap();
        assert!(
            stored == planned,
            "the generator changed: regenerate the corpus (see tests/fixtures/qr/README.md)"
        );
        assert_eq!(Manifest::load(&fixture_dir()).unwrap().frames.len(), 51);
    }

    #[test]
    fn a_committed_frame_is_exactly_what_the_generator_draws() {
        let dir = fixture_dir();
        let manifest = Manifest::load(&dir).unwrap();
        let entry = &manifest.frames[2]; // a harsh 480p frame
        assert_eq!(entry.resolution, "640x480");
        let drawn = plan().unwrap()[2].scene.render().unwrap();
        let stored = load_image(&entry.path(&dir)).unwrap();
        assert_eq!(drawn, stored, "{}", entry.file);
    }

    #[test]
    fn every_expected_text_is_of_its_kind() {
        for entry in plan().unwrap() {
            match (&entry.expected, entry.kind.as_str()) {
                (None, kind) => assert_eq!(kind, "none"),
                (Some(text), "other") => {
                    assert!(matches!(
                        Found::classify(text.as_str()),
                        Found::NotCivkey { .. }
                    ))
                }
                (Some(text), _) => {
                    assert!(
                        matches!(Found::classify(text.as_str()), Found::Code { .. }),
                        "{text}"
                    )
                }
            }
        }
    }

    /// Reads (right text), misses, wrong reads and false reads of one decoder over the corpus.
    fn tally(decoder: Decoder) -> (usize, usize, Vec<String>, Vec<String>) {
        let dir = fixture_dir();
        let manifest = Manifest::load(&dir).unwrap();
        let (mut read, mut codes) = (0, 0);
        let (mut wrong, mut missed) = (Vec::new(), Vec::new());
        for entry in &manifest.frames {
            let frame = load_image(&entry.path(&dir)).unwrap();
            let texts = if decoder == Decoder::Chosen {
                decode(&frame)
            } else {
                decode_with(decoder, &frame)
            };
            match &entry.expected {
                Some(expected) => {
                    codes += 1;
                    if texts == [expected.clone()] {
                        read += 1;
                    } else if texts.is_empty() {
                        missed.push(entry.file.clone());
                    } else {
                        wrong.push(format!("{}: {texts:?}", entry.file));
                    }
                }
                None if !texts.is_empty() => wrong.push(format!("{}: {texts:?}", entry.file)),
                None => {}
            }
        }
        (read, codes, missed, wrong)
    }

    #[test]
    fn the_chosen_decoder_reads_the_fixture_corpus() {
        let (read, codes, missed, wrong) = tally(Decoder::Chosen);
        assert!(codes >= 30, "{codes}");
        assert!(wrong.is_empty(), "wrong or false reads: {wrong:?}");
        assert!(
            read * 100 >= codes * 95,
            "read {read} of {codes} frames with a code; missed {missed:?}"
        );
    }
}
