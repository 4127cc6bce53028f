//! Reading a serving engine's start-up log: which engine and version, the
//! launch settings it echoes (model, parallelism, lengths, memory fraction,
//! KV dtype) and the memory figures it prints (weights, activation peak,
//! KV pool, KV tokens, concurrency, CUDA graphs). Pure text in, data out.
//!
//! Lines the parser does not know are skipped (logs are noisy); a line that
//! looks like one of the figures but does not read as one is an error that
//! names it, and a log with no figure at all is an error that names the
//! first line kvplan could not place.

use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a start-up log says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineLog {
    /// `vllm`, `sglang` or `trtllm`.
    pub engine: String,
    /// Version as the log prints it (None when it does not).
    pub version: Option<String>,
    /// Model as launched (HF id or path).
    pub model: Option<String>,
    /// `key=value` launch settings the log echoes (config, server args, non-default args).
    pub settings: BTreeMap<String, String>,
    /// The memory figures.
    pub figures: Figures,
    /// Which line (1-based) gave each figure.
    pub lines: BTreeMap<String, usize>,
}

/// Memory figures of a start-up log, per GPU unless noted (GiB = 2^30 bytes;
/// SGLang's "GB" are GiB too).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// GPU memory CUDA reports, GiB.
    pub total_gib: Option<f64>,
    /// Free memory before the weights load (SGLang "Load weight begin"), GiB.
    pub free_before_weights_gib: Option<f64>,
    /// Weights loaded on the fullest GPU, GiB.
    pub weights_gib: Option<f64>,
    /// Activation peak of the profile run, GiB.
    pub peak_activation_gib: Option<f64>,
    /// Memory outside the framework allocator, GiB.
    pub non_torch_gib: Option<f64>,
    /// CUDA-graph memory, GiB.
    pub cuda_graph_gib: Option<f64>,
    /// The KV pool of one GPU (the smallest), GiB.
    pub available_kv_gib: Option<f64>,
    /// KV tokens of one engine replica (per DP rank).
    pub kv_cache_tokens: Option<u64>,
    /// Sequences of `max_concurrency_len` tokens the pool holds.
    pub max_concurrency: Option<f64>,
    /// The length the concurrency line refers to.
    pub max_concurrency_len: Option<u64>,
    /// KV block / page size the log reports.
    pub block_size: Option<u64>,
    /// KV blocks on the GPU (older vLLM "# GPU blocks").
    pub gpu_blocks: Option<u64>,
}

/// Parse a start-up log.
pub fn parse(text: &str) -> Result<EngineLog> {
    let engine = detect(text)?;
    let mut log = EngineLog {
        engine: engine.into(),
        ..Default::default()
    };
    let mut placed_any = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let placed = match engine {
            "vllm" => vllm_line(&mut log, line, n)?,
            "sglang" => sglang_line(&mut log, line, n)?,
            _ => trtllm_line(&mut log, line, n)?,
        };
        placed_any |= placed;
    }
    let f = &log.figures;
    if f.available_kv_gib.is_none() && f.kv_cache_tokens.is_none() && f.gpu_blocks.is_none() {
        let first = first_unplaced(text, engine);
        return Err(Error::input(
            "log",
            format!(
                "the {engine} log has no KV-cache line (\"{}\"); the first line kvplan could not place is {first}. Give the engine's start-up log from launch until it serves",
                kv_marker(engine)
            ),
        ));
    }
    let _ = placed_any;
    Ok(log)
}

fn kv_marker(engine: &str) -> &'static str {
    match engine {
        "vllm" => "Available KV cache memory / GPU KV cache size",
        "sglang" => "KV Cache is allocated / max_total_num_tokens",
        _ => "Allocated … for max tokens in paged KV cache",
    }
}

