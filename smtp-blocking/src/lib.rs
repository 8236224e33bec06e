//! Blocking SMTP/LMTP client: drives the sans-IO [`smtp_proto`] core over `std::net` sockets.
//!
//! This crate is a placeholder until the session core lands; it re-exports the core so that
//! users can already reach the wire layer from here.

#![forbid(unsafe_code)]

pub use smtp_proto as proto;
