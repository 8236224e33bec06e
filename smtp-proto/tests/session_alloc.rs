//! Heap use of the session core, counted with a counting global allocator:
//! allocations per transaction must not grow with the body size or the number of
//! transactions, and an idle session must stay under 4 KiB.

// A global allocator is unsafe to implement; this test binary is the only place we do.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use smtp_proto::command::{Domain, ForwardPath, ReversePath};
use smtp_proto::session::{Client, Config, Envelope, Event, TlsPolicy};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(allocs: usize, bytes: isize) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + allocs));
    let _ = LIVE.try_with(|c| c.set(c.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(1, layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(0, -(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(1, new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn drain(c: &mut Client, now: Instant) {
    while c.poll_event().is_some() {}
    let n = c.pending_output().len();
    c.consume_output(n, now);
    while c.poll_event().is_some() {}
}

fn ready_client(now: Instant) -> Client {
    let mut cfg = Config::new(Domain::parse("client.example").unwrap());
    cfg.tls = TlsPolicy::Never;
    let mut c = Client::new(cfg, now);
    c.handle_input(now, b"220 mx.example ESMTP\r\n").unwrap();
    drain(&mut c, now);
    c.handle_input(
        now,
        b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
    )
    .unwrap();
    drain(&mut c, now);
    c
}

/// Runs `n` pipelined transactions with a body of `size` octets; returns allocations.
fn transactions(c: &mut Client, now: Instant, n: usize, body: &[u8]) -> usize {
    let env = Envelope::new(
        ReversePath::parse("<sender@example.org>").unwrap(),
        [ForwardPath::parse("<rcpt@example.net>").unwrap()],
    );
    let before = allocs();
    for _ in 0..n {
        c.send_mail(env.clone()).unwrap();
        drain(c, now);
        c.handle_input(now, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
            .unwrap();
        let mut rest = body;
        while !rest.is_empty() {
            let k = c.write_body(rest).unwrap();
            rest = &rest[k..];
            drain(c, now);
        }
        c.finish_body().unwrap();
        drain(c, now);
        c.handle_input(now, b"250 2.0.0 queued\r\n").unwrap();
        let mut done = false;
        while let Some(e) = c.poll_event() {
            done |= matches!(e, Event::TransactionDone(o) if o.any_accepted());
        }
        assert!(done);
    }
    allocs() - before
}

#[test]
fn allocations_per_transaction_do_not_grow() {
    let now = Instant::now();
    let mut c = ready_client(now);
    // 1 KiB in two lines (a line of 1,024 octets would now be refused as over-long).
    let mut small = vec![b'a'; 1024];
    small[510] = b'\r';
    small[511] = b'\n';
    let big: Vec<u8> =
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n".repeat(1024 * 16); // 1 MiB in lines
    transactions(&mut c, now, 10, &big); // warm up the buffers
    let a100 = transactions(&mut c, now, 100, &small);
    let a1000 = transactions(&mut c, now, 1000, &small);
    let b100 = transactions(&mut c, now, 100, &big);
    let per_small = a100 as f64 / 100.0;
    assert_eq!(
        a1000,
        a100 * 10,
        "allocations grow with the number of transactions"
    );
    assert_eq!(b100, a100, "allocations grow with the body size");
    eprintln!("allocations per transaction: {per_small}");
    assert!(per_small <= 40.0, "{per_small} allocations per transaction");
}

#[test]
fn idle_session_state_is_small() {
    let now = Instant::now();
    let base = live();
    let c = ready_client(now);
    let heap = live() - base;
    let total = std::mem::size_of::<Client>() as isize + heap;
    eprintln!(
        "idle session: {} bytes inline + {heap} heap = {total}",
        std::mem::size_of::<Client>()
    );
    assert!(total < 4096, "idle session uses {total} bytes");
    drop(c);
}
