//! Notifications without HTTP: who gets which event (settings respected, other citizens never),
//! what goes to the outbox for push, e-mail and SMS, resuming after an event id, and the settings
//! replaced as a whole with bad ones refused and nothing changed.

use civkey_proto::events::{EventKind, InformativeTopic, LoginMeans};
use civkey_proto::notify::{ContactChannel, ContactSettings, NotificationSettings};

use crate::domain::Channel;
use crate::services::fixtures::*;
use crate::services::notify::{mask_address, Informative};
use crate::store::{DeviceRecord, NewDevice};

/// Adds a connected device to `citizen`, with the given switches and push endpoint.
async fn device(
    s: &Services,
    citizen: &CitizenId,
    seed: u8,
    (informative, login, bok_pad): (bool, bool, bool),
    push: Option<&str>,
) -> DeviceRecord {
    let id = DeviceId::from_bytes([seed; 16]);
    s.store
        .insert_device(&NewDevice {
            id,
            citizen_id: citizen.clone(),
            public_key: public(&key(seed)).to_text(),
            name: format!("Phone {seed}"),
            model: "Pixel".into(),
            kind: "phone".into(),
            paired_at: T0,
        })
        .await
        .unwrap();
    sqlx::query(
        "UPDATE devices SET notify_informative = $2, notify_login = $3, bok_pad = $4, \
         push_endpoint = $5 WHERE id = $1",
    )
    .bind(id.to_text())
    .bind(i64::from(informative))
    .bind(i64::from(login))
    .bind(i64::from(bok_pad))
    .bind(push)
    .execute(s.store.pool())
    .await
    .unwrap();
    s.store.device(&id).await.unwrap().unwrap()
}

async fn other_citizen(s: &Services) -> CitizenId {
    citizens::add_citizen(
        &s.store,
        T0,
        "eva",
        "Eva Horváth",
        None,
        "eva's long password",
    )
    .await
    .unwrap()
    .citizen_id
}

async fn kinds(s: &Services, d: &DeviceRecord) -> Vec<EventKind> {
    let fresh = s.store.device(&d.id).await.unwrap().unwrap();
    let (events, _) = s.events_for_device(&fresh, None).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

const ON: (bool, bool, bool) = (true, true, true);

#[tokio::test]
async fn a_login_notification_reaches_only_devices_with_login_on_and_never_another_citizen() {
    let f = fixture().await;
    let s = &f.services;
    let on = device(s, &f.citizen, 1, ON, Some("https://push.example.org/a")).await;
    let off = device(
        s,
        &f.citizen,
        2,
        (true, false, true),
        Some("https://push.example.org/b"),
    )
    .await;
    let eva = other_citizen(s).await;
    let evas = device(s, &eva, 3, ON, Some("https://push.example.org/c")).await;

    s.notify_login(&f.citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;

    let expected = EventKind::LoginNotification {
        service_name: "Portál občana".into(),
        means: LoginMeans::PasswordTotp,
    };
    assert_eq!(kinds(s, &on).await, vec![expected.clone()]);
    assert!(kinds(s, &off).await.is_empty(), "login notifications off");
    assert!(kinds(s, &evas).await.is_empty(), "another citizen's device");

    let pushed = s
        .store
        .outbox_to("https://push.example.org/a")
        .await
        .unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].channel, Channel::Push);
    let event: civkey_proto::events::Event = serde_json::from_str(&pushed[0].body).unwrap();
    assert_eq!((event.at, event.kind), (T0, expected));
    for url in ["https://push.example.org/b", "https://push.example.org/c"] {
        assert!(s.store.outbox_to(url).await.unwrap().is_empty(), "{url}");
    }
}

