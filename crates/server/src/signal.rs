//! The change signal: "something about key K changed, look again". Live updates (the portal page
//! moving on, the app's long poll returning) wait on it instead of polling. The state itself is
//! always read from the store, so a missed or duplicate signal costs nothing but a re-read.
//!
//! A key has an entry only while someone waits on it: a notify for a key nobody waits on adds
//! nothing, and the last subscription to a key removes its entry when it is dropped, so requests
//! for ids that never existed (or logins long finished) leave no memory behind.
//!
//! On SQLite (one process) the signal is in-process. On PostgreSQL (several instances on one
//! database) it is also *bridged*: [`ChangeSignal::notify`] wakes this process's waiters at once
//! and hands the key to a background task that sends it to the other instances (batched
//! `pg_notify`), whose listeners wake their own waiters ([`ChangeSignal::wake`]); see
//! `store::changes`. Waiters still re-read on a timeout, a backstop for a lost notification.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// Wakes waiters interested in a key (`pairing:ID`, `device:ID`, …).
#[derive(Clone, Default)]
pub struct ChangeSignal {
    channels: Channels,
    /// Where notified keys go to reach other instances (PostgreSQL); `None` in-process only.
    outbound: Option<Outbound>,
}

/// The sending half of the bridge to other instances.
#[derive(Clone)]
struct Outbound {
    keys: mpsc::Sender<String>,
    /// Set when a key did not fit in the queue: the other instances must wake everyone.
    overflowed: Arc<AtomicBool>,
}

/// How many notified keys may wait to be sent to other instances; beyond it they are replaced by
/// one "wake everyone" (the database is slow or down; waiters re-read anyway).
pub const OUTBOUND_QUEUE: usize = 10_000;

/// The receiving end of a bridged signal's outgoing keys (see [`ChangeSignal::bridged`]).
pub struct OutboundKeys {
    /// The keys notified here, in order.
    pub keys: mpsc::Receiver<String>,
    overflowed: Arc<AtomicBool>,
}

impl OutboundKeys {
    /// Whether keys were dropped since the last call (the queue was full): then the receiver
    /// must tell the other instances to wake everyone.
    pub fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::AcqRel)
    }
}

impl std::fmt::Debug for ChangeSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSignal")
            .field("waiting_keys", &self.waiting_keys())
            .field("bridged", &self.outbound.is_some())
            .finish()
    }
}

type Channels = Arc<Mutex<HashMap<String, watch::Sender<u64>>>>;

fn lock(channels: &Channels) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
    channels.lock().unwrap_or_else(|p| p.into_inner())
}

impl ChangeSignal {
    /// A signal whose notifications also go to the returned receiver (to be sent to the other
    /// instances), and a handle on the same waiters without that bridge, for the task that wakes
    /// them when other instances notify (it must not send back what it hears).
    pub fn bridged() -> (ChangeSignal, ChangeSignal, OutboundKeys) {
        let (keys, receiver) = mpsc::channel(OUTBOUND_QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let local = ChangeSignal::default();
        let signal = ChangeSignal {
            channels: Arc::clone(&local.channels),
            outbound: Some(Outbound {
                keys,
                overflowed: Arc::clone(&overflowed),
            }),
        };
        let outbound = OutboundKeys {
            keys: receiver,
            overflowed,
        };
        (signal, local, outbound)
    }

    /// Tells every waiter on `key` to look again, here and (bridged) in the other instances.
    pub fn notify(&self, key: &str) {
        self.wake(key);
        if let Some(outbound) = &self.outbound {
            if outbound.keys.try_send(key.to_string()).is_err() {
                outbound.overflowed.store(true, Ordering::Release);
            }
        }
    }

    /// Wakes this process's waiters on `key` only (a key another instance notified).
    pub fn wake(&self, key: &str) {
        // An entry always has a waiter: the last subscription dropped takes it away.
        if let Some(sender) = lock(&self.channels).get(key) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every waiter of this process (notifications from other instances may have been
    /// lost: everyone re-reads).
    pub fn wake_all(&self) {
        for sender in lock(&self.channels).values() {
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
        self.notified_within(timeout).await;
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
    async fn a_bridged_signal_wakes_here_and_queues_the_key_for_the_others() {
        let (signal, local, mut outbound) = ChangeSignal::bridged();
        let mut sub = signal.subscribe("pairing:1");
        signal.notify("pairing:1");
        tokio::time::timeout(Duration::from_secs(5), sub.receiver.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outbound.keys.recv().await.as_deref(), Some("pairing:1"));
        // What another instance notified wakes the waiters here and is not sent back.
        local.wake("pairing:1");
        tokio::time::timeout(Duration::from_secs(5), sub.receiver.changed())
            .await
            .unwrap()
            .unwrap();
        local.wake_all();
        assert!(sub.receiver.has_changed().unwrap());
        assert!(outbound.keys.try_recv().is_err(), "nothing echoed");
        assert!(!outbound.take_overflow());
    }

    #[tokio::test]
    async fn a_full_queue_turns_into_one_wake_everyone() {
        let (signal, _local, mut outbound) = ChangeSignal::bridged();
        for i in 0..OUTBOUND_QUEUE + 5 {
            signal.notify(&format!("login:{i}"));
        }
        assert!(outbound.take_overflow());
        assert!(!outbound.take_overflow(), "taken once");
        let mut queued = 0;
        while outbound.keys.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, OUTBOUND_QUEUE);
        assert_eq!(signal.waiting_keys(), 0, "notifying adds no entries");
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
