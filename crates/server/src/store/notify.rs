//! Notifications: the citizen's contact flags, each device's settings, the event table the app's
//! stream reads, and the push rows an event puts in the outbox — written in one transaction, so an
//! event is never stored without its deliveries or the reverse.

use sqlx::Row;

use super::{get_opt_u64, get_u64, to_db, DeviceRecord, Store, StoreError};
use crate::domain::CitizenId;
use civkey_proto::ids::DeviceId;

/// The citizen's e-mail and phone with their informative flags, and the language they read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFlags {
    /// The e-mail address, if any.
    pub email: Option<String>,
    /// Informative notifications to it.
    pub email_informative: bool,
    /// The phone number, if any.
    pub phone: Option<String>,
    /// Informative notifications to it (SMS).
    pub phone_informative: bool,
    /// The language tag last used on the portal's notification settings, if any.
    pub locale: Option<String>,
}

/// An event to store for a citizen's devices.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The citizen.
    pub citizen_id: &'a CitizenId,
    /// One device, or `None` for all of them.
    pub device_id: Option<&'a DeviceId>,
    /// The device setting that lets it through: `login`, `informative` or `bok_pad`.
    pub audience: &'a str,
    /// The `EventKind` as JSON.
    pub kind: &'a str,
    /// When.
    pub at: u64,
    /// When it stops mattering (a BOK request).
    pub expires_at: Option<u64>,
}

/// An event as stored.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Increasing per citizen.
    pub id: u64,
    /// See [`NewEvent::audience`].
    pub audience: String,
    /// The `EventKind` as JSON.
    pub kind: String,
    /// When.
    pub at: u64,
    /// When it stops mattering.
    pub expires_at: Option<u64>,
}

impl NewEvent<'_> {
    /// The event as the stream sends it and a push carries it (`proto::events::Event`: its id,
    /// its time, then the kind's fields).
    pub fn push_body(&self, id: u64) -> String {
        let fields = self.kind.strip_prefix('{').unwrap_or(self.kind);
        format!("{{\"id\":{id},\"at\":{},{fields}", self.at)
    }
}

/// The device setting that lets an event through (a column of `devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSetting {
    /// Login notifications.
    Login,
    /// Informative notifications.
    Informative,
    /// BOK-pad requests.
    BokPad,
}

impl DeviceSetting {
    /// Its `devices` column.
    fn column(self) -> &'static str {
        match self {
            DeviceSetting::Login => "notify_login",
            DeviceSetting::Informative => "notify_informative",
            DeviceSetting::BokPad => "bok_pad",
        }
    }

    /// Its name in the `events.audience` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceSetting::Login => "login",
            DeviceSetting::Informative => "informative",
            DeviceSetting::BokPad => "bok_pad",
        }
    }

    /// The setting named `text` in the `events.audience` column.
    pub fn parse(text: &str) -> Option<DeviceSetting> {
        match text {
            "login" => Some(DeviceSetting::Login),
            "informative" => Some(DeviceSetting::Informative),
            "bok_pad" => Some(DeviceSetting::BokPad),
            _ => None,
        }
    }

    /// Whether `device` has this setting on.
    pub fn lets_through(self, device: &DeviceRecord) -> bool {
        match self {
            DeviceSetting::Login => device.notify_login,
            DeviceSetting::Informative => device.notify_informative,
            DeviceSetting::BokPad => device.bok_pad,
        }
    }
}

/// The push rows an event makes.
#[derive(Debug, Clone)]
pub struct PushRows<'a> {
    /// Which devices: those with this setting on.
    pub setting: DeviceSetting,
    /// The outbox row's subject (the event's type).
    pub subject: &'a str,
    /// When an undelivered push is given up.
    pub expires_at: u64,
    /// Unique to the event: each row's id is this followed by its device's id.
    pub id_prefix: &'a str,
}

fn flag(on: bool) -> i64 {
    i64::from(on)
}

