//! The scanning loop: a reader thread, a decoder thread, and a one-frame mailbox between them.
//!
//! ```text
//!  source ──next_frame──▶ [reader thread] ──put──▶ mailbox (1 frame) ──take──▶ [decoder thread]
//!                              │ preview (downscaled, rate-limited)                 │ outcome
//!                              ▼                                                    ▼
//!                         Preview::sink                                    caller (timeout, cancel)
//! ```
//!
//! The mailbox holds one frame. A live source (a camera) replaces a frame the decoder has not
//! taken yet, so the decoder always works on the newest picture and latency never builds up; any
//! other source waits until the decoder has taken the previous frame, so every picture is read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use civkey_proto::ScannedCode;

use super::{decode, describe_other, Frame, FrameSource, ScanError};

/// Stops a running [`Scanner`] from another thread (the user closed the scanning screen).
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// Asks the scan to stop; it returns [`ScanError::Cancelled`] within a few milliseconds.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A live preview of what the scanner sees, for a UI: a downscaled copy of the frames read, at
/// most one per `interval`, handed to `sink` on the reader thread (keep it quick).
pub struct Preview {
    /// The preview's longest side, in pixels.
    pub max_side: u32,
    /// The shortest time between two previews.
    pub interval: Duration,
    /// Receives each preview frame.
    pub sink: Box<dyn FnMut(Frame) + Send>,
}

/// A configurable scan: a timeout, an optional live [`Preview`], and a [`CancelHandle`].
pub struct Scanner {
    timeout: Duration,
    preview: Option<Preview>,
    cancel: CancelHandle,
}

impl Scanner {
    /// A scanner that gives up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Scanner {
            timeout,
            preview: None,
            cancel: CancelHandle::default(),
        }
    }

    /// Sends a preview of the frames to `sink`: at most `max_side` pixels on a side, at most one
    /// per `interval` (for example 320 pixels, 100 ms).
    pub fn with_preview(
        mut self,
        max_side: u32,
        interval: Duration,
        sink: impl FnMut(Frame) + Send + 'static,
    ) -> Self {
        self.preview = Some(Preview {
            max_side,
            interval,
            sink: Box::new(sink),
        });
        self
    }

    /// A handle that stops this scan from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Reads frames from `source` until one holds a code that [`ScannedCode::parse`] accepts
    /// and returns its text. Other QR codes are skipped and counted. Ends with
    /// [`ScanError::NotCivkey`] or [`ScanError::NothingFound`] when the source runs out,
    /// [`ScanError::Timeout`], [`ScanError::Cancelled`], or the source's own error (reported
    /// after the frames it did deliver have been decoded).
    ///
    /// The source is read on its own thread and dropped there once the scan is over; a source
    /// blocked in `next_frame` when the time runs out is left to finish that call in the
    /// background.
    pub fn run(self, source: Box<dyn FrameSource>) -> Result<String, ScanError> {
        let deadline = Instant::now() + self.timeout;
        let mailbox = Arc::new(Mailbox::default());
        let (outcome_tx, outcome_rx) = mpsc::channel();

        let reader = {
            let mailbox = Arc::clone(&mailbox);
            let preview = self.preview;
            thread::Builder::new()
                .name("civkey-scan-source".into())
                .spawn(move || read_frames(source, &mailbox, preview))
                .map_err(|e| ScanError::Internal(format!("cannot start the reader thread: {e}")))?
        };
        let decoder = {
            let mailbox = Arc::clone(&mailbox);
            thread::Builder::new()
                .name("civkey-scan-decode".into())
                .spawn(move || {
                    let outcome = decode_frames(&mailbox);
                    // The caller may have stopped waiting; nothing to do then.
                    let _ = outcome_tx.send(outcome);
                })
        };
        let decoder = match decoder {
            Ok(handle) => handle,
            Err(e) => {
                mailbox.stop();
                drop(reader);
                return Err(ScanError::Internal(format!(
                    "cannot start the decoder thread: {e}"
                )));
            }
        };

        let result = loop {
            if self.cancel.is_cancelled() {
                break Err(ScanError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(ScanError::Timeout);
            }
            let wait = (deadline - now).min(Duration::from_millis(20));
            match outcome_rx.recv_timeout(wait) {
                Ok(outcome) => break outcome,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    break Err(ScanError::Internal("the decoder thread stopped".into()))
                }
            }
        };

        mailbox.stop();
        // The decoder finishes the frame it is on (milliseconds) and ends; the reader ends after
        // its current `next_frame` and is not waited for, as a stalled camera may hold it.
        let _ = decoder.join();
        if reader.is_finished() {
            let _ = reader.join();
        }
        result
    }
}

/// Scans `source` for the first civkey or otpauth code, giving up after `timeout`: see
/// [`Scanner::run`], which this calls without preview or cancel handle.
pub fn scan(source: Box<dyn FrameSource>, timeout: Duration) -> Result<String, ScanError> {
    Scanner::new(timeout).run(source)
}

