//! The QR decoders (`rxing`, `rqrr`) and the strategy that combines them.

use std::collections::HashSet;

use rxing::common::HybridBinarizer;
use rxing::{BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, MultiFormatReader, Reader};

use super::Frame;

/// Which QR decoder reads a frame.
///
/// # The chosen strategy, and why
///
/// Measured on one core (`taskset -c 1 cargo bench -p civkey-client --bench scan`) over the
/// committed corpus in `tests/fixtures/qr` (39 frames with a code and 12 without, 480p to 1080p,
/// tilt up to 15°, blur, low contrast, glare, noise, JPEG) and over 102 fresh frames of the same
/// make-up drawn from other seeds, which the choice was not made on:
///
/// | decoder | read: corpus | read: fresh frames | false reads | median ms, 1080p | 480p |
/// |---|---|---|---|---|---|
/// | `rxing` | 35/39 | 74/78 | 0/36 | 7–9 | 1.4–1.9 |
/// | `rqrr` | 25/39 | 45/78 | 0/36 | 44–50 | 9–15 |
/// | chosen | 39/39 | 77/78 | 0/36 | 7–9 (16–20 without a code) | 1.4–1.9 |
///
/// - `rqrr` is 5–10 times slower than `rxing` at every resolution and reads no frame that `rxing`
///   misses (on either set), so it wins nowhere and is not part of the strategy; it stays
///   available here for the benchmark's comparison.
/// - `rxing`'s misses are the harsh frames: low contrast, blur and glare together. Its hybrid
///   binariser treats any 8×8 block whose grey values span 24 levels or less as uniform, and a
///   code of 90 against 160 grey, blurred and washed out by a reflection, has many such blocks.
///   `TryHarder` does not help (it searches more rows for finder patterns: same misses, more
///   time).
/// - So the strategy runs `rxing` on the frame, and only when it finds nothing runs `rxing`
///   again on a contrast-normalised copy (each pixel's distance from the local mean in local
///   standard deviations), halved first from 720p up. Normalising every frame reads as much but
///   costs about 20 ms per 1080p frame; as a second pass it costs nothing on frames read at once
///   and brings a frame without a code to about 16–20 ms, within a 30 fps camera's budget.
///
/// The ranges are the spread over several runs on a shared two-core virtual machine; figures
/// and the command are in `docs/benchmarks.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoder {
    /// `rxing` 0.9 (a Rust port of ZXing and ZXing-C++), QR only, `TryHarder` off.
    Rxing,
    /// `rqrr` 0.11 (a Rust port of quirc).
    Rqrr,
    /// The strategy [`decode`] uses, chosen by measurement (see above).
    Chosen,
}

impl Decoder {
    /// A short name for reports and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Decoder::Rxing => "rxing",
            Decoder::Rqrr => "rqrr",
            Decoder::Chosen => "chosen strategy",
        }
    }
}

/// Every QR text found in `frame` by the chosen strategy ([`Decoder::Chosen`]); empty when none
/// is found or the frame is invalid. Never panics, whatever the pixels.
pub fn decode(frame: &Frame) -> Vec<String> {
    decode_with(Decoder::Chosen, frame)
}

/// Every QR text found in `frame` by one decoder, without duplicates.
pub fn decode_with(decoder: Decoder, frame: &Frame) -> Vec<String> {
    if frame.check().is_err() {
        return Vec::new();
    }
    match decoder {
        Decoder::Rxing => rxing(frame, false).into_iter().collect(),
        Decoder::Rqrr => rqrr(frame),
        Decoder::Chosen => chosen(frame),
    }
}

/// The chosen strategy: `rxing` on the frame as it is; if that finds nothing, `rxing` on a
/// contrast-normalised copy, halved first from 720p up (the halving keeps the second pass cheap,
/// and modules are still 2–5 pixels wide).
fn chosen(frame: &Frame) -> Vec<String> {
    if let Some(text) = rxing(frame, false) {
        return vec![text];
    }
    let normalised = if frame.height >= 720 {
        normalise(&frame.downscaled(frame.width.max(frame.height) / 2), 8)
    } else {
        normalise(frame, 8)
    };
    rxing(&normalised, false).into_iter().collect()
}

