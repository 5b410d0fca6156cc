//! What the server tells the app while it is unlocked: the BOK requests waiting for the citizen's
//! code, and the notification list (login notifications, BOK requests, informative ones), newest
//! first, at most [`NOTIFICATIONS_CAP`]. The list is kept in memory and rebuilt from the server's
//! history at each start; what was marked read is remembered per device as the last event id read
//! (the app's settings), so it stays read.
//!
//! [`listen`] is the background task of one identity: it holds `civkey_client`'s event stream
//! open (resuming after the last event this run saw) and hands each event to the [`Inbox`] and to
//! the screens ([`Emit`]). A server without the stream is polled for BOK requests instead, every
//! [`POLL_EVERY`]. The task ends when the app locks (the stop channel's sender is dropped).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use civkey_client::bok;
use civkey_client::events::{EventStream, StreamError};
use civkey_client::profile::{Identity, Profile};
use civkey_proto::bok::BokRequest;
use civkey_proto::events::{Event, EventKind, LoginMeans as ProtoMeans};
use tokio::sync::watch;

use crate::dto::{BokPrompt, LoginMeans, Notification, NotificationKind};

/// The most notifications kept; older ones go.
pub const NOTIFICATIONS_CAP: usize = 100;
/// How often a server without the event stream is asked for BOK requests.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long to wait before asking again a server that said this device is not a BOK-pad.
pub const PAD_OFF_RETRY: Duration = Duration::from_secs(60);

/// What the screens are told while the app is unlocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// An office asks for the BOK: the screens open the BOK-pad.
    BokRequest(BokPrompt),
    /// A new entry in the notification list.
    Notification(Notification),
}

/// Tells the screens (a Tauri event in the app, a list in tests).
pub type Emit = Arc<dyn Fn(AppEvent) + Send + Sync>;

/// The BOK requests and notifications, shared by the commands and the listening tasks.
#[derive(Default)]
pub struct Inbox {
    notifications: VecDeque<Notification>,
    bok: HashMap<String, (Identity, BokRequest)>,
    /// The last event id seen per device, to resume from.
    last_ids: HashMap<String, u64>,
    /// The last event id marked read per device.
    read_through: BTreeMap<String, u64>,
}

/// The inbox as the app shares it.
pub type SharedInbox = Arc<Mutex<Inbox>>;

/// The inbox, whatever a panicking holder left.
pub fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inbox {
    /// An empty inbox in which events up to `read_through` (per device id) are listed as read.
    pub fn read_through(read_through: BTreeMap<String, u64>) -> Self {
        Inbox {
            read_through,
            ..Inbox::default()
        }
    }

    /// Adds `notification` at the top unless its id is already listed; true when added.
    pub fn note(&mut self, notification: Notification) -> bool {
        if self.notifications.iter().any(|n| n.id == notification.id) {
            return false;
        }
        self.notifications.push_front(notification);
        self.notifications.truncate(NOTIFICATIONS_CAP);
        true
    }

    /// The list, newest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.notifications.iter().cloned().collect()
    }

    /// Marks every notification read, and every event seen so far; returns the last event id
    /// read per device, for the settings.
    pub fn mark_read(&mut self) -> BTreeMap<String, u64> {
        for n in &mut self.notifications {
            n.read = true;
        }
        for (device, &id) in &self.last_ids {
            let through = self.read_through.entry(device.clone()).or_default();
            *through = (*through).max(id);
        }
        self.read_through.clone()
    }

    fn was_read(&self, identity: &Identity, event_id: u64) -> bool {
        self.read_through
            .get(&identity.device_id.to_text())
            .is_some_and(|&through| event_id <= through)
    }

    /// Keeps a BOK request for `bok_submit`; true when it is new.
    pub fn keep_bok(&mut self, identity: &Identity, request: BokRequest) -> bool {
        self.bok
            .insert(request.id.to_text(), (identity.clone(), request))
            .is_none()
    }

    /// The request `id` and the identity it is for.
    pub fn bok(&self, id: &str) -> Option<(Identity, BokRequest)> {
        self.bok.get(id).cloned()
    }

    /// Forgets the request `id` (answered, expired, refused).
    pub fn drop_bok(&mut self, id: &str) {
        self.bok.remove(id);
    }

    /// The oldest request still open at `now`; expired ones are forgotten.
    pub fn open_bok(&mut self, now: u64) -> Option<BokPrompt> {
        self.bok.retain(|_, (_, r)| r.expires_at > now);
        self.bok
            .values()
            .min_by_key(|(_, r)| (r.created_at, r.id.to_text()))
            .map(|(identity, request)| prompt(identity, request))
    }

    fn last_id(&self, identity: &Identity) -> Option<u64> {
        self.last_ids.get(&identity.device_id.to_text()).copied()
    }

    fn seen(&mut self, identity: &Identity, id: u64) {
        self.last_ids.insert(identity.device_id.to_text(), id);
    }
}

