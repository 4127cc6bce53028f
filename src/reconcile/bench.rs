//! Reading a benchmark result: `vllm bench serve --save-result` JSON, SGLang
//! `bench_serving --output-file` JSON lines, the text summary both print,
//! and genai-perf / aiperf profile-export JSON. Pure text in, data out.

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;

/// What a benchmark measured (milliseconds, tokens, tokens/s).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BenchResult {
    /// Which format it was read as.
    pub format: String,
    /// Concurrent requests the client kept in flight.
    pub concurrency: Option<u64>,
    /// Mean prompt tokens per request.
    pub input_len: Option<f64>,
    /// Mean output tokens per request.
    pub output_len: Option<f64>,
    /// Median time to first token, ms.
    pub ttft_ms: Option<f64>,
    /// Median time per output token (after the first), ms.
    pub tpot_ms: Option<f64>,
    /// Median inter-token latency, ms.
    pub itl_ms: Option<f64>,
    /// Output tokens per second, whole deployment.
    pub output_throughput: Option<f64>,
    /// Requests completed.
    pub completed: Option<u64>,
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// Parse a benchmark result file's text.
pub fn parse(text: &str) -> Result<BenchResult> {
    let t = text.trim();
    if t.starts_with('{') {
        // One JSON object, or JSON lines (SGLang appends one per run: take the last).
        let v: Value = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(_) => {
                let last = t
                    .lines()
                    .rev()
                    .find(|l| l.trim_start().starts_with('{'))
                    .unwrap_or(t);
                serde_json::from_str(last).map_err(|e| {
                    Error::input(
                        "bench",
                        format!("the benchmark file is not valid JSON: {e}"),
                    )
                })?
            }
        };
        return from_json(&v);
    }
    from_text(t)
}

fn from_json(v: &Value) -> Result<BenchResult> {
    // vLLM bench serve / SGLang bench_serving: flat keys.
    if v.get("median_ttft_ms").is_some() || v.get("median_tpot_ms").is_some() {
        let completed = v.get("completed").and_then(Value::as_u64);
        let per = |k: &str| match (f(v, k), completed) {
            (Some(x), Some(c)) if c > 0 => Some(x / c as f64),
            _ => None,
        };
        let format = if v.get("backend").and_then(Value::as_str) == Some("sglang")
            || v.get("random_input_len").is_some()
        {
            "sglang bench_serving"
        } else {
            "vllm bench serve"
        };
        return Ok(BenchResult {
            format: format.into(),
            concurrency: v.get("max_concurrency").and_then(Value::as_u64),
            input_len: per("total_input_tokens"),
            output_len: per("total_output_tokens"),
            ttft_ms: f(v, "median_ttft_ms"),
            tpot_ms: f(v, "median_tpot_ms"),
            itl_ms: f(v, "median_itl_ms"),
            output_throughput: f(v, "output_throughput"),
            completed,
        });
    }
    // genai-perf / aiperf: {metric: {unit, avg, p50, …}}, possibly under "records".
    let root = v.get("records").unwrap_or(v);
    let stat = |k: &str| -> Option<f64> {
        let m = root.get(k)?;
        let x = f(m, "p50").or_else(|| f(m, "avg"))?;
        Some(match m.get("unit").and_then(Value::as_str) {
            Some("s") => x * 1e3,
            Some("us") => x / 1e3,
            Some("ns") => x / 1e6,
            _ => x,
        })
    };
    if root.get("time_to_first_token").is_some() || root.get("inter_token_latency").is_some() {
        let avg = |k: &str| root.get(k).and_then(|m| f(m, "avg"));
        return Ok(BenchResult {
            format: if v.get("records").is_some() {
                "aiperf".into()
            } else {
                "genai-perf".into()
            },
            concurrency: find_u64(v, "concurrency"),
            input_len: avg("input_sequence_length"),
            output_len: avg("output_sequence_length"),
            ttft_ms: stat("time_to_first_token"),
            tpot_ms: stat("inter_token_latency"),
            itl_ms: stat("inter_token_latency"),
            output_throughput: avg("output_token_throughput"),
            completed: None,
        });
    }
    Err(Error::input(
        "bench",
        "unknown benchmark JSON: expected vllm bench serve / SGLang bench_serving keys (median_ttft_ms, median_tpot_ms) or genai-perf/aiperf metrics (time_to_first_token, inter_token_latency)",
    ))
}

/// The first number under key `k` anywhere in `v`.
fn find_u64(v: &Value, k: &str) -> Option<u64> {
    match v {
        Value::Object(o) => o
            .get(k)
            .and_then(Value::as_u64)
            .or_else(|| o.values().find_map(|x| find_u64(x, k))),
        Value::Array(a) => a.iter().find_map(|x| find_u64(x, k)),
        _ => None,
    }
}

/// The "Serving Benchmark Result" text summary (vLLM and SGLang print the same labels).
fn from_text(t: &str) -> Result<BenchResult> {
    let grab = |label: &str| -> Option<f64> {
        t.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix(label)?;
            rest.trim_start_matches(':')
                .trim()
                .replace(',', "")
                .parse()
                .ok()
        })
    };
    let ttft = grab("Median TTFT (ms)");
    let tpot = grab("Median TPOT (ms)");
    if ttft.is_none() && tpot.is_none() {
        let first = t.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Error::input(
            "bench",
            format!("not a benchmark result kvplan knows (vllm bench serve / SGLang bench_serving JSON or summary, genai-perf/aiperf JSON); first line: \"{}\"", first.trim()),
        ));
    }
    let completed = grab("Successful requests").map(|x| x as u64);
    let per = |label: &str| match (grab(label), completed) {
        (Some(x), Some(c)) if c > 0 => Some(x / c as f64),
        _ => None,
    };
    Ok(BenchResult {
        format: "benchmark summary text".into(),
        concurrency: grab("Maximum request concurrency")
            .or_else(|| grab("Max request concurrency"))
            .map(|x| x as u64),
        input_len: per("Total input tokens"),
        output_len: per("Total generated tokens"),
        ttft_ms: ttft,
        tpot_ms: tpot,
        itl_ms: grab("Median ITL (ms)"),
        output_throughput: grab("Output token throughput (tok/s)"),
        completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_files_are_named() {
        assert!(parse("{\"a\": 1}")
            .unwrap_err()
            .to_string()
            .contains("unknown benchmark JSON"));
        assert!(parse("hello\n").unwrap_err().to_string().contains("hello"));
    }

    #[test]
    fn genai_perf_units() {
        let r = parse(r#"{"time_to_first_token": {"unit": "ms", "avg": 50.0, "p50": 40.0}, "inter_token_latency": {"unit": "ms", "p50": 9.5}, "output_sequence_length": {"avg": 200}, "input_config": {"perf_analyzer": {"stimulus": {"concurrency": 16}}}}"#).unwrap();
        assert_eq!(r.format, "genai-perf");
        assert_eq!(r.ttft_ms, Some(40.0));
        assert_eq!(r.tpot_ms, Some(9.5));
        assert_eq!(r.concurrency, Some(16));
        assert_eq!(r.output_len, Some(200.0));
    }
}
