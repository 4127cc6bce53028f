//! The one place that touches the YAML library. `serde_yaml` is archived, so
//! kvplan uses the maintained drop-in fork `serde_norway`; swapping it again
//! means editing only this file.

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};

/// Parse YAML text from `origin` (a file path or "built-in:<name>") into `T`.
/// Errors name the origin and the line/column the parser reports.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    serde_norway::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        Error::spec(origin, format!("{loc}invalid YAML: {e}"))
    })
}

/// Serialize `value` to YAML text.
pub fn to_string<T: Serialize>(value: &T) -> Result<String> {
    serde_norway::to_string(value)
        .map_err(|e| Error::Environment(format!("could not write YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn error_names_origin_and_line() {
        let err = from_str::<T>("a: 1\nb: [\n", "specs/x.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("specs/x.yaml: line"), "{msg}");
    }
}
