//! Notifications: who is told what, and the settings that decide it.
//!
//! Every event for the citizen's mobile keys is stored in the event table (the app's stream reads
//! it, resuming after `Last-Event-ID`) and, for each target device with a push endpoint, becomes a
//! `push` row in the outbox. Informative notifications also go to the e-mail address and phone
//! number when those are switched on (`email` and `sms` rows). The delivery worker
//! ([`crate::services::delivery`]) sends the rows, retrying with backoff; the change signal wakes the stream.
//!
//! A notification that cannot be stored is logged and never fails the action that caused it (a
//! login, a pairing): the action has happened.

use civkey_i18n::{tr, tr_args, Locale};
use civkey_proto::bok::BokRequest;
use civkey_proto::device::{PushEndpoint, PushKeys};
use civkey_proto::events::{Event, EventKind, InformativeTopic, LoginMeans};
use civkey_proto::ids::DeviceId;
use civkey_proto::notify::{
    ContactChannel, ContactSettings, DeviceNotificationSettings, NotificationSettings,
};
use civkey_proto::ErrorCode;

use super::secrets::random_token;
use super::{ServiceError, Services};
use crate::domain::{BokStatus, Channel, CitizenId};
use crate::store::{
    ChannelSummary, DeliveryError, DeviceRecord, DeviceSetting, NewEvent, OutboxMessage, PushRows,
    StoredEvent,
};

/// The change-signal key of a citizen's event stream.
pub fn events_key(citizen_id: &CitizenId) -> String {
    format!("events:{citizen_id}")
}

/// How long a login or informative push may wait at the push service (WebPush `TTL`, seconds).
pub const PUSH_TTL_SECS: u64 = 24 * 3600;

/// Informative SMS to one phone number per hour, at most.
pub const MAX_SMS_PER_HOUR: u64 = 5;

/// The most events one read of the stream returns.
const EVENT_PAGE: i64 = 100;

/// An event ready to be written with [`crate::store::Store::insert_event`] (or within another
/// transaction), made by [`Services::prepare_event`].
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    citizen_id: CitizenId,
    device_id: Option<DeviceId>,
    audience: DeviceSetting,
    kind: String,
    subject: &'static str,
    at: u64,
    expires_at: Option<u64>,
    id_prefix: String,
}

impl PreparedEvent {
    /// The event's row.
    pub(crate) fn row(&self) -> NewEvent<'_> {
        NewEvent {
            citizen_id: &self.citizen_id,
            device_id: self.device_id.as_ref(),
            audience: self.audience.as_str(),
            kind: &self.kind,
            at: self.at,
            expires_at: self.expires_at,
        }
    }

    /// Its push rows: to the devices whose setting lets it through, until it expires (a login or
    /// informative push after [`PUSH_TTL_SECS`]).
    pub(crate) fn pushes(&self) -> PushRows<'_> {
        PushRows {
            setting: self.audience,
            subject: self.subject,
            expires_at: self.expires_at.unwrap_or(self.at + PUSH_TTL_SECS),
            id_prefix: &self.id_prefix,
        }
    }
}

/// An informative notification: what happened to the citizen's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Informative {
    /// A mobile key was connected.
    DeviceConnected {
        /// Its name.
        device_name: String,
    },
    /// A mobile key was disconnected.
    DeviceDisconnected {
        /// Its name.
        device_name: String,
    },
    /// Too many wrong BOK answers blocked the BOK.
    BokBlocked,
    /// An office lifted the BOK's block.
    BokUnblocked {
        /// The office.
        office_name: String,
    },
    /// A notice the operator worded (`civkey-server citizen notify`), sent as written.
    Notice {
        /// Its title.
        title: String,
        /// Its text.
        body: String,
    },
}

impl Informative {
    /// Title and text in `locale`.
    pub fn render(&self, locale: Locale) -> (String, String) {
        let (key, args): (&str, Vec<(&str, &str)>) = match self {
            Informative::Notice { title, body } => return (title.clone(), body.clone()),
            Informative::DeviceConnected { device_name } => {
                ("notify.device_connected", vec![("name", device_name)])
            }
            Informative::DeviceDisconnected { device_name } => {
                ("notify.device_disconnected", vec![("name", device_name)])
            }
            Informative::BokBlocked => ("notify.bok_blocked", vec![]),
            Informative::BokUnblocked { office_name } => {
                ("notify.bok_unblocked", vec![("office", office_name)])
            }
        };
        (
            tr_args(locale, &format!("{key}.title"), &args),
            tr_args(locale, &format!("{key}.body"), &args),
        )
    }

