//! From a scanned pairing URI to the confirmation code on the screen, against the real server on
//! loopback: read the URI, make the device key in the keystore, sign the proof, claim over HTTP
//! (the server verifies and updates SQLite), derive and compare the code.
//!
//! `cargo bench -p civkey-tests --bench pairing`. The Secret Service case runs only inside a D-Bus
//! session with an unlocked keyring:
//! `dbus-run-session -- scripts/lib/with-keyring cargo bench -p civkey-tests --bench pairing`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use civkey_client::keystore::{KeyStore, MemoryKeyStore, OsKeyStore};
use civkey_client::profile::Profile;
use civkey_client::this_computer;
use civkey_server::services::citizens;
use civkey_tests::{TempDir, TestServer};
use criterion::{criterion_group, criterion_main, Criterion};

fn scanned_uri_to_confirmation_code(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let citizen = runtime.block_on(async {
        citizens::add_citizen(&server.store, 0, "jana", "Jana", None, "correct horse")
            .await
            .unwrap()
            .citizen_id
    });
    let device = this_computer().unwrap();
    let mut stores: Vec<(&str, Arc<dyn KeyStore>)> =
        vec![("memory keystore", Arc::new(MemoryKeyStore::new()))];
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        stores.push(("Secret Service", Arc::new(OsKeyStore::new())));
    }
    let mut group = c.benchmark_group("pairing");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    for (name, store) in stores {
        let home = TempDir::new("civkey-bench");
        let profile = Profile::open(&home.0, store).unwrap();
        group.bench_function(format!("scanned URI to confirmation code ({name})"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let uri = runtime.block_on(async {
                        server
                            .state
                            .services()
                            .start_pairing(&citizen)
                            .await
                            .unwrap()
                            .uri
                            .to_uri()
                    });
                    let started = Instant::now();
                    let pending = runtime
                        .block_on(profile.begin_pairing(&uri, &device))
                        .unwrap();
                    total += started.elapsed();
                    // Abandoning the pairing deletes the key again (outside the timed part).
                    drop(pending);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scanned_uri_to_confirmation_code);
criterion_main!(benches);
