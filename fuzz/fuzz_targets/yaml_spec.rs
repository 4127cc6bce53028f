//! YAML spec reader: any bytes → `spec::model_from_file_text` as a .yaml;
//! what it accepts is estimated end to end on one H100.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = kvplan::spec::model_from_file_text("fuzz.yaml", text) {
        common::run_model(&m, "H100", 2048, 1, false);
    }
    // Calibration profiles go through the same YAML layer.
    let _ = kvplan::yaml::from_str::<kvplan::calibration::Calibration>(text, "fuzz.yaml");
});