/// The reader thread: frames into the mailbox, previews out, until the source ends or the scan
/// stops.
fn read_frames(mut source: Box<dyn FrameSource>, mailbox: &Mailbox, mut preview: Option<Preview>) {
    let live = source.is_live();
    let mut last_preview: Option<Instant> = None;
    loop {
        if mailbox.is_stopped() {
            break;
        }
        match source.next_frame() {
            Ok(Some(frame)) => {
                if let Some(p) = preview.as_mut() {
                    if last_preview.is_none_or(|at| at.elapsed() >= p.interval) {
                        last_preview = Some(Instant::now());
                        (p.sink)(frame.downscaled(p.max_side));
                    }
                }
                if !mailbox.put(frame, live) {
                    break;
                }
            }
            Ok(None) => {
                mailbox.close(None);
                return;
            }
            Err(e) => {
                mailbox.close(Some(e));
                return;
            }
        }
    }
    mailbox.close(None);
}

/// The decoder thread: decodes frames until a civkey code is found or the source is done.
fn decode_frames(mailbox: &Mailbox) -> Result<String, ScanError> {
    let mut frames = 0usize;
    let mut others = 0usize;
    let mut example: Option<String> = None;
    loop {
        match mailbox.take() {
            Taken::Frame(frame) => {
                frames += 1;
                for text in decode(&frame) {
                    match ScannedCode::parse(&text) {
                        Ok(_) => return Ok(text),
                        Err(reason) => {
                            others += 1;
                            example.get_or_insert_with(|| describe_other(&text, &reason));
                        }
                    }
                }
            }
            Taken::SourceFailed(e) => return Err(e),
            Taken::Ended => break,
        }
    }
    match example {
        Some(example) => Err(ScanError::NotCivkey {
            codes: others,
            example,
        }),
        None => Err(ScanError::NothingFound { frames }),
    }
}

/// One frame between a producer and a consumer thread, and how the producing ended. Also used
/// by the camera between its capture thread and [`FrameSource::next_frame`].
#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<MailboxState>,
    changed: Condvar,
}

#[derive(Default)]
struct MailboxState {
    frame: Option<Frame>,
    /// The reader is done: the source ended (with this error, if any).
    closed: bool,
    error: Option<ScanError>,
    /// The scan is over: both threads should end.
    stopped: bool,
}

pub(crate) enum Taken {
    Frame(Frame),
    SourceFailed(ScanError),
    Ended,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, MailboxState>) -> MutexGuard<'a, MailboxState> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a frame over; a live frame replaces a stale one, any other waits its turn. False
    /// once the scan is over.
    pub(crate) fn put(&self, frame: Frame, live: bool) -> bool {
        let mut state = self.lock();
        if !live {
            while state.frame.is_some() && !state.stopped {
                state = self.wait(state);
            }
        }
        if state.stopped {
            return false;
        }
        state.frame = Some(frame);
        self.changed.notify_all();
        true
    }

    pub(crate) fn take(&self) -> Taken {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return Taken::Ended;
            }
            if let Some(frame) = state.frame.take() {
                self.changed.notify_all();
                return Taken::Frame(frame);
            }
            if state.closed {
                return match state.error.take() {
                    Some(e) => Taken::SourceFailed(e),
                    None => Taken::Ended,
                };
            }
            state = self.wait(state);
        }
    }

    pub(crate) fn close(&self, error: Option<ScanError>) {
        let mut state = self.lock();
        state.closed = true;
        state.error = error;
        self.changed.notify_all();
    }

    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.frame = None;
        self.changed.notify_all();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.lock().stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: u8) -> Frame {
        Frame::new(2, 2, vec![value; 4]).unwrap()
    }

    #[test]
    fn a_live_frame_replaces_one_not_yet_decoded() {
        let mailbox = Mailbox::default();
        assert!(mailbox.put(frame(1), true));
        assert!(mailbox.put(frame(2), true));
        mailbox.close(None);
        assert!(matches!(mailbox.take(), Taken::Frame(f) if f.luma[0] == 2));
        assert!(matches!(mailbox.take(), Taken::Ended));
    }

    #[test]
    fn other_frames_wait_their_turn_and_a_source_error_comes_after_them() {
        let mailbox = Arc::new(Mailbox::default());
        let producer = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                for value in 1..=3 {
                    assert!(mailbox.put(frame(value), false));
                }
                mailbox.close(Some(ScanError::Camera("unplugged".into())));
            })
        };
        let mut seen = Vec::new();
        loop {
            match mailbox.take() {
                Taken::Frame(f) => seen.push(f.luma[0]),
                Taken::SourceFailed(e) => {
                    assert!(e.to_string().contains("unplugged"));
                    break;
                }
                Taken::Ended => panic!("the error was lost"),
            }
        }
        producer.join().unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
    }

    #[test]
    fn stopping_releases_a_waiting_producer() {
        let mailbox = Arc::new(Mailbox::default());
        assert!(mailbox.put(frame(1), false));
        let producer = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || mailbox.put(frame(2), false))
        };
        thread::sleep(Duration::from_millis(20));
        mailbox.stop();
        assert!(!producer.join().unwrap());
        assert!(matches!(mailbox.take(), Taken::Ended));
    }
}
