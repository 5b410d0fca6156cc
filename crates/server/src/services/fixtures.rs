//! What the services' unit tests share: a citizen on a fresh database with a pinned clock, paired
//! devices and their signed calls. Each service's tests sit beside it (`services/NAME/tests.rs`)
//! and start with `use crate::services::fixtures::*;`.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
pub(crate) use civkey_proto::ids::{DeviceId, Nonce, ServerNonce};
pub(crate) use civkey_proto::pair::{ConfirmationCode, PairClaimRequest, PairStatus, PairingUri};
pub(crate) use civkey_proto::sign::{sign, DeviceCall, DevicePublicKey, PairingProof};
pub(crate) use civkey_proto::{ErrorCode, Origin};
pub(crate) use p256::ecdsa::SigningKey;

pub(crate) use crate::clock::{Clock, ManualClock};
pub(crate) use crate::domain::CitizenId;
pub(crate) use crate::services::devices::LAST_USED_EVERY_SECS;
pub(crate) use crate::services::{citizens, ServiceError, Services};
pub(crate) use crate::store::tests::{temp_store, TempDir};
pub(crate) use crate::store::{ClerkSession, DeviceRecord};

use civkey_proto::bok::{BokAnswerRequest, BokCounterEvent, BokRequest};
use civkey_proto::ids::BokRequestId;
use civkey_proto::rules::Bok;
use civkey_proto::sign::BokAnswer;

use crate::services::bok::set_bok;
use crate::services::clerks::{add_clerk, clerk_code_for_tests};

pub(crate) const T0: u64 = 1_767_225_600;

pub(crate) struct Fixture {
    pub(crate) services: Services,
    pub(crate) clock: ManualClock,
    pub(crate) citizen: CitizenId,
    pub(crate) _dir: TempDir,
}

pub(crate) async fn fixture() -> Fixture {
    let (store, dir) = temp_store().await;
    let clock = ManualClock::at(T0);
    let services = Services::new(
        store.clone(),
        Arc::new(clock.clone()),
        Origin::parse("https://id.example.gov").unwrap(),
    )
    .with_push_policy(test_push_policy());
    let e = citizens::add_citizen(
        &store,
        T0,
        "jana",
        "Jana Nováková",
        None,
        "correct horse battery",
    )
    .await
    .unwrap();
    Fixture {
        services,
        clock,
        citizen: e.citizen_id,
        _dir: dir,
    }
}

pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub(crate) fn public(key: &SigningKey) -> DevicePublicKey {
    DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()))
}

pub(crate) fn claim(uri: &PairingUri, key: &SigningKey) -> PairClaimRequest {
    let name = DeviceName::parse("Pixel 8").unwrap();
    let proof = PairingProof {
        origin: &uri.origin,
        session_id: &uri.session_id,
        secret: &uri.secret,
        public_key: &public(key),
        device_name: name.as_str(),
    }
    .signed_bytes();
    PairClaimRequest {
        secret: uri.secret.clone(),
        public_key: public(key),
        device_name: name,
        device_model: DeviceModel::parse("Pixel 8 Pro").unwrap(),
        device_kind: DeviceKind::Phone,
        proof: sign(key, &proof),
    }
}

pub(crate) fn code_of(result: Result<impl std::fmt::Debug, ServiceError>) -> ErrorCode {
    match result {
        Err(e) => e.code(),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

/// Services on a fresh database with a manual clock at `t`.
pub(crate) async fn services_at(t: u64) -> (Services, ManualClock, TempDir) {
    let (store, dir) = temp_store().await;
    let clock = ManualClock::at(t);
    let services = Services::new(
        store,
        Arc::new(clock.clone()),
        civkey_proto::Origin::parse("https://id.example.gov").unwrap_or_else(|e| panic!("{e}")),
    )
    .with_push_policy(test_push_policy());
    (services, clock, dir)
}

/// The push policy of the tests: the loopback test mode (their push endpoints listen on
/// 127.0.0.1), with `push.example.org` resolving to a public address without asking DNS.
pub(crate) fn test_push_policy() -> crate::services::push_guard::PushPolicy {
    use crate::services::push_guard::{HostsTable, PushPolicy};
    let hosts = HostsTable::default();
    hosts.set("push.example.org", &["93.184.215.14".parse().unwrap()]);
    PushPolicy::new(true, Vec::new(), Arc::new(hosts))
}

/// Pairs a device with `key` and returns its id.
pub(crate) async fn paired(f: &Fixture, device_key: &SigningKey) -> DeviceId {
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let claimed = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, device_key))
        .await
        .unwrap();
    f.services
        .decide_pairing(&f.citizen, &pairing.uri.session_id, true)
        .await
        .unwrap();
    f.services
        .pairing_outcome(
            &pairing.uri.session_id,
            &claimed.claim_token,
            Duration::ZERO,
        )
        .await
        .unwrap()
        .device_id
        .unwrap()
}

