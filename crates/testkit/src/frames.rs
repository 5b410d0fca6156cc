//! Camera-like frames generated from a text: a QR code on a web page on a screen, photographed by a
//! webcam or phone held by hand.
//!
//! A [`Scene`] says what is in front of the camera (a [`Subject`]), how the picture is spoiled (a
//! [`Distortion`]) and a seed; [`Scene::render`] draws it, deterministically. The same generator
//! draws the committed fixture corpus (see [`crate::corpus`]) and feeds [`SyntheticFrames`], the
//! frame source the scanning tests use instead of a camera.
//!
//! How a frame is drawn, in the order light travels:
//! 1. The page (in units of QR modules): the code with its 4-module quiet zone, a title above, text
//!    lines and a countdown below, an emblem, a button; around the page the screen's dark bezel;
//!    beyond it a desk with a smooth random texture.
//! 2. The screen is tilted out of the image plane (`tilt_deg` about an axis at `tilt_axis_deg`),
//!    rotated in it (`roll_deg`), and seen through a pinhole camera with a webcam's field of view:
//!    a true perspective homography, sampled 2×2 per pixel.
//! 3. Uneven light (a gradient and vignetting, `shading`) and a glare blob (a reflection on the
//!    screen, `glare`) are added to the scene's light.
//! 4. The lens blurs it (Gaussian, `blur_px`), the sensor adds noise (`noise`, stronger in bright
//!    parts), clips at white, and quantises to 8 bits; the camera may then compress it as JPEG.
//!
//! Only `+ - * /` and `sqrt` are used on floating-point numbers (sine, cosine and the exponential
//! are written out below as series), so a seed draws byte-identical frames on every platform.

use std::io::Cursor;

use qrcode::{Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};

use civkey_client::scan::{Frame, FrameSource, ScanError};

/// SplitMix64: a tiny, fast, well-mixed pseudo-random generator, fully determined by its seed.
/// Not for secrets; for generating test frames and fixture payloads.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A whole number in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately normal with mean 0 and deviation 1 (Irwin–Hall: the sum of 12 uniforms).
    pub fn gaussian(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }
}

/// SplitMix64's finaliser: a good 64-bit hash of `z`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of several numbers, for textures drawn at random places without storing them.
fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x2545_F491_4F6C_DD1D, |acc, p| {
        mix(acc ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    })
}

/// `hash` as a number in `[0, 1)`.
fn hash_unit(parts: &[u64]) -> f64 {
    (hash(parts) >> 11) as f64 / (1u64 << 53) as f64
}

const PI: f64 = std::f64::consts::PI;

/// Sine by its Taylor series after reducing to `[-π, π]` (deterministic on every platform).
fn sin(x: f64) -> f64 {
    let turns = (x / (2.0 * PI)).round();
    let x = x - turns * 2.0 * PI;
    let mut term = x;
    let mut sum = x;
    for k in 1..12 {
        let k = k as f64;
        term = -term * x * x / ((2.0 * k) * (2.0 * k + 1.0));
        sum += term;
    }
    sum
}

/// Cosine, as [`sin`].
fn cos(x: f64) -> f64 {
    sin(x + PI / 2.0)
}

/// `e^x` for `x <= 0` (the Gaussian falloffs), by halving until small, a series, and squaring back.
fn exp_neg(x: f64) -> f64 {
    if x.is_nan() || x < -700.0 {
        return 0.0;
    }
    let x = x.min(0.0);
    let mut halvings = 0;
    let mut y = x;
    while y < -0.5 {
        y /= 2.0;
        halvings += 1;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..14 {
        term *= y / k as f64;
        sum += term;
    }
    for _ in 0..halvings {
        sum *= sum;
    }
    sum
}

fn radians(deg: f64) -> f64 {
    deg * PI / 180.0
}

/// How a frame is spoiled, as a camera pointed at a screen spoils it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distortion {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// How much of the frame height the code with its quiet zone spans when seen straight on.
    pub code_size: f64,
    /// How far the screen is turned away from facing the camera, in degrees.
    pub tilt_deg: f64,
    /// The direction, in the image, of the axis the screen is turned about, in degrees.
    pub tilt_axis_deg: f64,
    /// Rotation in the image plane, in degrees.
    pub roll_deg: f64,
    /// Defocus and shake: the deviation of a Gaussian blur, in pixels.
    pub blur_px: f64,
    /// Grey of a dark module as the camera sees it under even light (0–255).
    pub dark: u8,
    /// Grey of a light module and of the page (0–255).
    pub light: u8,
    /// Uneven light: the strength of a brightness gradient and vignetting (0 = even).
    pub shading: f64,
    /// A reflection on the screen: the peak brightness it adds, as a share of full white.
    pub glare: f64,
    /// Sensor noise: its deviation in grey levels in the brightest parts.
    pub noise: f64,
    /// The JPEG quality the camera compresses the frame at, if it does.
    pub jpeg_quality: Option<u8>,
}

