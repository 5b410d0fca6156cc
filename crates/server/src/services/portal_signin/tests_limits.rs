//! Attempt limits under attack, on a pinned clock and a real SQLite database: parallel guesses at
//! one account, an attacker who keeps making attempts in a citizen's name, and e-mail code
//! requests that must neither count as failed logins nor reveal which usernames exist.
//! (The HTTP versions of the parallel attack are in tests/e2e/portal_http.rs.)

use civkey_proto::otp::{totp, OtpAccount};

use crate::clock::Clock;
use crate::services::fixtures::*;

const PASSWORD: &str = "petr's long password";
const ATTACKER: &str = "203.0.113.66";
const CITIZEN: &str = "198.51.100.7";
/// The longest a citizen may ever be told to wait (5 minutes).
const LONGEST_WAIT: u64 = 5 * 60;

async fn petr() -> (Fixture, OtpAccount) {
    let f = fixture().await;
    let e = citizens::add_citizen(
        &f.services.store,
        T0,
        "petr",
        "Petr Svoboda",
        Some("petr@example.cz"),
        PASSWORD,
    )
    .await
    .unwrap();
    (f, OtpAccount::parse_uri(&e.otpauth_uri).unwrap())
}

fn code_at(account: &OtpAccount, t: u64) -> String {
    totp(account.secret.expose(), account.algorithm, 6, 30, t).code
}

/// The `i`th of a list of 6-digit codes none of which petr's authenticator shows around `t`.
fn wrong_code(account: &OtpAccount, t: u64, i: u64) -> String {
    let right = [t - 30, t, t + 30].map(|at| code_at(account, at));
    (0..)
        .map(|n| format!("{:06}", (i * 7919 + n) % 1_000_000))
        .find(|c| !right.contains(c))
        .unwrap()
}

fn refusal<T>(result: &Result<T, ServiceError>) -> Option<ErrorCode> {
    result.as_ref().err().map(ServiceError::code)
}

/// Rows per table, to compare what two requests wrote.
async fn row_counts(f: &Fixture) -> Vec<(String, i64)> {
    let pool = f.services.store.pool();
    let tables = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let name: String = sqlx::Row::try_get(&table, "name").unwrap();
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {name}"))
            .fetch_one(pool)
            .await
            .unwrap();
        counts.push((name, sqlx::Row::try_get(&row, "n").unwrap()));
    }
    counts
}

/// The tables whose row counts changed between `before` and `after`, with the change.
fn written(before: &[(String, i64)], after: &[(String, i64)]) -> Vec<(String, i64)> {
    after
        .iter()
        .zip(before)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, b)| (a.0.clone(), a.1 - b.1))
        .collect()
}

/// Attack: 40 wrong TOTP codes with the right password, all at once. Checking first and counting
/// after let every one of them be tried; counting before verifying lets at most the limit through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_totp_codes_with_the_right_password_get_no_more_checks_than_the_limit() {
    let (f, account) = petr().await;
    let guesses = (0..40).map(|i| {
        let services = f.services.clone();
        let code = wrong_code(&account, T0, i);
        tokio::spawn(async move {
            services
                .login_password_totp("petr", PASSWORD, &code, ATTACKER)
                .await
                .map(|_| ())
        })
    });
    let results: Vec<_> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|joined| refusal(&joined.unwrap()))
        .collect();
    let checked = results
        .iter()
        .filter(|r| **r == Some(ErrorCode::WrongCredentials))
        .count();
    let limited = results
        .iter()
        .filter(|r| **r == Some(ErrorCode::RateLimited))
        .count();
    assert!(
        (1..=5).contains(&checked),
        "{checked} of 40 parallel codes were checked"
    );
    assert_eq!(checked + limited, 40, "{results:?}");

    // Petr himself waits as long as he is told, no longer.
    let retry_after = match f
        .services
        .login_password_totp("petr", PASSWORD, &code_at(&account, T0), CITIZEN)
        .await
    {
        Err(ServiceError::RateLimited { retry_after }) => retry_after,
        other => panic!("expected a wait, got {:?}", other.map(|_| ())),
    };
    assert!((1..=LONGEST_WAIT).contains(&retry_after), "{retry_after}");
    f.clock.advance(retry_after);
    let t = f.clock.now();
    f.services
        .login_password_totp("petr", PASSWORD, &code_at(&account, t), CITIZEN)
        .await
        .unwrap();
}

