//! Parsing and formatting of the quantities users type and read: token counts
//! ("100k"), byte sizes ("80GB", "80GiB"), GPU counts ("2x8xH100"), and GiB
//! output. Decimal and binary prefixes are kept apart on purpose: "100k" is
//! 100,000 tokens, "128Ki" is 131,072; "80GB" is 80e9 bytes, "80GiB" 80·2^30.

use crate::error::{Error, Result};

/// Bytes in one GiB (2^30), the unit engines and nvidia-smi print.
pub const GIB: f64 = (1u64 << 30) as f64;

/// Parse a token count: `32768`, `32k` (32,000), `32Ki` (32,768), `1M`
/// (1,000,000), `1Mi` (1,048,576). Underscores and commas are ignored.
/// `field` names the option in errors.
pub fn parse_tokens(text: &str, field: &str) -> Result<u64> {
    let t: String = text
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect();
    if t.is_empty() {
        return Err(Error::input(
            field,
            "empty value; expected a token count like 32768, 32k or 128Ki",
        ));
    }
    let lower = t.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower.strip_suffix("ki") {
        (n, 1024u64)
    } else if let Some(n) = lower.strip_suffix("mi") {
        (n, 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1_000_000)
    } else {
        (lower.as_str(), 1)
    };
    let value: f64 = num.parse().map_err(|_| {
        Error::input(
            field,
            format!("'{text}' is not a token count; use e.g. 32768, 100k (=100,000) or 128Ki (=131,072)"),
        )
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(Error::input(
            field,
            format!("'{text}' must be a positive number"),
        ));
    }
    let tokens = value * mult as f64;
    if tokens.fract() != 0.0 {
        return Err(Error::input(
            field,
            format!("'{text}' is not a whole number of tokens"),
        ));
    }
    if tokens > 1e12 {
        return Err(Error::input(field, format!("'{text}' is absurdly large")));
    }
    Ok(tokens as u64)
}

/// Parse a byte size: `80GB` (decimal, 80e9), `80GiB` (binary), `512MiB`,
/// `1.5TB`, or a plain integer number of bytes.
pub fn parse_bytes(text: &str, field: &str) -> Result<u64> {
    let t = text.trim().replace(['_', ','], "");
    let lower = t.to_ascii_lowercase();
    let units: [(&str, f64); 9] = [
        ("tib", 1024f64.powi(4)),
        ("gib", GIB),
        ("mib", 1024f64.powi(2)),
        ("kib", 1024.0),
        ("tb", 1e12),
        ("gb", 1e9),
        ("mb", 1e6),
        ("kb", 1e3),
        ("b", 1.0),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|n| (n.trim(), *m)))
        .unwrap_or((lower.as_str(), 1.0));
    let value: f64 = num.parse().map_err(|_| {
        Error::input(
            field,
            format!("'{text}' is not a size; use e.g. 80GB (80e9 bytes) or 80GiB (80·2^30)"),
        )
    })?;
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::input(
            field,
            format!("'{text}' must be a positive size"),
        ));
    }
    let bytes = (value * mult).round();
    if bytes > 1e16 {
        return Err(Error::input(field, format!("'{text}' is absurdly large")));
    }
    Ok(bytes as u64)
}

/// Format bytes as GiB with two decimals ("79.65 GiB").
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / GIB)
}

/// Format a signed byte quantity as GiB ("-3.20 GiB").
pub fn gib_signed(bytes: i128) -> String {
    format!("{:.2} GiB", bytes as f64 / GIB)
}

/// Format a token count compactly and exactly: 100000 → "100,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Format a parameter count: 671026419200 → "671.03B".
pub fn params(n: u64) -> String {
    let f = n as f64;
    if f >= 1e12 {
        format!("{:.2}T", f / 1e12)
    } else if f >= 1e9 {
        format!("{:.2}B", f / 1e9)
    } else {
        format!("{:.1}M", f / 1e6)
    }
}

/// Format seconds with a sensible unit.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "∞".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// A GPU count as typed: `H100` (1 GPU), `8xH800`, `2x8xH100` (nodes × GPUs
/// per node). The GPU name is resolved against the catalogue elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterText {
    /// Number of nodes (machines).
    pub nodes: u64,
    /// GPUs in each node.
    pub gpus_per_node: u64,
    /// The GPU name as typed, e.g. "H100-80GB".
    pub gpu_name: String,
}

/// Most GPUs one `--gpus` may name (nodes × GPUs per node).
pub const MAX_GPUS: u64 = 1_048_576;

