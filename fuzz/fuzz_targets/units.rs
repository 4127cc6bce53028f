//! Unit parsers: token counts (`100k`, `128Ki`), byte sizes and GPU lists
//! (`2x8xH100`), plus the what-if `--attention` values. Any text must give a
//! value or an error naming the field, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = kvplan::units::parse_tokens(text, "ctx") {
        // Formatting any parsed value is total too.
        let _ = kvplan::units::thousands(n);
    }
    if let Ok(b) = kvplan::units::parse_bytes(text, "memory") {
        let _ = kvplan::units::gib(b);
    }
    if let Ok(c) = kvplan::units::parse_cluster(text) {
        assert!(c.nodes >= 1 && c.gpus_per_node >= 1);
        assert!(c.nodes.saturating_mul(c.gpus_per_node) <= kvplan::units::MAX_GPUS);
    }
    let _ = kvplan::spec::whatif::AttentionVariant::parse(text);
    let _ = kvplan::spec::dtype::WeightFormat::parse(text, "weights");
    let _ = kvplan::spec::dtype::KvDtype::parse(text, "kv-dtype");
});
