//! The change signal across instances on PostgreSQL: `LISTEN`/`NOTIFY` on one channel of the
//! database (NOTIFY reaches only sessions of the same database, so databases never mix).
//!
//! - **Sending.** [`ChangeSignal::notify`] wakes this process's waiters at once and queues the
//!   key; one task per store sends the queued keys in batches, one `pg_notify` per batch, over
//!   the pool (it waits 5 ms after a key for others to join it). A payload is this instance's id, then one key a line, under PostgreSQL's 8000-byte
//!   limit. A full queue (the database slow or gone) becomes one `*`: wake everyone.
//! - **Listening.** One task per store holds a dedicated connection (`PgListener`) that listens
//!   on the channel and wakes the waiters here for every key another instance sent (its own it
//!   skips; it never notifies, so nothing loops). A lost connection loses notifications, so after
//!   reconnecting it wakes every waiter here: each re-reads its state from the database.
//! - Both tasks end when the last clone of the store's signal goes.

use sqlx::postgres::PgListener;
use sqlx::AnyPool;
use tokio::sync::oneshot;

use super::StoreError;
use crate::signal::{ChangeSignal, OutboundKeys};

/// The channel every instance on one database listens on.
pub const CHANNEL: &str = "civkey_changes";

/// The largest payload sent (PostgreSQL refuses 8000 bytes and more).
const MAX_PAYLOAD: usize = 7900;

/// How long the sender waits after a key before sending, to send the keys of that moment in one
/// `pg_notify` (at 1,000 logins a second, one notification for about ten keys instead of ten).
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// A key that means "wake every waiter".
const EVERYONE: &str = "*";

/// How long the listener waits before connecting again after a failure.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// A signal bridged over LISTEN/NOTIFY on the PostgreSQL database at `url` (its listening
/// connection made now, so that nothing notified after this returns is missed).
pub(super) async fn bridge(url: &str, pool: AnyPool) -> Result<ChangeSignal, StoreError> {
    let listener = listen(url).await?;
    let (signal, local, outbound) = ChangeSignal::bridged();
    let instance = instance_id();
    let (alive, closed) = oneshot::channel::<()>();
    tokio::spawn(send_loop(pool, outbound, instance.clone(), alive));
    tokio::spawn(listen_loop(
        url.to_string(),
        listener,
        local,
        instance,
        closed,
    ));
    Ok(signal)
}

/// This process's id among the instances (random), so that its listener skips its own batches.
fn instance_id() -> String {
    // Only used to skip our own batches: a clash would cost duplicate wake-ups, nothing more.
    hex::encode(rand::random::<[u8; 12]>())
}

async fn listen(url: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The payloads that carry `keys` (after the instance id), each under [`MAX_PAYLOAD`].
fn payloads(instance: &str, keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut payload = instance.to_string();
    for key in keys {
        // A key too long to send at all (none is) still reaches everyone as a wake-all.
        let key = if key.len() + instance.len() + 1 > MAX_PAYLOAD || key.contains('\n') {
            EVERYONE.to_string()
        } else {
            key
        };
        if payload.len() + 1 + key.len() > MAX_PAYLOAD {
            out.push(std::mem::replace(&mut payload, instance.to_string()));
        }
        payload.push('\n');
        payload.push_str(&key);
    }
    if payload.len() > instance.len() {
        out.push(payload);
    }
    out
}

async fn send_loop(
    pool: AnyPool,
    mut outbound: OutboundKeys,
    instance: String,
    // Dropped when this loop ends, which ends the listener.
    _alive: oneshot::Sender<()>,
) {
    while let Some(first) = outbound.keys.recv().await {
        // Gather what else changes in the next moment into the same notification: each one is a
        // transaction of its own and wakes every instance's listener.
        tokio::time::sleep(GATHER).await;
        let mut keys = vec![first];
        while let Ok(key) = outbound.keys.try_recv() {
            keys.push(key);
        }
        if outbound.take_overflow() {
            keys = vec![EVERYONE.to_string()];
        }
        keys.sort_unstable();
        keys.dedup();
        for payload in payloads(&instance, keys) {
            // pg_notify returns void, which the Any driver cannot decode: count instead.
            let sent = sqlx::query("SELECT COUNT(*) AS sent FROM (SELECT pg_notify($1, $2)) AS n")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                // The keys name sessions and requests: not logged. Other instances' waiters
                // re-read on their timeout; their listeners wake everyone when they reconnect.
                tracing::warn!(error = %e, "could not send changes to the other instances");
            }
        }
    }
}

async fn listen_loop(
    url: String,
    listener: PgListener,
    local: ChangeSignal,
    instance: String,
    mut closed: oneshot::Receiver<()>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(current) = listener.as_mut() else {
            tokio::select! {
                _ = &mut closed => return,
                _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
            match listen(&url).await {
                Ok(again) => {
                    listener = Some(again);
                    tracing::info!("listening for other instances' changes again");
                    local.wake_all();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' changes")
                }
            }
            continue;
        };
        let received = tokio::select! {
            _ = &mut closed => return,
            received = current.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => wake(&local, &instance, notification.payload()),
            Ok(None) => {
                // Lost and connected again (listening again): what came meanwhile is lost.
                tracing::warn!("the connection listening for other instances' changes was lost");
                local.wake_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening for other instances' changes failed");
                listener = None;
                local.wake_all();
            }
        }
    }
}

/// Wakes the waiters here for the keys in `payload`, unless this instance sent it.
fn wake(local: &ChangeSignal, instance: &str, payload: &str) {
    let mut lines = payload.lines();
    if lines.next() == Some(instance) {
        return;
    }
    for key in lines {
        if key == EVERYONE {
            local.wake_all();
        } else {
            local.wake(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_batched_under_the_payload_limit() {
        let keys: Vec<String> = (0..2000).map(|i| format!("login:{i:020}")).collect();
        let batches = payloads("me", keys.clone());
        assert!(batches.len() > 1);
        let mut seen = Vec::new();
        for batch in &batches {
            assert!(batch.len() <= MAX_PAYLOAD, "{}", batch.len());
            let mut lines = batch.lines();
            assert_eq!(lines.next(), Some("me"));
            seen.extend(lines.map(str::to_string));
        }
        assert_eq!(seen, keys);
        assert!(payloads("me", Vec::new()).is_empty());
        assert_eq!(payloads("me", vec!["x".repeat(9000)]), vec!["me\n*"]);
    }

    #[tokio::test]
    async fn own_batches_are_skipped_and_a_star_wakes_everyone() {
        let signal = ChangeSignal::default();
        let mut a = signal.subscribe("a");
        let mut b = signal.subscribe("b");
        wake(&signal, "me", "me\na");
        let quick = std::time::Duration::from_millis(50);
        let start = std::time::Instant::now();
        a.changed(quick).await;
        assert!(start.elapsed() >= quick, "its own batch woke nobody");
        wake(&signal, "me", "other\na");
        let start = std::time::Instant::now();
        a.changed(std::time::Duration::from_secs(5)).await;
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        wake(&signal, "me", "other\n*");
        let start = std::time::Instant::now();
        b.changed(std::time::Duration::from_secs(5)).await;
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
