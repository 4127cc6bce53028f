//! One error type for the whole crate, so every edge (CLI, server) can turn a
//! failure into one clear line (CLI exit code 2, HTTP 4xx/5xx) without panics.

use std::fmt;

/// What went wrong, coarse enough for an edge to choose an exit code or an
/// HTTP status, with a message that names the bad input and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The user's input is invalid (unknown name, impossible size, bad flag
    /// combination). `field` names the option or JSON field at fault.
    Input { field: String, message: String },
    /// A spec file (YAML or JSON) could not be read or parsed; the message
    /// says the file and, where known, the line.
    Spec { path: String, message: String },
    /// The environment cannot do what was asked (no GPU, no network, …).
    Environment(String),
}

impl Error {
    /// Shorthand for an input error on `field`.
    pub fn input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for an error in the spec file at `path`.
    pub fn spec(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Spec {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The field (CLI option / JSON key) at fault, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Input { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input { field, message } => write!(f, "{field}: {message}"),
            Error::Spec { path, message } => write!(f, "{path}: {message}"),
            Error::Environment(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Crate-wide result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// Names from `candidates` closest to `wanted` (case-insensitive edit
/// distance, prefix/substring matches first), for "did you mean …?" hints.
pub fn nearest_names<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let w = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .map(|c| {
            let lc = c.to_ascii_lowercase();
            let d = edit_distance(&w, &lc);
            // Substring matches ("h800" in "h800-pcie") are strong hints.
            let bonus = if !w.is_empty() && (lc.contains(&w) || w.contains(&lc)) {
                d.min(1)
            } else {
                d
            };
            (bonus, c.to_string())
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    let limit = (w.len() / 2).max(2);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, c)| c)
        .collect()
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// "did you mean X, Y?" suffix, or a pointer to the listing command.
pub fn suggestion(wanted: &str, candidates: Vec<&str>, list_cmd: &str) -> String {
    let near = nearest_names(wanted, candidates);
    if near.is_empty() {
        format!("run `{list_cmd}` to see the names")
    } else {
        format!("did you mean {}? (`{list_cmd}` lists all)", near.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_nearest() {
        let names = ["H800", "H100", "H200", "A100-80GB", "L40S"];
        let near = nearest_names("H80", names);
        assert!(near.contains(&"H800".to_string()), "{near:?}");
        assert!(nearest_names("zzzzzzzz", names).is_empty());
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