impl Distortion {
    /// A mild webcam picture at `width`×`height`: slight tilt, a little blur and noise, good
    /// contrast, no glare, JPEG at quality 85.
    pub fn mild(width: u32, height: u32) -> Self {
        let scale = f64::from(height) / 720.0;
        Distortion {
            width,
            height,
            code_size: 0.55,
            tilt_deg: 4.0,
            tilt_axis_deg: 30.0,
            roll_deg: 3.0,
            blur_px: 0.7 * scale,
            dark: 40,
            light: 215,
            shading: 0.1,
            glare: 0.0,
            noise: 2.0,
            jpeg_quality: Some(85),
        }
    }

    /// The worst the scanner is asked to read: 15° tilt, strong blur, low contrast (modules 90
    /// against 160), glare, more noise.
    pub fn harsh(width: u32, height: u32) -> Self {
        let scale = f64::from(height) / 720.0;
        Distortion {
            width,
            height,
            code_size: 0.55,
            tilt_deg: 15.0,
            tilt_axis_deg: 110.0,
            roll_deg: -12.0,
            blur_px: 1.5 * scale,
            dark: 90,
            light: 160,
            shading: 0.2,
            glare: 0.4,
            noise: 4.0,
            jpeg_quality: Some(85),
        }
    }

    fn check(&self) -> Result<(), ScanError> {
        let bad = |what: &str| Err(ScanError::Generate(what.to_string()));
        let max = Frame::MAX_SIDE;
        if !(16..=max).contains(&self.width) || !(16..=max).contains(&self.height) {
            return bad(&format!(
                "the frame must be 16 to {max} pixels on each side"
            ));
        }
        let finite = [
            self.code_size,
            self.tilt_deg,
            self.tilt_axis_deg,
            self.roll_deg,
            self.blur_px,
            self.shading,
            self.glare,
            self.noise,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return bad("every distortion must be a finite number");
        }
        if !(0.05..=1.5).contains(&self.code_size) {
            return bad("code_size must be between 0.05 and 1.5 of the frame height");
        }
        if !(0.0..=60.0).contains(&self.tilt_deg) {
            return bad("tilt_deg must be between 0 and 60");
        }
        if !(0.0..=20.0).contains(&self.blur_px) {
            return bad("blur_px must be between 0 and 20");
        }
        if !(0.0..=1.0).contains(&self.shading)
            || !(0.0..=2.0).contains(&self.glare)
            || !(0.0..=100.0).contains(&self.noise)
        {
            return bad("shading must be 0–1, glare 0–2 and noise 0–100");
        }
        if self.jpeg_quality.is_some_and(|q| !(1..=100).contains(&q)) {
            return bad("jpeg_quality must be 1 to 100");
        }
        Ok(())
    }
}

/// What is in front of the camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Subject {
    /// A web page showing a QR code of this text.
    Code(String),
    /// The same kind of page with no QR code: text, a button, and emblems drawn like QR finder
    /// patterns, to tempt a decoder into a false read.
    Page,
    /// A printed page of text on a desk: no screen, no code.
    Desk,
    /// A QR code of this text with a finger over its upper half, both top finder patterns
    /// included: it cannot be read.
    Covered(String),
    /// A QR code of this text whose data modules are scrambled (finder, timing and format
    /// patterns intact): it looks like a code and cannot be read.
    Scrambled(String),
}

impl Subject {
    /// The text a decoder should read from it, if any.
    pub fn expected(&self) -> Option<&str> {
        match self {
            Subject::Code(text) => Some(text),
            _ => None,
        }
    }
}