    /// The event for the app: its topic and arguments (so the app can word it in its own
    /// language), with the text rendered in `locale` for clients that do not know the topic.
    pub fn event(&self, locale: Locale) -> EventKind {
        let (title, body) = self.render(locale);
        let (topic, device_name, office_name) = match self {
            Informative::DeviceConnected { device_name } => {
                (InformativeTopic::KeyConnected, Some(device_name), None)
            }
            Informative::DeviceDisconnected { device_name } => {
                (InformativeTopic::KeyDisconnected, Some(device_name), None)
            }
            Informative::BokBlocked => (InformativeTopic::BokBlocked, None, None),
            Informative::BokUnblocked { office_name } => {
                (InformativeTopic::BokUnblocked, None, Some(office_name))
            }
            Informative::Notice { .. } => (InformativeTopic::Other, None, None),
        };
        EventKind::Informative {
            topic,
            device_name: device_name.cloned(),
            office_name: office_name.cloned(),
            title,
            body,
        }
    }
}

/// Masks an e-mail address (`j***@example.cz`) or phone number (`+420 *** *** 789`-like: all but
/// the last three digits) for showing.
pub fn mask_address(channel: ContactChannel, address: &str) -> String {
    match channel {
        ContactChannel::Email => match address.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_string(),
        },
        ContactChannel::Phone => {
            let digits = address.chars().filter(char::is_ascii_digit).count();
            let mut seen = 0;
            address
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        seen += 1;
                        if seen + 3 <= digits {
                            return '*';
                        }
                    }
                    c
                })
                .collect()
        }
    }
}

