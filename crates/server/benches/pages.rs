//! Rendering two real pages from their askama templates: the portal's "My mobile keys" (three
//! devices) and the counter's live BOK verification. (The choice of askama over maud, measured
//! with this bench on both engines and the former `format!` pages, is in docs/benchmarks.md.)
//! Run with `cargo bench -p civkey-server --bench pages`; figures are in docs/benchmarks.md.

// Benchmark set-up fails loudly on a broken environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civkey_i18n::Locale;
use civkey_proto::bok::BokCounterEvent;
use civkey_server::web::bench::{counter_bok_page, devices_page};
use civkey_server::web::views::{BokLiveView, ClerkBadge, DeviceRow, DevicesView, PageContext};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn ctx(path: &str) -> PageContext {
    PageContext {
        locale: Locale::Cs,
        path: path.to_string(),
        csrf: Some("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4".to_string()),
        citizen_name: Some("Jana Nováková".to_string()),
    }
}

fn devices() -> DevicesView {
    let row = |i: u64, name: &str| DeviceRow {
        id: format!("AAECAwQFBgcICQoLDA0OD{i}"),
        name: name.to_string(),
        model: "Pixel 8".to_string(),
        kind: "phone".to_string(),
        paired_at: 1_767_225_600 + i,
        last_used_at: i.is_multiple_of(2).then_some(1_767_312_000),
    };
    DevicesView {
        devices: vec![
            row(0, "Jana's phone"),
            row(1, "Tablet <work>"),
            row(2, "Laptop"),
        ],
        keys_are_only_means: false,
        notice: Some("portal.keys.renamed".to_string()),
        error: None,
    }
}

fn bok() -> (ClerkBadge, BokLiveView) {
    (
        ClerkBadge {
            full_name: "Petra Úřednice".to_string(),
            office_name: "Praha 1".to_string(),
        },
        BokLiveView {
            citizen_name: "Jana Nováková".to_string(),
            citizen_username: "jana".to_string(),
            office_name: "Praha 1".to_string(),
            expires_in: 120,
            events_url: "/counter/bok/AAECAwQFBgcICQoLDA0ODw/events".to_string(),
            status: BokCounterEvent::Waiting,
        },
    )
}

fn pages(c: &mut Criterion) {
    let keys_ctx = ctx("/portal/keys");
    let view = devices();
    let mut group = c.benchmark_group("devices page");
    group.bench_function("askama", |b| {
        b.iter(|| devices_page(black_box(&keys_ctx), black_box(&view)))
    });
    group.finish();

    let bok_ctx = ctx("/counter/bok/AAECAwQFBgcICQoLDA0ODw");
    let (clerk, live) = bok();
    let mut group = c.benchmark_group("BOK page");
    group.bench_function("askama", |b| {
        b.iter(|| counter_bok_page(black_box(&bok_ctx), black_box(&clerk), black_box(&live)))
    });
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
