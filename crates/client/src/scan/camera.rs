//! The desktop camera through `nokhwa` (V4L2 on Linux, AVFoundation on macOS, Media Foundation on
//! Windows). Not compiled for Android and iOS, where the app supplies frames itself.
//!
//! `nokhwa` is built without its MJPEG decoding, so frames are asked for in a format turned into
//! grey here: GRAY, YUYV and NV12 (the luma plane is taken as is), RGB/BGR, or MJPEG (decoded
//! with `image`'s JPEG decoder).
//!
//! A `nokhwa::Camera` may not move between threads (without `nokhwa`'s `camera-sync-impl`), so
//! [`Camera`] opens and reads it on a capture thread of its own and keeps only the newest frame
//! for [`FrameSource::next_frame`]: a slow reader gets the latest picture, never a queue.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, CameraInfo, FrameFormat, RequestedFormat,
    RequestedFormatType,
};

use super::scanner::{Mailbox, Taken};
use super::{Frame, FrameSource, ScanError};

/// The formats civkey can turn into grey, in order of preference (uncompressed first: no decode).
const FORMATS: &[FrameFormat] = &[
    FrameFormat::GRAY,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::MJPEG,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
];

/// How many unreadable frames in a row are put up with before the camera counts as failed.
const MAX_BAD_FRAMES: u32 = 30;

/// A desktop camera, streaming on its own capture thread. Dropping it stops the stream (after
/// the frame being captured, without waiting for it).
pub struct Camera {
    frames: Arc<Mailbox>,
    name: String,
}

