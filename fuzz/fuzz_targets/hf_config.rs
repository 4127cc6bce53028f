//! config.json reader: any bytes → `spec::hf::parse_config`; what it
//! accepts is then estimated end to end on 8×H100.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = kvplan::spec::hf::parse_config(text, "fuzz.json") {
        let mtp = m.mtp_layers > 0;
        common::run_model(&m, "8xH100", 4096, 4, mtp);
    }
});
