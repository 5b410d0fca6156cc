//! The server's secrets and how they are kept:
//!
//! - what people type (passwords, BOKs, the unusable password of an account made at the counter)
//!   is stored only as an Argon2id hash. Argon2id is slow and takes 19 MiB on purpose, so it runs
//!   off the async workers, on tokio's blocking threads, and at most one hash per core at once
//!   ([`HashPool`]): a burst of logins waits its turn instead of taking every blocking thread, or
//!   memory without bound, and the workers keep answering everything else meanwhile. Its queue is
//!   bounded too: beyond [`QUEUE_PER_CORE`] waiting jobs per core a request is refused at once as
//!   busy ([`ServiceError::Busy`], a 503 with `Retry-After`), so a flood of password posts costs
//!   neither unbounded memory nor a wait that grows for everyone;
//! - high-entropy tokens (session cookies, codes, client secrets) are stored as SHA-256
//!   ([`token_hash`]), made by [`random_token`] and [`random_id`];
//! - the server-wide key of pairwise subject identifiers is made once, kept in the database (so
//!   every instance has the same) and in memory after its first use ([`Services::pairwise_key`]).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, TryAcquireError};
use zeroize::Zeroizing;

use super::{ServiceError, Services};

/// A verifiable Argon2id hash of nothing anyone knows, so an unknown username costs the same time
/// as a wrong password (no account enumeration by timing).
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0r3MGd4NyOqwLW1w0oz1NmgtNIF8ucxEQl0aDKcWHxo";

/// Argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    match Params::new(19 * 1024, 2, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}

/// Jobs that may wait for a place, per place, before more are refused as busy. With Argon2id at
/// about 50 ms a hash, a full queue is a wait of under a second.
pub const QUEUE_PER_CORE: usize = 16;

/// Seconds a caller refused as busy is told to wait before trying again.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Runs CPU-heavy jobs on tokio's blocking threads, at most `size` at once, with at most `queue`
/// more waiting for a place; beyond that a job is refused at once as busy. The permit is taken
/// before the job starts and given back when it ends, inside the blocking thread: a caller that
/// gives up waiting (a browser that disconnects) frees no place while its job still runs.
pub struct HashPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// A place in the queue, given back however the wait ends (a caller that gives up included).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    /// A pool running at most `size` jobs at once, with at most `queue` more waiting.
    pub fn new(size: NonZeroUsize, queue: usize) -> HashPool {
        HashPool {
            permits: Arc::new(Semaphore::new(size.get())),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `job` on a blocking thread when a place is free, after waiting for one if the queue
    /// has room; refuses with [`ServiceError::Busy`] when it has none.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let closed = |_| ServiceError::Internal("the hashing pool is closed".into());
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(closed(())),
            Err(TryAcquireError::NoPermits) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(ServiceError::Busy {
                        retry_after: BUSY_RETRY_AFTER_SECS,
                    });
                }
                let _queued = Queued(&self.waiting);
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| closed(()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop(permit);
            result
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("a hashing job failed: {e}")))
    }
}

/// The process's pool: one place per core and [`QUEUE_PER_CORE`] waiting jobs per place. One for
/// the whole process (not one per [`Services`]), because the cores it shares out are the
/// process's.
fn pool() -> &'static HashPool {
    static POOL: OnceLock<HashPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        HashPool::new(cores, cores.get() * QUEUE_PER_CORE)
    })
}

/// Hashes a password (or BOK) as an Argon2id PHC string with a random salt, off the async workers.
pub async fn hash_secret(secret: &str) -> Result<String, ServiceError> {
    let secret = Zeroizing::new(secret.to_owned());
    pool()
        .run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
        })
        .await?
}

/// Checks `secret` against an Argon2id PHC string (constant time inside argon2), off the async
/// workers. A string that is no PHC hash matches nothing.
pub async fn verify_secret(secret: &str, phc: &str) -> Result<bool, ServiceError> {
    let secret = Zeroizing::new(secret.to_owned());
    let phc = phc.to_owned();
    pool()
        .run(move || {
            PasswordHash::new(&phc)
                .map(|hash| argon2().verify_password(secret.as_bytes(), &hash).is_ok())
                .unwrap_or(false)
        })
        .await
}