/// One frame to draw: what is in front of the camera, how the picture is spoiled, and the seed
/// for everything else (where the code sits, the texture, the glare, the noise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// What is in front of the camera.
    pub subject: Subject,
    /// How the picture is spoiled.
    pub distortion: Distortion,
    /// Seed for the placement, texture, glare and noise.
    pub seed: u64,
}

impl Scene {
    /// Draws the frame, JPEG-compressed if the distortion says so.
    pub fn render(&self) -> Result<Frame, ScanError> {
        let raw = self.render_uncompressed()?;
        match self.distortion.jpeg_quality {
            None => Ok(raw),
            Some(quality) => {
                let jpeg = encode_jpeg(&raw, quality)?;
                let image = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
                    .map_err(|e| ScanError::Generate(format!("JPEG round trip failed: {e}")))?
                    .into_luma8();
                Frame::new(image.width(), image.height(), image.into_raw())
            }
        }
    }

    /// Draws the frame as the sensor saw it, before any JPEG compression.
    pub fn render_uncompressed(&self) -> Result<Frame, ScanError> {
        let d = &self.distortion;
        d.check()?;
        let mut rng = SplitMix64::new(self.seed);
        let page = Page::layout(&self.subject, &mut rng)?;
        let camera = CameraModel::place(d, &page, &mut rng)?;
        let light = Lighting::new(d, &camera, &mut rng);
        let (w, h) = (d.width as usize, d.height as usize);

        // 1–3: the scene's light, 2×2 samples per pixel.
        let mut buf = vec![0f32; w * h];
        let offsets = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0.0;
                for (ox, oy) in offsets {
                    let (px, py) = (x as f64 + ox, y as f64 + oy);
                    sum += camera
                        .to_page(px, py)
                        .and_then(|(u, v)| page.grey(u, v, d))
                        .unwrap_or_else(|| page.desk(px, py, d));
                }
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                buf[y * w + x] = light.apply(sum / 4.0, px, py) as f32;
            }
        }

        // 4: lens, sensor, quantisation.
        gaussian_blur(&mut buf, w, h, d.blur_px);
        let luma = buf
            .iter()
            .map(|&g| {
                let g = f64::from(g);
                let sigma = d.noise * (0.5 + 0.5 * (g / 255.0).clamp(0.0, 1.0));
                (g + sigma * rng.gaussian()).round().clamp(0.0, 255.0) as u8
            })
            .collect();
        Frame::new(d.width, d.height, luma)
    }
}

/// Encodes a frame as a greyscale JPEG.
pub fn encode_jpeg(frame: &Frame, quality: u8) -> Result<Vec<u8>, ScanError> {
    let mut out = Cursor::new(Vec::new());
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    image::ImageEncoder::write_image(
        encoder,
        &frame.luma,
        frame.width,
        frame.height,
        image::ExtendedColorType::L8,
    )
    .map_err(|e| ScanError::Generate(format!("cannot encode JPEG: {e}")))?;
    Ok(out.into_inner())
}

/// A line of text-like marks on the page (pseudo-glyphs of 5×7 dots), in module units.
struct TextLine {
    x0: f64,
    x1: f64,
    y0: f64,
    height: f64,
    id: u64,
}

impl TextLine {
    fn ink(&self, u: f64, v: f64) -> bool {
        if v < self.y0 || v >= self.y0 + self.height || u < self.x0 || u >= self.x1 {
            return false;
        }
        let cell = self.height * 0.75;
        let gx = (u - self.x0) / cell;
        let glyph = gx.floor();
        let key = hash(&[self.id, glyph as u64]);
        if key % 100 < 17 {
            return false; // a space between words
        }
        let col = ((gx - glyph) * 6.0).floor() as u64;
        let row = ((v - self.y0) / self.height * 8.0).floor() as u64;
        if col >= 5 || row >= 7 {
            return false; // spacing between letters and lines
        }
        hash(&[key, col, row]) % 100 < 42
    }
}

/// An emblem: concentric squares shaped like a QR finder pattern (`finder`), or a disc in a ring.
struct Emblem {
    cx: f64,
    cy: f64,
    size: f64,
    finder: bool,
}

