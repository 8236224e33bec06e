//! Side-by-side benchmarks of smtp-proto against peers; see `benches/`.
