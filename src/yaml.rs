//! The one place that touches the YAML library. `serde_yaml` is archived, so
//! kvplan uses the maintained drop-in fork `serde_norway`; swapping it again
//! means editing only this file.

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};

/// Deepest nesting of collections accepted. kvplan's specs nest 3–4 levels;
/// the YAML parser's work grows faster than linearly with depth (100,000
/// nested brackets take > 10 s), so deeper text is refused before parsing.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Parse YAML text from `origin` (a file path or "built-in:<name>") into `T`.
/// Errors name the origin and the line/column the parser reports.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    check_depth(text, origin)?;
    serde_norway::from_str(text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        Error::spec(origin, format!("{loc}invalid YAML: {e}"))
    })
}

/// Refuse text whose collections nest deeper than [`MAX_NESTING_DEPTH`], in
/// one linear pass: flow brackets (`[`, `{`) outside quotes and comments,
/// plus block nesting (indentation steps and `- `/`? ` indicators that open a
/// collection on the same line). Over-counting is harmless at this limit.
fn check_depth(text: &str, origin: &str) -> Result<()> {
    let too_deep = |line: usize| {
        Err(Error::spec(
            origin,
            format!(
                "line {line}: collections nest deeper than {MAX_NESTING_DEPTH} levels; a kvplan spec needs 4"
            ),
        ))
    };
    let mut flow = 0usize;
    // Indentation of the open block levels (a stack, popped as lines dedent).
    let mut indents: Vec<usize> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        if flow == 0 && !body.is_empty() && !body.starts_with('#') {
            while indents.last().is_some_and(|&i| i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            // `- - - x` opens one sequence per indicator on a single line.
            let mut rest = body;
            let mut same_line = 0usize;
            while let Some(r) = rest
                .strip_prefix("- ")
                .or_else(|| rest.strip_prefix("? "))
                .or_else(|| rest.strip_prefix(": "))
            {
                same_line += 1;
                rest = r.trim_start_matches(' ');
            }
            if indents.len() + same_line > MAX_NESTING_DEPTH {
                return too_deep(n);
            }
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    // '' inside a single-quoted scalar is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    // A quote opens a scalar only where a scalar can start
                    // (`it's` inside a plain scalar is text).
                    '"' | '\''
                        if matches!(prev, ' ' | '\t' | '[' | '{' | ',' | ':' | '-' | '?') =>
                    {
                        quote = Some(c)
                    }
                    '[' | '{' => {
                        flow += 1;
                        if flow + indents.len() > MAX_NESTING_DEPTH {
                            return too_deep(n);
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        // A double-quoted scalar may span lines; a single-quoted one too.
    }
    Ok(())
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
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("a: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let t = std::time::Instant::now();
        let e = from_str::<T>(&deep, "deep.yaml").unwrap_err().to_string();
        assert!(e.contains("nest deeper than 64"), "{e}");
        assert!(t.elapsed().as_secs() < 2);
        let dashes = format!("a:\n{}1\n", "- ".repeat(10_000));
        let e = from_str::<T>(&dashes, "d.yaml").unwrap_err().to_string();
        assert!(e.contains("nest deeper"), "{e}");
        // Brackets inside quotes or comments are text, not nesting.
        let q = format!("a: 1 # {}\nb: '{}'\n", "[".repeat(100), "{".repeat(100));
        assert!(check_depth(&q, "q.yaml").is_ok());
        assert!(check_depth("a: [[1, 2], {b: [3]}]\n", "ok.yaml").is_ok());
        // An apostrophe inside a plain scalar does not hide the brackets after it.
        let sneaky = format!("a: [x'y, {}]\n", "[".repeat(1000));
        assert!(check_depth(&sneaky, "s.yaml").is_err());
    }

    #[test]
    fn error_names_origin_and_line() {
        let err = from_str::<T>("a: 1\nb: [\n", "specs/x.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("specs/x.yaml: line"), "{msg}");
    }
}