/// SHA-256 in hex, for high-entropy tokens (session tokens, deletion codes) that need no stretching.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random 128-bit token in base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    civkey_proto::ids::Nonce::from_bytes(bytes).to_text()
}

pub use crate::domain::random_id;

impl Services {
    /// The server-wide key of pairwise subject identifiers: made on first use, then the same for
    /// every instance and for good (kept in the database, and here in memory once read).
    pub(crate) async fn pairwise_key(&self) -> Result<Arc<Zeroizing<String>>, ServiceError> {
        if let Some(key) = self.cache.pairwise_key() {
            return Ok(key);
        }
        let fresh = Zeroizing::new(format!("{}{}", random_id(), random_id()));
        let key = Arc::new(Zeroizing::new(
            self.store.server_secret("pairwise_sub_key", &fresh).await?,
        ));
        self.cache.keep_pairwise_key(key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn pool_of(size: usize) -> Arc<HashPool> {
        Arc::new(HashPool::new(NonZeroUsize::new(size).unwrap(), 16))
    }

    #[tokio::test]
    async fn a_hashed_secret_verifies_and_another_does_not() {
        let hash = hash_secret("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_secret("correct horse battery", &hash).await.unwrap());
        assert!(!verify_secret("wrong horse battery", &hash).await.unwrap());
        assert!(!verify_secret("anything", "not a PHC string").await.unwrap());
    }

    #[test]
    fn the_timing_dummy_hash_is_a_real_argon2id_hash() {
        // If it did not parse, an unknown username would answer faster than a wrong password.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    /// On a runtime with one thread, jobs that block until the runtime itself unblocks them all
    /// finish: they run beside the async worker, never on it (on it, the first would wait in vain
    /// for a message nobody could send, and report that it got none).
    #[tokio::test(flavor = "current_thread")]
    async fn jobs_run_off_the_async_worker_which_keeps_answering() {
        let pool = pool_of(2);
        let mut gates = Vec::new();
        let mut jobs = Vec::new();
        for _ in 0..5 {
            let (gate, wait) = mpsc::channel::<()>();
            gates.push(gate);
            let pool = pool.clone();
            jobs.push(tokio::spawn(async move {
                pool.run(move || wait.recv_timeout(Duration::from_secs(60)).is_ok())
                    .await
            }));
        }
        // Let the jobs start; this task must get the worker back while they block.
        tokio::task::yield_now().await;
        for gate in gates {
            gate.send(()).unwrap();
        }
        for job in jobs {
            assert!(job.await.unwrap().unwrap(), "a job ran on the async worker");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_never_runs_more_jobs_at_once_than_its_size() {
        let pool = pool_of(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let mut jobs = Vec::new();
        for _ in 0..6 {
            let (pool, running, peak, waiting, gate) = (
                pool.clone(),
                running.clone(),
                peak.clone(),
                waiting.clone(),
                gate.clone(),
            );
            jobs.push(tokio::spawn(async move {
                waiting.fetch_add(1, Ordering::SeqCst);
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let (open, opened) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = opened.wait(open).unwrap();
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        // Every job has asked for a place and two hold one: the other four must wait.
        while waiting.load(Ordering::SeqCst) < 6 || running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.permits.available_permits(), 0);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.permits.available_permits(), 2);
    }

    /// A flood of jobs beyond the places and the queue: those beyond are refused at once as busy,
    /// the queue does not grow past its bound, and once the jobs are done the pool takes new ones.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_the_queue_are_refused_as_busy_at_once() {
        let pool = Arc::new(HashPool::new(NonZeroUsize::new(2).unwrap(), 3));
        let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let mut jobs = Vec::new();
        for _ in 0..5 {
            let (pool, gate) = (pool.clone(), gate.clone());
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let (open, opened) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = opened.wait(open).unwrap();
                    }
                })
                .await
            }));
        }
        // Two run and three wait: the queue is full.
        while pool.permits.available_permits() > 0 || pool.waiting.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            let refused = pool.run(|| ()).await;
            assert!(
                matches!(refused, Err(ServiceError::Busy { retry_after }) if retry_after > 0),
                "a job beyond the queue waited or ran"
            );
        }
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 3, "the queue grew");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        assert!(pool.run(|| ()).await.is_ok(), "the pool takes jobs again");
    }
}
