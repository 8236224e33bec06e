//! Counts heap allocations with a counting global allocator: parsing single-line replies
//! in steady state must not allocate.

// A global allocator is unsafe to implement; this test binary is the only place we do.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use smtp_proto::ReplyReader;
use smtp_proto::reply::{ReplyLimits, parse};

struct Counting;

thread_local! {
    // Per thread, so that tests running in parallel do not see each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// Forwards every call to the system allocator and counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<F: FnMut()>(mut f: F) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn steady_state_reader_does_not_allocate() {
    let mut reader = ReplyReader::new();
    let input = b"250 2.1.0 Ok\r\n";
    // Warm up: the buffer grows once.
    for _ in 0..10 {
        reader.push(input);
        while let Some(r) = reader.next_reply() {
            r.unwrap();
        }
    }
    let allocs = count(|| {
        for i in 0..100_000 {
            // Whole and split pushes alike.
            if i % 2 == 0 {
                reader.push(input);
            } else {
                reader.push(&input[..5]);
                assert!(reader.next_reply().is_none());
                reader.push(&input[5..]);
            }
            let reply = reader.next_reply().unwrap().unwrap();
            assert_eq!(reply.code().get(), 250);
            assert!(reply.enhanced().is_some());
            assert!(reader.next_reply().is_none());
        }
    });
    assert_eq!(allocs, 0, "allocations in 100,000 replies");
}

#[test]
fn slice_parse_does_not_allocate() {
    let limits = ReplyLimits::DEFAULT;
    let ehlo = b"250-mail.example.com\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";
    let allocs = count(|| {
        for _ in 0..10_000 {
            let (used, reply) = parse(b"250 2.1.0 Ok\r\n", &limits).unwrap();
            assert_eq!(used, 14);
            assert_eq!(reply.lines().count(), 1);
            let (_, reply) = parse(ehlo, &limits).unwrap();
            assert_eq!(reply.lines().count(), 3);
        }
    });
    assert_eq!(allocs, 0);
}
