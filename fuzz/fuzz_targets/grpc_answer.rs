#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigilmon_fuzz_targets::grpc_answer(data));
