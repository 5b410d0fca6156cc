//! Portal sign-in without HTTP: password and TOTP code, e-mail codes, removing a lost
//! authenticator, and the limits on failed attempts.

use crate::services::fixtures::*;

mod auth {
    use super::*;
    use crate::clock::Clock;
    use crate::services::portal_signin::{ACCOUNT_LIMIT, ADDRESS_LIMIT};
    use civkey_proto::otp::{totp, OtpAccount};

    async fn enrolled() -> (Fixture, OtpAccount) {
        let f = fixture().await;
        let e = citizens::add_citizen(
            &f.services.store,
            T0,
            "petr",
            "Petr Svoboda",
            None,
            "petr's long password",
        )
        .await
        .unwrap();
        (f, OtpAccount::parse_uri(&e.otpauth_uri).unwrap())
    }

    fn code_at(account: &OtpAccount, t: u64) -> String {
        totp(account.secret.expose(), account.algorithm, 6, 30, t).code
    }

    /// Rows in `table`.
    async fn rows(f: &Fixture, table: &str) -> i64 {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(f.services.store.pool())
            .await
            .unwrap();
        sqlx::Row::try_get(&row, "n").unwrap()
    }

    #[tokio::test]
    async fn housekeeping_forgets_what_expired_and_keeps_the_record() {
        use crate::services::devices::{FLOW_RETENTION_SECS, NOTIFICATION_RETENTION_SECS};
        let (f, account) = enrolled().await;
        let s = &f.services;
        // At T0: a portal session (2 h), a failed attempt (a rate-limit window), a pairing
        // session (4 min), a login notification, and a login history line.
        let session = s
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "1.2.3.4",
            )
            .await
            .unwrap();
        let _ = s
            .login_password_totp("petr", "wrong password", "000000", "1.2.3.4")
            .await;
        s.start_pairing(&f.citizen).await.unwrap();
        sqlx::query(
            "INSERT INTO login_history (id, citizen_id, client_id, service_name, means, at) \
             VALUES ('h1', $1, 'c', 'Daňový portál', 'mobile_key', $2)",
        )
        .bind(f.citizen.as_str())
        .bind(T0 as i64)
        .execute(s.store.pool())
        .await
        .unwrap();
        let tables = [
            "web_sessions",
            "attempt_limits",
            "pairing_sessions",
            "events",
            "login_history",
        ];
        let mut counts = Vec::new();
        for table in tables {
            counts.push(rows(&f, table).await);
        }
        assert!(counts.iter().all(|n| *n > 0), "{tables:?} {counts:?}");

        // An hour on: nothing has expired long enough.
        f.clock.advance(3600);
        s.housekeeping().await.unwrap();
        assert!(s.web_session(&session.token).await.unwrap().is_some());
        assert_eq!(
            rows(&f, "pairing_sessions").await,
            counts[2],
            "kept a day after expiry"
        );

        // A day on: the session, the rate-limit windows and the expired pairing session go.
        f.clock.advance(FLOW_RETENTION_SECS);
        s.housekeeping().await.unwrap();
        for table in ["web_sessions", "attempt_limits", "pairing_sessions"] {
            assert_eq!(rows(&f, table).await, 0, "{table}");
        }
        assert!(rows(&f, "events").await > 0, "events stay 90 days");