impl Emblem {
    /// Ink (1), paper (0), or not on the emblem (None).
    fn ink(&self, u: f64, v: f64) -> Option<bool> {
        let (dx, dy) = ((u - self.cx) / self.size, (v - self.cy) / self.size);
        if self.finder {
            let r = dx.abs().max(dy.abs()) * 7.0; // 0 at the centre, 3.5 at the edge
            if r >= 3.5 {
                return None;
            }
            Some(!(1.5..2.5).contains(&r))
        } else {
            let r = (dx * dx + dy * dy).sqrt() * 2.0; // 1 at the edge
            if r >= 1.0 {
                return None;
            }
            Some(!(0.55..=0.8).contains(&r))
        }
    }
}

/// The screen's content in module units, centred on the code.
struct Page {
    /// The code's modules (row-major, true = dark), `n`×`n`; empty for subjects without a code.
    modules: Vec<bool>,
    n: usize,
    /// Side of the code with its quiet zone (or of the empty space where a code would be).
    total: f64,
    /// The page's edges: left, top, right, bottom.
    rect: (f64, f64, f64, f64),
    bezel: f64,
    lines: Vec<TextLine>,
    emblems: Vec<Emblem>,
    /// The button: left, top, right, bottom.
    button: Option<(f64, f64, f64, f64)>,
    /// A finger over the upper part of the code.
    finger: bool,
    /// A printed page on a desk rather than a screen.
    paper: bool,
    desk_seed: u64,
}

const QUIET: f64 = 4.0;

impl Page {
    fn layout(subject: &Subject, rng: &mut SplitMix64) -> Result<Self, ScanError> {
        let text = match subject {
            Subject::Code(t) | Subject::Covered(t) | Subject::Scrambled(t) => Some(t.as_str()),
            Subject::Page | Subject::Desk => None,
        };
        let (modules, n) = match text {
            Some(text) => {
                let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
                    .map_err(|e| ScanError::Generate(format!("cannot make a QR code: {e}")))?;
                let n = code.width();
                let modules = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
                if let Subject::Scrambled(_) = subject {
                    let mut scrambled: Vec<bool> = modules;
                    for y in 0..n {
                        for x in 0..n {
                            if !code.is_functional(x, y) && rng.chance(0.5) {
                                scrambled[y * n + x] = !scrambled[y * n + x];
                            }
                        }
                    }
                    (scrambled, n)
                } else {
                    (modules, n)
                }
            }
            None => (Vec::new(), 0),
        };
        let layout_n = if n > 0 {
            n
        } else {
            33 + 4 * rng.below(6) as usize
        };
        let total = layout_n as f64 + 2.0 * QUIET;
        let half = total / 2.0;
        let rect = (
            -half - total * rng.range(0.4, 1.6),
            -half - total * rng.range(0.35, 0.9),
            half + total * rng.range(0.4, 1.6),
            half + total * rng.range(0.35, 0.9),
        );
        let id = rng.next_u64();
        let mut lines = Vec::new();
        let mut emblems = Vec::new();
        let mut button = None;
        let paper = matches!(subject, Subject::Desk);
        if paper {
            // A printed document: lines of text all over.
            let height = rng.range(1.2, 2.2);
            let mut y = rect.1 + 2.0;
            let mut k = 0;
            while y + height < rect.3 - 1.0 {
                let ragged = rng.range(0.0, 0.3) * (rect.2 - rect.0);
                lines.push(TextLine {
                    x0: rect.0 + 3.0,
                    x1: rect.2 - 3.0 - ragged,
                    y0: y,
                    height,
                    id: id ^ k,
                });
                y += height * rng.range(1.5, 2.2);
                k += 1;
            }
        } else {
            // A title over the code, two lines and a countdown under it, an emblem at the top left.
            let title = rng.range(2.0, 3.2);
            lines.push(TextLine {
                x0: -half + rng.range(-4.0, 4.0),
                x1: half + rng.range(0.0, 10.0),
                y0: -half - title - rng.range(1.5, 3.0),
                height: title,
                id: id ^ 1,
            });
            let small = rng.range(1.1, 1.6);
            for k in 0..2u64 {
                lines.push(TextLine {
                    x0: -half + rng.range(-2.0, 2.0),
                    x1: half + rng.range(-6.0, 8.0),
                    y0: half + 1.0 + k as f64 * small * 1.8,
                    height: small,
                    id: id ^ (2 + k),
                });
            }
            lines.push(TextLine {
                x0: half + rng.range(2.0, 4.0),
                x1: half + rng.range(10.0, 14.0),
                y0: rng.range(-half, 0.0),
                height: rng.range(2.0, 3.0),
                id: id ^ 9,
            });
            let decoy = matches!(subject, Subject::Page);
            emblems.push(Emblem {
                cx: rect.0 + rng.range(5.0, 9.0),
                cy: rect.1 + rng.range(5.0, 8.0),
                size: rng.range(5.0, 8.0),
                finder: decoy,
            });
            if decoy {
                // Two more finder-like marks about where a code's would be, but no code.
                emblems.push(Emblem {
                    cx: -half + QUIET + 3.5,
                    cy: -half + QUIET + 3.5,
                    size: 7.0,
                    finder: true,
                });
                emblems.push(Emblem {
                    cx: half - QUIET - 3.5,
                    cy: half - QUIET - 3.5,
                    size: 7.0,
                    finder: true,
                });
            }
            let bx = -half + rng.range(0.0, 6.0);
            let by = half + 6.5 + rng.range(0.0, 2.0);
            button = Some((bx, by, bx + rng.range(14.0, 22.0), by + rng.range(3.5, 5.0)));
        }
        Ok(Page {
            modules,
            n,
            total,
            rect,
            bezel: total * rng.range(0.05, 0.15),
            lines,
            emblems,
            button,
            finger: matches!(subject, Subject::Covered(_)),
            paper,
            desk_seed: rng.next_u64(),
        })
    }