#[test]
fn informative_events_say_their_topic_and_arguments_beside_the_rendered_text() {
    use civkey_i18n::Locale;
    let cases = [
        (
            Informative::DeviceConnected {
                device_name: "Pixel 8".into(),
            },
            InformativeTopic::KeyConnected,
            Some("Pixel 8"),
            None,
        ),
        (
            Informative::DeviceDisconnected {
                device_name: "iPad".into(),
            },
            InformativeTopic::KeyDisconnected,
            Some("iPad"),
            None,
        ),
        (
            Informative::BokBlocked,
            InformativeTopic::BokBlocked,
            None,
            None,
        ),
        (
            Informative::BokUnblocked {
                office_name: "Czech POINT, Praha 1".into(),
            },
            InformativeTopic::BokUnblocked,
            None,
            Some("Czech POINT, Praha 1"),
        ),
    ];
    for (what, want_topic, want_device, want_office) in cases {
        let (want_title, want_body) = what.render(Locale::Cs);
        let EventKind::Informative {
            topic,
            device_name,
            office_name,
            title,
            body,
        } = what.event(Locale::Cs)
        else {
            panic!("{what:?} is not an informative event");
        };
        assert_eq!(topic, want_topic, "{what:?}");
        assert_eq!(device_name.as_deref(), want_device, "{what:?}");
        assert_eq!(office_name.as_deref(), want_office, "{what:?}");
        assert_eq!((title, body), (want_title, want_body), "{what:?}");
    }
    let EventKind::Informative { title, .. } = Informative::DeviceConnected {
        device_name: "Pixel 8".into(),
    }
    .event(Locale::Cs) else {
        unreachable!()
    };
    assert_eq!(title, "Připojen nový mobilní klíč", "the text stays Czech");
}