impl Services {
    /// The citizen logged in (by any means): a login notification to each connected device with
    /// login notifications on, written on its own. Failures are logged. The logins themselves
    /// write it in their own transaction with [`Services::login_notification`].
    pub async fn notify_login(
        &self,
        citizen_id: &CitizenId,
        service_name: &str,
        means: LoginMeans,
    ) {
        let stored = match self.login_notification(citizen_id, service_name, means) {
            Ok(event) => self.store_prepared(&event).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, "cannot store a login notification");
        }
    }

    /// The login notification of a login to `service_name` by `means`, to be written in the
    /// login's own transaction (then [`Services::event_stored`]), so that no login goes
    /// unannounced.
    pub(crate) fn login_notification(
        &self,
        citizen_id: &CitizenId,
        service_name: &str,
        means: LoginMeans,
    ) -> Result<PreparedEvent, ServiceError> {
        let kind = EventKind::LoginNotification {
            service_name: service_name.to_string(),
            means,
        };
        self.prepare_event(citizen_id, None, DeviceSetting::Login, &kind, None)
    }

    /// The name a portal login is notified under, in the citizen's language.
    pub async fn portal_service_name(&self, citizen_id: &CitizenId) -> String {
        let locale = self.citizen_locale(citizen_id).await;
        tr(locale, "notify.portal_name").to_string()
    }

    /// The operator's notice to the citizen `username` (`civkey-server citizen notify`): an
    /// informative notification with the operator's title (1–100 characters on one line) and
    /// text (1–1000 characters, line breaks allowed).
    pub async fn notify_citizen(
        &self,
        username: &str,
        title: &str,
        body: &str,
    ) -> Result<(), ServiceError> {
        let invalid = |what: &str| {
            ServiceError::refused(ErrorCode::BadRequest, format!("the notice's {what}"))
        };
        let title = title.trim();
        let body = body.trim();
        if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
            return Err(invalid("title must be 1–100 characters on one line"));
        }
        if body.is_empty()
            || body.chars().count() > 1000
            || body.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(invalid("text must be 1–1000 characters"));
        }
        let citizen = self
            .store
            .citizen_by_username(username)
            .await?
            .ok_or_else(|| {
                ServiceError::refused(ErrorCode::NotFound, "no citizen with that username")
            })?;
        let notice = Informative::Notice {
            title: title.to_string(),
            body: body.to_string(),
        };
        self.try_notify_informative(&citizen.id, &notice).await
    }

    /// An informative notification: to each connected device with informative notifications on
    /// (its topic and arguments, and the text), and to the e-mail address and phone number when
    /// switched on, in the citizen's language (Czech when none is known). Failures are logged.
    pub async fn notify_informative(&self, citizen_id: &CitizenId, what: &Informative) {
        if let Err(e) = self.try_notify_informative(citizen_id, what).await {
            tracing::error!(error = %e, "cannot store an informative notification");
        }
    }

    async fn try_notify_informative(
        &self,
        citizen_id: &CitizenId,
        what: &Informative,
    ) -> Result<(), ServiceError> {
        let Some(contacts) = self.store.contact_flags(citizen_id).await? else {
            return Ok(());
        };
        let locale = contacts
            .locale
            .as_deref()
            .and_then(Locale::from_tag)
            .unwrap_or(Locale::DEFAULT);
        let (title, body) = what.render(locale);
        let kind = what.event(locale);
        self.store_event(citizen_id, None, DeviceSetting::Informative, &kind, None)
            .await?;
        let now = self.clock.now();
        let mut queued = false;
        if let (Some(email), true) = (&contacts.email, contacts.email_informative) {
            let message = OutboxMessage {
                subject: title.clone(),
                body: body.clone(),
                ..OutboxMessage::new(random_token(), Channel::Email, email.clone())
            };
            self.store.enqueue(&message, now).await?;
            queued = true;
        }
        if let (Some(phone), true) = (&contacts.phone, contacts.phone_informative) {
            // SMS cost money and reach a phone at any hour: a few an hour at most, whatever
            // triggers them (the devices and e-mail still get every one).
            let recent = self
                .store
                .queued_since(Channel::Sms, phone, now.saturating_sub(3600))
                .await?;
            if recent >= MAX_SMS_PER_HOUR {
                tracing::warn!(citizen = %citizen_id, "SMS limit reached: this notice goes without an SMS");
            } else {
                let message = OutboxMessage {
                    body: format!("{title}: {body}"),
                    ..OutboxMessage::new(random_token(), Channel::Sms, phone.clone())
                };
                self.store.enqueue(&message, now).await?;
                queued = true;
            }
        }
        if queued {
            self.signal.notify(crate::services::delivery::OUTBOX_KEY);
        }
        Ok(())
    }

    /// A clerk started a BOK verification: a BOK request to each connected device with BOK-pad
    /// on, pushed with high urgency and dropped once it expires. Failures are logged (the app
    /// also lists open requests with `GET /api/v1/bok/pending`).
    pub async fn notify_bok_request(&self, citizen_id: &CitizenId, request: &BokRequest) {
        let kind = EventKind::BokRequest {
            request: request.clone(),
        };
        if let Err(e) = self
            .store_event(
                citizen_id,
                None,
                DeviceSetting::BokPad,
                &kind,
                Some(request.expires_at),
            )
            .await
        {
            tracing::error!(error = %e, "cannot store a BOK request event");
        }
    }

    /// An event ready to be written: the row and its push rows.
    pub(crate) fn prepare_event(
        &self,
        citizen_id: &CitizenId,
        device_id: Option<&DeviceId>,
        audience: DeviceSetting,
        kind: &EventKind,
        expires_at: Option<u64>,
    ) -> Result<PreparedEvent, ServiceError> {
        let at = self.clock.now();
        Ok(PreparedEvent {
            citizen_id: citizen_id.clone(),
            device_id: device_id.cloned(),
            audience,
            kind: serde_json::to_string(kind)
                .map_err(|e| ServiceError::Internal(format!("event JSON: {e}")))?,
            subject: kind.name(),
            at,
            expires_at,
            id_prefix: format!("{}-", random_token()),
        })
    }

    /// After an event was written: wakes the citizen's streams, and the delivery worker when
    /// pushes were queued.
    pub(crate) fn event_stored(&self, citizen_id: &CitizenId, pushes_queued: u64) {
        self.signal.notify(&events_key(citizen_id));
        if pushes_queued > 0 {
            self.signal.notify(crate::services::delivery::OUTBOX_KEY);
        }
    }

    /// Stores an event with a push to each target device with an endpoint, and wakes the stream
    /// and the delivery worker.
    async fn store_event(
        &self,
        citizen_id: &CitizenId,
        device_id: Option<&DeviceId>,
        audience: DeviceSetting,
        kind: &EventKind,
        expires_at: Option<u64>,
    ) -> Result<u64, ServiceError> {
        let event = self.prepare_event(citizen_id, device_id, audience, kind, expires_at)?;
        self.store_prepared(&event).await
    }

    /// Stores a prepared event (see [`Services::store_event`]); returns its id.
    async fn store_prepared(&self, event: &PreparedEvent) -> Result<u64, ServiceError> {
        let (id, queued) = self
            .store
            .insert_event(&event.row(), &event.pushes())
            .await?;
        self.event_stored(&event.citizen_id, queued);
        Ok(id)
    }

    /// The events the calling device gets after the event id `after` (`None`: every event since it
    /// was paired), in order: only its own citizen's, only those its settings let through now,
    /// and BOK requests only while they are open (not expired, answered or blocked). Returns them and the last id looked at (to resume
    /// from, even when the last events were filtered out).
    pub async fn events_for_device(
        &self,
        device: &DeviceRecord,
        after: Option<u64>,
    ) -> Result<(Vec<Event>, u64), ServiceError> {
        let now = self.clock.now();
        let mut last = after.unwrap_or(0);
        let stored = self
            .store
            .events_after(
                &device.citizen_id,
                &device.id,
                last,
                if after.is_some() { 0 } else { device.paired_at },
                EVENT_PAGE,
            )
            .await?;
        let mut events = Vec::new();
        for StoredEvent {
            id,
            audience,
            kind,
            at,
            expires_at,
        } in stored
        {
            last = last.max(id);
            let through = DeviceSetting::parse(&audience).is_some_and(|a| a.lets_through(device));
            let current = expires_at.is_none_or(|t| now < t);
            if !(through && current) {
                continue;
            }
            let kind = match serde_json::from_str::<EventKind>(&kind) {
                Ok(kind) => kind,
                Err(e) => {
                    tracing::error!(error = %e, event = id, "a stored event is corrupt");
                    continue;
                }
            };
            // A BOK request already answered, blocked or withdrawn is no longer asked for.
            if let EventKind::BokRequest { request } = &kind {
                let open = self
                    .store
                    .bok_request(&request.id)
                    .await?
                    .is_some_and(|r| r.status == BokStatus::Pending);
                if !open {
                    continue;
                }
            }
            events.push(Event { id, at, kind });
        }
        Ok((events, last))
    }

    /// The citizen's notification settings (addresses masked).
    pub async fn notification_settings(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<NotificationSettings, ServiceError> {
        let contacts = self
            .store
            .contact_flags(citizen_id)
            .await?
            .ok_or_else(|| ServiceError::refused(ErrorCode::NotFound, "no such citizen"))?;
        let mut list = Vec::new();
        if let Some(email) = &contacts.email {
            list.push(ContactSettings {
                channel: ContactChannel::Email,
                address: mask_address(ContactChannel::Email, email),
                informative: contacts.email_informative,
            });
        }
        if let Some(phone) = &contacts.phone {
            list.push(ContactSettings {
                channel: ContactChannel::Phone,
                address: mask_address(ContactChannel::Phone, phone),
                informative: contacts.phone_informative,
            });
        }
        let devices = self
            .store
            .active_devices(citizen_id)
            .await?
            .into_iter()
            .map(|d| DeviceNotificationSettings {
                device_id: d.id,
                informative: d.notify_informative,
                login: d.notify_login,
                bok_pad: d.bok_pad,
            })
            .collect();
        Ok(NotificationSettings {
            contacts: list,
            devices,
        })
    }

    /// Replaces the citizen's notification settings as a whole (the Save button). Refused, with
    /// nothing changed, when a device is not one of the citizen's connected devices, when a
    /// connected device or a contact the citizen has is missing, or when something is listed twice
    /// or names a contact the citizen does not have. `locale` records the language the citizen
    /// reads (the portal's), for e-mail and SMS.
    pub async fn save_notification_settings(
        &self,
        citizen_id: &CitizenId,
        settings: &NotificationSettings,
        locale: Option<Locale>,
    ) -> Result<(), ServiceError> {
        let bad = |message: &str| ServiceError::refused(ErrorCode::BadRequest, message);
        let contacts = self
            .store
            .contact_flags(citizen_id)
            .await?
            .ok_or_else(|| ServiceError::refused(ErrorCode::NotFound, "no such citizen"))?;
        let mut email = None;
        let mut phone = None;
        for c in &settings.contacts {
            let (slot, exists) = match c.channel {
                ContactChannel::Email => (&mut email, contacts.email.is_some()),
                ContactChannel::Phone => (&mut phone, contacts.phone.is_some()),
            };
            if !exists {
                return Err(bad(
                    "the settings name a contact channel this account does not have",
                ));
            }
            if slot.replace(c.informative).is_some() {
                return Err(bad("a contact channel is listed twice"));
            }
        }
        if (contacts.email.is_some() && email.is_none())
            || (contacts.phone.is_some() && phone.is_none())
        {
            return Err(bad(
                "the settings replace all of them: every contact channel must be listed",
            ));
        }
        let active = self.store.active_devices(citizen_id).await?;
        let mut devices: Vec<(DeviceId, bool, bool, bool)> = Vec::new();
        for d in &settings.devices {
            let id = d.device_id;
            if devices.iter().any(|(seen, ..)| *seen == id) {
                return Err(bad("a device is listed twice"));
            }
            if !active.iter().any(|a| a.id == id) {
                return Err(ServiceError::refused(
                    ErrorCode::NotFound,
                    format!("{id} is not a connected mobile key of this account"),
                ));
            }
            devices.push((id, d.informative, d.login, d.bok_pad));
        }
        if devices.len() != active.len() {
            return Err(bad(
                "the settings replace all of them: every connected mobile key must be listed",
            ));
        }
        let saved = self
            .store
            .save_notification_settings(
                citizen_id,
                email.unwrap_or(contacts.email_informative),
                phone.unwrap_or(contacts.phone_informative),
                locale.map(Locale::tag),
                &devices,
            )
            .await?;
        if !saved {
            // A device was disconnected between the check and the write.
            return Err(ServiceError::refused(
                ErrorCode::NotFound,
                "a mobile key in the settings is no longer connected",
            ));
        }
        self.signal.notify(&events_key(citizen_id));
        Ok(())
    }

    /// Registers (or with `None` removes) the calling device's push endpoint, with the keys its
    /// pushes are then encrypted to (RFC 8291), or none for clear-text wake-ups. A registration
    /// replaces the previous one whole: endpoint and keys. An endpoint the push policy refuses
    /// (not https, not an allowed push service, or an address inside the operator's network once
    /// resolved) is `push_endpoint_refused`; the delivery worker checks again at every send.
    pub async fn register_push(
        &self,
        device: &DeviceRecord,
        endpoint: Option<&PushEndpoint>,
        keys: Option<&PushKeys>,
    ) -> Result<(), ServiceError> {
        if let Some(endpoint) = endpoint {
            if let Err(refusal) = self.push.check_endpoint(endpoint.as_str()).await {
                tracing::info!(device = %device.id, %refusal, "push endpoint refused");
                return Err(ServiceError::refused(
                    ErrorCode::PushEndpointRefused,
                    format!("the push endpoint is refused: {refusal}"),
                ));
            }
        }
        let keys = keys.map(|k| {
            (
                k.p256dh.to_text(),
                zeroize::Zeroizing::new(k.auth.to_text()),
            )
        });
        if self
            .store
            .set_push_endpoint(
                &device.id,
                endpoint.map(PushEndpoint::as_str),
                keys.as_ref().map(|(p, a)| (p.as_str(), a.as_str())),
            )
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::refused(
                ErrorCode::DeviceDisconnected,
                "this device was disconnected",
            ))
        }
    }

    async fn citizen_locale(&self, citizen_id: &CitizenId) -> Locale {
        match self.store.contact_flags(citizen_id).await {
            Ok(Some(c)) => c
                .locale
                .as_deref()
                .and_then(Locale::from_tag)
                .unwrap_or(Locale::DEFAULT),
            _ => Locale::DEFAULT,
        }
    }
}

