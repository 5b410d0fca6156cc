#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Reading QR codes from camera frames, per decoder: the time to decode one 1080p and one 480p
//! frame (criterion), and the read rate, false reads and median time per frame over the whole
//! fixture corpus in `tests/fixtures/qr` (printed before the criterion runs). On one core:
//!
//! ```sh
//! taskset -c 1 cargo bench -p civkey-client --bench scan
//! ```
//!
//! The figures and the decoder choice they led to are in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use civkey_client::scan::{decode_with, load_image, Decoder, Frame};
use civkey_testkit::corpus::{fixture_dir, plan_seeded, Entry, Manifest};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};

const DECODERS: [Decoder; 3] = [Decoder::Rxing, Decoder::Rqrr, Decoder::Chosen];

fn corpus() -> Vec<(Entry, Frame)> {
    let dir = fixture_dir();
    let manifest = Manifest::load(&dir).unwrap();
    manifest
        .frames
        .into_iter()
        .map(|entry| {
            let frame = load_image(&entry.path(&dir)).unwrap();
            (entry, frame)
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Milliseconds for one decode of `frame`: the median of three runs.
fn time_ms(decoder: Decoder, frame: &Frame) -> (f64, Vec<String>) {
    let mut times = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        texts = black_box(decode_with(decoder, black_box(frame)));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    (median(times), texts)
}

/// Frames of the corpus's make-up drawn from other seeds, which the strategy was not chosen on.
fn held_out() -> Vec<(Entry, Frame)> {
    [1, 2]
        .into_iter()
        .flat_map(|seed| {
            plan_seeded(seed)
                .unwrap()
                .into_iter()
                .map(move |mut entry| {
                    let frame = entry.scene.render().unwrap();
                    entry.file = format!("seed {seed}: {}", entry.file);
                    (entry, frame)
                })
        })
        .collect()
}

/// Read rate, false reads and median time per frame, per decoder; which frames each decoder
/// misses, and which frames `rqrr` reads that `rxing` misses (where `rqrr` would win).
fn report(title: &str, corpus: &[(Entry, Frame)]) {
    println!();
    println!(
        "QR decoding over {title} ({} frames), median ms per frame",
        corpus.len()
    );
    println!(
        "| decoder | read (frames with a code) | wrong reads | false reads (frames without) \
         | 480p | 720p | 1080p | 1080p without code |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut missed_by = Vec::new();
    for decoder in DECODERS {
        let (mut read, mut codes, mut wrong, mut false_reads, mut no_code) = (0, 0, 0, 0, 0);
        let mut missed = Vec::new();
        // 480p, 720p and 1080p (all frames), and 1080p frames without a code.
        let mut times: [Vec<f64>; 4] = Default::default();
        for (entry, frame) in corpus {
            let (ms, texts) = time_ms(decoder, frame);
            let slot = match frame.height {
                480 => 0,
                720 => 1,
                _ => 2,
            };
            times[slot].push(ms);
            if slot == 2 && entry.expected.is_none() {
                times[3].push(ms);
            }
            match &entry.expected {
                Some(expected) => {
                    codes += 1;
                    if texts == [expected.clone()] {
                        read += 1;
                    } else if texts.is_empty() {
                        missed.push(entry.file.clone());
                    } else {
                        wrong += 1;
                    }
                }
                None => {
                    no_code += 1;
                    if !texts.is_empty() {
                        false_reads += 1;
                    }
                }
            }
        }
        let [t480, t720, t1080, t_none] = times.map(median);
        println!(
            "| {} | {read}/{codes} ({:.1} %) | {wrong} | {false_reads}/{no_code} \
             | {t480:.1} | {t720:.1} | {t1080:.1} | {t_none:.1} |",
            decoder.name(),
            100.0 * read as f64 / codes as f64,
        );
        missed_by.push((decoder, missed));
    }
    for (decoder, missed) in &missed_by {
        println!("missed by {}: {}", decoder.name(), list(missed));
    }
    let of = |d: Decoder| {
        missed_by
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    let (rxing, rqrr) = (of(Decoder::Rxing), of(Decoder::Rqrr));
    let rqrr_only: Vec<String> = rxing.into_iter().filter(|f| !rqrr.contains(f)).collect();
    println!("read by rqrr but missed by rxing: {}", list(&rqrr_only));
    println!();
}

fn list(files: &[String]) -> String {
    if files.is_empty() {
        "none".to_string()
    } else {
        files.join(", ")
    }
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    // The full report only when benchmarking (`cargo bench`), not in `cargo test --benches`.
    if std::env::args().any(|a| a == "--bench") {
        report("the committed fixture corpus", &corpus);
        report("held-out frames (seeds 1 and 2, drawn now)", &held_out());
    }
    let frame = |file: &str| {
        corpus
            .iter()
            .find(|(entry, _)| entry.file == file)
            .map(|(_, frame)| frame.clone())
            .unwrap()
    };
    // Moderate frames (9° tilt, blur, medium contrast, glare) of a login code, and a 1080p page
    // with no code: the cost of a camera frame in which nothing is found.
    let cases = [
        ("1080p", frame("1080p-06-login.jpg")),
        ("480p", frame("480p-02-login.jpg")),
        ("1080p without code", frame("1080p-15-none-page.jpg")),
    ];
    let mut group = c.benchmark_group("decode");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, frame) in &cases {
        for decoder in DECODERS {
            group.bench_with_input(BenchmarkId::new(decoder.name(), label), frame, |b, f| {
                b.iter(|| decode_with(decoder, black_box(f)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