    /// The scene's grey at page point (u, v), before lighting; None off the screen (the desk).
    fn grey(&self, u: f64, v: f64, d: &Distortion) -> Option<f64> {
        let (dark, light) = (f64::from(d.dark), f64::from(d.light));
        let ink = |on: bool| if on { dark } else { light };
        let half = self.total / 2.0;
        if self.finger {
            // A fingertip from the top of the frame, over the code's upper half.
            let w = 0.62 * self.total;
            let edge = 0.08 * self.total - 0.3 * self.total * (u / w) * (u / w);
            if u.abs() < w && v < edge {
                let shade = 0.45 + 0.12 * (1.0 - (u / w) * (u / w));
                return Some(light * shade);
            }
        }
        let (left, top, right, bottom) = self.rect;
        if u < left || u >= right || v < top || v >= bottom {
            let b = self.bezel;
            if !self.paper && u >= left - b && u < right + b && v >= top - b && v < bottom + b {
                return Some((dark * 0.25).max(6.0));
            }
            return None;
        }
        if self.n > 0 && u.abs() < half && v.abs() < half {
            let offset = self.n as f64 / 2.0;
            let (mx, my) = ((u + offset).floor(), (v + offset).floor());
            if mx < 0.0 || my < 0.0 || mx >= self.n as f64 || my >= self.n as f64 {
                return Some(light);
            }
            let i = my as usize * self.n + mx as usize;
            return Some(ink(self.modules.get(i).copied().unwrap_or(false)));
        }
        if let Some((bl, bt, br, bb)) = self.button {
            if u >= bl && u < br && v >= bt && v < bb {
                let label = TextLine {
                    x0: bl + 2.0,
                    x1: br - 2.0,
                    y0: bt + (bb - bt) * 0.3,
                    height: (bb - bt) * 0.4,
                    id: 77,
                };
                let fill = dark + 0.25 * (light - dark);
                return Some(if label.ink(u, v) { light } else { fill });
            }
        }
        for emblem in &self.emblems {
            if let Some(on) = emblem.ink(u, v) {
                return Some(ink(on));
            }
        }
        let on = self.lines.iter().any(|line| line.ink(u, v));
        if self.paper {
            // Print on paper under room light: greyer than a screen.
            let paper = light * 0.85;
            return Some(if on {
                dark + 0.2 * (paper - dark)
            } else {
                paper
            });
        }
        Some(ink(on))
    }

