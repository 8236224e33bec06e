//! Reply parsing throughput: a 10-line EHLO reply and `250 2.1.0 Ok`, through the
//! incremental reader (push + drain) and the slice parser, in bytes/s and replies/s.
//!
//! Run: `cargo bench -p smtp-proto --bench reply`. The side-by-side comparison with other
//! parsers lives in the `peer-bench` package (`cargo bench -p peer-bench`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::ReplyReader;
use smtp_proto::reply::{ReplyLimits, parse};

/// The 10-line EHLO reply of `../shared/bench` (199 octets).
pub const EHLO: &[u8] = b"250-smtp.example.test Hello bench.example.test [127.0.0.1]\r\n\
250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n";
/// A single-line reply with an enhanced status code.
pub const SINGLE: &[u8] = b"250 2.1.0 Ok\r\n";

fn reader(input: &[u8], reader: &mut ReplyReader) -> usize {
    reader.push(input);
    let mut n = 0;
    while let Some(r) = reader.next_reply() {
        let r = r.unwrap();
        n += usize::from(r.code().get()) + r.as_bytes().len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let limits = ReplyLimits::DEFAULT;
    for (name, input) in [("ehlo-10-lines", EHLO), ("single-line", SINGLE)] {
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(input.len() as u64)),
            ("replies", Throughput::Elements(1)),
        ] {
            let mut g = c.benchmark_group(format!("reply/{name}/{unit}"));
            g.throughput(throughput);
            let mut r = ReplyReader::new();
            g.bench_function("reader", |b| b.iter(|| reader(black_box(input), &mut r)));
            g.bench_function("slice", |b| {
                b.iter(|| {
                    let (used, r) = parse(black_box(input), &limits).unwrap();
                    used + usize::from(r.code().get())
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
