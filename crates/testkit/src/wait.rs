//! Waiting for a condition with a deadline: the way tests wait for something that happens on
//! another task, thread or process, instead of sleeping a fixed time and then asserting.
//!
//! Both helpers check the condition at once, then every few milliseconds until it holds or the
//! deadline passes, and then panic with what was awaited (the test fails and says why).

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked again.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Waits until `check` gives `Some`, and returns what it gave; panics naming `what` when
/// `deadline` passes first.
#[allow(clippy::panic)] // a test that waited in vain fails here, saying what it waited for
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        if start.elapsed() > deadline {
            panic!("waited {deadline:?} in vain for {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// [`wait_until`] for a thread that is not in an async runtime.
#[allow(clippy::panic)] // a test that waited in vain fails here, saying what it waited for
pub fn wait_until_blocking<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        if start.elapsed() > deadline {
            panic!("waited {deadline:?} in vain for {what}");
        }
        std::thread::sleep(POLL_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn a_condition_that_comes_true_is_waited_for() {
        let calls = AtomicU32::new(0);
        let got = wait_until_blocking("three calls", Duration::from_secs(5), || {
            (calls.fetch_add(1, Ordering::SeqCst) >= 2).then_some("done")
        });
        assert_eq!(got, "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    #[should_panic(expected = "in vain for nothing")]
    fn a_condition_that_never_comes_true_fails_at_the_deadline() {
        wait_until_blocking("nothing", Duration::from_millis(50), || None::<()>);
    }

    #[tokio::test]
    async fn an_async_condition_is_waited_for() {
        let calls = AtomicU32::new(0);
        let n = wait_until("two calls", Duration::from_secs(5), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { (n >= 1).then_some(n) }
        })
        .await;
        assert_eq!(n, 1);
    }
}
