//! TRIAL (issue 15, item 1): the portal's "My mobile keys" page and the counter's live BOK page in
//! askama and in maud, rendered by `benches/pages.rs` beside today's `format!` pages. The loser is
//! dropped in the next commit.

use askama::Template;
use civkey_i18n::{tr, tr_args};
use civkey_proto::bok::BokCounterEvent;
use maud::{html, Markup, PreEscaped};

use super::layout::{clock, iso_duration, path_segment, MessageBox, Page, Scripts, Stamp};
use super::views::{BokLiveView, ClerkBadge, DevicesView, PageContext};

/// One row of the devices page, ready to show.
pub struct DeviceCard {
    id: String,
    name: String,
    model: String,
    kind: String,
    paired_at: Stamp,
    last_used_at: Option<Stamp>,
    confirm: String,
}

fn device_cards(ctx: &PageContext, view: &DevicesView, last_means: bool) -> Vec<DeviceCard> {
    let l = ctx.locale;
    view.devices
        .iter()
        .map(|d| DeviceCard {
            id: path_segment(&d.id),
            name: d.name.clone(),
            model: d.model.clone(),
            kind: match d.kind.as_str() {
                "phone" => tr(l, "portal.keys.kind_phone").to_string(),
                "tablet" => tr(l, "portal.keys.kind_tablet").to_string(),
                "desktop" => tr(l, "portal.keys.kind_desktop").to_string(),
                other => other.to_string(),
            },
            paired_at: Stamp(d.paired_at),
            last_used_at: d.last_used_at.map(Stamp),
            confirm: tr_args(
                l,
                if last_means {
                    "portal.keys.disconnect_confirm_last"
                } else {
                    "portal.keys.disconnect_confirm"
                },
                &[("name", &d.name)],
            ),
        })
        .collect()
}

fn device_messages(ctx: &PageContext, view: &DevicesView) -> Vec<MessageBox> {
    let l = ctx.locale;
    let notice = view
        .notice
        .iter()
        .map(|k| MessageBox::new(l, k, &[], false));
    let error = view.error.iter().map(|k| MessageBox::new(l, k, &[], true));
    notice.chain(error).collect()
}

#[derive(Template)]
#[template(path = "portal/devices.html")]
struct DevicesPage<'a> {
    page: Page<'a>,
    messages: Vec<MessageBox>,
    last_means: bool,
    devices: Vec<DeviceCard>,
}

/// The devices page with askama.
pub fn devices_askama(ctx: &PageContext, view: &DevicesView) -> String {
    let last_means = view.keys_are_only_means && view.devices.len() == 1;
    let title = tr(ctx.locale, "portal.keys.title");
    DevicesPage {
        page: Page::portal(ctx, title, "page-keys", Scripts::Portal),
        messages: device_messages(ctx, view),
        last_means,
        devices: device_cards(ctx, view, last_means),
    }
    .render()
    .unwrap_or_default()
}

const FINAL_STEPS: [(&str, &str, &str, &str); 4] = [
    (
        "verified",
        "counter.bok.verified",
        "counter.bok.verified_text",
        "success",
    ),
    (
        "not_verified",
        "counter.bok.not_verified",
        "counter.bok.not_verified_text",
        "warning",
    ),
    (
        "expired",
        "counter.bok.expired",
        "counter.bok.expired_text",
        "warning",
    ),
    (
        "blocked",
        "counter.bok.blocked",
        "counter.bok.blocked_text",
        "danger",
    ),
];

fn step_name(event: BokCounterEvent) -> &'static str {
    match event {
        BokCounterEvent::Waiting => "waiting",
        BokCounterEvent::Verified => "verified",
        BokCounterEvent::NotVerified { .. } => "not_verified",
        BokCounterEvent::Expired => "expired",
        BokCounterEvent::Blocked => "blocked",
    }
}

/// A countdown's start as the page shows it.
pub struct Countdown(u64);

impl Countdown {
    fn iso(&self) -> String {
        iso_duration(self.0)
    }
    fn clock(&self) -> String {
        clock(self.0)
    }
}

fn counter_page<'a>(
    ctx: &'a PageContext,
    clerk: &ClerkBadge,
    title: &str,
    scripts: Scripts,
) -> Page<'a> {
    let l = ctx.locale;
    Page {
        ctx,
        title: title.to_string(),
        class: "page-counter",
        scripts,
        home: "/counter",
        subtitle: tr(l, "counter.header.subtitle"),
        user: Some(super::layout::HeaderUser {
            logged_in: tr(l, "counter.header.logged_in"),
            name: tr_args(
                l,
                "counter.header.clerk",
                &[("name", &clerk.full_name), ("office", &clerk.office_name)],
            ),
            logout: "/counter/logout",
            logout_label: tr(l, "counter.header.logout"),
        }),
    }
}

