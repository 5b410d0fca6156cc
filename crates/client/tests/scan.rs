//! Scanning end to end: bad input, the scanning loop, frames (drawn by `civkey_testkit`).

// Test code: a broken fixture fails the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use civkey_client::scan::{
    scan, scan_image, scan_image_bytes, Found, Frame, FrameSource, ImageFiles, ScanError, Scanner,
};
use civkey_testkit::frames::{Distortion, Scene, Subject, SyntheticFrames};

/// A scratch folder for one test, removed when dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("civkey-scan-{name}-"))
        .tempdir()
        .unwrap()
}

fn scene(subject: Subject, seed: u64) -> Scene {
    Scene {
        subject,
        distortion: Distortion::mild(640, 480),
        seed,
    }
}

fn save_png(frame: &Frame, path: &Path) {
    image::GrayImage::from_raw(frame.width, frame.height, frame.luma.clone())
        .unwrap()
        .save(path)
        .unwrap();
}

const PAIRING: &str = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";

fn image_reason(result: Result<Vec<String>, ScanError>) -> String {
    match result {
        Err(ScanError::Image { reason, .. }) => reason,
        other => panic!("expected an image error, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_reported_as_missing() {
    let dir = scratch("missing");
    let path = dir.path().join("nowhere.png");
    let err = scan_image(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("nowhere.png") && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_an_image_is_reported_as_such() {
    let scratch_dir = scratch("not-image");
    let dir = scratch_dir.path();
    let path = dir.join("notes.png");
    std::fs::write(&path, "civkey://pair?v=1 is a link, not a picture\n").unwrap();
    assert!(image_reason(scan_image(&path)).contains("not a PNG or JPEG picture"));
    let gif = dir.join("anim.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    assert!(image_reason(scan_image(&gif)).contains("GIF image; civkey reads PNG and JPEG"));
    let empty = dir.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    assert!(image_reason(scan_image(&empty)).contains("empty"));
    assert!(image_reason(scan_image(dir)).contains("folder"));
}

#[test]
fn a_truncated_png_is_reported_as_cut_short() {
    let scratch_dir = scratch("truncated");
    let dir = scratch_dir.path();
    let full = dir.join("full.png");
    save_png(
        &scene(Subject::Code(PAIRING.into()), 1).render().unwrap(),
        &full,
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let reason = image_reason(scan_image(&cut));
    assert!(reason.contains("cut short"), "{reason}");
    let header_only = dir.join("header.png");
    std::fs::write(&header_only, &bytes[..40]).unwrap();
    let reason = image_reason(scan_image(&header_only));
    assert!(
        reason.contains("cut short") || reason.contains("damaged"),
        "{reason}"
    );
}

#[test]
fn an_image_without_a_code_says_no_code_was_found() {
    let scratch_dir = scratch("no-code");
    let dir = scratch_dir.path();
    let path = dir.join("desk.png");
    save_png(&scene(Subject::Page, 3).render().unwrap(), &path);
    let err = scan_image(&path).unwrap_err();
    assert!(matches!(err, ScanError::NoCodeInImage { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("no QR code was found in"),
        "{err}"
    );
}

#[test]
fn a_code_that_is_not_civkey_is_reported_as_such_not_as_nothing_found() {
    let scratch_dir = scratch("other-code");
    let dir = scratch_dir.path();
    let path = dir.join("web.png");
    save_png(
        &scene(Subject::Code("https://example.com/".into()), 4)
            .render()
            .unwrap(),
        &path,
    );
    let texts = scan_image(&path).unwrap();
    assert_eq!(texts, vec!["https://example.com/".to_string()]);
    let found = Found::classify(texts[0].clone());
    assert!(matches!(found, Found::NotCivkey { .. }));
    assert_eq!(found.describe(), "“https://example.com/”");

    let err = scan(
        Box::new(ImageFiles::new(vec![path])),
        Duration::from_secs(30),
    )
    .unwrap_err();
    assert!(
        matches!(err, ScanError::NotCivkey { codes: 1, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("not a civkey or one-time code"), "{text}");
    assert!(text.contains("https://example.com/"), "{text}");
    assert!(!text.contains("no QR code"), "{text}");
}

#[test]
fn a_broken_civkey_link_is_described_without_its_secret() {
    let text = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=12";
    let found = Found::classify(text);
    let shown = format!("{} {found:?}", found.describe());
    assert!(shown.contains("otpauth: link civkey cannot use"), "{shown}");
    assert!(!shown.contains("JBSWY3DPEHPK3PXP"), "{shown}");
    let code = Found::classify(PAIRING);
    assert_eq!(code.describe(), "a civkey pairing link");
    assert!(!format!("{code:?}").contains("EBESExQVFhcYGRobHB0eHw"));
}

#[test]
fn scanning_generated_frames_finds_the_code() {
    let frames = SyntheticFrames::of_text(PAIRING, Distortion::harsh(640, 480), 3, 11);
    assert_eq!(
        scan(Box::new(frames), Duration::from_secs(60)).unwrap(),
        PAIRING
    );
}

#[test]
fn scanning_skips_a_code_that_is_not_civkey_and_finds_the_next() {
    let frames = SyntheticFrames::new(vec![
        scene(Subject::Code("https://example.com/".into()), 5),
        scene(Subject::Page, 6),
        scene(Subject::Code(PAIRING.into()), 7),
    ]);
    assert_eq!(
        scan(Box::new(frames), Duration::from_secs(60)).unwrap(),
        PAIRING
    );
}

#[test]
fn a_source_that_runs_out_gives_nothing_found_with_the_count() {
    let frames = SyntheticFrames::new(vec![scene(Subject::Desk, 8), scene(Subject::Page, 9)]);
    let err = scan(Box::new(frames), Duration::from_secs(60)).unwrap_err();
    assert!(
        matches!(err, ScanError::NothingFound { frames: 2 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no QR code was found (2 pictures looked at)"
    );
}

#[test]
fn a_code_read_before_a_bad_file_wins_and_a_bad_file_first_is_reported() {
    let scratch_dir = scratch("order");
    let dir = scratch_dir.path();
    let good = dir.join("good.png");
    save_png(
        &scene(Subject::Code(PAIRING.into()), 10).render().unwrap(),
        &good,
    );
    let missing = dir.join("missing.png");
    let source = ImageFiles::new(vec![good.clone(), missing.clone()]);
    assert_eq!(
        scan(Box::new(source), Duration::from_secs(30)).unwrap(),
        PAIRING
    );
    let source = ImageFiles::new(vec![missing, good]);
    let err = scan(Box::new(source), Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, ScanError::Image { .. }), "{err:?}");
}

/// Blank frames for ever, like a camera pointed at a wall.
struct Wall {
    live: bool,
}

impl FrameSource for Wall {
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError> {
        std::thread::sleep(Duration::from_millis(2));
        Frame::new(64, 48, vec![128; 64 * 48]).map(Some)
    }

    fn is_live(&self) -> bool {
        self.live
    }
}

#[test]
fn a_scan_that_finds_nothing_times_out() {
    for live in [false, true] {
        let start = Instant::now();
        let err = scan(Box::new(Wall { live }), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ScanError::Timeout), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("paste the link"));
    }
}

#[test]
fn a_scan_stops_when_cancelled_and_previews_what_it_sees() {
    let previews = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&previews);
    let scanner = Scanner::new(Duration::from_secs(30)).with_preview(
        16,
        Duration::from_millis(10),
        move |frame| sink.lock().unwrap().push((frame.width, frame.height)),
    );
    let cancel = scanner.cancel_handle();
    // Cancel once the scanner has shown a preview or two (it is then surely running), and time
    // how long it ran to bound the number of previews.
    let seen = std::sync::Arc::clone(&previews);
    let stopper = std::thread::spawn(move || {
        civkey_testkit::wait_until_blocking("two previews", Duration::from_secs(30), || {
            (seen.lock().unwrap().len() >= 2).then_some(())
        });
        cancel.cancel();
    });
    let start = Instant::now();
    let err = scanner.run(Box::new(Wall { live: true })).unwrap_err();
    let ran = start.elapsed();
    stopper.join().unwrap();
    assert!(matches!(err, ScanError::Cancelled), "{err:?}");
    let previews = previews.lock().unwrap();
    assert!(!previews.is_empty());
    assert!(
        previews.iter().all(|&(w, h)| w <= 16 && h <= 16 && w > 0),
        "{previews:?}"
    );
    // No more than one preview per 10 ms (and the first at once).
    let most = ran.as_millis() / 10 + 2;
    assert!(
        previews.len() as u128 <= most,
        "{} in {ran:?}",
        previews.len()
    );
}

#[test]
fn a_frame_whose_buffer_does_not_match_its_size_is_refused() {
    let err = Frame::new(640, 480, vec![0; 640 * 479]).unwrap_err();
    assert!(matches!(err, ScanError::InvalidFrame(_)));
    assert!(err.to_string().contains("needs 307200 bytes"), "{err}");
    assert!(Frame::new(0, 10, Vec::new()).is_err());
    assert!(Frame::new(4097, 1, vec![0; 4097]).is_err());
    assert!(Frame::new(1, 1, vec![0]).is_ok());
    assert!(Frame::new(4096, 4096, vec![0; 4096 * 4096]).is_ok());
}

#[test]
fn frames_shrink_and_invert() {
    let frame = Frame::new(5, 3, (0..15).collect()).unwrap();
    let small = frame.downscaled(2);
    assert_eq!((small.width, small.height), (1, 1));
    assert_eq!(small.luma, vec![(1 + 2 + 5 + 6 + 7 + 10 + 11 + 12) / 9]);
    assert_eq!(frame.downscaled(10), frame);
    assert_eq!(frame.inverted().luma[0], 255);
    let broken = Frame {
        width: 100,
        height: 100,
        luma: vec![1],
    };
    assert_eq!(broken.downscaled(10), broken);
    let big = Frame::new(4096, 4096, vec![255; 4096 * 4096]).unwrap();
    let one = big.downscaled(1);
    assert_eq!((one.width, one.height, one.luma[0]), (1, 1, 255));
    let thin = Frame::new(4096, 3, vec![7; 4096 * 3])
        .unwrap()
        .downscaled(16);
    assert_eq!((thin.width, thin.height), (16, 1));
}

#[test]
fn a_picture_in_memory_is_read_like_a_file() {
    let scratch_dir = scratch("bytes");
    let dir = scratch_dir.path();
    let path = dir.join("pairing.png");
    save_png(
        &scene(Subject::Code(PAIRING.into()), 11).render().unwrap(),
        &path,
    );
    let bytes = std::fs::read(&path).unwrap();
    let name = Path::new("picture");
    assert_eq!(
        scan_image_bytes(&bytes, name).unwrap(),
        vec![PAIRING.to_string()]
    );
    assert!(image_reason(scan_image_bytes(b"", name)).contains("empty"));
    assert!(image_reason(scan_image_bytes(b"GIF89a....", name)).contains("GIF image"));
    assert!(image_reason(scan_image_bytes(&bytes[..bytes.len() / 2], name)).contains("cut short"));
    let blank = Frame::new(64, 64, vec![255; 64 * 64]).unwrap();
    let blank_path = dir.join("blank.png");
    save_png(&blank, &blank_path);
    assert!(matches!(
        scan_image_bytes(&std::fs::read(&blank_path).unwrap(), name),
        Err(ScanError::NoCodeInImage { .. })
    ));
}
