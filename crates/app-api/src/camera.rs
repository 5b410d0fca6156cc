//! Scanning with a camera: the client's [`Scanner`] over a frame source, its previews turned into
//! small JPEG data URLs and everything sent to the screen as [`CameraEvent`]s.
//!
//! - Desktop: the client's nokhwa [`Camera`](civkey_client::scan::Camera) is the source.
//! - Android and iOS: nokhwa has no backend there. The screen opens the camera in the webview
//!   (`getUserMedia`), draws frames on a canvas and hands them over with `camera_frame`
//!   ([`PushedFrames`]); the same scanner and decoder read them (docs/mobile.md). The source is
//!   built on every platform, so it is tested here.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use civkey_client::scan::{CancelHandle, Frame, FrameSource, ScanError, Scanner};
use civkey_client::{ClientError, CodeSummary};
use civkey_i18n::Locale;

use crate::dto::{CameraEvent, ReadResult};
use crate::error_code::ErrorCode;

/// Where camera events go (a Tauri channel in the app, a vector in tests).
pub type Sink = Arc<dyn Fn(CameraEvent) + Send + Sync>;

/// The longest side of a preview frame.
pub const PREVIEW_SIDE: u32 = 480;
/// The time between two previews: about five a second.
pub const PREVIEW_INTERVAL: Duration = Duration::from_millis(200);
/// A scan that has read nothing for this long stops (the screen offers to start again).
pub const SCAN_LIMIT: Duration = Duration::from_secs(5 * 60);
/// JPEG quality of the previews: a preview shows where the code is, not its modules.
const PREVIEW_QUALITY: u8 = 70;

/// Opens this computer's first camera and scans it; `no_camera` when there is none.
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub fn start_desktop(sink: Sink, locale: Locale) -> Result<CancelHandle, ClientError> {
    let camera = civkey_client::scan::Camera::open(None)?;
    run(Box::new(camera), sink, locale)
}

/// Platforms without a desktop camera: the webview feeds frames instead ([`PushedFrames`]).
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub fn start_desktop(_sink: Sink, _locale: Locale) -> Result<CancelHandle, ClientError> {
    Err(ScanError::NoCamera.into())
}

/// Scans `source` on a thread of its own: previews and then the code found (or the error) go to
/// `sink`. A cancelled scan sends nothing more.
pub fn run(
    source: Box<dyn FrameSource>,
    sink: Sink,
    locale: Locale,
) -> Result<CancelHandle, ClientError> {
    let previews = Arc::clone(&sink);
    let scanner =
        Scanner::new(SCAN_LIMIT).with_preview(PREVIEW_SIDE, PREVIEW_INTERVAL, move |frame| {
            if let Some(event) = preview(&frame) {
                previews(event);
            }
        });
    let cancel = scanner.cancel_handle();
    std::thread::Builder::new()
        .name("civkey-app-scan".into())
        .spawn(move || {
            let event = match scanner.run(source) {
                Ok(text) => match CodeSummary::read(&text) {
                    Ok(summary) => CameraEvent::Found {
                        result: ReadResult::new(text, &summary, locale),
                    },
                    Err(e) => error_event(&e),
                },
                Err(ScanError::Cancelled) => return,
                Err(e) => error_event(&ClientError::Scan(e)),
            };
            sink(event);
        })
        .map_err(|e| ScanError::Internal(format!("cannot start the scanning thread: {e}")))?;
    Ok(cancel)
}

fn error_event(error: &ClientError) -> CameraEvent {
    CameraEvent::Error {
        code: ErrorCode::from_code(error.code()).unwrap_or(ErrorCode::Internal),
        message: error.to_string(),
    }
}

/// A grey frame as a `data:image/jpeg;base64,…` preview.
pub fn preview(frame: &Frame) -> Option<CameraEvent> {
    let mut jpeg = Vec::with_capacity(frame.luma.len() / 8);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, PREVIEW_QUALITY)
        .encode(
            &frame.luma,
            frame.width,
            frame.height,
            image::ExtendedColorType::L8,
        )
        .ok()?;
    let data = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    Some(CameraEvent::Preview {
        image: format!("data:image/jpeg;base64,{data}"),
        width: frame.width,
        height: frame.height,
    })
}

/// Turns RGBA pixels (a canvas's `getImageData`) into a grey frame.
pub fn frame_from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Frame, ScanError> {
    let pixels = (width as usize).saturating_mul(height as usize);
    if rgba.len() != pixels.saturating_mul(4) {
        return Err(ScanError::InvalidFrame(format!(
            "a {width}×{height} RGBA frame needs {} bytes, not {}",
            pixels.saturating_mul(4),
            rgba.len()
        )));
    }
    let luma = rgba
        .chunks_exact(4)
        .map(|p| {
            let y = 299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]);
            (y / 1000) as u8
        })
        .collect();
    Frame::new(width, height, luma)
}

/// Frames handed over by the screen (the webview's camera on Android and iOS). Live: a frame not
/// yet read is replaced by a newer one. The source ends when its [`FramePusher`] is dropped, or
/// when no frame came for [`PushedFrames::IDLE_LIMIT`] (the screen went away).
pub struct PushedFrames {
    shared: Arc<Shared>,
}