    /// The desk around the screen at image point (x, y): smooth random texture (value noise).
    fn desk(&self, x: f64, y: f64, d: &Distortion) -> f64 {
        let scale = f64::from(d.height) / 6.0;
        let mut value = 0.0;
        let mut weight = 0.0;
        for (octave, amp) in [(1.0, 0.6), (3.0, 0.3), (9.0, 0.1)] {
            value += amp
                * value_noise(
                    self.desk_seed ^ octave as u64,
                    x / scale * octave,
                    y / scale * octave,
                );
            weight += amp;
        }
        f64::from(d.light) * (0.25 + 0.35 * value / weight)
    }
}

/// Smooth noise in [0, 1): random values on a unit lattice, interpolated with a smoothstep.
fn value_noise(seed: u64, x: f64, y: f64) -> f64 {
    let (fx, fy) = (x.floor(), y.floor());
    let (tx, ty) = (x - fx, y - fy);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (ix, iy) = (fx as i64 as u64, fy as i64 as u64);
    let at = |dx: u64, dy: u64| hash_unit(&[seed, ix.wrapping_add(dx), iy.wrapping_add(dy)]);
    let top = at(0, 0) + (at(1, 0) - at(0, 0)) * sx;
    let bottom = at(0, 1) + (at(1, 1) - at(0, 1)) * sx;
    top + (bottom - top) * sy
}

/// The pinhole camera looking at the tilted screen: a homography from page to image, inverted.
struct CameraModel {
    /// Image → page, row-major 3×3.
    inverse: [f64; 9],
    /// Where the code's centre lands in the image, and its side there in pixels.
    code_centre: (f64, f64),
    code_side: f64,
}

impl CameraModel {
    fn place(d: &Distortion, page: &Page, rng: &mut SplitMix64) -> Result<Self, ScanError> {
        let (w, h) = (f64::from(d.width), f64::from(d.height));
        let side = d.code_size * h;
        let m = side / page.total; // pixels per module at the code's centre
                                   // A webcam's field of view: about 65° across.
        let f = 0.8 * w;
        let (theta, phi, psi) = (
            radians(d.tilt_deg),
            radians(d.tilt_axis_deg),
            radians(d.roll_deg),
        );
        // Rodrigues' rotation about the in-plane axis (cos φ, sin φ, 0) by θ, after a roll ψ.
        let (ax, ay) = (cos(phi), sin(phi));
        let (c, s) = (cos(theta), sin(theta));
        let tilt = [
            c + ax * ax * (1.0 - c),
            ax * ay * (1.0 - c),
            ay * s,
            ay * ax * (1.0 - c),
            c + ay * ay * (1.0 - c),
            -ax * s,
            -ay * s,
            ax * s,
            c,
        ];
        let (cr, sr) = (cos(psi), sin(psi));
        let roll = [cr, -sr, 0.0, sr, cr, 0.0, 0.0, 0.0, 1.0];
        let r = mat_mul(&tilt, &roll);
        // Page (u, v, 1) → camera: X = m·(u·r1 + v·r2) + (0, 0, f); image = K·X with the principal
        // point at (cx, cy), chosen below so that the code lies inside the frame.
        let project = |cx: f64, cy: f64| -> [f64; 9] {
            let k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0];
            let rt = [
                m * r[0],
                m * r[1],
                0.0,
                m * r[3],
                m * r[4],
                0.0,
                m * r[6],
                m * r[7],
                f,
            ];
            mat_mul(&k, &rt)
        };
        let at_origin = project(0.0, 0.0);
        let half = page.total / 2.0;
        let corners = [(-half, -half), (half, -half), (half, half), (-half, half)];
        let mut bounds = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (u, v) in corners {
            let (x, y) = apply(&at_origin, u, v)
                .ok_or_else(|| ScanError::Generate("the code is behind the camera".into()))?;
            bounds = (
                bounds.0.min(x),
                bounds.1.min(y),
                bounds.2.max(x),
                bounds.3.max(y),
            );
        }
        let margin = 0.02 * h;
        let pick = |rng: &mut SplitMix64, lo: f64, hi: f64, extent: f64| {
            let (lo, hi) = (margin - lo, extent - margin - hi);
            if lo < hi {
                rng.range(lo, hi)
            } else {
                (lo + hi) / 2.0
            }
        };
        let cx = pick(rng, bounds.0, bounds.2, w);
        let cy = pick(rng, bounds.1, bounds.3, h);
        let forward = project(cx, cy);
        let inverse = mat_inverse(&forward)
            .ok_or_else(|| ScanError::Generate("the screen is seen edge-on".into()))?;
        let code_centre = apply(&forward, 0.0, 0.0).unwrap_or((cx, cy));
        Ok(CameraModel {
            inverse,
            code_centre,
            code_side: side,
        })
    }

    /// The page point seen at image point (x, y), if the screen's plane is in front there.
    fn to_page(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        apply(&self.inverse, x, y)
    }
}

