//! Scanning QR codes from frames: the camera (desktop) and image files.
//!
//! A [`FrameSource`] yields 8-bit grey [`Frame`]s: [`Camera`] (through `nokhwa`, desktop only)
//! and [`ImageFiles`] (PNG and JPEG); tests and benchmarks feed camera-like frames drawn from a
//! text (`civkey_testkit::frames`, a dev-dependency). [`scan`] reads a source on one thread and decodes on a worker
//! thread, keeping only the newest frame of a live source so that a camera never queues up
//! latency; the first text that [`civkey_proto::ScannedCode::parse`] accepts wins, and other QR
//! codes are counted and skipped. [`scan_image`] reads every code in one picture.
//!
//! [`decode`] applies the decoder strategy chosen by measurement over the committed corpus of
//! generated frames (`civkey_testkit::corpus`); see [`Decoder`] for the choice and the figures, and `docs/benchmarks.md`.
//!
//! Without a camera, [`Camera::open`] fails with [`ScanError::NoCamera`], whose message offers
//! the other ways in: an image of the code, or pasting the link.

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
mod camera;
mod decode;
mod image_files;
mod scanner;

use std::fmt;
use std::path::{Path, PathBuf};

use civkey_proto::ScannedCode;

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub use camera::Camera;
pub use decode::{decode, decode_with, Decoder};
pub use image_files::{load_image, load_image_bytes, ImageFiles};
pub use scanner::{scan, CancelHandle, Preview, Scanner};

/// One picture: 8-bit grey, row-major, `width * height` bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The grey value of each pixel, row by row.
    pub luma: Vec<u8>,
}

impl Frame {
    /// The largest width or height a frame may have.
    pub const MAX_SIDE: u32 = 4096;

    /// A frame from grey pixels; refused unless `luma` holds exactly `width * height` bytes and
    /// both sides are 1 to [`Frame::MAX_SIDE`] pixels.
    pub fn new(width: u32, height: u32, luma: Vec<u8>) -> Result<Self, ScanError> {
        let frame = Frame {
            width,
            height,
            luma,
        };
        frame.check()?;
        Ok(frame)
    }

    /// Checks what [`Frame::new`] checks, for a frame built field by field.
    pub fn check(&self) -> Result<(), ScanError> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(ScanError::InvalidFrame(format!(
                "a frame must be at least 1×1 pixels, not {w}×{h}"
            )));
        }
        if w > Self::MAX_SIDE || h > Self::MAX_SIDE {
            let max = Self::MAX_SIDE;
            return Err(ScanError::InvalidFrame(format!(
                "a {w}×{h} frame is larger than the {max}×{max} pixels civkey reads"
            )));
        }
        let needed = w as usize * h as usize;
        if self.luma.len() != needed {
            return Err(ScanError::InvalidFrame(format!(
                "a {w}×{h} frame needs {needed} bytes of grey, but has {}",
                self.luma.len()
            )));
        }
        Ok(())
    }

    /// A copy no larger than `max_side` on either side, shrunk by a whole factor with a box
    /// filter (a clone if it is small enough already, or if its buffer does not match its size).
    pub fn downscaled(&self, max_side: u32) -> Frame {
        let max_side = max_side.max(1);
        let longest = self.width.max(self.height);
        let (w, h) = (self.width as usize, self.height as usize);
        if longest <= max_side || w == 0 || h == 0 || self.luma.len() != w * h {
            return self.clone();
        }
        let factor = longest.div_ceil(max_side) as usize;
        let (nw, nh) = ((w / factor).max(1), (h / factor).max(1));
        // Whole blocks only: a remainder narrower than `factor` at the right or bottom is
        // dropped (unless the frame is narrower than `factor` altogether).
        let (bw, bh) = ((w / nw).min(factor), (h / nh).min(factor));
        let mut luma = Vec::with_capacity(nw * nh);
        let mut sums = vec![0u64; nw];
        for y in 0..nh {
            sums.fill(0);
            for row in self.luma.chunks_exact(w).skip(y * bh).take(bh) {
                for (acc, block) in sums.iter_mut().zip(row.chunks_exact(bw)) {
                    *acc += block.iter().map(|&p| u64::from(p)).sum::<u64>();
                }
            }
            let count = (bw * bh).max(1) as u64;
            luma.extend(sums.iter().map(|&s| (s / count) as u8));
        }
        Frame {
            width: nw as u32,
            height: nh as u32,
            luma,
        }
    }

    /// The negative: light codes on a dark background (a screen in dark mode) become dark on light.
    pub fn inverted(&self) -> Frame {
        Frame {
            width: self.width,
            height: self.height,
            luma: self.luma.iter().map(|p| 255 - p).collect(),
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Frame({}×{}, {} bytes)",
            self.width,
            self.height,
            self.luma.len()
        )
    }
}

/// Where frames come from: a camera, image files, generated frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` when the source has no more.
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError>;

    /// Whether frames keep coming in real time whether or not they are read (a camera). The
    /// scanner then keeps only the newest frame; otherwise it reads every frame in turn.
    fn is_live(&self) -> bool {
        false
    }
}

