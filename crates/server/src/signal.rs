//! The change signal: "something about key K changed, look again". Live updates (the portal page
//! moving on, the app's long poll returning) wait on it instead of polling. The state itself is
//! always read from the store, so a missed or duplicate signal costs nothing but a re-read.
//!
//! On SQLite (one process) the signal is in-process. Several instances on PostgreSQL need
//! LISTEN/NOTIFY behind the same interface; until that lands, waiters also re-read on a timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Wakes waiters interested in a key (`pairing:ID`, `device:ID`, …).
#[derive(Clone, Default)]
pub struct ChangeSignal {
    channels: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl ChangeSignal {
    /// Tells every waiter on `key` to look again.
    pub fn notify(&self, key: &str) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = channels.get(key) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
            if sender.receiver_count() == 0 {
                channels.remove(key);
            }
        }
    }

    /// A subscription to `key`; take it *before* reading the state, then wait on it.
    pub fn subscribe(&self, key: &str) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let sender = channels
            .entry(key.to_string())
            .or_insert_with(|| watch::channel(0).0);
        Subscription(sender.subscribe())
    }
}

/// A waiter on one key.
pub struct Subscription(watch::Receiver<u64>);

impl Subscription {
    /// Waits until the key is notified or `timeout` passes (then the caller re-reads anyway).
    pub async fn changed(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.0.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_when_its_key_changes() {
        let signal = ChangeSignal::default();
        let mut sub = signal.subscribe("pairing:1");
        let waiter = tokio::spawn(async move {
            let start = std::time::Instant::now();
            sub.changed(Duration::from_secs(10)).await;
            start.elapsed()
        });
        tokio::task::yield_now().await;
        signal.notify("pairing:2");
        signal.notify("pairing:1");
        assert!(waiter.await.unwrap() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_its_timeout() {
        let signal = ChangeSignal::default();
        let mut sub = signal.subscribe("k");
        let start = std::time::Instant::now();
        sub.changed(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
