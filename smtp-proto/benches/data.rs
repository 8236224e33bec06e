//! Body encoder throughput on a 64 MiB text body, beside a plain copy of the same buffer
//! (the physical limit for a copying encoder), measured in the same run.
//!
//! Run with `cargo bench -p smtp-proto --bench data`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::body::{BdatEncoder, DataEncoder};

const SIZE: usize = 64 << 20;

/// 76-character ASCII lines + CRLF, about 1% of them starting with `.`; deterministic.
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
    let mut out: Vec<u8> = Vec::with_capacity(SIZE + SIZE / 32);
    out.resize(SIZE, 0); // touch the pages once
    let mut dst = vec![1u8; SIZE];
    let mut segments: Vec<&[u8]> = Vec::with_capacity(1 << 16);

    let mut g = c.benchmark_group("body_64MiB");
    g.throughput(Throughput::Bytes(SIZE as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&input));
            black_box(dst.as_ptr())
        });
    });
    g.bench_function("memcpy_extend", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&input));
            black_box(out.len())
        });
    });
    g.bench_function("data_copy", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = DataEncoder::new();
            enc.encode(black_box(&input), &mut out);
            let stats = enc.finish(&mut out);
            black_box((out.len(), stats))
        });
    });
    g.bench_function("data_copy_64KiB_chunks", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = DataEncoder::new();
            for chunk in black_box(&input).chunks(64 << 10) {
                enc.encode(chunk, &mut out);
            }
            let stats = enc.finish(&mut out);
            black_box((out.len(), stats))
        });
    });
    g.bench_function("data_zero_copy", |b| {
        b.iter(|| {
            segments.clear();
            let mut enc = DataEncoder::new();
            enc.encode_segments(black_box(&input), &mut segments);
            let stats = enc.finish_with(|s| segments.push(s));
            black_box((segments.len(), stats))
        });
    });
    g.bench_function("bdat_1MiB", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = BdatEncoder::new(1 << 20);
            enc.encode(black_box(&input), &mut out);
            let stats = enc.finish(&mut out);
            black_box((out.len(), stats))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
