//! GPU prices as data and the cost arithmetic of a plan: dollars per hour of
//! a deployment and dollars per million output tokens. Pure: the CLI reads
//! any price file and passes its text to [`parse_prices`].
//!
//! The built-in table is indicative only — rental prices differ by a factor
//! of two or more between providers and commitment terms — so every entry
//! names its source and date, and `--gpu-price NAME=USD` (or a file of such
//! lines) replaces it. Sources: docs/sources/prices.md.

use crate::error::{Error, Result};
use crate::serving::plan::ServingCandidate;
use serde::Serialize;

/// One built-in price: GPU name, US dollars per GPU-hour, source and date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuiltinPrice {
    /// GPU name as in `gpu-specs/` (`kvplan gpus`).
    pub gpu: &'static str,
    /// Dollars per GPU-hour, on demand.
    pub usd_per_hour: f64,
    /// Where the figure comes from, with its date.
    pub source: &'static str,
}

/// Indicative on-demand prices (middle of the "specialty GPU cloud" band of
/// the source, which surveys 22+ providers). Not a quote.
pub const BUILTIN_PRICES: [BuiltinPrice; 3] = [
    BuiltinPrice {
        gpu: "H100",
        usd_per_hour: 3.00,
        source: "mercatus-ai.com/blog/cloud-gpu-pricing, May 2026: H100 SXM5 specialty clouds $2.50–$3.50/h (midpoint)",
    },
    BuiltinPrice {
        gpu: "H200",
        usd_per_hour: 4.00,
        source: "mercatus-ai.com/blog/cloud-gpu-pricing, May 2026: H200 SXM5 specialty clouds $3.50–$4.50/h (midpoint)",
    },
    BuiltinPrice {
        gpu: "A100-80GB",
        usd_per_hour: 1.30,
        source: "mercatus-ai.com/blog/cloud-gpu-pricing, May 2026: A100 80GB specialty clouds $1.10–$1.50/h (midpoint)",
    },
];

/// A price that applies to one GPU kind, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// GPU name the price was given for.
    pub gpu: String,
    /// Dollars per GPU-hour.
    pub usd_per_hour: f64,
    /// "--gpu-price", a file name, or the built-in table's source.
    pub source: String,
}

fn norm(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .replace([' ', '_'], "-")
        .trim_end_matches("-sxm")
        .to_string()
}

/// Parse `NAME=USD` prices: one per item of a `--gpu-price` list
/// (`H100=2.49,A100-80GB=1.29`) or one per line of a price file (`#`
/// comments and blank lines ignored; `NAME: USD` also accepted).
pub fn parse_prices(text: &str, source: &str) -> Result<Vec<Price>> {
    let mut out = Vec::new();
    for item in text.split(['\n', ',']) {
        let item = item.split('#').next().unwrap_or("").trim();
        if item.is_empty() {
            continue;
        }
        let (name, value) = item
            .split_once('=')
            .or_else(|| item.split_once(':'))
            .ok_or_else(|| {
                Error::input(
                    "gpu-price",
                    format!("'{item}' is not NAME=USD_PER_HOUR (e.g. H100=2.49)"),
                )
            })?;
        let v = value.trim().trim_start_matches('$');
        let usd: f64 = v.parse().map_err(|_| {
            Error::input(
                "gpu-price",
                format!(
                    "'{}' in '{item}' is not a price in dollars per GPU-hour",
                    value.trim()
                ),
            )
        })?;
        if !(usd.is_finite() && usd > 0.0 && usd < 1000.0) {
            return Err(Error::input(
                "gpu-price",
                format!(
                    "{usd} $/GPU-hour for {} is not a plausible price (0 < price < 1000)",
                    name.trim()
                ),
            ));
        }
        if name.trim().is_empty() {
            return Err(Error::input("gpu-price", format!("'{item}' names no GPU")));
        }
        out.push(Price {
            gpu: name.trim().to_string(),
            usd_per_hour: usd,
            source: source.to_string(),
        });
    }
    Ok(out)
}

