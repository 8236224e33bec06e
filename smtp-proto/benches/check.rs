//! Cost of the NUL / long-line check (RFC 5321 §4.5.3.1.6, RFC 5322 §2.3) on a 1 MiB
//! body of 76-character lines, the message of workload iii (whose client CPU is about
//! 0.35 ms per message):
//!
//! - `check_body`: the standalone pre-check ([`check_body`]), a pass of its own;
//! - `data_zero_copy` / `data_copy`: the DATA encoder, which records the first violation
//!   in the same pass (its `BodyStats::first_violation`), so the check costs it nothing
//!   more than reading the stats;
//! - `quick_check`: [`quick_check`], the fast pre-pass the shared layer runs before MAIL
//!   (`memchr` for NUL, then one backward `memrchr2` per 999-octet window for long lines);
//!   `quick_check_long_lines_allowed` is its NUL-only form;
//! - `quick_scan`: [`quick_scan`], `quick_check` fused with the 8-bit test: what the
//!   shared layer's pre-pass (`Batch::queue`) now runs instead of `is_ascii` alone;
//! - `is_ascii`: the 8-bit pre-pass the shared layer ran before, for scale;
//! - `memchr_nul`: `memchr(0)` over the body, the floor for any separate pass;
//! - `scanned_body`: [`ScannedBody::new`], the one pass the shared layer now runs on an
//!   in-memory body (verdicts and the edits of its encoding; the send reads it no more),
//!   to compare with `quick_scan` + `data_zero_copy`, the two passes it replaces.
//!
//! Measured when the check was added (1 MiB, x86-64, cachegrind instruction counts, which
//! do not depend on machine load): the DATA encoder ran 1.59 M instructions per MiB
//! before and 1.53 M after recording the first violation, so the fused check costs
//! nothing measurable; `check_body` alone runs 0.97 M instructions, about 80 µs of CPU
//! per MiB on a loaded 2-core machine (about 120 µs wall time in criterion), so a
//! separate pre-check is about a quarter of a workload-iii message's 0.35 ms.
//!
//! The pre-pass (`quick_check`, `quick_scan`), measured when it was added on the same
//! 2-core machine under load (best of 400 runs of 1 MiB, release build, the body of
//! `body()` below): `check_body` 58 µs, `quick_check` 38 µs, `quick_scan` 37 µs,
//! `is_ascii` 20 µs, `memchr(0)` 19 µs, `is_ascii` + `memchr(0)` 41 µs. The shared layer
//! ran `is_ascii` alone before MAIL and now runs `quick_scan` instead: about 16 µs more
//! per MiB, under 5% of a workload-iii message's 0.35 ms (a separate `check_body` would
//! add 60-80 µs). Criterion's figures below swing by ±50% on a loaded machine; compare
//! functions within one run.
//!
//! `ScannedBody::new` against the pair it replaces (2026-12-03, same run, load average
//! 2-4): `scanned_body` 189 µs, `quick_scan` 63 µs + `data_zero_copy` 188 µs (so one pass
//! instead of two saves about a quarter of the scanning CPU); `is_ascii` 23 µs.
//!
//! Run with `cargo bench -p smtp-proto --bench check`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::body::{DataEncoder, ScannedBody, check_body, quick_check, quick_scan};

const SIZE: usize = 1 << 20;

/// 76-character ASCII lines + CRLF, about 1% of them starting with `.`; deterministic
/// (the body of `benches/data.rs`).
fn body(size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size + 80);
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    while v.len() < size {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let dot = s.is_multiple_of(100);
        let mut x = s;
        for i in 0..76 {
            let c = if i == 0 && dot {
                b'.'
            } else if x.is_multiple_of(9) {
                b' '
            } else {
                b'a' + (x % 26) as u8
            };
            v.push(c);
            x = x.rotate_left(5) ^ (i as u64);
        }
        v.extend_from_slice(b"\r\n");
    }
    v.truncate(size);
    v
}

fn bench(c: &mut Criterion) {
    let input = body(SIZE);
    assert_eq!(check_body(&input), Ok(()));
    let mut out: Vec<u8> = Vec::with_capacity(SIZE + SIZE / 32);
    let mut segments: Vec<&[u8]> = Vec::with_capacity(1 << 12);

    let mut g = c.benchmark_group("check_1MiB");
    g.throughput(Throughput::Bytes(SIZE as u64))
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    g.bench_function("check_body", |b| {
        b.iter(|| black_box(check_body(black_box(&input))));
    });
    g.bench_function("quick_check", |b| {
        b.iter(|| black_box(quick_check(black_box(&input), false)));
    });
    g.bench_function("quick_check_long_lines_allowed", |b| {
        b.iter(|| black_box(quick_check(black_box(&input), true)));
    });
    g.bench_function("quick_scan", |b| {
        b.iter(|| black_box(quick_scan(black_box(&input), false)));
    });
    g.bench_function("is_ascii", |b| {
        b.iter(|| black_box(black_box(&input[..]).is_ascii()));
    });
    g.bench_function("memchr_nul", |b| {
        b.iter(|| black_box(memchr_nul(black_box(&input))));
    });
    g.bench_function("scanned_body", |b| {
        b.iter(|| {
            let s = ScannedBody::new(black_box(&input));
            black_box((s.eight_bit(), s.violation(false), s.is_crlf_clean()))
        });
    });
    g.bench_function("data_zero_copy", |b| {
        b.iter(|| {
            segments.clear();
            let mut enc = DataEncoder::new();
            enc.encode_segments(black_box(&input), &mut segments);
            let stats = enc.finish_with(|s| segments.push(s));
            black_box((segments.len(), stats.first_violation))
        });
    });
    g.bench_function("data_copy", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = DataEncoder::new();
            enc.encode(black_box(&input), &mut out);
            let stats = enc.finish(&mut out);
            black_box((out.len(), stats.first_violation))
        });
    });
    g.finish();
}

/// Whether `input` holds a NUL, by `memchr` (the floor for a separate pass).
fn memchr_nul(input: &[u8]) -> bool {
    memchr::memchr(0, input).is_some()
}

criterion_group!(benches, bench);
criterion_main!(benches);
