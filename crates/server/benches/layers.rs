//! What the layers around every route cost a request (`operations::with_layers`: the request id
//! and its span, the metrics' count, the panic guard, the event streams' shutdown): `GET /healthz`
//! through the whole router with and without them, in-process (no socket), and one ring P-256
//! verification as the reference measured in the same run.
//! Run with `cargo bench -p civkey-server --bench layers`; figures are in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use civkey_proto::sign::{sign, DevicePublicKey};
use civkey_proto::Origin;
use civkey_server::clock::SystemClock;
use civkey_server::services::{verify_signature, Services};
use civkey_server::store::Store;
use civkey_server::AppState;
use criterion::{criterion_group, criterion_main, Criterion};
use p256::ecdsa::SigningKey;
use tower_service::Service;

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::Builder::new()
        .prefix("civkey-bench-")
        .tempdir()
        .unwrap();
    let store = rt
        .block_on(Store::open(
            &format!("sqlite://{}/civkey.db", dir.path().display()),
            civkey_server::store::Kek::generate().unwrap(),
        ))
        .unwrap();
    let state = AppState::from_services(Services::new(
        store,
        Arc::new(SystemClock),
        Origin::parse("https://id.example.gov").unwrap(),
    ));
    let mut group = c.benchmark_group("healthz_in_process");
    let with = civkey_server::router(state.clone());
    let without = civkey_server::routes().with_state(state);
    for (name, router) in [("with layers", with), ("routes only", without)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut router = router.clone();
                let request = Request::get("/healthz").body(Body::empty()).unwrap();
                let response = rt.block_on(router.call(request)).unwrap();
                assert_eq!(response.status(), 200);
            })
        });
    }
    group.finish();

    let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let public = DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()));
    let message = vec![7u8; 200];
    let signature = sign(&key, &message);
    c.bench_function("p256_verify/ring (reference)", |b| {
        b.iter(|| verify_signature(&public, &message, &signature).unwrap())
    });
    drop(dir);
}

criterion_group!(benches, layers);
criterion_main!(benches);
