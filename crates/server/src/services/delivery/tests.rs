use super::*;
use std::sync::Arc;

use crate::services::fixtures::services_at;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A minimal SMTP server: accepts one message per connection and hands its DATA back.
async fn smtp_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap_or_default()).unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (format!("smtp://127.0.0.1:{port}"), rx)
}

/// A loopback port nothing listens on: a connection there is refused.
async fn closed_port() -> u16 {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    closed.local_addr().unwrap().port()
}

/// A push of a BOK request to `recipient` for device `AQEB…` (bytes 1), expiring at `expires_at`.
fn bok_push(recipient: &str, expires_at: u64) -> OutboxMessage {
    OutboxMessage {
        subject: "bok_request".into(),
        body: "{}".into(),
        device_id: Some(civkey_proto::ids::DeviceId::from_bytes([1; 16])),
        expires_at: Some(expires_at),
        ..OutboxMessage::new("p1".into(), Channel::Push, recipient.into())
    }
}

fn message(id: &str) -> OutboxMessage {
    OutboxMessage {
        subject: "Your code".into(),
        body: "Your code is 123456.".into(),
        ..OutboxMessage::new(id.into(), Channel::Email, "jana@example.cz".into())
    }
}

#[tokio::test]
async fn email_is_delivered_over_smtp() {
    let (services, _clock, _dir) = services_at(1000).await;
    let (url, mut received) = smtp_server().await;
    let mailer = Mailer::smtp(&url, "civkey <noreply@civkey.invalid>").unwrap();
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    assert_eq!(deliver_due(&services, &Delivery::from(mailer)).await, 1);
    let data = received.recv().await.unwrap();
    assert!(
        data.contains("Subject: Your code") && data.contains("Your code is 123456."),
        "{data}"
    );
    assert!(
        services
            .store
            .due_messages(2000, 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered once"
    );
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_message_once() {
    let (first, clock, dir) = services_at(1000).await;
    // A second server instance: its own connections to the same database.
    let store = crate::store::Store::open(
        &format!("sqlite://{}/civkey.db", dir.0.display()),
        crate::store::tests::test_kek(),
    )
    .await
    .unwrap();
    let second = Services::new(store, Arc::new(clock.clone()), first.origin.clone());
    let (url, mut received) = smtp_server().await;
    let mailer = || Mailer::smtp(&url, "civkey <noreply@civkey.invalid>").unwrap();
    let (one, two) = (Delivery::from(mailer()), Delivery::from(mailer()));
    for i in 0..12 {
        first
            .store
            .enqueue(&message(&format!("m{i}")), 1000)
            .await
            .unwrap();
    }
    let (a, b) = tokio::join!(deliver_due(&first, &one), deliver_due(&second, &two));
    assert_eq!(
        a + b,
        12,
        "every message delivered by one of them ({a} + {b})"
    );
    let mut count = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), received.recv()).await
    {
        count += 1;
    }
    assert_eq!(count, 12, "none sent twice");
    assert!(first
        .store
        .due_messages(99_999, 50)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_worker_that_stops_mid_attempt_leaves_its_messages_for_after_the_lease() {
    let (services, clock, _dir) = services_at(1000).await;
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    // Claimed by a worker that then stops: no other worker takes it during the lease...
    let claimed = services
        .store
        .claim_due_messages(1000, 1000 + CLAIM_LEASE_SECS, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let (url, mut received) = smtp_server().await;
    let delivery = Delivery::from(Mailer::smtp(&url, "noreply@civkey.invalid").unwrap());
    assert_eq!(deliver_due(&services, &delivery).await, 0);
    // ...and after it, the message goes out.
    clock.advance(CLAIM_LEASE_SECS);
    assert_eq!(deliver_due(&services, &delivery).await, 1);
    assert!(received
        .recv()
        .await
        .unwrap()
        .contains("Your code is 123456."));
}

#[tokio::test]
async fn the_operator_sees_what_waits_fails_and_was_given_up_and_retries_it_when_the_channel_is_back(
) {
    use crate::store::ChannelSummary;
    let (services, clock, _dir) = services_at(1000).await;
    let port = closed_port().await;
    let down = Delivery::from(
        Mailer::smtp(
            &format!("smtp://127.0.0.1:{port}"),
            "noreply@civkey.invalid",
        )
        .unwrap(),
    );
    for i in 0..3 {
        services
            .store
            .enqueue(&message(&format!("m{i}")), 1000)
            .await
            .unwrap();
    }
    let expired = bok_push("https://push.example.org/up/1", 1000);
    services.store.enqueue(&expired, 1000).await.unwrap();
    assert_eq!(deliver_due(&services, &down).await, 0);
    let report = services.outbox_report().await.unwrap();
    assert_eq!(
        report.channels,
        vec![
            ChannelSummary {
                channel: Channel::Email,
                waiting: 3,
                failing: 3,
                oldest_waiting_since: Some(1000),
                delivered_last_day: 0,
                given_up_last_day: 0,
            },
            ChannelSummary {
                channel: Channel::Push,
                waiting: 0,
                failing: 0,
                oldest_waiting_since: None,
                delivered_last_day: 0,
                given_up_last_day: 1,
            },
        ]
    );
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(report.errors[0].messages, 3, "the SMTP error first");
    assert_eq!(
        report.errors[1].error,
        "expired before it could be delivered"
    );
    // They wait for their backoff...
    clock.advance(1);
    assert!(services
        .store
        .due_messages(1001, 10)
        .await
        .unwrap()
        .is_empty());
    // ...unless the operator, with SMTP back, retries them now (once: then they are due).
    assert_eq!(services.retry_failed_deliveries().await.unwrap(), 3);
    assert_eq!(services.retry_failed_deliveries().await.unwrap(), 0);
    let (url, mut received) = smtp_server().await;
    let up = Delivery::from(Mailer::smtp(&url, "noreply@civkey.invalid").unwrap());
    assert_eq!(deliver_due(&services, &up).await, 3);
    for _ in 0..3 {
        received.recv().await.unwrap();
    }
    let report = services.outbox_report().await.unwrap();
    assert_eq!(
        (
            report.channels[0].waiting,
            report.channels[0].delivered_last_day
        ),
        (0, 3)
    );
    assert_eq!(
        report.errors.len(),
        1,
        "only the given-up push's: {:?}",
        report.errors
    );
}

#[tokio::test]
async fn an_operators_retry_never_reopens_a_message_a_worker_is_sending() {
    let (services, clock, _dir) = services_at(1000).await;
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    // It failed once and comes due again at 1100, when a worker claims it.
    services
        .store
        .mark_failed("m1", "refused", 1100)
        .await
        .unwrap();
    clock.advance(100);
    let store = &services.store;
    assert_eq!(
        store
            .claim_due_messages(1100, 1400, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // While that worker sends it, the operator retries: the message is left to the worker,
    // and no second worker can take it.
    assert_eq!(services.retry_failed_deliveries().await.unwrap(), 0);
    assert!(store
        .claim_due_messages(1100, 1400, 10)
        .await
        .unwrap()
        .is_empty());
    // The worker's attempt fails again: the retry now applies, and it is due at once.
    store.mark_failed("m1", "refused", 5000).await.unwrap();
    assert_eq!(services.retry_failed_deliveries().await.unwrap(), 1);
    assert_eq!(
        store
            .claim_due_messages(1100, 1400, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_message_waits_while_the_smtp_server_is_down_and_goes_out_when_it_is_back() {
    let (services, clock, _dir) = services_at(1000).await;
    let port = closed_port().await;
    let down = Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "noreply@civkey.invalid",
    )
    .unwrap();
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    assert_eq!(deliver_due(&services, &Delivery::from(down)).await, 0);
    assert!(
        services
            .store
            .due_messages(1000, 10)
            .await
            .unwrap()
            .is_empty(),
        "not retried at once"
    );
    let waiting = services
        .store
        .due_messages(1000 + backoff(0), 10)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "kept for a retry after the backoff");
    assert_eq!(waiting[0].attempts, 1);

    let (url, mut received) = smtp_server().await;
    let up = Mailer::smtp(&url, "noreply@civkey.invalid").unwrap();
    clock.advance(backoff(0));
    assert_eq!(deliver_due(&services, &Delivery::from(up)).await, 1);
    assert!(received.recv().await.unwrap().contains("123456"));
}

#[tokio::test]
async fn the_demo_mailbox_file_receives_the_message_in_a_folder_made_for_it() {
    let (services, _clock, dir) = services_at(1000).await;
    // A data folder nobody made (the database is elsewhere, PostgreSQL say).
    let path = dir.0.join("data").join("mailbox.txt");
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    assert_eq!(
        deliver_due(&services, &Delivery::from(Mailer::Mailbox(path.clone()))).await,
        1
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("To: jana@example.cz") && text.contains("123456"),
        "{text}"
    );
}

#[tokio::test]
async fn a_push_past_its_expiry_is_given_up_without_being_sent() {
    let (services, clock, _dir) = services_at(1000).await;
    // Nothing listens there: a send would be recorded as a connection failure.
    let url = format!("http://127.0.0.1:{}/push", closed_port().await);
    let push = bok_push(&url, 1120);
    services.store.enqueue(&push, 1000).await.unwrap();
    clock.advance(120);
    let delivery = Delivery::from(Mailer::Mailbox("/dev/null".into()));
    assert_eq!(deliver_due(&services, &delivery).await, 0);
    let rows = services.store.outbox_to(&url).await.unwrap();
    assert_eq!(rows[0].attempts, 0, "not attempted");
    assert_eq!(rows[0].gave_up_at, Some(1120));
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("expired before it could be delivered")
    );
    assert!(services
        .store
        .due_messages(99_999, 10)
        .await
        .unwrap()
        .is_empty());
}

#[test]
fn backoff_doubles_up_to_an_hour() {
    assert_eq!([backoff(0), backoff(1), backoff(2)], [5, 10, 20]);
    assert_eq!(backoff(30), 3600);
    assert_eq!([backoff_from(1, 0), backoff_from(1, 3)], [1, 8]);
}

#[tokio::test]
async fn at_shutdown_the_worker_stops_and_claims_nothing_more() {
    let (services, _clock, dir) = services_at(1000).await;
    let mailbox = dir.0.join("mailbox.txt");
    services.store.enqueue(&message("m1"), 1000).await.unwrap();
    let worker = spawn_worker(
        services.clone(),
        Mailer::Mailbox(mailbox.clone()),
        Duration::from_secs(60),
    );
    civkey_testkit::wait_until("m1 delivered", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&mailbox).unwrap_or_default();
        async move { text.contains("Your code is 123456.").then_some(()) }
    })
    .await;
    services.shutdown.begin();
    tokio::time::timeout(Duration::from_secs(2), worker)
        .await
        .expect("the worker stopped at once")
        .unwrap();
    services.store.enqueue(&message("m2"), 1000).await.unwrap();
    services.signal.notify(OUTBOX_KEY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = services.store.due_messages(99_999, 50).await.unwrap();
    assert_eq!(waiting.len(), 1, "m2 waits for another instance");
}
