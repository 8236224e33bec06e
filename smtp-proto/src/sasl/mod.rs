//! SASL mechanisms (placeholder).
