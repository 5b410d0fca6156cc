//! The server's hot paths: checking a device's signature, authenticating a whole device call
//! (signature, nonce and last-used written to SQLite), claiming a pairing session, and what the
//! layers around every route cost a request (`operations::with_layers`: the request id and its
//! span, the metrics' count, the panic guard, the event streams' shutdown) — `GET /healthz`
//! through the whole router with and without them, in-process (no socket).
//! Run with `cargo bench -p civkey-server --bench flows`; figures are in docs/benchmarks.md.

// Benchmark set-up fails loudly on a broken environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
use civkey_proto::ids::{DeviceId, Nonce};
use civkey_proto::pair::{PairClaimRequest, PairingUri};
use civkey_proto::sign::{sign, DeviceCall, DevicePublicKey, PairingProof};
use civkey_proto::Origin;
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::services::{citizens, verify_signature, Services};
use civkey_server::store::{NewDevice, Store};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use p256::ecdsa::SigningKey;
use rand::RngCore;
use tower_service::Service;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The flows on a fresh SQLite database in a temporary folder (removed when the guard drops).
fn services(rt: &tokio::runtime::Runtime) -> (Services, tempfile::TempDir) {
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
    let services = Services::new(
        store,
        Arc::new(SystemClock),
        Origin::parse("https://id.example.gov").unwrap(),
    );
    (services, dir)
}

fn public(key: &SigningKey) -> DevicePublicKey {
    DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()))
}

fn signature_check(c: &mut Criterion) {
    let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let public = public(&key);
    let message = vec![7u8; 200];
    let signature = sign(&key, &message);
    let mut group = c.benchmark_group("p256_verify");
    group.bench_function("ring (server)", |b| {
        b.iter(|| verify_signature(&public, &message, &signature).unwrap())
    });
    group.bench_function("p256 crate (reference)", |b| {
        b.iter(|| public.verify(&message, &signature).unwrap())
    });
    group.finish();
}

fn device_call(c: &mut Criterion) {
    let rt = runtime();
    let (services, dir) = services(&rt);
    let citizen = rt
        .block_on(citizens::add_citizen(
            &services.store,
            0,
            "bench",
            "Bench",
            None,
            "bench password",
        ))
        .unwrap()
        .citizen_id;
    let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let device_id = DeviceId::from_bytes([1; 16]);
    rt.block_on(services.store.insert_device(&NewDevice {
        id: device_id,
        citizen_id: citizen,
        public_key: public(&key).to_text(),
        name: "Phone".into(),
        model: "Model".into(),
        kind: "phone".into(),
        paired_at: 0,
    }))
    .unwrap();
    let body = br#"{"name":"Work phone"}"#.to_vec();
    c.bench_function(
        "device_call/authenticate (verify + nonce + last-used, SQLite)",
        |b| {
            b.iter_batched(
                || {
                    // Signing is the device's work; only the server's check is timed.
                    let nonce = Nonce::generate(&mut rand::rngs::OsRng);
                    let timestamp = SystemClock.now();
                    let signed = DeviceCall {
                        origin: &services.origin,
                        device_id: &device_id,
                        method: "POST",
                        path_and_query: "/api/v1/device/rename",
                        body: &body,
                        timestamp,
                        nonce: &nonce,
                    }
                    .signed_bytes();
                    DeviceCallAuth {
                        device_id,
                        timestamp,
                        nonce,
                        signature: sign(&key, &signed),
                    }
                },
                |auth| {
                    rt.block_on(services.authenticate_device_call(
                        "POST",
                        "/api/v1/device/rename",
                        &body,
                        &auth,
                    ))
                    .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
    drop(dir);
}

fn pairing_claim(c: &mut Criterion) {
    let rt = runtime();
    let (services, dir) = services(&rt);
    let citizen = rt
        .block_on(citizens::add_citizen(
            &services.store,
            0,
            "bench",
            "Bench",
            None,
            "bench password",
        ))
        .unwrap()
        .citizen_id;
    let name = DeviceName::parse("Phone").unwrap();
    c.bench_function(
        "pairing/claim (secret, proof, code, conditional update, SQLite)",
        |b| {
            b.iter_batched(
                || {
                    let uri: PairingUri =
                        rt.block_on(services.start_pairing(&citizen)).unwrap().uri;
                    let mut scalar = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut scalar[1..]);
                    scalar[0] = 0x10;
                    let key = SigningKey::from_slice(&scalar).unwrap();
                    let proof = PairingProof {
                        origin: &uri.origin,
                        session_id: &uri.session_id,
                        secret: &uri.secret,
                        public_key: &public(&key),
                        device_name: name.as_str(),
                    }
                    .signed_bytes();
                    let request = PairClaimRequest {
                        secret: uri.secret.clone(),
                        public_key: public(&key),
                        device_name: name.clone(),
                        device_model: DeviceModel::parse("Model").unwrap(),
                        device_kind: DeviceKind::Phone,
                        proof: sign(&key, &proof),
                    };
                    (uri, request)
                },
                |(uri, request)| {
                    rt.block_on(services.claim_pairing(&uri.session_id, &request))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
    drop(dir);
}

fn layers(c: &mut Criterion) {
    let rt = runtime();
    let (services, dir) = services(&rt);
    let state = civkey_server::AppState::from_services(services);
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
    drop(dir);
}

criterion_group!(benches, signature_check, device_call, pairing_claim, layers);
criterion_main!(benches);