/// Gives `citizen` the e-mail address jana@example.cz and the phone number +420601234567.
async fn with_email_and_phone(s: &Services, citizen: &CitizenId) {
    sqlx::query("UPDATE citizens SET email = $2, phone = $3 WHERE id = $1")
        .bind(citizen.as_str())
        .bind("jana@example.cz")
        .bind("+420601234567")
        .execute(s.store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_operators_notice_goes_out_as_written_and_bad_ones_are_refused() {
    let f = fixture().await;
    let s = &f.services;
    with_email_and_phone(s, &f.citizen).await;
    let on = device(s, &f.citizen, 1, ON, None).await;
    s.notify_citizen(
        "jana",
        " Planned maintenance ",
        "The portal is closed on Sunday 2–4 am.\nLogins still work.",
    )
    .await
    .unwrap();
    let got = kinds(s, &on).await;
    assert!(
        matches!(
            got.as_slice(),
            [EventKind::Informative { topic: InformativeTopic::Other, title, body, .. }]
                if title == "Planned maintenance"
                    && body == "The portal is closed on Sunday 2–4 am.\nLogins still work."
        ),
        "{got:?}"
    );
    let mail = s.store.outbox_to("jana@example.cz").await.unwrap();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].body.contains("Logins still work."),
        "{}",
        mail[0].body
    );

    for (username, title, body, code) in [
        ("jana", "", "text", ErrorCode::BadRequest),
        ("jana", "two\nlines", "text", ErrorCode::BadRequest),
        ("jana", &"x".repeat(101), "text", ErrorCode::BadRequest),
        ("jana", "Title", "", ErrorCode::BadRequest),
        ("jana", "Title", &"x".repeat(1001), ErrorCode::BadRequest),
        ("jana", "Title", "bell\u{7}", ErrorCode::BadRequest),
        ("nobody", "Title", "text", ErrorCode::NotFound),
    ] {
        let refused = s.notify_citizen(username, title, body).await;
        assert_eq!(code_of(refused), code, "{username} {title:?} {body:?}");
    }
    assert_eq!(kinds(s, &on).await.len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn a_phone_gets_a_few_sms_an_hour_at_most_while_devices_and_email_get_every_notice() {
    use crate::services::notify::MAX_SMS_PER_HOUR;
    let f = fixture().await;
    let s = &f.services;
    with_email_and_phone(s, &f.citizen).await;
    let on = device(s, &f.citizen, 1, ON, None).await;
    let notices = MAX_SMS_PER_HOUR + 3;
    for _ in 0..notices {
        s.notify_informative(&f.citizen, &Informative::BokBlocked)
            .await;
        f.clock.advance(60);
    }
    fn count<T>(v: Vec<T>) -> u64 {
        u64::try_from(v.len()).unwrap()
    }
    assert_eq!(count(kinds(s, &on).await), notices);
    assert_eq!(
        count(s.store.outbox_to("jana@example.cz").await.unwrap()),
        notices
    );
    assert_eq!(
        count(s.store.outbox_to("+420601234567").await.unwrap()),
        MAX_SMS_PER_HOUR
    );
    // An hour after the first ones, SMS go out again.
    f.clock.advance(3600);
    s.notify_informative(&f.citizen, &Informative::BokBlocked)
        .await;
    assert_eq!(
        count(s.store.outbox_to("+420601234567").await.unwrap()),
        MAX_SMS_PER_HOUR + 1
    );
}

#[tokio::test]
async fn informative_notifications_go_to_devices_email_and_sms_as_switched_on() {
    let f = fixture().await;
    let s = &f.services;
    with_email_and_phone(s, &f.citizen).await;
    let on = device(s, &f.citizen, 1, ON, None).await;
    let off = device(s, &f.citizen, 2, (false, true, true), None).await;

    s.notify_informative(&f.citizen, &Informative::BokBlocked)
        .await;
    let got = kinds(s, &on).await;
    assert!(
        matches!(
            got.as_slice(),
            [EventKind::Informative { topic: InformativeTopic::BokBlocked, title, .. }]
                if title == "BOK zablokován"
        ),
        "{got:?}"
    );
    assert!(kinds(s, &off).await.is_empty(), "informative off");
    let mail = s.store.outbox_to("jana@example.cz").await.unwrap();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].body.contains("zablokován"), "Czech by default");
    let sms = s.store.outbox_to("+420601234567").await.unwrap();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].channel, Channel::Sms);

    // The phone switched off, the language English: the next one is English and no SMS.
    let mut settings = s.notification_settings(&f.citizen).await.unwrap();
    for c in &mut settings.contacts {
        c.informative = c.channel == ContactChannel::Email;
    }
    s.save_notification_settings(&f.citizen, &settings, Some(civkey_i18n::Locale::En))
        .await
        .unwrap();
    f.clock.advance(1);
    s.notify_informative(
        &f.citizen,
        &Informative::BokUnblocked {
            office_name: "Czech POINT, Praha 1".into(),
        },
    )
    .await;
    let mail = s.store.outbox_to("jana@example.cz").await.unwrap();
    assert_eq!(mail.len(), 2);
    assert!(
        mail[1]
            .body
            .contains("Your BOK was unblocked at Czech POINT, Praha 1."),
        "{}",
        mail[1].body
    );
    assert_eq!(s.store.outbox_to("+420601234567").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_stream_resumes_after_the_last_event_id() {
    let f = fixture().await;
    let s = &f.services;
    let d = device(s, &f.citizen, 1, ON, None).await;
    for service in ["A", "B", "C"] {
        s.notify_login(&f.citizen, service, LoginMeans::EmailCode)
            .await;
    }
    let (all, last) = s.events_for_device(&d, None).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(last, 3);
    let (later, _) = s.events_for_device(&d, Some(1)).await.unwrap();
    assert_eq!(later.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3]);
    // A device paired later does not get what happened before it.
    f.clock.advance(10);
    let mut newer = device(s, &f.citizen, 2, ON, None).await;
    newer.paired_at = T0 + 10;
    assert!(s
        .events_for_device(&newer, None)
        .await
        .unwrap()
        .0
        .is_empty());
}