/// Which engine wrote `text`: the one whose markers occur most.
fn detect(text: &str) -> Result<&'static str> {
    let count = |ms: &[&str]| -> usize {
        text.lines()
            .filter(|l| ms.iter().any(|m| l.contains(m)))
            .count()
    };
    let v = count(&[
        "Available KV cache memory",
        "GPU KV cache size",
        "Model loading took",
        "Loading model weights took",
        "LLM engine (v",
        "vLLM API server version",
        "# GPU blocks:",
        "# cuda blocks:",
        "Maximum concurrency for",
        "non-default args:",
    ]);
    let s = count(&[
        "server_args=ServerArgs(",
        "KV Cache is allocated",
        "Load weight end.",
        "Load weight begin.",
        "max_total_num_tokens=",
        "Capture cuda graph end",
        "Memory pool end",
    ]);
    let t = count(&[
        "[TensorRT-LLM]",
        "[TRT-LLM]",
        "for max tokens in paged KV cache",
    ]);
    if v == 0 && s == 0 && t == 0 {
        let first = text
            .lines()
            .enumerate()
            .find(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| format!("line {}: \"{}\"", i + 1, clip(l.trim())))
            .unwrap_or_else(|| "none (the file is empty)".into());
        return Err(Error::input(
            "log",
            format!("not a vLLM, SGLang or TensorRT-LLM start-up log: no line kvplan knows; the first line it could not place is {first}"),
        ));
    }
    Ok(if v >= s && v >= t {
        "vllm"
    } else if s >= t {
        "sglang"
    } else {
        "trtllm"
    })
}

fn first_unplaced(text: &str, engine: &str) -> String {
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        let mut probe = EngineLog {
            engine: engine.into(),
            ..Default::default()
        };
        let placed = match engine {
            "vllm" => vllm_line(&mut probe, l, i + 1),
            "sglang" => sglang_line(&mut probe, l, i + 1),
            _ => trtllm_line(&mut probe, l, i + 1),
        };
        if !matches!(placed, Ok(true)) {
            return format!("line {}: \"{}\"", i + 1, clip(l));
        }
    }
    "none".into()
}

fn clip(l: &str) -> String {
    if l.chars().count() > 160 {
        format!("{}…", l.chars().take(160).collect::<String>())
    } else {
        l.to_string()
    }
}

/// The number right after `prefix` in `line` (commas allowed), if any.
fn num_after(line: &str, prefix: &str) -> Option<f64> {
    let i = line.find(prefix)? + prefix.len();
    let rest = line[i..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(rest.len());
    let t = rest[..end].trim_end_matches(['.', ',']).replace(',', "");
    t.parse().ok()
}

/// A GiB figure after `prefix`, honouring a following unit (GiB, GB = GiB
/// as vLLM/SGLang print it, MiB, MB).
fn gib_after(line: &str, prefix: &str) -> Option<f64> {
    let x = num_after(line, prefix)?;
    let i = line.find(prefix)? + prefix.len();
    let rest = line[i..].trim_start();
    let unit_at = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(rest.len());
    let unit = rest[unit_at..].trim_start();
    Some(if unit.starts_with("MiB") || unit.starts_with("MB") {
        x / 1024.0
    } else {
        x
    })
}

fn bad(line: &str, n: usize, what: &str) -> Error {
    Error::input(
        "log",
        format!(
            "line {n} looks like {what} but kvplan cannot read its number: \"{}\"",
            clip(line)
        ),
    )
}

fn need(v: Option<f64>, line: &str, n: usize, what: &str) -> Result<f64> {
    v.ok_or_else(|| bad(line, n, what))
}

fn set_max(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.map_or(v, |x| x.max(v)));
}

fn set_min(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.map_or(v, |x| x.min(v)));
}

