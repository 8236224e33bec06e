#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|input: smtp_proto_fuzz::CommandInput| smtp_proto_fuzz::command(input));