/// What the outbox holds, for the operator (`civkey-server outbox status`): per channel what
/// waits, fails, and was delivered or given up in the last day, and the errors behind it.
/// Recipients and texts are not listed (an SMTP server's error may quote an address).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxReport {
    /// When it was read (Unix seconds).
    pub at: u64,
    /// Per channel that has messages.
    pub channels: Vec<ChannelSummary>,
    /// The most frequent last errors (at most 10) of the waiting messages and of those given up
    /// in the last day.
    pub errors: Vec<DeliveryError>,
}

impl Services {
    /// The outbox as the operator sees it.
    pub async fn outbox_report(&self) -> Result<OutboxReport, ServiceError> {
        let at = self.clock.now();
        let since = at.saturating_sub(24 * 3600);
        Ok(OutboxReport {
            at,
            channels: self.store.outbox_summary(since).await?,
            errors: self.store.delivery_errors(since, 10).await?,
        })
    }

    /// Makes every failed message due now instead of after its backoff (a channel that was down
    /// is back); returns how many. A running server's worker sends them within its poll interval.
    pub async fn retry_failed_deliveries(&self) -> Result<u64, ServiceError> {
        let retried = self.store.retry_failed_now(self.clock.now()).await?;
        if retried > 0 {
            self.signal.notify(crate::services::delivery::OUTBOX_KEY);
        }
        Ok(retried)
    }
}

#[cfg(test)]
mod tests;
