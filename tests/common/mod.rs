//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kvplan::spec::model::ModelSpec;
use kvplan::spec::{hf, Catalog};

/// Parse a fixture config (tests/fixtures/hf-configs/NAME).
pub fn fixture(name: &str) -> ModelSpec {
    let path = format!(
        "{}/tests/fixtures/hf-configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hf::parse_config(&text, &path).unwrap()
}

/// A built-in model.
pub fn builtin(name: &str) -> ModelSpec {
    Catalog::builtin().unwrap().model(name).unwrap().clone()
}
