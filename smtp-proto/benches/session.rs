//! The session core alone, with canned replies: pipelined transactions of one recipient
//! and a 1 KiB body (MAIL+RCPT+DATA in one write, the dot sharing a write with the next
//! transaction). Reports transactions per second. Then the same with a 1 MiB body (the
//! shared bench's workload iii), written with `write_body` (copied into the output
//! buffer) and with `write_body_segments` (zero-copy slices of the body): the core's CPU
//! per 1 MiB message in each form (the driver's write itself is not included).
//!
//! Run: `cargo bench -p smtp-proto --bench session`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::command::{Domain, ForwardPath, ReversePath};
use smtp_proto::session::{Client, Config, Envelope, Event, TlsPolicy};

fn drain(c: &mut Client, now: Instant) -> usize {
    let mut n = 0;
    while let Some(e) = c.poll_event() {
        n += usize::from(matches!(e, Event::TransactionDone(_)));
    }
    let k = c.pending_output().len();
    black_box(c.pending_output());
    c.consume_output(k, now);
    n
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut cfg = Config::new(Domain::parse("client.example").unwrap());
    cfg.tls = TlsPolicy::Never;
    let mut client = Client::new(cfg, now);
    client.handle_input(now, b"220 mx ESMTP\r\n").unwrap();
    drain(&mut client, now);
    client
        .handle_input(now, b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        .unwrap();
    drain(&mut client, now);
    let env = Envelope::new(
        ReversePath::parse("<sender@example.test>").unwrap(),
        [ForwardPath::parse("<rcpt1@example.test>").unwrap()],
    );
    let body: Vec<u8> = {
        let line =
            b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx\r\n";
        let mut b = line.repeat(14);
        b.truncate(1024);
        b
    };
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Elements(1));
    g.bench_function("pipelined-tx-1rcpt-1KiB", |b| {
        b.iter(|| {
            client.send_mail(env.clone()).unwrap();
            drain(&mut client, now);
            client
                .handle_input(
                    now,
                    b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
                )
                .unwrap();
            client.write_body(&body).unwrap();
            client.finish_body().unwrap();
            drain(&mut client, now);
            client
                .handle_input(now, b"250 2.0.0 Ok: queued as 4F9D61C2A5\r\n")
                .unwrap();
            assert_eq!(drain(&mut client, now), 1);
        })
    });
    let big: Vec<u8> = {
        let line =
            b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx\r\n";
        let mut b = line.repeat((1 << 20) / line.len() + 1);
        b.truncate(1 << 20);
        b
    };
    let mut segments: Vec<&[u8]> = Vec::new();
    for zero_copy in [false, true] {
        let name = if zero_copy {
            "pipelined-tx-1rcpt-1MiB-segments"
        } else {
            "pipelined-tx-1rcpt-1MiB-copy"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                client.send_mail(env.clone()).unwrap();
                drain(&mut client, now);
                client
                    .handle_input(
                        now,
                        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
                    )
                    .unwrap();
                let mut rest = &big[..];
                while !rest.is_empty() {
                    let n = if zero_copy {
                        segments.clear();
                        let n = client.write_body_segments(rest, &mut segments).unwrap();
                        black_box(&segments);
                        // The driver wrote the segments (vectored).
                        client.consume_output(client.pending_segment_len(), now);
                        n
                    } else {
                        client.write_body(rest).unwrap()
                    };
                    rest = &rest[n..];
                    drain(&mut client, now);
                }
                client.finish_body().unwrap();
                drain(&mut client, now);
                client
                    .handle_input(now, b"250 2.0.0 Ok: queued as 4F9D61C2A5\r\n")
                    .unwrap();
                assert_eq!(drain(&mut client, now), 1);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