#[derive(Template)]
#[template(path = "counter/bok.html")]
struct BokPage<'a> {
    page: Page<'a>,
    view: &'a BokLiveView,
    who: String,
    waiting_text: String,
    countdown: Countdown,
    steps: [(&'static str, &'static str, &'static str, &'static str); 4],
    shown: &'static str,
    attempts: (&'static str, String, &'static str),
    back: String,
}

impl BokPage<'_> {
    fn hidden_unless(&self, step: &str) -> &'static str {
        if step == self.shown {
            ""
        } else {
            " hidden"
        }
    }
}

fn bok_parts(
    ctx: &PageContext,
    view: &BokLiveView,
) -> (String, String, (&'static str, String, &'static str), String) {
    let l = ctx.locale;
    let who = tr_args(
        l,
        "counter.bok.for",
        &[
            ("name", &view.citizen_name),
            ("username", &view.citizen_username),
        ],
    );
    let waiting_text = tr_args(
        l,
        "counter.bok.waiting_text",
        &[("office", &view.office_name)],
    );
    let left = match view.status {
        BokCounterEvent::NotVerified { attempts_left } => attempts_left.to_string(),
        _ => String::new(),
    };
    let text = tr(l, "counter.bok.not_verified_text");
    let (before, after) = text.split_once("{n}").unwrap_or((text, ""));
    let back = format!(
        "/counter?username={}",
        percent_encoding::utf8_percent_encode(
            &view.citizen_username,
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    (who, waiting_text, (before, left, after), back)
}

/// The live BOK page with askama.
pub fn bok_askama(ctx: &PageContext, clerk: &ClerkBadge, view: &BokLiveView) -> String {
    let (who, waiting_text, attempts, back) = bok_parts(ctx, view);
    BokPage {
        page: counter_page(
            ctx,
            clerk,
            tr(ctx.locale, "counter.bok.title"),
            Scripts::Portal,
        ),
        view,
        who,
        waiting_text,
        countdown: Countdown(view.expires_in),
        steps: FINAL_STEPS,
        shown: step_name(view.status),
        attempts,
        back,
    }
    .render()
    .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// maud

fn maud_document(page: &Page<'_>, main: Markup) -> Markup {
    html! {
        (PreEscaped("<!doctype html>\n"))
        html lang=(page.lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="same-origin";
                title { (page.title) " – " (page.t("app.name")) }
                link rel="stylesheet" href="/static/portal.css";
                @if page.qr_script() { script src="/static/qrcode.js" defer {} }
                @if page.portal_script() { script src="/static/portal.js" defer {} }
            }
            body class=(page.class) {
                a class="skip-link" href="#main" { (page.t("portal.skip")) }
                header class="site-header" {
                    div class="header-inner" {
                        a class="brand" href=(page.home) {
                            span class="brand-name" { (page.t("app.name")) }
                            span class="brand-sub" { (page.subtitle) }
                        }
                        nav class="languages" aria-label=(page.t("common.language")) {
                            ul {
                                @for lang in page.languages() {
                                    li { a href={ (page.path()) "?lang=" (lang.tag) } lang=(lang.tag) hreflang=(lang.tag) aria-current=[lang.current.then_some("true")] { (lang.name) } }
                                }
                            }
                        }
                        @if let Some(user) = &page.user {
                            div class="user" {
                                span class="user-name" { span class="visually-hidden" { (user.logged_in) " " } (user.name) }
                                form method="post" action=(user.logout) class="logout" {
                                    input type="hidden" name="csrf" value=(page.csrf());
                                    button type="submit" class="button quiet" { (user.logout_label) }
                                }
                            }
                        }
                    }
                }
                main id="main" class="main" { (main) }
            }
        }
    }
}

fn maud_message(msg: &MessageBox) -> Markup {
    html! { div class=(msg.class) role=(msg.role) { p { (msg.text) } } }
}

/// The devices page with maud.
pub fn devices_maud(ctx: &PageContext, view: &DevicesView) -> String {
    let last_means = view.keys_are_only_means && view.devices.len() == 1;
    let title = tr(ctx.locale, "portal.keys.title");
    let page = Page::portal(ctx, title, "page-keys", Scripts::Portal);
    let devices = device_cards(ctx, view, last_means);
    let main = html! {
        h1 { (page.t("portal.keys.title")) }
        p class="lead" { (page.t("portal.keys.intro")) }
        @for msg in device_messages(ctx, view) { (maud_message(&msg)) }
        @if last_means {
            div class="message warning last-means" role="note" { p { (page.t("portal.keys.last_means")) } }
        }
        @if devices.is_empty() {
            div class="card empty" {
                p { (page.t("portal.keys.empty")) }
                p { a class="button primary" href="/portal/connect" { (page.t("portal.connect.title")) } }
            }
        } @else {
            ul class="devices" {
                @for (i, d) in devices.iter().enumerate() {
                    li class="device card" {
                        h2 id={ "device-" (i) "-name" } class="device-name" { (d.name) }
                        dl class="facts" {
                            div { dt { (page.t("portal.keys.model")) } dd { (d.model) " " span class="kind" { "(" (d.kind) ")" } } }
                            div { dt { (page.t("portal.keys.paired_at")) } dd { time datetime=(d.paired_at.iso()) { (d.paired_at.human()) } } }
                            div { dt { (page.t("portal.keys.last_used")) } dd {
                                @if let Some(at) = d.last_used_at { time datetime=(at.iso()) { (at.human()) } }
                                @else { (page.t("portal.keys.never")) }
                            } }
                        }
                        div class="device-actions" {
                            form method="post" action={ "/portal/keys/" (d.id) "/rename" } class="rename" {
                                input type="hidden" name="csrf" value=(page.csrf());
                                label for={ "rename-" (i) } { (page.t("portal.keys.rename_label")) }
                                div class="inline" {
                                    input id={ "rename-" (i) } name="name" type="text" value=(d.name) maxlength="64" autocomplete="off" required;
                                    button type="submit" class="button secondary" { (page.t("portal.keys.rename")) }
                                }
                            }
                            form method="post" action={ "/portal/keys/" (d.id) "/disconnect" } class="disconnect" {
                                input type="hidden" name="csrf" value=(page.csrf());
                                @if last_means {
                                    p class="message warning small" id={ "last-means-" (i) } { (page.t("portal.keys.last_means_short")) }
                                    button type="submit" class="button danger" data-confirm=(d.confirm) aria-describedby={ "last-means-" (i) } { (page.t("portal.keys.disconnect")) }
                                } @else {
                                    button type="submit" class="button danger" data-confirm=(d.confirm) { (page.t("portal.keys.disconnect")) }
                                }
                            }
                        }
                    }
                }
            }
            p class="links" { a href="/portal/connect" { (page.t("portal.keys.connect_another")) } }
        }
    };
    maud_document(&page, main).into_string()
}

/// The live BOK page with maud.
pub fn bok_maud(ctx: &PageContext, clerk: &ClerkBadge, view: &BokLiveView) -> String {
    let (who, waiting_text, attempts, back) = bok_parts(ctx, view);
    let page = counter_page(
        ctx,
        clerk,
        tr(ctx.locale, "counter.bok.title"),
        Scripts::Portal,
    );
    let shown = step_name(view.status);
    let countdown = Countdown(view.expires_in);
    let main = html! {
        h1 { (page.t("counter.bok.title")) }
        p class="lead" { (who) }
        div class="pairing" data-bok-events=(view.events_url) {
            section class="pairing-step card" data-step="waiting" aria-labelledby="bok-waiting-heading" hidden[shown != "waiting"] {
                h2 id="bok-waiting-heading" tabindex="-1" { (page.t("counter.bok.waiting")) }
                p { (waiting_text) }
                p class="countdown" {
                    span class="countdown-label" { (page.t("counter.bok.time_left")) } " "
                    time class="countdown-value" data-countdown=(view.expires_in) datetime=(countdown.iso()) role="timer" { (countdown.clock()) }
                }
                noscript { p class="notice" { (page.t("counter.bok.noscript")) " " a href="" { (page.t("counter.bok.reload")) } } }
            }
            div class="pairing-status" aria-live="polite" {
                @for (step, key, text_key, tone) in FINAL_STEPS {
                    section class={ "pairing-step outcome card " (tone) } data-step=(step) aria-labelledby={ "bok-" (step) "-heading" } hidden[shown != step] {
                        h2 id={ "bok-" (step) "-heading" } class="outcome-title" tabindex="-1" { (page.t(key)) }
                        p {
                            @if step == "not_verified" {
                                (attempts.0) strong data-fill="attempts-left" { (attempts.1) } (attempts.2)
                            } @else { (page.t(text_key)) }
                        }
                        div class="links" {
                            @if step != "blocked" {
                                form method="post" action="/counter/bok" class="inline-form" {
                                    input type="hidden" name="csrf" value=(page.csrf());
                                    input type="hidden" name="username" value=(view.citizen_username);
                                    button type="submit" class="button primary" { (page.t("counter.bok.again")) }
                                }
                            }
                            a class="button secondary" href=(back) { (page.t("counter.bok.back")) }
                        }
                    }
                }
            }
        }
    };
    maud_document(&page, main).into_string()
}