/// `key=value` (and `'key': value`) pairs of a settings dump; values keep
/// their quotes stripped, nested brackets whole.
pub fn settings_of(text: &str) -> Vec<(String, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // A key: identifier chars, preceded by a separator.
        let start_ok = i == 0 || matches!(b[i - 1], b' ' | b',' | b'(' | b'{' | b'\'' | b'"');
        if start_ok && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
            let k0 = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let key = &text[k0..i];
            let mut j = i;
            if j < b.len() && (b[j] == b'\'' || b[j] == b'"') {
                j += 1; // closing quote of a dict key
            }
            let sep = if j < b.len() && b[j] == b'=' {
                Some(j + 1)
            } else if j + 1 < b.len() && b[j] == b':' && b[j + 1] == b' ' {
                Some(j + 2)
            } else {
                None
            };
            if let Some(v0) = sep {
                let (v, end) = read_value(text, v0);
                out.push((key.to_string(), v));
                i = end;
                continue;
            }
            continue;
        }
        i += 1;
    }
    out
}

fn read_value(text: &str, mut i: usize) -> (String, usize) {
    let b = text.as_bytes();
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i < b.len() && (b[i] == b'\'' || b[i] == b'"') {
        let q = b[i];
        let s = i + 1;
        let mut j = s;
        while j < b.len() && b[j] != q {
            j += 1;
        }
        return (text[s..j.min(b.len())].to_string(), (j + 1).min(b.len()));
    }
    let s = i;
    let mut depth = 0i32;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => break,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    (text[s..i].trim().to_string(), i)
}

fn absorb_settings(log: &mut EngineLog, dump: &str) {
    for (k, v) in settings_of(dump) {
        log.settings.entry(k).or_insert(v);
    }
}