/// The price of GPU `name` (or any of its `aliases`): the user's prices
/// first (the last given wins), then the built-in table. None: unknown.
pub fn price_for(name: &str, aliases: &[String], user: &[Price]) -> Option<Price> {
    let mut keys = vec![norm(name)];
    keys.extend(aliases.iter().map(|a| norm(a)));
    if let Some(p) = user.iter().rev().find(|p| keys.contains(&norm(&p.gpu))) {
        return Some(p.clone());
    }
    BUILTIN_PRICES
        .iter()
        .find(|b| keys.contains(&norm(b.gpu)))
        .map(|b| Price {
            gpu: b.gpu.to_string(),
            usd_per_hour: b.usd_per_hour,
            source: format!("built-in, indicative: {}", b.source),
        })
}

/// Dollars per million output tokens of a deployment costing
/// `usd_per_hour` that produces `tokens_per_second` output tokens:
/// `usd_per_hour / (tokens_per_second × 3600) × 10^6`. None when it
/// produces nothing.
pub fn usd_per_million_tokens(usd_per_hour: f64, tokens_per_second: f64) -> Option<f64> {
    (tokens_per_second > 0.0 && tokens_per_second.is_finite())
        .then(|| usd_per_hour / (tokens_per_second * 3600.0) * 1e6)
}

/// The cost of one serving-plan configuration at the SLA: the GPUs of all
/// the copies the load needs, and what a million output tokens cost at the
/// simulated throughput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServingCost {
    /// Dollars per hour of every GPU the load takes (copies × GPUs).
    pub usd_per_hour: f64,
    /// Dollars per million output tokens at the simulated load:
    /// price per GPU-hour ÷ (output tokens/s per GPU × 3600) × 10^6 (each
    /// copy serves its share, so the per-GPU rate is the whole load's).
    pub usd_per_million_output_tokens: Option<f64>,
}

/// [`ServingCost`] of `c` at `usd_per_gpu_hour`.
pub fn serving_cost(c: &ServingCandidate, usd_per_gpu_hour: f64) -> ServingCost {
    ServingCost {
        usd_per_hour: usd_per_gpu_hour * c.total_gpus as f64,
        usd_per_million_output_tokens: usd_per_million_tokens(
            usd_per_gpu_hour,
            c.output_tokens_per_second_per_gpu,
        ),
    }
}

/// The cheapest configuration that meets the SLA: the lowest $ per 1M
/// output tokens among those that meet it (its index in `candidates`).
pub fn cheapest_at_sla(candidates: &[ServingCandidate], usd_per_gpu_hour: f64) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.meets_sla)
        .filter_map(|(i, c)| {
            serving_cost(c, usd_per_gpu_hour)
                .usd_per_million_output_tokens
                .map(|m| (i, m))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// $2.49/h at 1,000 tok/s: 3.6M tokens an hour → $0.6917 per million.
    #[test]
    fn dollars_per_million_tokens() {
        let v = usd_per_million_tokens(2.49, 1000.0).unwrap();
        assert!((v - 2.49 / 3.6).abs() < 1e-12, "{v}");
        assert_eq!(usd_per_million_tokens(2.49, 0.0), None);
    }

    #[test]
    fn user_prices_beat_the_table() {
        let user = parse_prices("H100=2.49, A100-80GB: $1.29 # mine", "--gpu-price").unwrap();
        assert_eq!(user.len(), 2);
        let p = price_for("H100", &["H100-SXM".into()], &user).unwrap();
        assert_eq!(p.usd_per_hour, 2.49);
        assert_eq!(p.source, "--gpu-price");
        let b = price_for("H200", &[], &user).unwrap();
        assert_eq!(b.usd_per_hour, 4.00);
        assert!(b.source.contains("built-in"));
        assert!(price_for("L4", &[], &user).is_none());
    }

    #[test]
    fn bad_prices_name_the_flag() {
        for bad in ["H100", "H100=abc", "H100=-1", "=2"] {
            let e = parse_prices(bad, "--gpu-price").unwrap_err().to_string();
            assert!(e.starts_with("gpu-price:"), "{bad}: {e}");
        }
    }
}