/// For a single picture the user chose (a screenshot, a photo): effort matters more than time.
/// The chosen strategy, then `rxing` trying harder, then the same on the negative (a code shown
/// light on dark), then on a halved copy (a very large photo).
pub(crate) fn decode_thoroughly(frame: &Frame) -> Vec<String> {
    let attempts = |frame: &Frame| -> Vec<String> {
        let texts = decode(frame);
        if !texts.is_empty() {
            return texts;
        }
        rxing(frame, true).into_iter().collect()
    };
    let texts = attempts(frame);
    if !texts.is_empty() {
        return texts;
    }
    let texts = attempts(&frame.inverted());
    if !texts.is_empty() {
        return texts;
    }
    let longest = frame.width.max(frame.height);
    if longest >= 1600 {
        return attempts(&frame.downscaled(longest / 2));
    }
    Vec::new()
}

/// `rxing`: ZXing-C++'s QR reader, then ZXing's, on a hybrid (local-threshold) binarisation.
fn rxing(frame: &Frame, try_harder: bool) -> Option<String> {
    let source = Luma8Source::new_with_slice(&frame.luma, frame.width, frame.height).ok()?;
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let hints = DecodeHints {
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        TryHarder: Some(try_harder),
        ..DecodeHints::default()
    };
    let mut reader = MultiFormatReader::default();
    let result = reader.decode_with_hints(&mut bitmap, &hints).ok()?;
    Some(result.getText().to_string())
}

/// `rqrr`: every grid it finds that decodes, in order, without duplicates.
fn rqrr(frame: &Frame) -> Vec<String> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let luma = &frame.luma;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        luma.get(y * w + x).copied().unwrap_or(255)
    });
    let mut texts = Vec::new();
    for grid in image.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
    }
    texts
}

