//! The real-server tests (Postfix, Dovecot LMTP, smtp-sink faults) on the blocking client.
//! The cases are in `real_servers/cases.rs`, shared with smtp-async's tests.

mod adapter {
    pub(crate) use smtp_blocking::{Body, SmtpClient};
}

#[path = "real_servers/cases.rs"]
mod cases;
