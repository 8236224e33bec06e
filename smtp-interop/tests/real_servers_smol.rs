//! The real-server tests of smtp-blocking (Postfix, Dovecot LMTP, smtp-sink faults), run on
//! the async client over smol (the `futures-io` runtime) through smtp-blocking's API (see
//! `smtp_interop::facade`).

mod adapter {
    pub(crate) use smtp_blocking::Body;
    pub(crate) type SmtpClient = smtp_interop::facade::AsyncClient<smtp_interop::facade::OnSmol>;
}

#[path = "real_servers/cases.rs"]
mod cases;
