//! Capabilities advertised in an EHLO or LHLO reply.

/// Placeholder until the capability parser lands.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {}