        // 90 days on: the events go; the login history stays.
        f.clock.advance(NOTIFICATION_RETENTION_SECS);
        s.housekeeping().await.unwrap();
        assert_eq!(rows(&f, "events").await, 0);
        assert_eq!(rows(&f, "login_history").await, 1);
        // Event ids keep counting up after old events are gone (petr's login was his event 1).
        let petr = s
            .store
            .citizen_by_username("petr")
            .await
            .unwrap()
            .unwrap()
            .id;
        s.notify_login(
            &petr,
            "Portál",
            civkey_proto::events::LoginMeans::PasswordTotp,
        )
        .await;
        let row = sqlx::query("SELECT id FROM events")
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        let id: i64 = sqlx::Row::try_get(&row, "id").unwrap();
        assert!(id > 1, "a new event does not reuse an old id: {id}");
    }

    #[tokio::test]
    async fn password_and_current_totp_code_log_in_once() {
        let (f, account) = enrolled().await;
        let code = code_at(&account, T0);
        let session = f
            .services
            .login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
            .await
            .unwrap();
        let live = f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.csrf_token, session.csrf);
        let again = f
            .services
            .login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
            .await;
        assert_eq!(
            code_of(again.map(|_| ())),
            ErrorCode::WrongCredentials,
            "a code is accepted once"
        );
        f.services.logout(&session.token).await.unwrap();
        assert!(f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_code_from_the_previous_or_next_step_is_accepted_but_not_older() {
        let (f, account) = enrolled().await;
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 - 30),
                "a",
            )
            .await
            .unwrap();
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 + 30),
                "a",
            )
            .await
            .unwrap();
        let old = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 - 60),
                "a",
            )
            .await;
        assert_eq!(code_of(old.map(|_| ())), ErrorCode::WrongCredentials);
    }

    #[tokio::test]
    async fn sessions_expire() {
        let (f, account) = enrolled().await;
        let session = f
            .services
            .login_password_totp("petr", "petr's long password", &code_at(&account, T0), "a")
            .await
            .unwrap();
        f.clock
            .advance(crate::services::portal_signin::SESSION_TTL_SECS);
        assert!(f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn failed_attempts_are_limited_per_account_with_a_clear_wait_and_nothing_locked_forever()
    {
        let (f, account) = enrolled().await;
        for _ in 0..ACCOUNT_LIMIT.free {
            let wrong = f
                .services
                .login_password_totp("petr", "wrong password!", "000000", "10.0.0.1")
                .await;
            assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);
        }
        let limited = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.0.0.2",
            )
            .await;
        match limited {
            Err(ServiceError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, ACCOUNT_LIMIT.first_wait)
            }
            other => panic!("expected rate limiting, got {:?}", other.map(|_| ())),
        }
        f.clock.advance(ACCOUNT_LIMIT.first_wait);
        let t = f.clock.now();
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, t),
                "10.0.0.2",
            )
            .await
            .unwrap();
    }

    /// After the free attempts each one waits twice as long as the one before, up to 5 minutes,
    /// to the second the refusal states; refused attempts do not lengthen the wait.
    #[tokio::test]
    async fn the_waits_double_after_the_free_attempts_up_to_five_minutes() {
        let (f, _) = enrolled().await;
        let wrong = || {
            f.services
                .login_password_totp("petr", "wrong", "000000", "10.0.0.1")
        };
        for _ in 0..ACCOUNT_LIMIT.free {
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
        }
        let mut waits = Vec::new();
        for _ in 0..12 {
            let retry_after = match wrong().await {
                Err(ServiceError::RateLimited { retry_after }) => retry_after,
                other => panic!("expected a wait, got {:?}", other.map(|_| ())),
            };
            // Asking again a second early changes nothing.
            f.clock.advance(retry_after - 1);
            assert!(
                matches!(
                    wrong().await,
                    Err(ServiceError::RateLimited { retry_after: 1 })
                ),
                "a refused attempt moved the wait"
            );
            f.clock.advance(1);
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
            waits.push(retry_after);
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300],
            "the waits"
        );
        assert_eq!(ACCOUNT_LIMIT.wait_after(1000), ACCOUNT_LIMIT.max_wait);
        // A day later it starts again from the free attempts.
        f.clock.advance(ACCOUNT_LIMIT.memory);
        for _ in 0..ACCOUNT_LIMIT.free {
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
        }
    }

    #[tokio::test]
    async fn failed_attempts_are_limited_per_client_address_across_accounts() {
        let (f, account) = enrolled().await;
        for i in 0..ADDRESS_LIMIT.free {
            let _ = f
                .services
                .login_password_totp(&format!("nobody{i}"), "x", "000000", "10.9.9.9")
                .await;
        }
        let limited = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.9.9.9",
            )
            .await;
        assert_eq!(code_of(limited.map(|_| ())), ErrorCode::RateLimited);
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.1.1.1",
            )
            .await
            .unwrap();
    }
}

mod email_codes {
    use super::*;

    async fn with_email() -> Fixture {
        let f = fixture().await;
        citizens::add_citizen(
            &f.services.store,
            T0,
            "eva",
            "Eva Horváth",
            Some("eva@example.hu"),
            "eva's long password",
        )
        .await
        .unwrap();
        f
    }

    /// Delivers what the outbox holds to a mailbox file; returns the code in the last message.
    /// Asks for an e-mail code for eva (from address "a") and reads it from the delivered mail.
    async fn emailed_code(f: &Fixture) -> String {
        f.services
            .send_email_code("eva", "a", "Code", "Your code: {code} .")
            .await
            .unwrap();
        sent_code(f).await
    }