/// Attack: five wrong attempts in the citizen's name every 15 minutes, for hours. With a hard
/// block for the rest of a 15-minute window, the citizen is always told to come back just when the
/// next five arrive. With waits that grow only up to 5 minutes and refused attempts that count
/// for nothing, the citizen gets in after at most one such wait.
#[tokio::test]
async fn an_attacker_trying_five_times_every_15_minutes_cannot_keep_the_citizen_out() {
    let (f, account) = petr().await;
    let s = &f.services;
    let period = 15 * 60;
    let (clock, otp) = (&f.clock, &account);
    let attack = |at: u64| async move {
        clock.set(at);
        for i in 0..5 {
            let guess = wrong_code(otp, at, i);
            let _ = s
                .login_password_totp("petr", "a guessed password", &guess, ATTACKER)
                .await;
        }
    };
    // Four hours of it before petr comes.
    let mut next_attack = T0;
    for _ in 0..16 {
        attack(next_attack).await;
        next_attack += period;
    }
    f.clock.set(next_attack - period + 60);

    // Petr tries a minute after the last round and comes back when told, for up to an hour,
    // while the attacker keeps going.
    let mut waits = Vec::new();
    let mut logged_in = false;
    let give_up = f.clock.now() + 4 * period;
    while f.clock.now() < give_up {
        let now = f.clock.now();
        match s
            .login_password_totp("petr", PASSWORD, &code_at(&account, now), CITIZEN)
            .await
        {
            Ok(_) => {
                logged_in = true;
                break;
            }
            Err(ServiceError::RateLimited { retry_after }) => {
                waits.push(retry_after);
                let back = now + retry_after;
                while next_attack <= back {
                    attack(next_attack).await;
                    next_attack += period;
                }
                f.clock.set(back);
            }
            Err(e) => panic!("petr was refused: {e:?}"),
        }
    }
    assert!(
        logged_in,
        "petr was kept out for an hour; told to wait {waits:?}"
    );
    assert!(
        waits.iter().all(|w| *w <= LONGEST_WAIT),
        "told to wait {waits:?}"
    );
}