/// Parse `--gpus`: `H100`, `8xH800`, `8×H800`, `2x8xH100`.
pub fn parse_cluster(text: &str) -> Result<ClusterText> {
    let t = text.trim().replace(['×', '*'], "x");
    let parts: Vec<&str> = t.split(['x', 'X']).collect();
    // A GPU name itself may contain an 'x' (e.g. "MI300X"): numeric leading
    // parts are counts, the rest (rejoined) is the name.
    let mut counts = Vec::new();
    let mut idx = 0;
    while idx < parts.len()
        && !parts[idx].is_empty()
        && parts[idx].chars().all(|c| c.is_ascii_digit())
    {
        counts.push(parts[idx]);
        idx += 1;
    }
    // Re-split the name from the original text to keep its own 'x'.
    let name = {
        let mut rest = t.as_str();
        for c in &counts {
            rest = &rest[c.len()..];
            rest = rest.strip_prefix(['x', 'X']).unwrap_or(rest);
        }
        rest.trim().to_string()
    };
    let bad = || {
        Error::input(
            "gpus",
            format!("'{text}' is not a GPU list; use e.g. H100, 8xH800 or 2x8xH100 (nodes × GPUs per node)"),
        )
    };
    if name.is_empty() {
        return Err(bad());
    }
    let num = |s: &str| -> Result<u64> {
        let n: u64 = s.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(Error::input(
                "gpus",
                format!("'{text}': a GPU count of 0 is impossible"),
            ));
        }
        if n > 100_000 {
            return Err(Error::input(
                "gpus",
                format!("'{text}': {n} is absurdly many"),
            ));
        }
        Ok(n)
    };
    let (nodes, per) = match counts.as_slice() {
        [] => (1, 1),
        [g] => (1, num(g)?),
        [n, g] => (num(n)?, num(g)?),
        _ => return Err(bad()),
    };
    // Each count is bounded above; their product too (the largest clusters
    // of 2026 have ~200,000 GPUs), so divisor searches stay small.
    if nodes.saturating_mul(per) > MAX_GPUS {
        return Err(Error::input(
            "gpus",
            format!(
                "'{text}': {} GPUs in all is absurdly many (limit {})",
                thousands(nodes.saturating_mul(per)),
                thousands(MAX_GPUS)
            ),
        ));
    }
    Ok(ClusterText {
        nodes,
        gpus_per_node: per,
        gpu_name: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_tokens("100k", "ctx").unwrap(), 100_000);
        assert_eq!(parse_tokens("128Ki", "ctx").unwrap(), 131_072);
        assert_eq!(parse_tokens("131072", "ctx").unwrap(), 131_072);
        assert_eq!(parse_tokens("1.5k", "ctx").unwrap(), 1_500);
        assert_eq!(parse_tokens("1M", "ctx").unwrap(), 1_000_000);
        assert!(parse_tokens("abc", "ctx").is_err());
        assert!(parse_tokens("-5", "ctx").is_err());
        assert!(parse_tokens("1.5", "ctx").is_err());
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("80GB", "m").unwrap(), 80_000_000_000);
        assert_eq!(parse_bytes("80GiB", "m").unwrap(), 80 * (1 << 30));
        assert_eq!(parse_bytes("512 MiB", "m").unwrap(), 512 * (1 << 20));
        assert!(parse_bytes("0GB", "m").is_err());
        assert!(parse_bytes("lots", "m").is_err());
    }

    #[test]
    fn cluster() {
        let c = parse_cluster("8xH800").unwrap();
        assert_eq!(
            (c.nodes, c.gpus_per_node, c.gpu_name.as_str()),
            (1, 8, "H800")
        );
        let c = parse_cluster("2x8xH100").unwrap();
        assert_eq!(
            (c.nodes, c.gpus_per_node, c.gpu_name.as_str()),
            (2, 8, "H100")
        );
        let c = parse_cluster("H100").unwrap();
        assert_eq!((c.nodes, c.gpus_per_node), (1, 1));
        let c = parse_cluster("8xMI300X").unwrap();
        assert_eq!(c.gpu_name, "MI300X");
        let c = parse_cluster("8xH100-80GB").unwrap();
        assert_eq!(c.gpu_name, "H100-80GB");
        assert!(parse_cluster("0xH100").is_err());
        assert!(parse_cluster("8x").is_err());
        assert!(parse_cluster("1x2x3xH100").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(100000), "100,000");
        assert_eq!(thousands(7), "7");
        assert_eq!(params(671_026_419_200), "671.03B");
        assert_eq!(gib(1 << 30), "1.00 GiB");
    }
}