    /// The refusal's code when eva logs in with the e-mail code `code` from `address`.
    async fn email_login_refused(f: &Fixture, code: &str, address: &str) -> ErrorCode {
        code_of(
            f.services
                .login_email_code("eva", code, address)
                .await
                .map(|_| ()),
        )
    }

    async fn sent_code(f: &Fixture) -> String {
        let mail = delivered_mail(f).await;
        let last = &mail[mail.rfind("To: ").expect("a message was sent")..];
        assert!(last.starts_with("To: eva@example.hu"), "{last}");
        last.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_string()
    }

    /// Delivers what is due to the fixture's mailbox file; returns the file's text.
    async fn delivered_mail(f: &Fixture) -> String {
        let mailbox = f._dir.0.join("mailbox.txt");
        let delivery = crate::services::delivery::Delivery::from(
            crate::services::delivery::Mailer::Mailbox(mailbox.clone()),
        );
        crate::services::delivery::deliver_due(&f.services, &delivery).await;
        std::fs::read_to_string(&mailbox).unwrap_or_default()
    }

    #[tokio::test]
    async fn an_email_code_logs_in_once_within_ten_minutes() {
        let f = with_email().await;
        let code = emailed_code(&f).await;
        f.services
            .login_email_code("eva", &code, "a")
            .await
            .unwrap();
        assert_eq!(
            email_login_refused(&f, &code, "a").await,
            ErrorCode::WrongCredentials
        );
    }

    #[tokio::test]
    async fn an_email_code_expires_after_ten_minutes() {
        let f = with_email().await;
        let code = emailed_code(&f).await;
        f.clock
            .advance(crate::services::portal_signin::EMAIL_CODE_TTL_SECS);
        assert_eq!(
            email_login_refused(&f, &code, "a").await,
            ErrorCode::WrongCredentials
        );
    }

    #[tokio::test]
    async fn asking_for_a_code_reveals_nothing_about_the_account() {
        let f = with_email().await;
        f.services
            .send_email_code("nobody", "a", "Code", "{code}")
            .await
            .unwrap();
        f.services
            .send_email_code("jana", "a", "Code", "{code}")
            .await
            .unwrap();
        assert_eq!(delivered_mail(&f).await, "", "no address, no message");
        assert!(
            f.services
                .store
                .due_messages(T0 + 3600, 10)
                .await
                .unwrap()
                .is_empty(),
            "both requests were dealt with"
        );
    }

    #[tokio::test]
    async fn a_wrong_email_code_counts_towards_the_limit() {
        let f = with_email().await;
        let code = emailed_code(&f).await;
        for _ in 0..crate::services::portal_signin::ACCOUNT_LIMIT.free {
            let wrong = f.services.login_email_code("eva", "000000", "b").await;
            assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);
        }
        assert_eq!(
            email_login_refused(&f, &code, "b").await,
            ErrorCode::RateLimited,
            "even the right code waits"
        );
        f.clock
            .advance(crate::services::portal_signin::ACCOUNT_LIMIT.first_wait);
        f.services
            .login_email_code("eva", &code, "b")
            .await
            .unwrap();
    }
}

mod totp_removal {
    use super::*;

    #[tokio::test]
    async fn the_deletion_code_removes_a_lost_authenticator_once() {
        let f = fixture().await;
        let e = citizens::add_citizen(
            &f.services.store,
            T0,
            "ivo",
            "Ivo Král",
            None,
            "ivo's long password",
        )
        .await
        .unwrap();
        let typed = e.deletion_code.to_lowercase().replace('-', " ");
        let wrong = f
            .services
            .remove_totp_with_deletion_code(
                "ivo",
                "ivo's long password",
                "AAAA-BBBB-CCCC-DDDD",
                "a",
            )
            .await;
        assert_eq!(code_of(wrong), ErrorCode::WrongCredentials);
        let no_password = f
            .services
            .remove_totp_with_deletion_code("ivo", "not the password", &e.deletion_code, "a")
            .await;
        assert_eq!(code_of(no_password), ErrorCode::WrongCredentials);
        f.services
            .remove_totp_with_deletion_code("ivo", "ivo's long password", &typed, "a")
            .await
            .unwrap();
        assert!(f
            .services
            .store
            .citizen_by_username("ivo")
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .is_none());
        let again = f
            .services
            .remove_totp_with_deletion_code("ivo", "ivo's long password", &e.deletion_code, "a")
            .await;
        assert_eq!(
            code_of(again),
            ErrorCode::WrongCredentials,
            "a deletion code works once"
        );
    }
}
