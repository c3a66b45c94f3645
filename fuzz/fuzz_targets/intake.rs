#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_proto::fuzzing::intake(data));