fn mat_mul(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    let mut out = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
        }
    }
    out
}

fn mat_inverse(a: &[f64; 9]) -> Option<[f64; 9]> {
    let cof = [
        a[4] * a[8] - a[5] * a[7],
        a[2] * a[7] - a[1] * a[8],
        a[1] * a[5] - a[2] * a[4],
        a[5] * a[6] - a[3] * a[8],
        a[0] * a[8] - a[2] * a[6],
        a[2] * a[3] - a[0] * a[5],
        a[3] * a[7] - a[4] * a[6],
        a[1] * a[6] - a[0] * a[7],
        a[0] * a[4] - a[1] * a[3],
    ];
    let det = a[0] * cof[0] + a[1] * cof[3] + a[2] * cof[6];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    Some(cof.map(|c| c / det))
}

/// Applies a homography to (x, y); None where the point would be behind the camera.
fn apply(hm: &[f64; 9], x: f64, y: f64) -> Option<(f64, f64)> {
    let w = hm[6] * x + hm[7] * y + hm[8];
    if w.abs() < 1e-12 {
        return None;
    }
    let (px, py) = (
        (hm[0] * x + hm[1] * y + hm[2]) / w,
        (hm[3] * x + hm[4] * y + hm[5]) / w,
    );
    Some((px, py))
}

/// Uneven light and glare, in image coordinates.
struct Lighting {
    gradient: (f64, f64),
    shading: f64,
    centre: (f64, f64),
    half_diag: f64,
    glare: f64,
    glare_at: (f64, f64),
    /// The glare ellipse: inverse squared deviations along its axes, and its axis direction.
    glare_shape: (f64, f64, f64, f64),
}

impl Lighting {
    fn new(d: &Distortion, camera: &CameraModel, rng: &mut SplitMix64) -> Self {
        let (w, h) = (f64::from(d.width), f64::from(d.height));
        let angle = rng.range(0.0, 2.0 * PI);
        let (cx, cy) = camera.code_centre;
        let reach = camera.code_side * 0.4;
        let sigma = h * rng.range(0.05, 0.1);
        let stretch = rng.range(1.0, 2.2);
        let axis = rng.range(0.0, PI);
        Lighting {
            gradient: (cos(angle), sin(angle)),
            shading: d.shading,
            centre: (w / 2.0, h / 2.0),
            half_diag: (w * w + h * h).sqrt() / 2.0,
            glare: d.glare * 255.0,
            glare_at: (cx + rng.range(-reach, reach), cy + rng.range(-reach, reach)),
            glare_shape: (
                1.0 / (sigma * sigma * stretch * stretch),
                1.0 / (sigma * sigma),
                cos(axis),
                sin(axis),
            ),
        }
    }

    fn apply(&self, grey: f64, x: f64, y: f64) -> f64 {
        let (nx, ny) = (
            (x - self.centre.0) / self.half_diag,
            (y - self.centre.1) / self.half_diag,
        );
        let gain = 1.0 + self.shading * (0.6 * (self.gradient.0 * nx + self.gradient.1 * ny))
            - self.shading * 0.5 * (nx * nx + ny * ny);
        let mut out = grey * gain;
        if self.glare > 0.0 {
            let (dx, dy) = (x - self.glare_at.0, y - self.glare_at.1);
            let (a, b, c, s) = self.glare_shape;
            let (along, across) = (dx * c + dy * s, -dx * s + dy * c);
            out += self.glare * exp_neg(-0.5 * (along * along * a + across * across * b));
        }
        out
    }
}

