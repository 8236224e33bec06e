//! Reply parsing, side by side in one run: ours (slice and reader) vs Stalwart's
//! `smtp-proto` 0.2, on the EHLO and single-line inputs of `../shared/bench`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use peer_bench::{EHLO, SINGLE, ours_reader, ours_slice, stalwart};

fn bench(c: &mut Criterion) {
    for (name, input) in [("ehlo-10-lines", EHLO), ("single-line", SINGLE)] {
        let mut g = c.benchmark_group(format!("peers/{name}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("stalwart-smtp-proto-0.2", |b| {
            b.iter(|| stalwart(black_box(input)))
        });
        g.bench_function("ours-slice", |b| b.iter(|| ours_slice(black_box(input))));
        let mut reader = smtp_proto::ReplyReader::new();
        g.bench_function("ours-reader", |b| {
            b.iter(|| ours_reader(&mut reader, black_box(input)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
