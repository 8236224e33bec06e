//! The real-server tests of smtp-blocking (Postfix, Dovecot LMTP, smtp-sink faults), run on
//! the async client over smol (the `futures-io` runtime) through smtp-blocking's API (see
//! `common/facade.rs`).
#![cfg(feature = "futures-io")]

use std::future::Future;

fn runtime() -> &'static dyn smtp_async::Runtime {
    &smtp_async::AsyncIo
}

fn block_on<F: Future>(f: F) -> F::Output {
    smol::block_on(f)
}

#[path = "common/facade.rs"]
mod facade;

mod adapter {
    pub(crate) use crate::facade::{Body, SmtpClient};
}

#[path = "../../smtp-blocking/tests/real_servers/cases.rs"]
mod cases;
