#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|input: smtp_proto_fuzz::BodyInput<'_>| smtp_proto_fuzz::data_encoder(input));