pub(crate) fn signed_call(
    f: &Fixture,
    device: DeviceId,
    device_key: &SigningKey,
    body: &[u8],
    nonce: u8,
    timestamp: u64,
) -> DeviceCallAuth {
    let nonce = Nonce::from_bytes([nonce; 16]);
    let call = DeviceCall {
        origin: &f.services.origin,
        device_id: &device,
        method: "POST",
        path_and_query: "/api/v1/device/rename",
        body,
        timestamp,
        nonce: &nonce,
    };
    DeviceCallAuth {
        device_id: device,
        timestamp,
        nonce,
        signature: sign(device_key, &call.signed_bytes()),
    }
}

/// Makes every write of an event fail (the notification's table is down), or lets them
/// through again.
pub(crate) async fn events_fail(s: &Services, fail: bool) {
    let sql = if fail {
        "CREATE TRIGGER events_down BEFORE INSERT ON events \
         BEGIN SELECT RAISE(ABORT, 'events are down'); END"
    } else {
        "DROP TRIGGER events_down"
    };
    sqlx::query(sql).execute(s.store.pool()).await.unwrap();
}

// The office counter.

pub(crate) const BOK: &str = "482913";
pub(crate) const CLERK_PASSWORD: &str = "clerk's long password";

/// A citizen `jana` with a BOK and a paired device (BOK-pad on), and a clerk logged in at the
/// counter of "Czech POINT, Praha 1".
pub(crate) struct Counter {
    pub(crate) f: Fixture,
    pub(crate) clerk: ClerkSession,
    pub(crate) device: DeviceRecord,
    pub(crate) device_key: SigningKey,
}

pub(crate) async fn counter() -> Counter {
    let f = fixture().await;
    set_bok(&f.services.store, "jana", BOK).await.unwrap();
    let device_key = key(0x42);
    let device_id = paired(&f, &device_key).await;
    let device = f.services.store.device(&device_id).await.unwrap().unwrap();
    let clerk = clerk(&f, "eva", "Czech POINT, Praha 1").await;
    Counter {
        f,
        clerk,
        device,
        device_key,
    }
}

pub(crate) async fn clerk(f: &Fixture, username: &str, office: &str) -> ClerkSession {
    add_clerk(
        &f.services.store,
        T0,
        username,
        "Eva Úřednice",
        office,
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let code = clerk_code_for_tests(&f.services.store, username, f.clock.now()).await;
    let session = f
        .services
        .login_clerk(username, CLERK_PASSWORD, &code, "10.0.0.1")
        .await
        .unwrap();
    f.services
        .clerk_session(&session.token)
        .await
        .unwrap()
        .unwrap()
}

impl Counter {
    pub(crate) async fn start(&self) -> BokRequestId {
        self.f
            .services
            .start_bok_verification(&self.clerk, "jana")
            .await
            .unwrap()
            .id
    }

    pub(crate) async fn pending(&self) -> Vec<BokRequest> {
        self.f
            .services
            .pending_bok_requests(&self.device)
            .await
            .unwrap()
    }

    /// The answer `bok` to `id`, signed by `key` for `device` at `time`.
    pub(crate) async fn signed(
        &self,
        id: &BokRequestId,
        bok: &str,
        key: &SigningKey,
        time: u64,
    ) -> BokAnswerRequest {
        let record = self
            .f
            .services
            .store
            .bok_request(id)
            .await
            .unwrap()
            .unwrap();
        let challenge = civkey_proto::ids::Challenge::parse(&record.challenge).unwrap();
        let bok = Bok::parse(bok).unwrap();
        let signed = BokAnswer {
            origin: &self.f.services.origin,
            request_id: id,
            challenge: &challenge,
            device_id: &self.device.id,
            bok: &bok,
            time,
        }
        .signed_bytes();
        BokAnswerRequest {
            bok,
            time,
            signature: sign(key, &signed),
        }
    }

    pub(crate) async fn answer(
        &self,
        id: &BokRequestId,
        bok: &str,
    ) -> Result<civkey_proto::bok::BokAnswerResponse, ServiceError> {
        let answer = self
            .signed(id, bok, &self.device_key, self.f.clock.now())
            .await;
        self.f.services.answer_bok(&self.device, id, &answer).await
    }

    pub(crate) async fn event(&self, id: &BokRequestId) -> BokCounterEvent {
        self.f
            .services
            .bok_counter_event(&self.clerk.clerk_id, id)
            .await
            .unwrap()
            .unwrap()
            .0
    }

    pub(crate) async fn citizen(&self) -> crate::services::bok::CounterCitizen {
        self.f
            .services
            .counter_citizen("jana")
            .await
            .unwrap()
            .unwrap()
    }
}
