//! Image files (PNG, JPEG) as a frame source.

use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use image::{ImageError, ImageFormat, ImageReader, Limits};

use super::{Frame, FrameSource, ScanError};

/// The largest file read as a picture: a phone photo is a few MB.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The largest picture decoded (a 48-megapixel photo is 8000×6000); it is then shrunk to
/// [`Frame::MAX_SIDE`].
const MAX_IMAGE_SIDE: u32 = 16_384;

/// Image files, one frame each, in order.
#[derive(Debug, Clone)]
pub struct ImageFiles {
    paths: VecDeque<PathBuf>,
}

impl ImageFiles {
    /// A source reading `paths` in order; each file is decoded (PNG or JPEG) to grey when its
    /// turn comes, and a file that cannot be read ends the scan with [`ScanError::Image`].
    pub fn new(paths: Vec<PathBuf>) -> Self {
        ImageFiles {
            paths: paths.into(),
        }
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self) -> Result<Option<Frame>, ScanError> {
        match self.paths.pop_front() {
            None => Ok(None),
            Some(path) => load_image(&path).map(Some),
        }
    }
}

/// Reads a PNG or JPEG file as a grey frame, shrunk to at most [`Frame::MAX_SIDE`] on a side.
/// Every failure says which file and why: missing, not a PNG or JPEG, damaged or cut short.
pub fn load_image(path: &Path) -> Result<Frame, ScanError> {
    let fail = |reason: String| ScanError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| {
        fail(match e.kind() {
            std::io::ErrorKind::NotFound => "the file does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission to read it was denied".to_string(),
            _ => format!("the file cannot be opened ({e})"),
        })
    })?;
    let metadata = file
        .metadata()
        .map_err(|e| fail(format!("the file cannot be read ({e})")))?;
    if metadata.is_dir() {
        return Err(fail("it is a folder, not an image file".to_string()));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the file is {} MB, larger than the {} MB a picture of a QR code needs",
            metadata.len() / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("the file cannot be read ({e})")))?;
    decode_picture(&bytes, path)
}

/// Reads a PNG or JPEG picture held in memory (one the app's file picker handed over) as a grey
/// frame, as [`load_image`] does for a file; `name` stands for the file in messages.
pub fn load_image_bytes(bytes: &[u8], name: &Path) -> Result<Frame, ScanError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScanError::Image {
            path: name.to_path_buf(),
            reason: format!(
                "the picture is {} MB, larger than the {} MB a picture of a QR code needs",
                bytes.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        });
    }
    decode_picture(bytes, name)
}

fn decode_picture(bytes: &[u8], path: &Path) -> Result<Frame, ScanError> {
    let fail = |reason: String| ScanError::Image {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("the file is empty".to_string()));
    }
    let format = match image::guess_format(bytes) {
        Ok(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => format,
        Ok(other) => {
            let name = other
                .extensions_str()
                .first()
                .map(|e| e.to_ascii_uppercase())
                .unwrap_or_else(|| format!("{other:?}"));
            return Err(fail(format!(
                "it is a {name} image; civkey reads PNG and JPEG pictures"
            )));
        }
        Err(_) => return Err(fail("it is not a PNG or JPEG picture".to_string())),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| fail(image_error_reason(&e)))?;
    let grey = image.into_luma8();
    let (w, h) = grey.dimensions();
    let mut frame = Frame {
        width: w,
        height: h,
        luma: grey.into_raw(),
    };
    if w.max(h) > Frame::MAX_SIDE {
        frame = frame.downscaled(Frame::MAX_SIDE);
    }
    frame.check().map_err(|e| fail(e.to_string()))?;
    Ok(frame)
}

fn image_error_reason(e: &ImageError) -> String {
    match e {
        ImageError::Limits(_) => format!(
            "the picture is too large (more than {MAX_IMAGE_SIDE} pixels on a side, or too much \
             memory)"
        ),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is cut short (truncated): the picture is incomplete".to_string()
        }
        ImageError::Decoding(inner) => {
            let detail = inner.to_string();
            if detail.to_ascii_lowercase().contains("eof")
                || detail.to_ascii_lowercase().contains("end of")
            {
                format!("the file is cut short (truncated): the picture is incomplete ({detail})")
            } else {
                format!("the picture is damaged ({detail})")
            }
        }
        ImageError::Unsupported(inner) => {
            format!("this kind of picture is not supported ({inner})")
        }
        other => format!("the picture cannot be decoded ({other})"),
    }
}