/// What went wrong while scanning. The texts are for people: they say what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No camera is connected (or the platform has none civkey can use).
    #[error(
        "no camera was found on this device; scan a picture of the QR code from an image file \
         instead, or paste the link"
    )]
    NoCamera,
    /// The camera exists but could not be opened or read.
    #[error("the camera could not be used: {0}")]
    Camera(String),
    /// An image file could not be read.
    #[error("cannot read the image {}: {reason}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// An image was read, but no QR code was found in it.
    #[error(
        "no QR code was found in {}; make sure the whole code is in the picture, sharp and not \
         too small",
        path.display()
    )]
    NoCodeInImage {
        /// The file.
        path: PathBuf,
    },
    /// The source ended without any QR code being read.
    #[error(
        "no QR code was found ({frames} {} looked at)",
        if *frames == 1 { "picture" } else { "pictures" }
    )]
    NothingFound {
        /// How many frames were decoded.
        frames: usize,
    },
    /// The source ended; QR codes were read, but none is a civkey or otpauth code.
    #[error(
        "{} found, but not a civkey or one-time code (otpauth) link: {example}",
        codes_were(*codes)
    )]
    NotCivkey {
        /// How many such codes were read (the same code in several frames counts each time).
        codes: usize,
        /// The first of them, described (shortened, and never a secret).
        example: String,
    },
    /// No civkey code was read before the time ran out.
    #[error(
        "no civkey or one-time code QR code was read in time; hold the code steady and close \
         enough to fill a good part of the picture, or scan an image or paste the link instead"
    )]
    Timeout,
    /// The scan was stopped through its [`CancelHandle`].
    #[error("scanning was cancelled")]
    Cancelled,
    /// A frame's size and buffer do not agree, or it is too large.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// A generated test frame (`civkey_testkit::frames`) could not be drawn.
    #[error("cannot generate a frame: {0}")]
    Generate(String),
    /// The scanner itself failed (a thread could not start or stopped).
    #[error("the scanner stopped unexpectedly: {0}")]
    Internal(String),
}

fn codes_were(n: usize) -> String {
    if n == 1 {
        "a QR code was".to_string()
    } else {
        format!("{n} QR codes were")
    }
}

/// A text read from a QR code, sorted: a code civkey reads, or something else.
#[derive(Clone)]
pub enum Found {
    /// A civkey pairing or login link, an `otpauth://` account or an `otpauth-migration://` batch.
    Code {
        /// The text as read. It may hold secrets: keep it out of logs.
        text: String,
        /// What it says.
        code: ScannedCode,
    },
    /// A QR code with something else in it (a web address, Wi-Fi details, a broken civkey link).
    NotCivkey {
        /// The text as read.
        text: String,
        /// Why civkey cannot use it.
        reason: civkey_proto::Error,
    },
}

impl Found {
    /// Sorts a decoded text.
    pub fn classify(text: impl Into<String>) -> Found {
        let text = text.into();
        match ScannedCode::parse(&text) {
            Ok(code) => Found::Code { text, code },
            Err(reason) => Found::NotCivkey { text, reason },
        }
    }

    /// The text as read.
    pub fn text(&self) -> &str {
        match self {
            Found::Code { text, .. } | Found::NotCivkey { text, .. } => text,
        }
    }

    /// What it is, in a few words, safe to show and to log: never a secret. For a code civkey
    /// cannot use, a link of a scheme civkey knows (`civkey:`, `otpauth:`) may carry a secret, so
    /// only its scheme and the reason are shown; anything else is quoted, shortened.
    pub fn describe(&self) -> String {
        match self {
            Found::Code { code, .. } => match code {
                ScannedCode::Pair(_) => "a civkey pairing link".to_string(),
                ScannedCode::Login(_) => "a civkey login link".to_string(),
                ScannedCode::Otp(_) => "a one-time code account (otpauth)".to_string(),
                ScannedCode::OtpMigration(_) => {
                    "a one-time code export (otpauth-migration)".to_string()
                }
            },
            Found::NotCivkey { text, reason } => describe_other(text, reason),
        }
    }
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Code { code, .. } => f.debug_struct("Code").field("code", code).finish(),
            Found::NotCivkey { text, reason } => f
                .debug_struct("NotCivkey")
                .field("text", &describe_other(text, reason))
                .finish(),
        }
    }
}

fn describe_other(text: &str, reason: &civkey_proto::Error) -> String {
    let scheme = text
        .trim()
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(scheme.as_str(), "civkey" | "otpauth" | "otpauth-migration") {
        return format!("a {scheme}: link civkey cannot use ({reason})");
    }
    const MAX: usize = 60;
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > MAX {
        let short: String = clean.chars().take(MAX).collect();
        format!("“{short}…”")
    } else {
        format!("“{clean}”")
    }
}

/// Every text decoded in one image file (PNG or JPEG), civkey's or not; the caller sorts them
/// with [`Found::classify`]. A picture may be a screenshot or a phone photo: light-on-dark codes
/// and large photos are read too, and more effort is spent than on a live camera frame.
pub fn scan_image(path: &Path) -> Result<Vec<String>, ScanError> {
    let frame = load_image(path)?;
    let texts = decode::decode_thoroughly(&frame);
    if texts.is_empty() {
        return Err(ScanError::NoCodeInImage {
            path: path.to_path_buf(),
        });
    }
    Ok(texts)
}

/// Every text decoded in a PNG or JPEG picture held in memory, as [`scan_image`] does for a file;
/// `name` stands for the picture in messages.
pub fn scan_image_bytes(bytes: &[u8], name: &Path) -> Result<Vec<String>, ScanError> {
    let frame = load_image_bytes(bytes, name)?;
    let texts = decode::decode_thoroughly(&frame);
    if texts.is_empty() {
        return Err(ScanError::NoCodeInImage {
            path: name.to_path_buf(),
        });
    }
    Ok(texts)
}
