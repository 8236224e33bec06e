//! The real-server tests of smtp-blocking (Postfix, Dovecot LMTP, smtp-sink faults), run on
//! the async client over tokio through smtp-blocking's API (see `common/facade.rs`).
#![cfg(feature = "tokio")]

use std::future::Future;

fn runtime() -> &'static dyn smtp_async::Runtime {
    &smtp_async::Tokio
}

fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

#[path = "common/facade.rs"]
mod facade;

mod adapter {
    pub(crate) use crate::facade::{Body, SmtpClient};
}

#[path = "../../smtp-blocking/tests/real_servers/cases.rs"]
mod cases;
