//! Delivering the outbox: e-mail over SMTP (lettre), or — for the demo and development — appended
//! to a mailbox file under the data folder. A worker delivers what is due, retries failures with
//! exponential backoff, and records every attempt.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;

use crate::services::Services;
use crate::store::OutboxMessage;

/// The change-signal key the worker waits on.
pub const OUTBOX_KEY: &str = "outbox";

/// Where e-mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The transport (`smtp://`, `smtps://` or `smtp://…?tls=required` URL).
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// The sender.
        from: Mailbox,
    },
    /// A file that each message is appended to (demo).
    Mailbox(PathBuf),
}

impl Mailer {
    /// An SMTP mailer for `url` sending as `from`.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let transport = Box::new(transport);
        let from = from
            .parse()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        Ok(Mailer::Smtp { transport, from })
    }

    async fn send(&self, m: &OutboxMessage) -> Result<(), String> {
        match self {
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = m
                    .recipient
                    .parse()
                    .map_err(|e| format!("invalid recipient: {e}"))?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&m.subject)
                    .body(m.body.clone())
                    .map_err(|e| format!("cannot build the message: {e}"))?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
            Mailer::Mailbox(path) => {
                let entry = format!(
                    "To: {}\nSubject: {}\n\n{}\n\n",
                    m.recipient, m.subject, m.body
                );
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| format!("mailbox {}: {e}", path.display()))?;
                let failed = |e: std::io::Error| format!("mailbox {}: {e}", path.display());
                file.write_all(entry.as_bytes()).await.map_err(failed)?;
                // tokio writes in the background: the message counts as delivered only once the
                // bytes are in the file, not when they were handed over.
                file.flush().await.map_err(failed)?;
                file.sync_data().await.map_err(failed)
            }
        }
    }
}

/// Seconds to wait before attempt `attempts + 1`: 5 s doubling, at most an hour.
pub fn backoff(attempts: u64) -> u64 {
    5u64.saturating_mul(1 << attempts.min(10)).min(3600)
}

/// Delivers every due message once; returns how many were delivered.
pub async fn deliver_due(services: &Services, mailer: &Mailer) -> u64 {
    let now = services.clock.now();
    let due = match services.store.due_messages(now, 50).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return 0;
        }
    };
    let mut delivered = 0;
    for message in due {
        let result = match message.channel.as_str() {
            "email" => mailer.send(&message).await,
            other => Err(format!("no delivery for channel {other}")),
        };
        let now = services.clock.now();
        let recorded = match result {
            Ok(()) => {
                delivered += 1;
                tracing::info!(id = %message.id, "message delivered");
                services.store.mark_delivered(&message.id, now).await
            }
            Err(error) => {
                let next = now + backoff(message.attempts);
                tracing::warn!(id = %message.id, %error, retry_in = next - now, "delivery failed");
                services.store.mark_failed(&message.id, &error, next).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot record a delivery attempt");
        }
    }
    delivered
}

/// Runs the delivery worker until the process ends: delivers what is due, then waits for a new
/// message (the change signal) or at most `poll` for retries that come due.
pub fn spawn_worker(services: Services, mailer: Mailer, poll: Duration) {
    tokio::spawn(async move {
        loop {
            let mut wake = services.signal.subscribe(OUTBOX_KEY);
            deliver_due(&services, &mailer).await;
            wake.changed(poll).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tests_support::services_at;
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

    fn message(id: &str) -> OutboxMessage {
        OutboxMessage {
            id: id.into(),
            channel: "email".into(),
            recipient: "jana@example.cz".into(),
            subject: "Your code".into(),
            body: "Your code is 123456.".into(),
            attempts: 0,
        }
    }

    #[tokio::test]
    async fn email_is_delivered_over_smtp() {
        let (services, _clock, _dir) = services_at(1000).await;
        let (url, mut received) = smtp_server().await;
        let mailer = Mailer::smtp(&url, "civkey <noreply@civkey.invalid>").unwrap();
        services.store.enqueue(&message("m1"), 1000).await.unwrap();
        assert_eq!(deliver_due(&services, &mailer).await, 1);
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
    async fn a_message_waits_while_the_smtp_server_is_down_and_goes_out_when_it_is_back() {
        let (services, clock, _dir) = services_at(1000).await;
        // A port with nothing listening: connection refused.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let down = Mailer::smtp(
            &format!("smtp://127.0.0.1:{port}"),
            "noreply@civkey.invalid",
        )
        .unwrap();
        services.store.enqueue(&message("m1"), 1000).await.unwrap();
        assert_eq!(deliver_due(&services, &down).await, 0);
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
        assert_eq!(deliver_due(&services, &up).await, 1);
        assert!(received.recv().await.unwrap().contains("123456"));
    }

    #[tokio::test]
    async fn the_demo_mailbox_file_receives_the_message() {
        let (services, _clock, dir) = services_at(1000).await;
        let path = dir.0.join("mailbox.txt");
        services.store.enqueue(&message("m1"), 1000).await.unwrap();
        assert_eq!(
            deliver_due(&services, &Mailer::Mailbox(path.clone())).await,
            1
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains("To: jana@example.cz") && text.contains("123456"),
            "{text}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!([backoff(0), backoff(1), backoff(2)], [5, 10, 20]);
        assert_eq!(backoff(30), 3600);
    }
}