#[tokio::test]
async fn settings_are_replaced_as_a_whole_and_bad_ones_change_nothing() {
    let f = fixture().await;
    let s = &f.services;
    sqlx::query("UPDATE citizens SET email = $2 WHERE id = $1")
        .bind(f.citizen.as_str())
        .bind("jana@example.cz")
        .execute(s.store.pool())
        .await
        .unwrap();
    let a = device(s, &f.citizen, 1, ON, None).await;
    let b = device(s, &f.citizen, 2, ON, None).await;
    let eva = other_citizen(s).await;
    let evas = device(s, &eva, 3, ON, None).await;
    let before = s.notification_settings(&f.citizen).await.unwrap();
    assert_eq!(before.contacts[0].address, "j***@example.cz", "masked");
    assert_eq!(before.devices.len(), 2);
    assert!(before
        .devices
        .iter()
        .all(|d| d.informative && d.login && d.bok_pad));

    let with = |f: &dyn Fn(&mut NotificationSettings)| {
        let mut s = before.clone();
        f(&mut s);
        s
    };
    let refused = [
        (
            with(&|s| s.devices[0].device_id = evas.id),
            ErrorCode::NotFound,
        ),
        (
            with(&|s| {
                s.devices.pop();
            }),
            ErrorCode::BadRequest,
        ),
        (
            with(&|s| {
                let first = s.devices[0].clone();
                s.devices[1] = first;
            }),
            ErrorCode::BadRequest,
        ),
        (with(&|s| s.contacts.clear()), ErrorCode::BadRequest),
        (
            with(&|s| {
                s.contacts.push(ContactSettings {
                    channel: ContactChannel::Phone,
                    address: "x".into(),
                    informative: false,
                })
            }),
            ErrorCode::BadRequest,
        ),
    ];
    for (bad, code) in refused {
        // Every change in it would have switched something off.
        let mut bad = bad;
        for d in &mut bad.devices {
            d.login = false;
        }
        let err = s
            .save_notification_settings(&f.citizen, &bad, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(s.notification_settings(&f.citizen).await.unwrap(), before);
    }
    // Eva's settings cannot name Jana's device either.
    let evas_try = NotificationSettings {
        contacts: vec![],
        devices: vec![civkey_proto::notify::DeviceNotificationSettings::at_pairing(a.id)],
    };
    assert_eq!(
        s.save_notification_settings(&eva, &evas_try, None)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );

    let wanted = with(&|s| {
        s.contacts[0].informative = false;
        s.devices[1].login = false;
        s.devices[1].bok_pad = false;
    });
    s.save_notification_settings(&f.citizen, &wanted, None)
        .await
        .unwrap();
    assert_eq!(s.notification_settings(&f.citizen).await.unwrap(), wanted);
    let b_now = s.store.device(&b.id).await.unwrap().unwrap();
    assert!(!b_now.notify_login && !b_now.bok_pad && b_now.notify_informative);
}

#[test]
fn addresses_are_masked() {
    assert_eq!(
        mask_address(ContactChannel::Email, "jana@example.cz"),
        "j***@example.cz"
    );
    assert_eq!(
        mask_address(ContactChannel::Phone, "+420 601 234 567"),
        "+*** *** *** 567"
    );
}

/// Petr, who logs in to the portal with password and TOTP, with a mobile key that has every
/// notification on; and his TOTP code at a given time.
async fn petr_with_a_key(s: &Services) -> (DeviceRecord, impl Fn(u64) -> String) {
    use civkey_proto::otp::{totp, OtpAccount};
    let e = citizens::add_citizen(
        &s.store,
        T0,
        "petr",
        "Petr Svoboda",
        None,
        "petr's long password",
    )
    .await
    .unwrap();
    let d = device(s, &e.citizen_id, 1, ON, None).await;
    let account = OtpAccount::parse_uri(&e.otpauth_uri).unwrap();
    let code_at = move |t| totp(account.secret.expose(), account.algorithm, 6, 30, t).code;
    (d, code_at)
}

#[tokio::test]
async fn a_portal_login_with_password_and_totp_notifies_and_a_failed_one_does_not() {
    let f = fixture().await;
    let s = &f.services;
    let (d, code_at) = petr_with_a_key(s).await;
    let code = code_at(T0);
    assert!(s
        .login_password_totp("petr", "wrong password", &code, "127.0.0.1")
        .await
        .is_err());
    assert!(kinds(s, &d).await.is_empty(), "no login, no notification");
    s.login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(
        kinds(s, &d).await,
        vec![EventKind::LoginNotification {
            service_name: "Portál občana civkey".into(),
            means: LoginMeans::PasswordTotp,
        }]
    );
}

#[tokio::test]
async fn a_portal_session_is_opened_only_together_with_its_login_notification() {
    let f = fixture().await;
    let s = &f.services;
    let (d, code_at) = petr_with_a_key(s).await;
    let code = code_at(T0);
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(s.store.pool())
            .await
            .unwrap()
    };
    // The notification cannot be written: no session is opened unannounced.
    events_fail(s, true).await;
    let failed = s
        .login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(failed.code(), ErrorCode::Internal);
    assert_eq!(sessions().await, 0);
    events_fail(s, false).await;
    let next = code_at(T0 + 30);
    f.clock.advance(30);
    s.login_password_totp("petr", "petr's long password", &next, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(sessions().await, 1);
    assert_eq!(kinds(s, &d).await.len(), 1);
}

#[tokio::test]
async fn connecting_and_disconnecting_a_mobile_key_is_told_to_the_other_keys() {
    let f = fixture().await;
    let s = &f.services;
    let first = paired(&f, &key(1)).await;
    let second = paired(&f, &key(2)).await;
    s.disconnect_device(&f.citizen, &second).await.unwrap();
    let first = s.store.device(&first).await.unwrap().unwrap();
    let titles: Vec<String> = kinds(s, &first)
        .await
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Informative { title, .. } => Some(title),
            _ => None,
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Připojen nový mobilní klíč",
            "Připojen nový mobilní klíč",
            "Mobilní klíč odpojen"
        ]
    );
}