/// Local contrast normalisation: each pixel's distance from the local mean, in local standard
/// deviations (`128 + 60·(p − mean)/(sd + 8)`). Statistics are taken on 8×8 blocks, averaged over
/// a window of about `height / div` pixels, and interpolated between block centres.
///
/// This is what lifts a low-contrast code under glare above `rxing`'s binariser, which takes any
/// block whose grey values span less than 24 levels for a flat area.
fn normalise(frame: &Frame, div: u32) -> Frame {
    if frame.check().is_err() {
        return frame.clone();
    }
    const B: usize = 8;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (bw, bh) = (w.div_ceil(B), h.div_ceil(B));
    // Per-block sums.
    let mut bsum = vec![0u64; bw * bh];
    let mut bsq = vec![0u64; bw * bh];
    for y in 0..h {
        let row = &frame.luma[y * w..(y + 1) * w];
        let brow = (y / B) * bw;
        for (bx, chunk) in row.chunks(B).enumerate() {
            let (mut s, mut q) = (0u64, 0u64);
            for &p in chunk {
                let p = u64::from(p);
                s += p;
                q += p * p;
            }
            bsum[brow + bx] += s;
            bsq[brow + bx] += q;
        }
    }
    // Integral images over blocks.
    let iw = bw + 1;
    let mut isum = vec![0u64; iw * (bh + 1)];
    let mut isq = vec![0u64; iw * (bh + 1)];
    for by in 0..bh {
        let (mut rs, mut rq) = (0u64, 0u64);
        for bx in 0..bw {
            rs += bsum[by * bw + bx];
            rq += bsq[by * bw + bx];
            isum[(by + 1) * iw + bx + 1] = isum[by * iw + bx + 1] + rs;
            isq[(by + 1) * iw + bx + 1] = isq[by * iw + bx + 1] + rq;
        }
    }
    let r = ((h / div.max(1) as usize) / B / 2).max(1);
    let mut mean = vec![0f32; bw * bh];
    let mut gain = vec![0f32; bw * bh];
    for by in 0..bh {
        let (y0, y1) = (by.saturating_sub(r), (by + r + 1).min(bh));
        for bx in 0..bw {
            let (x0, x1) = (bx.saturating_sub(r), (bx + r + 1).min(bw));
            let area =
                |t: &[u64]| t[y1 * iw + x1] + t[y0 * iw + x0] - t[y0 * iw + x1] - t[y1 * iw + x0];
            // Pixels in the window (edge blocks may be partial; close enough).
            let n = ((y1 - y0) * (x1 - x0) * B * B) as f32;
            let m = area(&isum) as f32 / n;
            let var = (area(&isq) as f32 / n - m * m).max(0.0);
            mean[by * bw + bx] = m;
            gain[by * bw + bx] = 60.0 / (var.sqrt() + 8.0);
        }
    }
    // Interpolate between block centres: across x by precomputed weights, down y row by row.
    let columns: Vec<(usize, usize, f32)> = (0..w)
        .map(|x| {
            let fx = ((x as f32 + 0.5) / B as f32 - 0.5).max(0.0);
            let bx0 = (fx as usize).min(bw - 1);
            (bx0, (bx0 + 1).min(bw - 1), fx - bx0 as f32)
        })
        .collect();
    let mut luma = vec![0u8; w * h];
    let mut row_mean = vec![0f32; bw];
    let mut row_gain = vec![0f32; bw];
    for (y, out) in luma.chunks_exact_mut(w).enumerate() {
        let fy = ((y as f32 + 0.5) / B as f32 - 0.5).max(0.0);
        let by0 = (fy as usize).min(bh - 1);
        let by1 = (by0 + 1).min(bh - 1);
        let ty = fy - by0 as f32;
        for bx in 0..bw {
            let (a, b) = (mean[by0 * bw + bx], mean[by1 * bw + bx]);
            row_mean[bx] = a + (b - a) * ty;
            let (a, b) = (gain[by0 * bw + bx], gain[by1 * bw + bx]);
            row_gain[bx] = a + (b - a) * ty;
        }
        let input = &frame.luma[y * w..(y + 1) * w];
        for ((o, &p), &(b0, b1, tx)) in out.iter_mut().zip(input).zip(&columns) {
            let m = row_mean[b0] + (row_mean[b1] - row_mean[b0]) * tx;
            let g = row_gain[b0] + (row_gain[b1] - row_gain[b0]) * tx;
            *o = (128.0 + (f32::from(p) - m) * g).clamp(0.0, 255.0) as u8;
        }
    }
    Frame {
        width: frame.width,
        height: frame.height,
        luma,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore as _, SeedableRng as _};

    fn clean_code(text: &str, scale: usize) -> Frame {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let n = code.width();
        let side = (n + 8) * scale;
        let colors = code.to_colors();
        let mut luma = vec![255u8; side * side];
        for y in 0..n {
            for x in 0..n {
                if colors[y * n + x] == qrcode::Color::Dark {
                    for dy in 0..scale {
                        let row = (y + 4) * scale + dy;
                        let start = row * side + (x + 4) * scale;
                        luma[start..start + scale].fill(0);
                    }
                }
            }
        }
        Frame::new(side as u32, side as u32, luma).unwrap()
    }

    #[test]
    fn each_decoder_reads_a_clean_code() {
        let frame = clean_code("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", 4);
        for decoder in [Decoder::Rxing, Decoder::Rqrr, Decoder::Chosen] {
            assert_eq!(
                decode_with(decoder, &frame),
                vec!["otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".to_string()],
                "{decoder:?}"
            );
        }
    }

    #[test]
    fn a_light_on_dark_code_is_read_from_an_image_but_not_by_the_live_decoder() {
        let frame = clean_code("https://example.com/", 4).inverted();
        assert_eq!(
            decode_thoroughly(&frame),
            vec!["https://example.com/".to_string()]
        );
    }

    #[test]
    fn odd_sizes_and_random_pixels_decode_to_nothing_without_panicking() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let sizes = [
            (1, 1),
            (1, 7),
            (7, 1),
            (2, 2),
            (3, 50),
            (50, 3),
            (17, 13),
            (64, 64),
            (333, 97),
        ];
        for (w, h) in sizes {
            for fill in 0..3 {
                let luma = (0..w * h)
                    .map(|_| match fill {
                        0 => 0,
                        1 => 255,
                        _ => rng.next_u64() as u8,
                    })
                    .collect();
                let frame = Frame::new(w, h, luma).unwrap();
                for decoder in [Decoder::Rxing, Decoder::Rqrr, Decoder::Chosen] {
                    assert!(
                        decode_with(decoder, &frame).is_empty(),
                        "{w}x{h} {decoder:?}"
                    );
                }
                assert!(decode_thoroughly(&frame).is_empty());
            }
        }
    }

    #[test]
    fn a_frame_whose_buffer_does_not_match_its_size_decodes_to_nothing() {
        let frame = Frame {
            width: 100,
            height: 100,
            luma: vec![0; 10],
        };
        assert!(decode(&frame).is_empty());
        let frame = Frame {
            width: 0,
            height: 0,
            luma: Vec::new(),
        };
        assert!(decode(&frame).is_empty());
    }
}
