#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|input: smtp_proto_fuzz::ChunkedInput<'_>| smtp_proto_fuzz::reply_chunks(input));
