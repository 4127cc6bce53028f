//! One error type for the whole crate, so every edge (CLI, server) can turn a
//! failure into one clear line (CLI exit code 2, HTTP 4xx/5xx) without panics.

use std::fmt;

/// An input field, known by both its spellings: the CLI option
/// (`kv-dtype`, kebab-case) and the JSON key of the API (`kv_dtype`,
/// snake_case). Errors carry it so each edge names the field its own way,
/// without rewriting the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field(String);

impl Field {
    /// The JSON key (snake_case), e.g. `kv_dtype`.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The CLI option without dashes in front (kebab-case), e.g. `kv-dtype`.
    pub fn cli(&self) -> String {
        self.0.replace('_', "-")
    }
}

impl From<&str> for Field {
    /// Either spelling: `kv-dtype` and `kv_dtype` name the same field.
    fn from(name: &str) -> Self {
        Field(name.trim().replace('-', "_"))
    }
}

impl From<String> for Field {
    fn from(name: String) -> Self {
        Field::from(name.as_str())
    }
}

impl From<&String> for Field {
    fn from(name: &String) -> Self {
        Field::from(name.as_str())
    }
}

impl PartialEq<&str> for Field {
    fn eq(&self, other: &&str) -> bool {
        let o = other.trim();
        o.len() == self.0.len()
            && o.bytes()
                .zip(self.0.bytes())
                .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
    }
}

impl fmt::Display for Field {
    /// The CLI spelling (the command line is the default front end).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cli())
    }
}

/// What went wrong, coarse enough for an edge to choose an exit code or an
/// HTTP status, with a message that names the bad input and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The user's input is invalid (unknown name, impossible size, bad flag
    /// combination). `field` names the option or JSON field at fault.
    Input { field: Field, message: String },
    /// A spec file (YAML or JSON) could not be read or parsed; the message
    /// says the file and, where known, the line.
    Spec { path: String, message: String },
    /// The environment cannot do what was asked (no GPU, no network, …).
    Environment(String),
}

impl Error {
    /// Shorthand for an input error on `field`.
    pub fn input(field: impl Into<Field>, message: impl Into<String>) -> Self {
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

    /// `what` needs an edge that this build leaves out (a cargo feature, all
    /// on by default); an environment error that says how to rebuild.
    pub fn missing_feature(feature: &str, what: &str) -> Self {
        Error::Environment(format!(
            "{what} needs the `{feature}` feature, which this build of kvplan leaves out; rebuild with `cargo build --release --features {feature}` (on by default)"
        ))
    }

    /// A file named by `field` that cannot be read or written: an
    /// environment error (exit code 3), whose message still names the option.
    pub fn file(field: &str, message: impl Into<String>) -> Self {
        Error::Environment(format!("{field}: {}", message.into()))
    }

    /// The message without the field or path in front (for serde errors,
    /// which the edge prefixes with the field itself).
    pub fn message(&self) -> &str {
        match self {
            Error::Input { message, .. } | Error::Spec { message, .. } => message,
            Error::Environment(m) => m,
        }
    }

    /// The field at fault (its JSON spelling), when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Input { field, .. } => Some(field.json()),
            _ => None,
        }
    }

    /// This error with `hint` (what else the user could give) added to an
    /// input error's message; other errors, or an empty hint, unchanged.
    pub fn with_hint(self, hint: &str) -> Self {
        match self {
            Error::Input { field, message } if !hint.is_empty() => Error::Input {
                field,
                message: format!("{message} {hint}"),
            },
            e => e,
        }
    }
}

impl Error {
    /// The process exit code for this error (ripgrep-style, see `kvplan
    /// --help`): 2 = bad input or spec, 3 = environment (no GPU, no network,
    /// a file that cannot be read or written, a feature left out of the build).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Spec { .. } => EXIT_BAD_INPUT,
            Error::Environment(_) => EXIT_ENVIRONMENT,
        }
    }
}

/// Exit code: it fits / a plan meets the constraints / the command did its job.
pub const EXIT_OK: i32 = 0;
/// Exit code: it does not fit / no configuration meets the constraints.
pub const EXIT_NOT_MET: i32 = 1;
/// Exit code: bad input or a bad spec file.
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: the environment cannot do it (no GPU, no network, a missing
/// or unwritable file, a feature this build leaves out).
pub const EXIT_ENVIRONMENT: i32 = 3;

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
    // Separators carry no meaning in names people type ("llama3-70b" is
    // "llama-3-70b"), so distances are taken with them removed; among equal
    // distances the longer shared start wins ("llama3…" is a Llama-3, not
    // a Llama-2, though both are one edit away).
    let norm = |t: &str| -> String {
        t.to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
            .collect()
    };
    let w = norm(wanted);
    let mut scored: Vec<(usize, std::cmp::Reverse<usize>, String)> = candidates
        .into_iter()
        .map(|c| {
            let lc = norm(c);
            let d = edit_distance(&w, &lc);
            // Substring matches ("h800" in "h800-pcie") are strong hints.
            let bonus = if !w.is_empty() && (lc.contains(&w) || w.contains(&lc)) {
                d.min(1)
            } else {
                d
            };
            let shared = w
                .bytes()
                .zip(lc.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            (bonus, std::cmp::Reverse(shared), c.to_string())
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.2 == b.2);
    let limit = (w.len() / 2).max(2);
    scored
        .into_iter()
        .filter(|(d, _, _)| *d <= limit)
        .take(3)
        .map(|(_, _, c)| c)
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

    /// Issue 17: `llama3-70b` is a Llama-3 70B; it used to suggest the
    /// Llama-2 names first (one edit closer with the dashes counted).
    #[test]
    fn llama3_suggests_llama3() {
        let names = [
            "llama-2-70b",
            "llama-2-7b",
            "llama-3.1-70b",
            "llama-3.3-70b",
            "llama-3.1-8b",
        ];
        let near = nearest_names("llama3-70b", names);
        assert!(near[0].starts_with("llama-3"), "{near:?}");
        assert!(near[1].starts_with("llama-3"), "{near:?}");
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
