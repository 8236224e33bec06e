//! The real-server tests (Postfix, Dovecot LMTP, smtp-sink faults) on the blocking client.
//! The cases are in `real_servers/cases.rs`, shared with the async runs (`real_servers_{tokio,smol}.rs`).

mod adapter {
    pub(crate) use smtp_blocking::{Body, SmtpClient};
}

#[path = "real_servers/cases.rs"]
mod cases;