#[tokio::test]
async fn push_keys_are_stored_with_the_endpoint_and_go_with_it() {
    use civkey_proto::device::{PushAuthSecret, PushEndpoint, PushKeys, PushPublicKey};
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    let f = fixture().await;
    let s = &f.services;
    let d = device(s, &f.citizen, 1, ON, None).await;
    assert_eq!(d.push_keys, None);
    let public: [u8; 65] = p256::SecretKey::from_slice(&[9; 32])
        .unwrap()
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .try_into()
        .unwrap();
    let keys = PushKeys {
        p256dh: PushPublicKey::from_bytes(public).unwrap(),
        auth: PushAuthSecret::from_bytes([5; 16]),
    };
    let endpoint = PushEndpoint::parse("https://push.example.org/a").unwrap();
    let stored = |s: &Services| {
        let id = d.id;
        let store = s.store.clone();
        async move { store.device(&id).await.unwrap().unwrap() }
    };

    s.register_push(&d, Some(&endpoint), Some(&keys))
        .await
        .unwrap();
    let now = stored(s).await;
    let kept = now.push_keys.unwrap();
    assert_eq!(kept.p256dh, keys.p256dh.to_text());
    assert_eq!(kept.auth.as_str(), keys.auth.to_text());
    assert!(
        !format!("{kept:?}").contains(&keys.auth.to_text()),
        "auth not in Debug"
    );

    // A registration without keys replaces the keys too: clear-text pushes from then on.
    s.register_push(&d, Some(&endpoint), None).await.unwrap();
    assert_eq!(stored(s).await.push_keys, None);

    // Removing the endpoint removes the keys.
    s.register_push(&d, Some(&endpoint), Some(&keys))
        .await
        .unwrap();
    s.register_push(&d, None, None).await.unwrap();
    let now = stored(s).await;
    assert_eq!((now.push_endpoint, now.push_keys), (None, None));

    // An endpoint the push service says is gone goes with its keys.
    s.register_push(&d, Some(&endpoint), Some(&keys))
        .await
        .unwrap();
    s.store
        .clear_push_endpoint(&d.id, endpoint.as_str())
        .await
        .unwrap();
    let now = stored(s).await;
    assert_eq!((now.push_endpoint, now.push_keys), (None, None));
}