impl Camera {
    /// Opens camera `index` (the first when `None`) at the format best for scanning: about 720p
    /// (up to 1080p), at least 15 frames per second, uncompressed where offered. With no camera
    /// at all: [`ScanError::NoCamera`].
    pub fn open(index: Option<u32>) -> Result<Camera, ScanError> {
        let cameras = list()?;
        if cameras.is_empty() {
            return Err(ScanError::NoCamera);
        }
        let wanted = index.unwrap_or(0);
        let info = cameras
            .iter()
            .find(|c| matches!(c.index(), CameraIndex::Index(i) if *i == wanted))
            .or_else(|| {
                if index.is_none() {
                    cameras.first()
                } else {
                    None
                }
            })
            .ok_or_else(|| {
                ScanError::Camera(format!(
                    "there is no camera number {wanted}; {} found (numbers: {})",
                    cameras.len(),
                    cameras
                        .iter()
                        .map(|c| c.index().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .clone();
        let name = info.human_name();
        let frames = Arc::new(Mailbox::default());
        let (opened_tx, opened_rx) = mpsc::channel();
        {
            let frames = Arc::clone(&frames);
            thread::Builder::new()
                .name("civkey-camera".into())
                .spawn(move || capture(&info, &frames, &opened_tx))
                .map_err(|e| ScanError::Camera(format!("cannot start the capture thread: {e}")))?;
        }
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(Camera { frames, name }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ScanError::Camera(format!("{name} stopped while opening"))),
        }
    }

    /// The camera's name, as the system gives it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The capture thread: opens the camera, reports how that went, then streams frames into
/// `frames` until the [`Camera`] is dropped or the camera fails.
fn capture(info: &CameraInfo, frames: &Mailbox, opened: &mpsc::Sender<Result<(), ScanError>>) {
    let name = info.human_name();
    let requested = RequestedFormat::with_formats(RequestedFormatType::None, FORMATS);
    let mut camera = match nokhwa::Camera::new(info.index().clone(), requested) {
        Ok(camera) => camera,
        Err(e) => {
            let _ = opened.send(Err(ScanError::Camera(format!("cannot open {name}: {e}"))));
            return;
        }
    };
    if let Ok(formats) = camera.compatible_camera_formats() {
        if let Some(best) = choose_format(&formats) {
            let exact = RequestedFormat::with_formats(RequestedFormatType::Exact(best), FORMATS);
            // If the camera refuses, it keeps the format it opened with: still usable.
            let _ = camera.set_camera_requset(exact);
        }
    }
    if let Err(e) = camera.open_stream() {
        let _ = opened.send(Err(ScanError::Camera(format!("cannot start {name}: {e}"))));
        return;
    }
    let _ = opened.send(Ok(()));
    let mut bad_frames = 0u32;
    while !frames.is_stopped() {
        let buffer = match camera.frame() {
            Ok(buffer) => buffer,
            Err(e) => {
                frames.close(Some(ScanError::Camera(format!(
                    "cannot read a frame from {name}: {e}"
                ))));
                break;
            }
        };
        let resolution = buffer.resolution();
        let format = buffer.source_frame_format();
        match to_grey(
            format,
            resolution.width(),
            resolution.height(),
            buffer.buffer(),
        ) {
            Ok(frame) => {
                bad_frames = 0;
                if !frames.put(frame, true) {
                    break;
                }
            }
            Err(reason) => {
                bad_frames += 1;
                if bad_frames >= MAX_BAD_FRAMES {
                    frames.close(Some(ScanError::Camera(format!(
                        "{MAX_BAD_FRAMES} frames in a row from {name} could not be read: {reason}"
                    ))));
                    break;
                }
            }
        }
    }
    let _ = camera.stop_stream();
}

/// The cameras `nokhwa` finds.
fn list() -> Result<Vec<CameraInfo>, ScanError> {
    let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
    nokhwa::query(backend).map_err(|e| ScanError::Camera(format!("cannot list the cameras: {e}")))
}

/// The format best for scanning among those offered: one civkey can read, at least 15 frames per
/// second if possible, the height closest to 720 (never above 1080 if avoidable), uncompressed
/// before MJPEG.
fn choose_format(formats: &[CameraFormat]) -> Option<CameraFormat> {
    formats
        .iter()
        .filter(|f| FORMATS.contains(&f.format()))
        .min_by_key(|f| {
            let height = f.resolution().height();
            (
                f.frame_rate() < 15,
                height > 1080,
                height.abs_diff(720),
                FORMATS.iter().position(|x| *x == f.format()),
                u32::MAX - f.frame_rate(),
            )
        })
        .copied()
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError> {
        match self.frames.take() {
            Taken::Frame(frame) => Ok(Some(frame)),
            Taken::SourceFailed(e) => Err(e),
            Taken::Ended => Ok(None),
        }
    }

    fn is_live(&self) -> bool {
        true
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.frames.stop();
    }
}

/// Turns a camera buffer into a grey frame.
fn to_grey(format: FrameFormat, width: u32, height: u32, data: &[u8]) -> Result<Frame, String> {
    let pixels = width as usize * height as usize;
    let short = || {
        format!(
            "a {format} frame of {width}×{height} has only {} bytes",
            data.len()
        )
    };
    let luma = match format {
        FrameFormat::GRAY => data.get(..pixels).ok_or_else(short)?.to_vec(),
        // The Y plane comes first, one byte per pixel.
        FrameFormat::NV12 => data.get(..pixels).ok_or_else(short)?.to_vec(),
        // Y0 U Y1 V: every other byte is a pixel's luma.
        FrameFormat::YUYV => data
            .get(..pixels * 2)
            .ok_or_else(short)?
            .iter()
            .step_by(2)
            .copied()
            .collect(),
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => {
            let (r, b) = if format == FrameFormat::RAWRGB {
                (0, 2)
            } else {
                (2, 0)
            };
            data.get(..pixels * 3)
                .ok_or_else(short)?
                .chunks_exact(3)
                .map(|p| {
                    let y = 299 * u32::from(p[r]) + 587 * u32::from(p[1]) + 114 * u32::from(p[b]);
                    (y / 1000) as u8
                })
                .collect()
        }
        FrameFormat::MJPEG => {
            let image = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                .map_err(|e| format!("an MJPEG frame could not be decoded: {e}"))?
                .into_luma8();
            return Frame::new(image.width(), image.height(), image.into_raw())
                .map_err(|e| e.to_string());
        }
    };
    Frame::new(width, height, luma).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nokhwa::utils::Resolution;

    #[test]
    fn without_a_camera_opening_one_says_so_and_offers_image_or_paste() {
        let cameras = list();
        match Camera::open(None) {
            Ok(_) => assert!(cameras.is_ok_and(|c| !c.is_empty())),
            Err(ScanError::NoCamera) => {
                assert!(cameras.unwrap().is_empty());
                let text = ScanError::NoCamera.to_string();
                assert!(text.contains("no camera was found"), "{text}");
                assert!(
                    text.contains("image file") && text.contains("paste the link"),
                    "{text}"
                );
            }
            Err(other) => {
                // Only possible on a machine where cameras exist or cannot be listed.
                assert!(!cameras.is_ok_and(|c| c.is_empty()), "{other}");
            }
        }
    }

    #[test]
    fn the_scanning_format_is_about_720p_uncompressed_and_fast_enough() {
        let f = |w, h, format, fps| CameraFormat::new(Resolution::new(w, h), format, fps);
        let offered = [
            f(640, 480, FrameFormat::YUYV, 30),
            f(1280, 720, FrameFormat::YUYV, 10),
            f(1280, 720, FrameFormat::MJPEG, 30),
            f(1920, 1080, FrameFormat::MJPEG, 30),
            f(3840, 2160, FrameFormat::MJPEG, 30),
        ];
        assert_eq!(choose_format(&offered), Some(offered[2]));
        let uncompressed = [
            f(1280, 720, FrameFormat::MJPEG, 30),
            f(1280, 720, FrameFormat::YUYV, 30),
        ];
        assert_eq!(choose_format(&uncompressed), Some(uncompressed[1]));
        assert_eq!(choose_format(&[]), None);
    }

    #[test]
    fn camera_buffers_become_grey_frames() {
        let yuyv = [10, 128, 20, 128, 30, 128, 40, 128];
        let frame = to_grey(FrameFormat::YUYV, 2, 2, &yuyv).unwrap();
        assert_eq!(frame.luma, vec![10, 20, 30, 40]);
        let nv12 = [1, 2, 3, 4, 128, 128];
        assert_eq!(
            to_grey(FrameFormat::NV12, 2, 2, &nv12).unwrap().luma,
            vec![1, 2, 3, 4]
        );
        let rgb = [255, 255, 255, 0, 0, 0];
        assert_eq!(
            to_grey(FrameFormat::RAWRGB, 2, 1, &rgb).unwrap().luma,
            vec![255, 0]
        );
        let err = to_grey(FrameFormat::YUYV, 640, 480, &yuyv).unwrap_err();
        assert!(err.contains("only 8 bytes"), "{err}");
        assert!(to_grey(FrameFormat::MJPEG, 2, 2, b"not a jpeg").is_err());
    }
}