/// What the BOK-pad shows for `request`.
pub fn prompt(identity: &Identity, request: &BokRequest) -> BokPrompt {
    BokPrompt {
        request_id: request.id.to_text(),
        office_name: request.office_name.clone(),
        server: identity.origin.to_string(),
        created_at: request.created_at,
        expires_at: request.expires_at,
    }
}

fn bok_notification(identity: &Identity, request: &BokRequest) -> Notification {
    Notification {
        id: format!("bok:{}", request.id.to_text()),
        server: identity.origin.to_string(),
        at: request.created_at,
        kind: NotificationKind::BokRequest,
        service_name: None,
        means: None,
        device_name: None,
        office_name: Some(request.office_name.clone()),
        topic: None,
        title: None,
        body: None,
        read: false,
    }
}

/// The list entry for `event`, if it has one.
pub fn notification_of(identity: &Identity, event: &Event) -> Option<Notification> {
    let base = Notification {
        id: format!("{}:{}", identity.device_id.to_text(), event.id),
        server: identity.origin.to_string(),
        at: event.at,
        kind: NotificationKind::Informative,
        service_name: None,
        means: None,
        device_name: None,
        office_name: None,
        topic: None,
        title: None,
        body: None,
        read: false,
    };
    match &event.kind {
        EventKind::LoginNotification {
            service_name,
            means,
        } => {
            let (means, device_name) = match means {
                ProtoMeans::MobileKey { device_name } => {
                    (LoginMeans::MobileKey, Some(device_name.clone()))
                }
                ProtoMeans::PasswordTotp => (LoginMeans::PasswordTotp, None),
                ProtoMeans::EmailCode => (LoginMeans::EmailCode, None),
            };
            Some(Notification {
                kind: NotificationKind::Login,
                service_name: Some(service_name.clone()),
                means: Some(means),
                device_name,
                ..base
            })
        }
        EventKind::BokRequest { request } => Some(Notification {
            at: event.at,
            ..bok_notification(identity, request)
        }),
        EventKind::Informative {
            topic,
            device_name,
            office_name,
            title,
            body,
        } => Some(Notification {
            topic: Some((*topic).into()),
            device_name: device_name.clone(),
            office_name: office_name.clone(),
            title: Some(title.clone()),
            body: Some(body.clone()),
            ..base
        }),
        EventKind::DeviceDisconnected { .. } => None,
    }
}

/// Takes in `event` for `identity`: remembers it, lists it, tells the screens.
pub fn take_in(inbox: &Mutex<Inbox>, emit: &Emit, identity: &Identity, event: &Event) {
    let (noted, bok) = {
        let mut inbox = lock(inbox);
        inbox.seen(identity, event.id);
        let read = inbox.was_read(identity, event.id);
        let noted = notification_of(identity, event)
            .map(|n| Notification { read, ..n })
            .filter(|n| inbox.note(n.clone()));
        let bok = match &event.kind {
            EventKind::BokRequest { request } => {
                inbox.keep_bok(identity, request.clone());
                Some(prompt(identity, request))
            }
            _ => None,
        };
        (noted, bok)
    };
    if let Some(prompt) = bok {
        emit(AppEvent::BokRequest(prompt));
    }
    if let Some(n) = noted {
        emit(AppEvent::Notification(n));
    }
}

/// Takes in a BOK request found by polling (a server without the event stream).
fn take_in_polled(inbox: &Mutex<Inbox>, emit: &Emit, identity: &Identity, request: BokRequest) {
    let noted = {
        let mut inbox = lock(inbox);
        if !inbox.keep_bok(identity, request.clone()) {
            return;
        }
        let n = bok_notification(identity, &request);
        inbox.note(n.clone()).then_some(n)
    };
    emit(AppEvent::BokRequest(prompt(identity, &request)));
    if let Some(n) = noted {
        emit(AppEvent::Notification(n));
    }
}

/// The background task of `identity` while the app is unlocked: ends when `stop`'s sender goes.
pub async fn listen(
    profile: Profile,
    identity: Identity,
    inbox: SharedInbox,
    emit: Emit,
    mut stop: watch::Receiver<()>,
) {
    let mut stream = EventStream::new(profile.clone(), identity.clone());
    if let Some(last) = lock(&inbox).last_id(&identity) {
        stream = stream.after(last);
    }
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            next = stream.next() => match next {
                Ok(event) => take_in(&inbox, &emit, &identity, &event),
                Err(StreamError::Unsupported) => break,
                // Disconnected, or refused for good: nothing more will come.
                Err(StreamError::Fatal(_)) => return,
                // Tried again after a back-off.
                Err(StreamError::Transient(_)) => {}
            },
        }
    }
    // No event stream at this server: ask for BOK requests now and then.
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = POLL_EVERY;
        match bok::pending(&profile, &identity).await {
            Ok(requests) => {
                let now = profile.clock().now();
                for request in requests.into_iter().filter(|r| r.expires_at > now) {
                    take_in_polled(&inbox, &emit, &identity, request);
                }
            }
            Err(e) if e.code() == "bok_pad_off" => wait = PAD_OFF_RETRY,
            Err(_) => {}
        }
    }
}