/// The screen's end of [`PushedFrames`].
pub struct FramePusher {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Pushed>,
    changed: Condvar,
}

#[derive(Default)]
struct Pushed {
    frame: Option<Frame>,
    closed: bool,
}

impl PushedFrames {
    /// How long the source waits for a frame before it ends.
    pub const IDLE_LIMIT: Duration = Duration::from_secs(15);

    /// A source and the pusher that feeds it.
    pub fn new() -> (PushedFrames, FramePusher) {
        let shared = Arc::new(Shared::default());
        (
            PushedFrames {
                shared: Arc::clone(&shared),
            },
            FramePusher { shared },
        )
    }
}

impl FramePusher {
    /// Hands over a frame, replacing one not yet read.
    pub fn push(&self, frame: Frame) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.frame = Some(frame);
        self.shared.changed.notify_all();
    }
}

impl Drop for FramePusher {
    fn drop(&mut self) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        self.shared.changed.notify_all();
    }
}

impl FrameSource for PushedFrames {
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError> {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(frame) = state.frame.take() {
                return Ok(Some(frame));
            }
            if state.closed {
                return Ok(None);
            }
            let (next, timeout) = self
                .shared
                .changed
                .wait_timeout(state, Self::IDLE_LIMIT)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.frame.is_none() {
                return Err(ScanError::Camera(
                    "the camera sent no picture for 15 seconds".into(),
                ));
            }
        }
    }

    fn is_live(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use civkey_testkit::frames::{Distortion, Scene, Subject};

    const PAIRING: &str = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";

    fn collect() -> (Sink, Arc<Mutex<Vec<CameraEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&events);
        (
            Arc::new(move |event| into.lock().unwrap().push(event)),
            events,
        )
    }

    fn wait_for(events: &Mutex<Vec<CameraEvent>>, done: impl Fn(&CameraEvent) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !events.lock().unwrap().iter().any(&done) {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn without_a_camera_starting_one_says_no_camera() {
        // These machines have no camera; one that has gets a running scan instead.
        let (sink, _events) = collect();
        match start_desktop(sink, Locale::En) {
            Err(e) => assert!(
                matches!(e.code(), "no_camera" | "camera"),
                "{}: {e}",
                e.code()
            ),
            Ok(cancel) => cancel.cancel(),
        }
    }

    #[test]
    fn pushed_frames_are_previewed_and_the_code_is_found() {
        let frame = Scene {
            subject: Subject::Code(PAIRING.into()),
            distortion: Distortion::mild(640, 480),
            seed: 3,
        }
        .render()
        .unwrap();
        let (source, pusher) = PushedFrames::new();
        let (sink, events) = collect();
        let _cancel = run(Box::new(source), sink, Locale::En).unwrap();
        // As the webview does: RGBA pixels from a canvas.
        let rgba: Vec<u8> = frame.luma.iter().flat_map(|&y| [y, y, y, 255]).collect();
        pusher.push(frame_from_rgba(frame.width, frame.height, &rgba).unwrap());
        wait_for(&events, |e| matches!(e, CameraEvent::Found { .. }));
        let events = events.lock().unwrap();
        let preview = events
            .iter()
            .find_map(|e| match e {
                CameraEvent::Preview {
                    image,
                    width,
                    height,
                } => Some((image.clone(), *width, *height)),
                _ => None,
            })
            .expect("a preview");
        assert!(
            preview.0.starts_with("data:image/jpeg;base64,/9j/"),
            "{}",
            &preview.0[..40]
        );
        assert_eq!((preview.1, preview.2), (320, 240));
        let found = events.iter().find_map(|e| match e {
            CameraEvent::Found { result } => Some(result.clone()),
            _ => None,
        });
        let found = found.unwrap();
        assert_eq!(found.kind, crate::dto::ReadKind::Pair);
        assert_eq!(found.text, PAIRING);
        assert_eq!(found.summary, "Pairing QR code for https://id.example.gov");
    }

    #[test]
    fn a_cancelled_scan_sends_nothing_more_and_a_closed_source_says_why() {
        let (source, pusher) = PushedFrames::new();
        let (sink, events) = collect();
        let cancel = run(Box::new(source), sink, Locale::En).unwrap();
        cancel.cancel();
        std::thread::sleep(Duration::from_millis(100));
        drop(pusher);
        std::thread::sleep(Duration::from_millis(100));
        assert!(events.lock().unwrap().is_empty());

        let (source, pusher) = PushedFrames::new();
        let (sink, events) = collect();
        let _cancel = run(Box::new(source), sink, Locale::En).unwrap();
        pusher.push(Frame::new(8, 8, vec![255; 64]).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        drop(pusher);
        wait_for(&events, |e| matches!(e, CameraEvent::Error { .. }));
        let events = events.lock().unwrap();
        assert!(events.iter().any(|e| matches!(
            e,
            CameraEvent::Error { code, .. } if code == "no_code"
        )));
    }

    #[test]
    fn rgba_frames_of_the_wrong_size_are_refused() {
        assert!(frame_from_rgba(2, 2, &[0; 15]).is_err());
        let frame = frame_from_rgba(1, 2, &[255, 255, 255, 255, 0, 0, 0, 255]).unwrap();
        assert_eq!(frame.luma, vec![255, 0]);
    }
}
