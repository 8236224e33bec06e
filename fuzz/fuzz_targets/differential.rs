#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| smtp_proto_fuzz::differential(data));
