//! The change signal: "something about key K changed, look again". Live updates (the portal page
//! moving on, the app's long poll returning) wait on it instead of polling. The state itself is
//! always read from the store, so a missed or duplicate signal costs nothing but a re-read.
//!
//! A key has an entry only while someone waits on it: a notify for a key nobody waits on adds
//! nothing, and the last subscription to a key removes its entry when it is dropped, so requests
//! for ids that never existed (or logins long finished) leave no memory behind.
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
    channels: Channels,
}

type Channels = Arc<Mutex<HashMap<String, watch::Sender<u64>>>>;

fn lock(channels: &Channels) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
    channels.lock().unwrap_or_else(|p| p.into_inner())
}

impl ChangeSignal {
    /// Tells every waiter on `key` to look again.
    pub fn notify(&self, key: &str) {
        // An entry always has a waiter: the last subscription dropped takes it away.
        if let Some(sender) = lock(&self.channels).get(key) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A subscription to `key`; take it *before* reading the state, then wait on it.
    pub fn subscribe(&self, key: &str) -> Subscription {
        let mut channels = lock(&self.channels);
        let sender = channels
            .entry(key.to_string())
            .or_insert_with(|| watch::channel(0).0);
        Subscription {
            receiver: sender.subscribe(),
            key: key.to_string(),
            channels: Arc::clone(&self.channels),
        }
    }

    /// Whether anyone waits on `key` (only then has it an entry).
    pub fn is_watched(&self, key: &str) -> bool {
        lock(&self.channels).contains_key(key)
    }

    /// How many keys have an entry, that is someone waiting on them (for tests and monitoring).
    pub fn waiting_keys(&self) -> usize {
        lock(&self.channels).len()
    }
}

/// A waiter on one key; the key's entry goes with its last subscription.
pub struct Subscription {
    receiver: watch::Receiver<u64>,
    key: String,
    channels: Channels,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = lock(&self.channels);
        // This subscription's receiver is still alive here, so 1 means nobody else waits. A
        // subscribe for the same key needs the lock, so none can slip in between.
        if channels
            .get(&self.key)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.key);
        }
    }
}

impl Subscription {
    /// Waits until the key is notified or `timeout` passes (then the caller re-reads anyway).
    pub async fn changed(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.receiver.changed()).await;
    }

    /// Like [`Subscription::changed`], saying whether the key was notified (`false`: the
    /// timeout passed first), for waiters that need not read again after a mere timeout.
    pub async fn notified_within(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.receiver.changed())
            .await
            .is_ok()
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
    async fn a_key_is_kept_only_while_someone_waits_on_it() {
        let signal = ChangeSignal::default();
        // Requests for ids that never existed: each subscribes, finds nothing, goes away.
        for i in 0..10_000 {
            let _sub = signal.subscribe(&format!("login:{i}"));
            signal.notify(&format!("login:{}", i + 1));
        }
        assert_eq!(signal.waiting_keys(), 0);

        // Two waiters on one key: the first one leaving keeps the key for the second.
        let first = signal.subscribe("pairing:1");
        let mut second = signal.subscribe("pairing:1");
        drop(first);
        assert_eq!(signal.waiting_keys(), 1);
        let waiter = tokio::spawn(async move {
            let start = std::time::Instant::now();
            second.changed(Duration::from_secs(10)).await;
            start.elapsed()
        });
        tokio::task::yield_now().await;
        signal.notify("pairing:1");
        assert!(waiter.await.unwrap() < Duration::from_secs(5));
        assert_eq!(
            signal.waiting_keys(),
            0,
            "the last waiter took the key with it"
        );
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_its_timeout() {
        let signal = ChangeSignal::default();
        let mut sub = signal.subscribe("k");
        let start = std::time::Instant::now();
        sub.changed(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_waiter_can_tell_a_notification_from_a_timeout() {
        let signal = ChangeSignal::default();
        let mut sub = signal.subscribe("login:1");
        assert!(!sub.notified_within(Duration::from_millis(20)).await);
        signal.notify("login:1");
        assert!(sub.notified_within(Duration::from_secs(10)).await);
        assert!(
            !sub.notified_within(Duration::from_millis(20)).await,
            "a notification is seen once"
        );
    }
}
