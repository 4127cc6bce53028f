//! The engine a scenario runs on, as users write it: `name[@version]`
//! (`vllm`, `sglang`, `vllm@0.11`). Typed once at the edge (CLI flag, API
//! field) so the core never compares engine text; which profile a name and
//! version select is the catalogue's business (`Catalog::engine`).

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An engine profile id: a name and an optional version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineId {
    /// Profile name, lower case (`vllm`, `sglang`, `trtllm`, `hf`, …).
    pub name: String,
    /// Release the profile follows (`0.11`), when given.
    pub version: Option<String>,
}

impl EngineId {
    /// Parse `name[@version]`; errors name the `engine` field.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let (name, version) = match t.split_once('@') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (t, None),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok(name) || version.is_some_and(|v| !ok(v)) {
            return Err(Error::input(
                "engine",
                format!("'{t}' is not an engine id; write a name or name@version, e.g. vllm or vllm@0.11 (`kvplan engines` lists them)"),
            ));
        }
        Ok(EngineId {
            name: name.to_ascii_lowercase(),
            version: version.map(str::to_string),
        })
    }
}

impl Default for EngineId {
    /// vLLM, the default engine of every command.
    fn default() -> Self {
        EngineId {
            name: "vllm".into(),
            version: None,
        }
    }
}

impl fmt::Display for EngineId {
    /// `name` or `name@version`, as parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl std::str::FromStr for EngineId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EngineId::parse(s)
    }
}

impl Serialize for EngineId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EngineId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EngineId::parse(&text).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_optional_version() {
        let v = EngineId::parse("vllm").unwrap();
        assert_eq!((v.name.as_str(), v.version), ("vllm", None));
        let v = EngineId::parse(" SGLang@0.5.2 ").unwrap();
        assert_eq!(v.name, "sglang");
        assert_eq!(v.version.as_deref(), Some("0.5.2"));
        assert_eq!(v.to_string(), "sglang@0.5.2");
        for bad in ["", "@0.11", "vllm@", "v llm", "vllm@0 11"] {
            let e = EngineId::parse(bad).unwrap_err();
            assert_eq!(e.field(), Some("engine"), "{bad}");
        }
    }
}