/// Separable Gaussian blur with deviation `sigma` pixels, edges clamped.
fn gaussian_blur(buf: &mut [f32], w: usize, h: usize, sigma: f64) {
    if sigma < 0.2 || w == 0 || h == 0 {
        return;
    }
    let radius = (sigma * 3.0).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let t = i as f64 - radius as f64;
            exp_neg(-t * t / (2.0 * sigma * sigma)) as f32
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    for k in &mut kernel {
        *k /= total;
    }
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        let row = &buf[y * w..(y + 1) * w];
        for x in 0..w {
            let mut acc = 0f32;
            for (i, k) in kernel.iter().enumerate() {
                let sx = (x + i).saturating_sub(radius).min(w - 1);
                acc += k * row[sx];
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0f32;
            for (i, k) in kernel.iter().enumerate() {
                let sy = (y + i).saturating_sub(radius).min(h - 1);
                acc += k * tmp[sy * w + x];
            }
            buf[y * w + x] = acc;
        }
    }
}

/// Generated camera-like frames: each [`Scene`] in turn, drawn when asked for.
#[derive(Debug, Clone)]
pub struct SyntheticFrames {
    scenes: std::collections::VecDeque<Scene>,
    live: bool,
}

impl SyntheticFrames {
    /// A source giving one frame per scene, in order, then ending.
    pub fn new(scenes: Vec<Scene>) -> Self {
        SyntheticFrames {
            scenes: scenes.into(),
            live: false,
        }
    }

    /// `count` frames of a code of `text`, spoiled by `distortion`, each with its own seed (derived
    /// from `seed`), so the code moves a little between frames as a hand-held camera's does.
    pub fn of_text(text: &str, distortion: Distortion, count: usize, seed: u64) -> Self {
        let scenes = (0..count as u64)
            .map(|i| Scene {
                subject: Subject::Code(text.to_string()),
                distortion: distortion.clone(),
                seed: mix(seed ^ i),
            })
            .collect();
        Self::new(scenes)
    }

    /// Makes the source behave like a camera: the scanner keeps only the newest frame and drops
    /// frames the decoder has no time for.
    pub fn live(mut self) -> Self {
        self.live = true;
        self
    }
}

impl FrameSource for SyntheticFrames {
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError> {
        match self.scenes.pop_front() {
            None => Ok(None),
            Some(scene) => scene.render().map(Some),
        }
    }

    fn is_live(&self) -> bool {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_functions_agree_with_the_library_ones() {
        for i in -40..40 {
            let x = f64::from(i) * 0.37;
            assert!((sin(x) - x.sin()).abs() < 1e-9, "sin {x}");
            assert!((cos(x) - x.cos()).abs() < 1e-9, "cos {x}");
        }
        for i in 0..200 {
            let x = -f64::from(i) * 0.25;
            assert!(
                (exp_neg(x) - x.exp()).abs() < 1e-12 + 1e-9 * x.exp(),
                "exp {x}"
            );
        }
    }

    #[test]
    fn a_seed_draws_the_same_frame_every_time() {
        let scene = Scene {
            subject: Subject::Code("https://example.com/".into()),
            distortion: Distortion::harsh(320, 240),
            seed: 7,
        };
        let a = scene.render().unwrap();
        let b = scene.render().unwrap();
        assert_eq!(a, b);
        let other = Scene { seed: 8, ..scene }.render().unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn distortions_out_of_range_are_refused() {
        let mut d = Distortion::mild(320, 240);
        d.blur_px = f64::NAN;
        let scene = Scene {
            subject: Subject::Page,
            distortion: d,
            seed: 1,
        };
        assert!(matches!(scene.render(), Err(ScanError::Generate(_))));
        let huge = Scene {
            distortion: Distortion::mild(5000, 240),
            ..scene
        };
        assert!(matches!(huge.render(), Err(ScanError::Generate(_))));
    }

    #[test]
    fn a_text_too_long_for_a_qr_code_is_refused() {
        let scene = Scene {
            subject: Subject::Code("x".repeat(5000)),
            distortion: Distortion::mild(320, 240),
            seed: 1,
        };
        let err = scene.render().unwrap_err().to_string();
        assert!(err.contains("cannot make a QR code"), "{err}");
    }
}