/// Attack: asking for e-mail codes in a citizen's name counted as failed logins, so five requests
/// kept the citizen from logging in with the password. Requests are limited on their own now,
/// and failed logins do not stop a citizen from asking for a code either.
#[tokio::test]
async fn asking_for_email_codes_is_not_a_failed_login_and_is_limited_on_its_own() {
    let (f, account) = petr().await;
    let s = &f.services;
    let mut limited = 0;
    for _ in 0..10 {
        match s
            .send_email_code("petr", ATTACKER, "Code", "Your code: {code}")
            .await
        {
            Ok(()) => {}
            Err(ServiceError::RateLimited { .. }) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(limited > 0, "ten requests at once were all accepted");
    s.login_password_totp("petr", PASSWORD, &code_at(&account, T0), CITIZEN)
        .await
        .unwrap();

    // The other way round: five failed logins, and Eva can still ask for a code.
    citizens::add_citizen(
        &s.store,
        T0,
        "eva",
        "Eva Horváth",
        Some("eva@example.hu"),
        "eva's long password",
    )
    .await
    .unwrap();
    for i in 0..5 {
        let _ = s
            .login_password_totp("eva", "a guessed password", &format!("{i:06}"), ATTACKER)
            .await;
    }
    s.send_email_code("eva", CITIZEN, "Code", "Your code: {code}")
        .await
        .unwrap();
}

/// Attack: timing and what was written told apart a known username (a code made, stored and
/// queued), one without an address and an unknown one (nothing written). Now each request writes
/// the same rows: its attempt counts and one queued request without any code in it; the code is
/// made when the request is delivered.
#[tokio::test]
async fn email_code_requests_for_known_and_unknown_usernames_write_the_same_rows() {
    let f = fixture().await;
    let s = &f.services;
    citizens::add_citizen(
        &s.store,
        T0,
        "eva",
        "Eva Horváth",
        Some("eva@example.hu"),
        "eva's long password",
    )
    .await
    .unwrap();
    // eva has an address, jana (the fixture's citizen) has none, nobody does not exist.
    let mut writes = Vec::new();
    for (i, username) in ["eva", "jana", "nobody"].into_iter().enumerate() {
        let before = row_counts(&f).await;
        s.send_email_code(
            username,
            &format!("192.0.2.{i}"),
            "Code",
            "Your code: {code}",
        )
        .await
        .unwrap();
        writes.push((username, written(&before, &row_counts(&f).await)));
    }
    assert!(!writes[0].1.is_empty(), "{writes:?}");
    assert!(
        writes.iter().all(|(_, w)| *w == writes[0].1),
        "different rows were written: {writes:?}"
    );
    let queued = sqlx::query("SELECT channel, subject, body FROM outbox ORDER BY created_at")
        .fetch_all(s.store.pool())
        .await
        .unwrap();
    let texts: Vec<(String, String, String)> = queued
        .iter()
        .map(|r| {
            (
                sqlx::Row::try_get(r, "channel").unwrap(),
                sqlx::Row::try_get(r, "subject").unwrap(),
                sqlx::Row::try_get(r, "body").unwrap(),
            )
        })
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(
        texts
            .iter()
            .all(|t| *t == texts[0] && t.2.contains("{code}")),
        "the queued requests differ or hold a code: {texts:?}"
    );

    // Delivered, only Eva gets a message, and its code logs her in.
    let mailbox = f._dir.0.join("mailbox.txt");
    let delivery = crate::services::delivery::Delivery::from(
        crate::services::delivery::Mailer::Mailbox(mailbox.clone()),
    );
    crate::services::delivery::deliver_due(s, &delivery).await;
    let mail = std::fs::read_to_string(&mailbox).unwrap();
    assert_eq!(mail.matches("To: ").count(), 1, "{mail}");
    assert!(mail.contains("To: eva@example.hu"), "{mail}");
    let code = mail
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap();
    s.login_email_code("eva", code, "192.0.2.0").await.unwrap();
    assert!(
        s.store
            .due_messages(T0 + 3600, 10)
            .await
            .unwrap()
            .is_empty(),
        "every request was dealt with"
    );
}

/// Attack: a script sends one attempt in the citizen's name the moment each wait ends, so the
/// account is always waiting, and anyone else trying races the script for each slot (and here
/// loses every time, as without this defence every citizen did). A browser the citizen logged in
/// from before counts in a bucket of its own: it gets in at once. Its token is bound to the
/// account: used for another account it is no way around that account's limit.
#[tokio::test]
async fn a_scripted_attacker_taking_every_slot_cannot_keep_the_citizen_out_of_their_own_browser() {
    let (f, account) = petr().await;
    let s = &f.services;
    let first = s
        .login_password_totp_in("petr", PASSWORD, &code_at(&account, T0), CITIZEN, None)
        .await
        .unwrap();
    let known = first
        .known_browser
        .clone()
        .expect("a new browser is remembered");

    // A week later the script starts and takes every slot.
    f.clock.set(T0 + 7 * 24 * 3600);
    let mut checked = 0;
    while checked < 20 {
        let now = f.clock.now();
        match s
            .login_password_totp(
                "petr",
                "a guess",
                &wrong_code(&account, now, checked),
                ATTACKER,
            )
            .await
        {
            Err(ServiceError::RateLimited { retry_after }) => f.clock.advance(retry_after),
            Err(_) => checked += 1,
            Ok(_) => panic!("the attacker got in"),
        }
    }
    let now = f.clock.now();
    let stranger = s
        .login_password_totp_in("petr", PASSWORD, &code_at(&account, now), CITIZEN, None)
        .await;
    assert_eq!(
        refusal(&stranger),
        Some(ErrorCode::RateLimited),
        "a browser not known for petr waits"
    );
    let again = s
        .login_password_totp_in(
            "petr",
            PASSWORD,
            &code_at(&account, now),
            CITIZEN,
            Some(&known),
        )
        .await
        .unwrap();
    assert!(again.known_browser.is_none(), "already known: no new token");

    // Petr's token does not open Jana's account's limit.
    for i in 0..5 {
        let _ = s
            .login_password_totp("jana", "a guess", &format!("{i:06}"), "203.0.113.77")
            .await;
    }
    let other = s
        .login_password_totp_in("jana", "a guess", "000000", CITIZEN, Some(&known))
        .await;
    assert_eq!(refusal(&other), Some(ErrorCode::RateLimited));
}