impl Store {
    /// The citizen's contact flags; `None` for an unknown citizen.
    pub async fn contact_flags(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Option<ContactFlags>, StoreError> {
        let row = sqlx::query(
            "SELECT email, phone, notify_email_informative, notify_phone_informative, locale \
             FROM citizens WHERE id = $1",
        )
        .bind(citizen_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ContactFlags {
                email: r.try_get("email")?,
                email_informative: r.try_get::<i64, _>("notify_email_informative")? != 0,
                phone: r.try_get("phone")?,
                phone_informative: r.try_get::<i64, _>("notify_phone_informative")? != 0,
                locale: r.try_get("locale")?,
            })
        })
        .transpose()
    }

    /// Stores the citizen's settings as a whole: the contact flags, the language (when given) and
    /// each listed device's three switches. Every listed device must be a connected device of the
    /// citizen; otherwise nothing changes and the answer is false.
    pub async fn save_notification_settings(
        &self,
        citizen_id: &CitizenId,
        email_informative: bool,
        phone_informative: bool,
        locale: Option<&str>,
        devices: &[(DeviceId, bool, bool, bool)],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE citizens SET notify_email_informative = $2, notify_phone_informative = $3, \
             locale = COALESCE($4, locale) WHERE id = $1",
        )
        .bind(citizen_id.as_str())
        .bind(flag(email_informative))
        .bind(flag(phone_informative))
        .bind(locale)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for (id, informative, login, bok_pad) in devices {
            let done = sqlx::query(
                "UPDATE devices SET notify_informative = $3, notify_login = $4, bok_pad = $5 \
                 WHERE id = $2 AND citizen_id = $1 AND disconnected_at IS NULL",
            )
            .bind(citizen_id.as_str())
            .bind(id.to_text())
            .bind(flag(*informative))
            .bind(flag(*login))
            .bind(flag(*bok_pad))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                // Dropping the transaction rolls back what was already changed.
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Sets (or with `None` removes) the citizen's phone number for SMS. False for an unknown
    /// citizen.
    pub async fn set_phone(
        &self,
        citizen_id: &CitizenId,
        phone: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE citizens SET phone = $2 WHERE id = $1")
            .bind(citizen_id.as_str())
            .bind(phone)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or with `None` removes) a connected device's push endpoint with its encryption keys
    /// (`p256dh`, `auth`, base64url), replacing both. False when there is no such device.
    pub async fn set_push_endpoint(
        &self,
        device_id: &DeviceId,
        endpoint: Option<&str>,
        keys: Option<(&str, &str)>,
    ) -> Result<bool, StoreError> {
        let (p256dh, auth) = keys.unzip();
        let done = sqlx::query(
            "UPDATE devices SET push_endpoint = $2, push_p256dh = $3, push_auth = $4 \
             WHERE id = $1 AND disconnected_at IS NULL",
        )
        .bind(device_id.to_text())
        .bind(endpoint)
        .bind(endpoint.and(p256dh))
        .bind(endpoint.and(auth))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the device's push endpoint and its keys if it is still `endpoint` (the push service
    /// said it is gone; a newer registration stays).
    pub async fn clear_push_endpoint(
        &self,
        device_id: &DeviceId,
        endpoint: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET push_endpoint = NULL, push_p256dh = NULL, push_auth = NULL \
             WHERE id = $1 AND push_endpoint = $2",
        )
        .bind(device_id.to_text())
        .bind(endpoint)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores an event under the citizen's next event id, with its push rows (see
    /// [`insert_event_in`]), in one transaction. Returns the id and how many pushes were queued.
    pub async fn insert_event(
        &self,
        event: &NewEvent<'_>,
        pushes: &PushRows<'_>,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.pool().begin().await?;
        let stored = insert_event_in(&mut tx, event, pushes).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The citizen's events for `device_id` (its own and those for every device) with an id above
    /// `after` and not older than `since`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        after: u64,
        since: u64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, audience, kind, at, expires_at FROM events \
             WHERE citizen_id = $1 AND (device_id IS NULL OR device_id = $2) AND id > $3 \
             AND at >= $4 ORDER BY id LIMIT $5",
        )
        .bind(citizen_id.as_str())
        .bind(device_id.to_text())
        .bind(to_db(after))
        .bind(to_db(since))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: get_u64(r, "id")?,
                    audience: r.try_get("audience")?,
                    kind: r.try_get("kind")?,
                    at: get_u64(r, "at")?,
                    expires_at: get_opt_u64(r, "expires_at")?,
                })
            })
            .collect()
    }
}

/// Within the caller's transaction (so an event can be written with what caused it, in one
/// commit): takes the citizen's next event id (the row lock serializes writers per citizen on
/// PostgreSQL), stores `event`, and queues a push of it for each of the citizen's connected devices
/// that has a push endpoint and the setting `pushes.setting` on (only `event.device_id`, when
/// set) — chosen by the database in the same statement, so no device list is read. Returns the id
/// and how many pushes were queued.
pub(crate) async fn insert_event_in(
    conn: &mut sqlx::AnyConnection,
    event: &NewEvent<'_>,
    pushes: &PushRows<'_>,
) -> Result<(u64, u64), StoreError> {
    let row = sqlx::query(
        "UPDATE citizens SET last_event_id = last_event_id + 1 WHERE id = $1 \
         RETURNING last_event_id",
    )
    .bind(event.citizen_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let id = get_u64(&row, "last_event_id")?;
    sqlx::query(
        "INSERT INTO events (citizen_id, id, device_id, audience, kind, at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.citizen_id.as_str())
    .bind(to_db(id))
    .bind(event.device_id.map(DeviceId::to_text))
    .bind(event.audience)
    .bind(event.kind)
    .bind(to_db(event.at))
    .bind(event.expires_at.map(to_db))
    .execute(&mut *conn)
    .await?;
    let setting = pushes.setting.column();
    let only_one = if event.device_id.is_some() {
        " AND id = $7"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO outbox (id, channel, recipient, subject, body, created_at, attempts, \
         next_attempt_at, device_id, expires_at) \
         SELECT $1 || id, 'push', push_endpoint, $2, $3, $4, 0, $4, id, $5 FROM devices \
         WHERE citizen_id = $6 AND disconnected_at IS NULL AND push_endpoint IS NOT NULL \
         AND {setting} = 1{only_one}"
    );
    let mut query = sqlx::query(&sql)
        .bind(pushes.id_prefix)
        .bind(pushes.subject)
        .bind(event.push_body(id))
        .bind(to_db(event.at))
        .bind(to_db(pushes.expires_at))
        .bind(event.citizen_id.as_str());
    if let Some(device_id) = event.device_id {
        query = query.bind(device_id.to_text());
    }
    let queued = query.execute(&mut *conn).await?.rows_affected();
    Ok((id, queued))
}