fn vllm_line(log: &mut EngineLog, l: &str, n: usize) -> Result<bool> {
    let f = &mut log.figures;
    if let Some(i) = l.find("LLM engine (v") {
        let rest = &l[i + "LLM engine (v".len()..];
        log.version
            .get_or_insert_with(|| rest.split(')').next().unwrap_or("").to_string());
        if let Some(c) = l.find("with config:") {
            absorb_settings(log, &l[c + "with config:".len()..]);
        }
        return Ok(true);
    }
    if let Some(i) = l.find("vLLM API server version ") {
        let v = l[i + "vLLM API server version ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("");
        log.version.get_or_insert_with(|| v.to_string());
        return Ok(true);
    }
    if let Some(i) = l.find("non-default args:") {
        absorb_settings(log, &l[i + "non-default args:".len()..]);
        return Ok(true);
    }
    // vllm/v1/sample/ops/topk_topp_sampler.py says which top-k/top-p path
    // the sampler (and its start-up warm-up) takes.
    if l.contains("Using FlashInfer for top-p & top-k sampling") {
        log.settings.insert("sampler".into(), "flashinfer".into());
        return Ok(true);
    }
    if l.contains("PyTorch-native implementation of top-p & top-k sampling") {
        log.settings.insert("sampler".into(), "pytorch".into());
        return Ok(true);
    }
    for p in ["Model loading took ", "Loading model weights took "] {
        if l.contains(p) {
            let x = need(gib_after(l, p), l, n, "the weights line")?;
            set_max(&mut f.weights_gib, x);
            log.lines.insert("weights_gib".into(), n);
            return Ok(true);
        }
    }
    if l.contains("Available KV cache memory:") {
        let x = need(
            gib_after(l, "Available KV cache memory:"),
            l,
            n,
            "the KV pool line",
        )?;
        set_min(&mut f.available_kv_gib, x);
        log.lines.insert("available_kv_gib".into(), n);
        return Ok(true);
    }
    if l.contains("GPU KV cache size:") {
        let x = need(
            num_after(l, "GPU KV cache size:"),
            l,
            n,
            "the KV tokens line",
        )?;
        let t = x as u64;
        f.kv_cache_tokens = Some(f.kv_cache_tokens.map_or(t, |y| y.min(t)));
        log.lines.insert("kv_cache_tokens".into(), n);
        return Ok(true);
    }
    if l.contains("Maximum concurrency for") {
        let len = need(
            num_after(l, "Maximum concurrency for"),
            l,
            n,
            "the concurrency line",
        )?;
        let x = need(
            num_after(l, "tokens per request:"),
            l,
            n,
            "the concurrency line",
        )?;
        f.max_concurrency_len = Some(len as u64);
        f.max_concurrency = Some(f.max_concurrency.map_or(x, |y: f64| y.min(x)));
        log.lines.insert("max_concurrency".into(), n);
        return Ok(true);
    }
    if l.contains("Graph capturing finished") {
        let x = need(gib_after(l, "took "), l, n, "the CUDA-graph line")?;
        set_max(&mut f.cuda_graph_gib, x);
        log.lines.insert("cuda_graph_gib".into(), n);
        return Ok(true);
    }
    if l.contains("Free memory on device (") {
        // "Free memory on device (78.57/79.18 GiB) on startup. Desired GPU memory utilization
        // is (0.9, 71.26 GiB). Actual usage is 64.38 GiB for weight, 7.38 GiB for peak
        // activation, 0.13 GiB for non-torch memory, and 1.03 GiB for CUDAGraph memory."
        let total = need(num_after(l, "/"), l, n, "the start-up memory line")?;
        f.total_gib = Some(total);
        log.lines.insert("total_gib".into(), n);
        if let Some(u) = num_after(l, "utilization is (") {
            log.settings
                .entry("gpu_memory_utilization".into())
                .or_insert(u.to_string());
        }
        let grab = |what: &str| -> Option<f64> {
            let i = l.find(what)?;
            let head = l[..i].trim_end();
            let head = head.strip_suffix("GiB").unwrap_or(head).trim_end();
            let s = head.rfind(' ').map(|k| k + 1).unwrap_or(0);
            head[s..].parse().ok()
        };
        if let Some(x) = grab("for weight") {
            set_max(&mut f.weights_gib, x);
        }
        if let Some(x) = grab("for peak activation") {
            set_max(&mut f.peak_activation_gib, x);
            log.lines.insert("peak_activation_gib".into(), n);
        }
        if let Some(x) = grab("for non-torch") {
            set_max(&mut f.non_torch_gib, x);
            log.lines.insert("non_torch_gib".into(), n);
        }
        if let Some(x) = grab("for CUDAGraph") {
            set_max(&mut f.cuda_graph_gib, x);
            log.lines.insert("cuda_graph_gib".into(), n);
        }
        return Ok(true);
    }
    // vLLM V0 memory profiling summary.
    if l.contains("total_gpu_memory (") {
        let total = need(
            num_after(l, "total_gpu_memory ("),
            l,
            n,
            "the memory-profiling line",
        )?;
        f.total_gib = Some(total);
        if let Some(u) = num_after(l, "gpu_memory_utilization (") {
            log.settings
                .entry("gpu_memory_utilization".into())
                .or_insert(u.to_string());
        }
        log.lines.insert("total_gib".into(), n);
        return Ok(true);
    }
    if l.contains("model weights take") || l.contains("PyTorch activation peak memory takes") {
        if let Some(x) = gib_after(l, "model weights take") {
            set_max(&mut f.weights_gib, x);
        }
        if let Some(x) = gib_after(l, "non_torch_memory takes") {
            set_max(&mut f.non_torch_gib, x);
        }
        if let Some(x) = gib_after(l, "activation peak memory takes") {
            set_max(&mut f.peak_activation_gib, x);
            log.lines.insert("peak_activation_gib".into(), n);
        }
        if let Some(x) = gib_after(l, "reserved for KV Cache is") {
            set_min(&mut f.available_kv_gib, x);
            log.lines.insert("available_kv_gib".into(), n);
        }
        return Ok(true);
    }
    for p in ["# GPU blocks:", "# cuda blocks:"] {
        if l.contains(p) {
            let x = need(num_after(l, p), l, n, "the KV blocks line")?;
            f.gpu_blocks = Some(x as u64);
            log.lines.insert("gpu_blocks".into(), n);
            return Ok(true);
        }
    }
    Ok(false)
}

fn sglang_line(log: &mut EngineLog, l: &str, n: usize) -> Result<bool> {
    let f = &mut log.figures;
    if let Some(i) = l.find("server_args=ServerArgs(") {
        absorb_settings(log, &l[i + "server_args=ServerArgs(".len()..]);
        return Ok(true);
    }
    if l.contains("Load weight begin.") {
        let x = need(gib_after(l, "avail mem="), l, n, "the weight-load line")?;
        f.free_before_weights_gib = Some(f.free_before_weights_gib.map_or(x, |y| y.min(x)));
        return Ok(true);
    }
    if l.contains("Load weight end.") {
        let x = need(gib_after(l, "mem usage="), l, n, "the weight-load line")?;
        set_max(&mut f.weights_gib, x);
        log.lines.insert("weights_gib".into(), n);
        if let Some(i) = l.find("type=") {
            let t = l[i + 5..].split(',').next().unwrap_or("");
            log.settings.entry("model_class".into()).or_insert(t.into());
        }
        return Ok(true);
    }
    if l.contains("KV Cache is allocated.") {
        let t = need(num_after(l, "#tokens:"), l, n, "the KV allocation line")?;
        let kv = match (gib_after(l, "K size:"), gib_after(l, "V size:")) {
            (Some(k), Some(v)) => Some(k + v),
            _ => gib_after(l, "KV size:"),
        };
        let kv = need(kv, l, n, "the KV allocation line")?;
        set_min(&mut f.available_kv_gib, kv);
        f.kv_cache_tokens = Some(f.kv_cache_tokens.map_or(t as u64, |y| y.min(t as u64)));
        log.lines.insert("available_kv_gib".into(), n);
        log.lines.insert("kv_cache_tokens".into(), n);
        return Ok(true);
    }
    if l.contains("max_total_num_tokens=") {
        let t = need(
            num_after(l, "max_total_num_tokens="),
            l,
            n,
            "the scheduler line",
        )?;
        f.kv_cache_tokens.get_or_insert(t as u64);
        log.lines.entry("kv_cache_tokens".into()).or_insert(n);
        for (k, v) in settings_of(l) {
            log.settings.entry(k).or_insert(v);
        }
        return Ok(true);
    }
    if l.contains("Capture cuda graph end") {
        let x = need(gib_after(l, "mem usage="), l, n, "the CUDA-graph line")?;
        set_max(&mut f.cuda_graph_gib, x);
        log.lines.insert("cuda_graph_gib".into(), n);
        return Ok(true);
    }
    if l.contains("Memory pool end") || l.contains("Capture cuda graph begin") {
        return Ok(true);
    }
    Ok(false)
}

fn trtllm_line(log: &mut EngineLog, l: &str, n: usize) -> Result<bool> {
    let f = &mut log.figures;
    if l.contains("for max tokens in paged KV cache") {
        let x = need(gib_after(l, "Allocated "), l, n, "the KV allocation line")?;
        let t = need(
            num_after(l, "paged KV cache ("),
            l,
            n,
            "the KV allocation line",
        )?;
        set_min(&mut f.available_kv_gib, x);
        f.kv_cache_tokens = Some(f.kv_cache_tokens.map_or(t as u64, |y| y.min(t as u64)));
        log.lines.insert("available_kv_gib".into(), n);
        log.lines.insert("kv_cache_tokens".into(), n);
        return Ok(true);
    }
    if l.contains("when calculating max tokens in paged kv cache") {
        // "total: X GiB, available: Y GiB": CUDA's device total and what is
        // free after weights and activation buffers.
        let x = need(gib_after(l, "total:"), l, n, "the memory-usage line")?;
        f.total_gib = Some(x);
        log.lines.insert("total_gib".into(), n);
        return Ok(true);
    }
    // TensorRT-LLM 1.x (PyTorch backend, `_util.py` KvCacheCreator): the
    // weights inside torch, and CUDA's device total on the estimate line.
    if l.contains("Memory used after loading model weights (inside torch)") {
        let x = need(gib_after(l, "profiling:"), l, n, "the weights line")?;
        f.weights_gib = Some(x);
        log.lines.insert("weights_gib".into(), n);
        return Ok(true);
    }
    if l.contains("device total memory") {
        let x = need(
            gib_after(l, "device total memory"),
            l,
            n,
            "the KV estimate line",
        )?;
        f.total_gib = Some(x);
        log.lines.insert("total_gib".into(), n);
        return Ok(true);
    }
    if l.contains("Number of tokens per block:") {
        let x = need(
            num_after(l, "Number of tokens per block:"),
            l,
            n,
            "the block-size line",
        )?;
        f.block_size = Some(x as u64);
        return Ok(true);
    }
    for tag in ["TensorRT-LLM version:", "TensorRT LLM version:"] {
        if let Some(i) = l.find(tag) {
            let v = l[i + tag.len()..].trim();
            log.version.get_or_insert_with(|| v.to_string());
            return Ok(true);
        }
    }
    if l.contains("max_seq_len=") || l.contains("tp_size=") {
        for (k, v) in settings_of(l) {
            log.settings.entry(k).or_insert(v);
        }
        return Ok(true);
    }
    Ok(l.contains("[TensorRT-LLM]") || l.contains("[TRT-LLM]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_sampler_lines_name_the_top_k_top_p_path() {
        // vllm/v1/sample/ops/topk_topp_sampler.py's start-up lines, as two
        // public 0.10.x logs print them (tests/fixtures/engine-logs).
        let fi = "INFO 09-04 01:29:01 [topk_topp_sampler.py:50] Using FlashInfer for top-p & top-k sampling.\nINFO 09-04 01:29:25 [gpu_worker.py:276] Available KV cache memory: 24.83 GiB";
        let torch = "WARNING 09-24 20:46:11 [topk_topp_sampler.py:69] FlashInfer is not available. Falling back to the PyTorch-native implementation of top-p & top-k sampling. For the best performance, please install FlashInfer.\nINFO 09-24 20:53:40 [gpu_worker.py:298] Available KV cache memory: 10.64 GiB";
        let a = parse(fi).unwrap();
        assert_eq!(
            a.settings.get("sampler").map(String::as_str),
            Some("flashinfer")
        );
        let b = parse(torch).unwrap();
        assert_eq!(
            b.settings.get("sampler").map(String::as_str),
            Some("pytorch")
        );
        assert_eq!(b.figures.available_kv_gib, Some(10.64));
    }

    #[test]
    fn settings_dumps_parse() {
        let s = settings_of(
            "model='deepseek-ai/DeepSeek-V3', speculative_config=None, tensor_parallel_size=8, x={'a': 1, 'b': 2}, kv_cache_dtype=auto)",
        );
        let m: BTreeMap<_, _> = s.into_iter().collect();
        assert_eq!(m["model"], "deepseek-ai/DeepSeek-V3");
        assert_eq!(m["tensor_parallel_size"], "8");
        assert_eq!(m["kv_cache_dtype"], "auto");
        assert_eq!(m["x"], "{'a': 1, 'b': 2}");
        let d: BTreeMap<_, _> = settings_of(
            " {'model': 'Qwen/Qwen3-8B', 'max_model_len': 16000, 'tensor_parallel_size': 2}",
        )
        .into_iter()
        .collect();
        assert_eq!(d["max_model_len"], "16000");
        assert_eq!(d["model"], "Qwen/Qwen3-8B");
    }

    #[test]
    fn numbers_with_commas_and_units() {
        assert_eq!(
            num_after("GPU KV cache size: 1,176,336 tokens", "size:"),
            Some(1_176_336.0)
        );
        assert_eq!(gib_after("took 512.5 MiB", "took "), Some(512.5 / 1024.0));
        assert_eq!(gib_after("mem usage=15.54 GB.", "mem usage="), Some(15.54));
    }

    #[test]
    fn unknown_text_names_its_first_line() {
        let e = parse("\nhello world\nsecond").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("hello world"), "{e}");
        let e = parse("INFO Model loading took 15.0 GiB\nsomething else")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no KV-cache line") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("Available KV cache memory: lots GiB")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("cannot read"), "{e}");
    }
}
