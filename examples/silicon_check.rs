//! kvplan's speed model against measured serving runs.
//!
//! Reads a CSV of measured TTFT/TPOT in the column layout of aiconfigurator's
//! `silicon_sample.csv` (ai-dynamo/aiconfigurator,
//! `aic-core/src/aiconfigurator_core/systems/silicon_sample.csv` @ 095f58a51,
//! Apache-2.0), maps every row it can to a kvplan scenario, and prints per
//! group (model × GPU × engine) how kvplan's prediction compares with the
//! measurement. Rows it cannot map are counted per named reason.
//!
//! ```text
//! cargo run --release --example silicon_check [-- CSV] [--kv fp8|bf16] [--layer-us N] [--rows OUT.csv]
//! ```
//!
//! CSV defaults to `tests/fixtures/silicon/subset.csv`. `--kv` forces one KV
//! dtype for every row (default: fp8 for fp8/fp4/int4 rows, bf16 otherwise —
//! the data does not record it). `--layer-us` is a what-if: every engine's
//! fixed decode cost per layer set to N µs instead of its profile's value.
//! `--rows` writes one line per used row.
//!
//! The mapping (docs/silicon.md explains each decision):
//! * aiconfigurator's layout columns: `tp_size` = attention TP, `attention_dp_size`
//!   = attention data-parallel ranks, GPUs per replica = tp × dp × pp =
//!   moe_tp × moe_ep × pp; `batch_size` = sequences per attention-DP rank.
//!   kvplan: `tp`, `pp`, `dp` as given, `ep = moe_ep` (kvplan's MoE TP is then
//!   tp·dp/ep = moe_tp); `batch` = the whole concurrency.
//! * Two encodings in the data square the GPU count (proved by rows that list
//!   the same measurement both ways) and are unfolded: moe_tp = moe_ep = k with
//!   tp·dp = k² is k GPUs with EP k; and moe_tp = 1, tp = dp = k, moe_ep = k²
//!   is k GPUs with TP k and EP k.
//! * context = isl + osl/2 (the mean context during decode); TPOT prediction =
//!   `performance.decode.seconds`; TTFT is bracketed by one prefill of `isl`
//!   tokens (no queueing) and a wave of all the replica's prompts arriving at
//!   once (mean wait (n+1)/2 prefills).

use kvplan::error::Error;
use kvplan::estimate::estimate;
use kvplan::perf::{self, Efficiency};
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::serving::{simulate, ServingWorkload};
use kvplan::spec::model::ModelSpec;
use kvplan::spec::Catalog;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// Subset checked in for the tests.
pub const DEFAULT_CSV: &str = "tests/fixtures/silicon/subset.csv";
/// Rows of aiconfigurator's file that match an InferenceX result exactly
/// (mean TTFT, mean TPOT, concurrency), with that result's `spec_method`.
pub const INFERENCEX_MATCHES: &str =
    include_str!("../tests/fixtures/silicon/inferencex_matches.csv");

/// Worker counts and layouts InferenceX records for the disaggregated rows
/// of aiconfigurator's file that record none (tests/fixtures/silicon/README.md).
pub const INFERENCEX_LAYOUTS: &str =
    include_str!("../tests/fixtures/silicon/inferencex_layouts.csv");

/// The note of a disaggregated row whose workers come from InferenceX.
pub const LAYOUT_FROM_INFERENCEX: &str =
    "worker counts and layouts from the InferenceX result the row equals (aiconfigurator's file records none; no decode batch cap)";

/// vLLM `benchmark_serving.py` as InferenceX runs it (random lengths in [0.8 L, L]).
pub const BENCH_INFERENCEX: &str =
    "InferenceX-style benchmark_serving (lengths U[0.8 L, L], 10 x concurrency requests)";
/// aiperf with fixed lengths.
pub const BENCH_AIPERF: &str = "aiperf, fixed lengths (20 x concurrency requests assumed)";

/// The assumption note of an aiperf row run with `AicEngineLimits`.
pub const AIC_LIMITS_NOTE: &str =
    "aiperf row: engine limits of aiconfigurator's generator (max_num_tokens = batch + isl + 1500, max_batch_size = batch; TensorRT-LLM without chunked prefill; SGLang max_prefill_tokens = isl + 1500)";

/// Skip reasons, by name (counted in the report).
pub mod skip {
    /// The same measurement appears under several source files.
    pub const DUPLICATE: &str = "duplicate of another row (same run listed under several sources)";
    /// Model without a built-in kvplan spec.
    pub const MODEL: &str = "model not built into kvplan";
    /// GPU without a kvplan spec.
    pub const GPU: &str = "GPU without a kvplan spec (B300, GB300)";
    /// Concurrency missing from the row.
    pub const NO_CONCURRENCY: &str =
        "concurrency not recorded (silicon_data_source has no silicon_concurrency=N)";
    /// batch_size × attention_dp does not give the concurrency.
    pub const BATCH_MISMATCH: &str =
        "batch_size x attention_dp != concurrency (replica count unclear)";
    /// Parallel layout columns empty.
    pub const NO_LAYOUT: &str = "parallelism columns missing";
    /// moe_tp × moe_ep ≠ tp × dp.
    pub const INCONSISTENT: &str = "moe_tp x moe_ep != tp x attention_dp";
    /// MoE split by TP across attention-DP ranks without EP (no longer a
    /// skip: such rows run as EP over the same GPUs, `MOE_TP_AS_EP`).
    pub const DP_WITHOUT_EP: &str =
        "MoE tensor-parallel across attention-DP ranks without EP (not expressible in kvplan)";
    /// The assumption note of a row whose MoE is tensor-parallel across its
    /// attention-DP ranks (TensorRT-LLM attention DP with MoE TP, SGLang
    /// `--enable-dp-attention` without `--ep`): run as expert parallelism
    /// over the same GPUs, which reads the same expert bytes and does the
    /// same expert FLOPs per GPU on average (each GPU holds 1/k of every
    /// expert, or every k-th expert whole), with an all-to-all where the
    /// engine all-gathers and reduce-scatters.
    pub const MOE_TP_AS_EP: &str =
        "MoE tensor-parallel across attention-DP ranks run as EP over the same GPUs (same expert bytes and FLOPs per GPU; all-to-all instead of all-gather)";
    /// MoE TP differs from attention TP with EP 1.
    pub const MOE_TP: &str = "MoE TP differs from attention TP without EP (not expressible)";
    /// Attention TP that does not divide the model's attention heads: no
    /// engine runs such a layout (vLLM's `ModelConfig.verify_with_parallel_config`
    /// raises "Total number of attention heads (…) must be divisible by tensor
    /// parallel size"; SGLang and TensorRT-LLM split heads evenly too), so the
    /// row's `tp_size` most likely records the deployment's GPU total.
    pub const HEADS_TP: &str =
        "attention heads do not divide over the row's tp (no engine runs that; tp likely records the GPU total)";
    /// More than one node's GPUs, not whole nodes.
    pub const NODES: &str = "GPU count is not a whole number of 8-GPU nodes";
    /// Disaggregated row without the decode worker's batch.
    pub const DISAGG_UNKNOWN: &str =
        "disaggregated row without decode_num_workers or decode_batch_size (how many decode workers, and sequences each, served the load is not recorded)";
    /// Unknown mode.
    pub const MODE: &str = "mode neither agg nor disagg";
}

/// One row of the CSV, parsed.
#[derive(Debug, Clone)]
pub struct Record {
    /// Row id.
    pub id: String,
    /// Provenance text (holds `silicon_concurrency=N`).
    pub source: String,
    /// trtllm / vllm / sglang.
    pub backend: String,
    /// Hugging Face repo.
    pub model_path: String,
    /// h100_sxm, b200_sxm, gb200, …
    pub system: String,
    /// fp8 / fp4 / bf16 / int4 / empty.
    pub precision: String,
    /// agg / disagg.
    pub mode: String,
    /// Input tokens.
    pub isl: u64,
    /// Output tokens.
    pub osl: u64,
    /// GEMM quantization.
    pub gemm_quant: String,
    /// Sequences per attention-DP rank (agg).
    pub batch_size: Option<u64>,
    /// Agg layout.
    pub layout: RawLayout,
    /// Disagg prefill worker: (batch, workers, layout).
    pub prefill: (Option<u64>, Option<u64>, RawLayout),
    /// Disagg decode worker: (batch per DP rank, workers, layout).
    pub decode: (Option<u64>, Option<u64>, RawLayout),
    /// Measured time to first token, ms.
    pub ttft_ms: f64,
    /// Measured time per output token, ms.
    pub tpot_ms: f64,
    /// The row's TTFT/TPOT are medians (the source gives no mean).
    pub median_only: bool,
    /// How the benchmark drew its lengths: each of isl and osl uniform in
    /// [ratio × L, L] (vLLM's `benchmark_serving.py --random-range-ratio`);
    /// 1.0 = fixed lengths.
    pub range_ratio: f64,
    /// Requests the benchmark sent (None: not recorded).
    pub num_requests: Option<u64>,
    /// Poisson arrival rate, requests/s (None: closed loop at the concurrency).
    pub request_rate: Option<f64>,
    /// Speculative decoding (MTP) on: Some(true) where the source says so.
    pub mtp: Option<bool>,
    /// KV dtype where the source records it.
    pub kv_dtype: Option<String>,
    /// Which benchmark produced the row (for notes).
    pub bench: &'static str,
    /// Disaggregated worker counts and layouts taken from the InferenceX
    /// result the row equals (`apply_inferencex_layouts`), not from the row.
    pub layout_from_inferencex: bool,
}

/// Layout columns as written (empty → None).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawLayout {
    /// tp_size.
    pub tp: Option<u64>,
    /// pp_size.
    pub pp: Option<u64>,
    /// attention_dp_size.
    pub dp: Option<u64>,
    /// moe_tp_size.
    pub moe_tp: Option<u64>,
    /// moe_ep_size.
    pub moe_ep: Option<u64>,
}

/// A layout kvplan can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Attention tensor parallel.
    pub tp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Attention data-parallel ranks.
    pub dp: u64,
    /// Expert parallel.
    pub ep: u64,
}

impl Record {
    /// `silicon_concurrency=N` from the provenance column.
    pub fn concurrency(&self) -> Option<u64> {
        self.source
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("silicon_concurrency="))
            .find_map(|v| v.trim().parse().ok())
    }
}

/// Split one CSV line (double quotes may wrap a field; `""` is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .map(|v| v as u64)
    })
}

/// Parse the CSV text.
pub fn parse_csv(text: &str) -> Result<Vec<Record>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_csv(lines.next().ok_or("empty CSV")?);
    let col = |name: &str| -> Result<usize, String> {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(format!("CSV has no column '{name}'"))
    };
    let idx: BTreeMap<&str, usize> = [
        "id",
        "silicon_data_source",
        "backend",
        "model_path",
        "system",
        "precision",
        "mode",
        "isl",
        "osl",
        "gemm_quant_mode",
        "batch_size",
        "tp_size",
        "pp_size",
        "attention_dp_size",
        "moe_tp_size",
        "moe_ep_size",
        "prefill_batch_size",
        "prefill_num_workers",
        "prefill_tp_size",
        "prefill_pp_size",
        "prefill_attention_dp_size",
        "prefill_moe_tp_size",
        "prefill_moe_ep_size",
        "decode_batch_size",
        "decode_num_workers",
        "decode_tp_size",
        "decode_pp_size",
        "decode_attention_dp_size",
        "decode_moe_tp_size",
        "decode_moe_ep_size",
        "silicon_ttft_ms",
        "silicon_tpot_ms",
    ]
    .into_iter()
    .map(|n| col(n).map(|i| (n, i)))
    .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let f = split_csv(line);
        if f.len() != header.len() {
            return Err(format!(
                "line {}: {} fields, header has {}",
                n + 2,
                f.len(),
                header.len()
            ));
        }
        let s = |k: &str| f[idx[k]].trim().to_string();
        let u = |k: &str| num(&f[idx[k]]);
        let lay = |p: &str| RawLayout {
            tp: u(&format!("{p}tp_size")),
            pp: u(&format!("{p}pp_size")),
            dp: u(&format!("{p}attention_dp_size")),
            moe_tp: u(&format!("{p}moe_tp_size")),
            moe_ep: u(&format!("{p}moe_ep_size")),
        };
        let ms = |k: &str| -> Result<f64, String> {
            s(k).parse::<f64>()
                .map_err(|_| format!("line {}: {k} '{}' is not a number", n + 2, s(k)))
        };
        out.push(Record {
            id: s("id"),
            source: s("silicon_data_source"),
            backend: s("backend"),
            model_path: s("model_path"),
            system: s("system"),
            precision: s("precision"),
            mode: s("mode"),
            isl: u("isl").ok_or(format!("line {}: isl missing", n + 2))?,
            osl: u("osl").ok_or(format!("line {}: osl missing", n + 2))?,
            gemm_quant: s("gemm_quant_mode"),
            batch_size: u("batch_size"),
            layout: lay(""),
            prefill: (
                u("prefill_batch_size"),
                u("prefill_num_workers"),
                lay("prefill_"),
            ),
            decode: (
                u("decode_batch_size"),
                u("decode_num_workers"),
                lay("decode_"),
            ),
            ttft_ms: ms("silicon_ttft_ms")?,
            tpot_ms: ms("silicon_tpot_ms")?,
            median_only: false,
            layout_from_inferencex: false,
            range_ratio: 1.0,
            num_requests: None,
            request_rate: None,
            mtp: None,
            kv_dtype: None,
            bench: "",
        });
        let r = out.last_mut().expect("just pushed");
        // The InferenceX-style sources (dated dumps): vLLM's benchmark_serving.py
        // with --random-range-ratio 0.8 and 10 × concurrency prompts
        // (SemiAnalysisAI/InferenceX benchmarks/benchmark_lib.sh and the
        // single-node scripts); 393 of their rows match InferenceX results
        // exactly (tests/fixtures/silicon/inferencex_matches.csv). The other
        // sources (aiconfigurator's own gap analyses) run aiperf with fixed
        // lengths; aiconfigurator's bench template sends 20 × concurrency.
        let c = r.concurrency();
        if r.source.starts_with("db-dump/") || r.source.starts_with("source_file=2026-") {
            r.range_ratio = 0.8;
            r.num_requests = c.map(|c| 10 * c);
            r.bench = BENCH_INFERENCEX;
        } else {
            r.num_requests = c.map(|c| 20 * c);
            r.bench = BENCH_AIPERF;
        }
    }
    apply_inferencex_matches(&mut out);
    apply_inferencex_layouts(&mut out);
    Ok(out)
}

/// Mark the rows that match an InferenceX result with its speculative-decoding
/// method (`mtp` or `none`); rows not in the list stay unknown.
pub fn apply_inferencex_matches(records: &mut [Record]) {
    let mut spec: BTreeMap<&str, bool> = BTreeMap::new();
    for line in INFERENCEX_MATCHES.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() >= 3 {
            spec.insert(f[0], f[2] == "mtp");
        }
    }
    for r in records.iter_mut() {
        if let Some(m) = spec.get(r.id.as_str()) {
            r.mtp = Some(*m);
        }
    }
}

/// Fill the worker counts and layouts of the disaggregated rows that record
/// none from the InferenceX result each equals (`INFERENCEX_LAYOUTS`).
/// InferenceX gives per pool the workers, GPUs per worker, EP and whether
/// attention is data-parallel: with DP attention a worker of N GPUs is
/// attention DP N (tp 1), else attention TP N; MoE TP = N / EP.
pub fn apply_inferencex_layouts(records: &mut [Record]) {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in INFERENCEX_LAYOUTS.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() == 9 {
            by_id.insert(f[0], f[1..].to_vec());
        }
    }
    let pool = |f: &[&str]| -> Option<(u64, RawLayout)> {
        let workers: u64 = f[0].parse().ok()?;
        let gpus: u64 = f[1].parse().ok()?;
        let ep: u64 = f[2].parse::<u64>().ok()?.max(1);
        let dp_attention = f[3] == "true";
        let (tp, dp) = if dp_attention {
            (1, Some(gpus))
        } else {
            (gpus, None)
        };
        Some((
            workers,
            RawLayout {
                tp: Some(tp),
                pp: Some(1),
                dp,
                moe_tp: Some((gpus / ep).max(1)),
                moe_ep: Some(ep),
            },
        ))
    };
    for r in records.iter_mut() {
        if r.mode != "disagg" || r.decode.1.is_some() {
            continue;
        }
        let Some(f) = by_id.get(r.id.as_str()) else {
            continue;
        };
        if let (Some((pw, pl)), Some((dw, dl))) = (pool(&f[0..4]), pool(&f[4..8])) {
            r.prefill = (None, Some(pw), pl);
            r.decode = (None, Some(dw), dl);
            r.layout_from_inferencex = true;
        }
    }
}

/// Whether `text` is in the layout of the AMD serving-runs file (one row per
/// benchmark with mean/median/p99 columns) rather than aiconfigurator's.
pub fn is_amd_layout(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|h| h.contains("mean_ttft_ms") && h.contains("gpu_count"))
}

/// Parse the AMD MI300X/MI325X serving-runs CSV into the same records. Its
/// rows carry the benchmark's mean TTFT and mean TPOT (compared like with
/// like: aiconfigurator's rows are means too), the layout as tp/pp/ep/dp and
/// the concurrency or a Poisson request rate. Skip causes that only this file
/// has (no input length, an image for another vendor's GPU, shared-prefix
/// datasets) are recorded in `source` and turned into named skips.
pub fn parse_amd_csv(text: &str) -> Result<Vec<Record>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_csv(lines.next().ok_or("empty CSV")?);
    let col = |name: &str| -> Result<usize, String> {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(format!("CSV has no column '{name}'"))
    };
    let names = [
        "source",
        "model",
        "gpu",
        "engine",
        "engine_version",
        "tp",
        "pp",
        "ep",
        "dp",
        "weights",
        "kv_dtype",
        "isl",
        "osl",
        "concurrency",
        "request_rate",
        "num_prompts",
        "mean_ttft_ms",
        "mean_tpot_ms",
        "median_ttft_ms",
        "median_tpot_ms",
        "notes",
    ];
    let idx: BTreeMap<&str, usize> = names
        .into_iter()
        .map(|n| col(n).map(|i| (n, i)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let f = split_csv(line);
        if f.len() != header.len() {
            return Err(format!(
                "line {}: {} fields, header has {}",
                n + 2,
                f.len(),
                header.len()
            ));
        }
        let s = |k: &str| f[idx[k]].trim().to_string();
        let fl = |k: &str| {
            s(k).parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let u = |k: &str| fl(k).map(|v| v.round() as u64);
        let notes = s("notes");
        let version = s("engine_version");
        let mut flags = Vec::new();
        if u("isl").is_none() {
            flags.push(AMD_NO_ISL);
        }
        // 18 InferenceX DeepSeek-R1 rows on MI300X/MI325X carry NVIDIA's
        // TensorRT-LLM image, which their notes say was "inferred from same
        // run_url in another row": it cannot run on AMD GPUs. Every version of
        // InferenceX's `.github/configs/amd-master.yaml` committed 2025-12-03 to
        // 2025-12-16 (e.g. fdedafb4, 20ca1bc0, 8c9dfe4a) runs `dsr1-fp8-mi300x-sglang` / `dsr1-fp8-mi325x-sglang`
        // only with SGLang ROCm images (v0.5.2 to v0.5.6.post2), as the rows'
        // engine column says: they are scored as SGLang, with that assumption.
        let mut assume = Vec::new();
        if version.contains("tensorrt-llm") {
            assume.push(AMD_IMAGE_IS_SGLANG);
        }
        if notes.contains("shared-prefix") {
            flags.push(AMD_SHARED_PREFIX);
        }
        // Means where the source gives them; some InferenceX rows carry only
        // medians: those are compared with the simulator's p50.
        let (ttft, tpot, median_only) = match (fl("mean_ttft_ms"), fl("mean_tpot_ms")) {
            (Some(a), Some(b)) => (a, b, false),
            _ => match (fl("median_ttft_ms"), fl("median_tpot_ms")) {
                (Some(a), Some(b)) => (a, b, true),
                _ => return Err(format!("line {}: neither mean nor median TTFT/TPOT", n + 2)),
            },
        };
        let rate = fl("request_rate");
        let concurrency = u("concurrency");
        let mut source = String::new();
        if let Some(c) = concurrency {
            source.push_str(&format!("silicon_concurrency={c}; "));
        }
        for fl in &flags {
            source.push_str(&format!("skip={fl}; "));
        }
        for a in &assume {
            source.push_str(&format!("assume={a}; "));
        }
        source.push_str(&s("source"));
        let dp = u("dp");
        let engine = s("engine");
        let backend = engine.split_whitespace().next().unwrap_or("").to_string();
        let weights = s("weights");
        let precision = match weights.split_whitespace().next().unwrap_or("") {
            "fp16" | "bf16" => "bf16",
            w => w,
        }
        .to_string();
        let ratio = if notes.contains("RANDOM_RANGE_RATIO=0.8") {
            0.8
        } else {
            1.0
        };
        out.push(Record {
            id: format!("amd_{}_{}", n + 2, s("gpu").to_lowercase()),
            source,
            backend,
            model_path: s("model"),
            system: s("gpu"),
            precision: precision.clone(),
            mode: "agg".into(),
            isl: u("isl").unwrap_or(0),
            osl: u("osl").unwrap_or(0),
            gemm_quant: precision,
            batch_size: concurrency.map(|c| c / dp.unwrap_or(1).max(1)),
            layout: RawLayout {
                tp: u("tp"),
                pp: u("pp"),
                dp,
                moe_tp: None,
                moe_ep: u("ep"),
            },
            prefill: Default::default(),
            decode: Default::default(),
            ttft_ms: ttft,
            tpot_ms: tpot,
            median_only,
            layout_from_inferencex: false,
            range_ratio: ratio,
            num_requests: u("num_prompts"),
            request_rate: rate,
            mtp: Some(notes.contains("spec_decoding=mtp")),
            kv_dtype: Some(s("kv_dtype")).filter(|k| !k.is_empty()),
            bench: if s("source").starts_with("InferenceX") {
                BENCH_INFERENCEX
            } else {
                "benchmark_serving / MLPerf (AMD set)"
            },
        });
    }
    Ok(out)
}

/// AMD row without an input length (MLPerf logs do not give it).
pub const AMD_NO_ISL: &str = "input length not recorded (MLPerf row)";
/// AMD row whose recorded engine image is NVIDIA's TensorRT-LLM (inferred by
/// the source from another row of the same run); scored as the engine column's SGLang.
pub const AMD_IMAGE_IS_SGLANG: &str =
    "recorded image TensorRT-LLM (inferred by the source from another row): scored as SGLang ROCm, as InferenceX's AMD config runs it";
/// AMD row on a shared-prefix dataset.
pub const AMD_SHARED_PREFIX: &str = "shared-prefix dataset (prefix-cache hits not modelled here)";

/// kvplan's built-in model for a checkpoint, and a note where it is an approximation.
pub fn builtin_model(model_path: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match model_path {
        "deepseek-ai/DeepSeek-R1" | "nvidia/DeepSeek-R1-NVFP4" | "deepseek-ai/DeepSeek-R1-0528" => {
            ("deepseek-r1", None)
        }
        "meta-llama/Llama-3.1-405B-FP8" => ("llama-3.1-405b", None),
        "meta-llama/Llama-2-70b-chat-hf" => ("llama-2-70b", None),
        "deepseek-ai/DeepSeek-V3" => ("deepseek-v3", None),
        "nvidia/DeepSeek-V3.1-NVFP4" => ("deepseek-v3.1", None),
        "meta-llama/Llama-3.1-70B" => ("llama-3.1-70b", None),
        "meta-llama/Llama-3.1-8B-Instruct" => ("llama-3.1-8b", None),
        "Qwen/Qwen3-32B" | "nvidia/Qwen3-32B-NVFP4" => ("qwen3-32b", None),
        "Qwen/Qwen3-235B-A22B-FP8" => ("qwen3-235b-a22b-fp8", None),
        "openai/gpt-oss-120b" => ("gpt-oss-120b", None),
        // Kimi-K2.5's own spec (its int4 group-32 checkpoint; the vision tower is not counted).
        "moonshotai/Kimi-K2.5" => ("kimi-k2.5", None),
        _ => return None,
    })
}

/// kvplan GPU for an aiconfigurator system name (or the AMD file's GPU
/// name). The caller checks that the catalogue has it.
pub fn builtin_gpu(system: &str) -> Option<&'static str> {
    match system {
        "h100_sxm" => Some("H100"),
        "b200_sxm" => Some("B200"),
        "gb200" => Some("GB200"),
        "b300_sxm" => Some("B300"),
        "gb300" => Some("GB300"),
        "MI300X" => Some("MI300X"),
        "MI325X" => Some("MI325X"),
        _ => None,
    }
}

/// The catalogue's model for a checkpoint: the explicit map first, then any
/// built-in spec whose Hugging Face repo is the checkpoint.
pub fn resolve_model<'a>(
    cat: &'a Catalog,
    model_path: &str,
) -> Option<(&'a ModelSpec, Option<&'static str>)> {
    if let Some((name, note)) = builtin_model(model_path) {
        return cat.model(name).ok().map(|m| (m, note));
    }
    cat.model(model_path).ok().map(|m| (m, None))
}

/// kvplan's spec of NVIDIA's published NVFP4 checkpoint of `model` (ModelOpt
/// layout, from its hf_quant_config.json) for an `nvfp4` row, where one exists:
/// `<model>-nvfp4`, and DeepSeek-V3's rows (nvidia/DeepSeek-V3-0324-NVFP4) on
/// `deepseek-v3.1-nvfp4`, whose hf_quant_config keeps the same modules 16-bit
/// on the same shapes.
pub fn nvfp4_checkpoint(cat: &Catalog, model: &str, weights: &str) -> Option<String> {
    if weights != "nvfp4" || model.ends_with("-nvfp4") {
        return None;
    }
    let name = match model {
        "deepseek-v3" | "deepseek-v3.1" => "deepseek-v3.1-nvfp4".to_string(),
        m => format!("{m}-nvfp4"),
    };
    cat.model(&name).ok().map(|m| m.name.clone())
}

/// Weight format and KV dtype for a row. The checkpoint decides between
/// fp8 and fp8-block and between nvfp4 and mxfp4 (gpt-oss ships MXFP4 and is
/// served from it whatever the row's label); empty precision means the
/// checkpoint's bf16. KV: the data does not record it — fp8 for quantized
/// rows, bf16 otherwise, unless `kv_override`.
pub fn formats(model: &ModelSpec, r: &Record, kv_override: Option<&str>) -> (String, String) {
    use kvplan::spec::dtype::WeightFormat as W;
    let ckpt = model.checkpoint_format;
    let p = if r.precision.is_empty() {
        r.gemm_quant.as_str()
    } else {
        r.precision.as_str()
    };
    let weights = if ckpt == Some(W::Mxfp4) {
        "mxfp4"
    } else {
        match p {
            "fp8" | "fp8_block" if ckpt == Some(W::Fp8Block) => "fp8-block",
            "fp8" | "fp8_block" => "fp8",
            "fp4" | "nvfp4" => "nvfp4",
            // Kimi's native int4: compressed-tensors group 32 on the routed experts only.
            "int4" | "int4_wo" if ckpt == Some(W::Int4G32) => "int4-g32",
            "int4" | "int4_wo" => "int4",
            _ => "bf16",
        }
    };
    let kv = kv_override.unwrap_or(match p {
        "fp8" | "fp8_block" | "fp4" | "nvfp4" | "int4" | "int4_wo" => "fp8",
        _ => "bf16",
    });
    (weights.to_string(), kv.to_string())
}

/// Undo the two encodings that square the GPU count (see the module doc).
/// Applied only to rows that fill `attention_dp_size` (the older sources
/// leave it empty and encode moe_tp × moe_ep = tp correctly).
pub fn unfold(l: RawLayout) -> RawLayout {
    let (Some(tp), Some(dp), Some(mt), Some(me)) = (l.tp, l.dp, l.moe_tp, l.moe_ep) else {
        return l;
    };
    let dp = dp.max(1);
    if mt == me && mt >= 2 && tp * dp == mt * me && (tp == 1 || dp == 1) {
        let k = mt;
        let (tp, dp) = if dp == 1 { (k, 1) } else { (1, k) };
        return RawLayout {
            tp: Some(tp),
            dp: Some(dp),
            moe_tp: Some(1),
            moe_ep: Some(k),
            ..l
        };
    }
    if mt == 1 && tp == dp && tp >= 2 && me == tp * dp {
        return RawLayout {
            tp: Some(tp),
            dp: Some(1),
            moe_tp: Some(1),
            moe_ep: Some(tp),
            ..l
        };
    }
    l
}

/// The kvplan layout of aiconfigurator layout columns.
pub fn to_layout(l: RawLayout, moe: bool) -> Result<Layout, &'static str> {
    let tp = l.tp.filter(|v| *v > 0).ok_or(skip::NO_LAYOUT)?;
    let pp = l.pp.unwrap_or(1).max(1);
    let dp = l.dp.unwrap_or(1).max(1);
    if !moe {
        return Ok(Layout { tp, pp, dp, ep: 1 });
    }
    let me = l.moe_ep.unwrap_or(1).max(1);
    // 0 / empty moe_tp: whatever the other columns leave.
    let mt = l.moe_tp.filter(|v| *v > 0).unwrap_or(tp * dp / me);
    if mt * me != tp * dp {
        return Err(skip::INCONSISTENT);
    }
    if me == 1 {
        if dp > 1 {
            // MoE TP across the attention-DP ranks (`skip::MOE_TP_AS_EP`).
            return Ok(Layout { tp, pp, dp, ep: mt });
        }
        if mt != tp {
            return Err(skip::MOE_TP);
        }
    }
    Ok(Layout { tp, pp, dp, ep: me })
}

/// Whether `l` splits the experts by TP across attention-DP ranks without
/// EP (mapped by `to_layout` as EP over the same GPUs, `skip::MOE_TP_AS_EP`).
pub fn moe_tp_across_dp(l: RawLayout, moe: bool) -> bool {
    moe && l.moe_ep.unwrap_or(1).max(1) == 1 && l.dp.unwrap_or(1) > 1
}

/// `--gpus` text for `n` GPUs: one NVL72 domain for GB200, 8-GPU nodes otherwise.
pub fn gpus_text(gpu: &str, n: u64) -> Result<String, &'static str> {
    if gpu == "GB200" || n <= 8 {
        Ok(format!("{n}x{gpu}"))
    } else if n % 8 == 0 {
        Ok(format!("{}x8x{gpu}", n / 8))
    } else {
        Err(skip::NODES)
    }
}

/// Aggregated or disaggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Prefill and decode on the same GPUs.
    Agg,
    /// Separate prefill and decode workers.
    Disagg,
}

/// One row mapped and predicted.
#[derive(Debug, Clone)]
pub struct RowResult {
    /// Row id.
    pub id: String,
    /// agg / disagg.
    pub mode: Mode,
    /// kvplan model name.
    pub model: String,
    /// kvplan GPU name.
    pub gpu: String,
    /// Engine.
    pub engine: String,
    /// Weights and KV dtype used.
    pub formats: (String, String),
    /// Decode layout (agg: the only one).
    pub layout: Layout,
    /// Input / output tokens.
    pub isl: u64,
    /// Output tokens.
    pub osl: u64,
    /// Concurrency of the (decode) worker.
    pub concurrency: u64,
    /// Sequences per attention replica.
    pub batch_local: u64,
    /// Measured TPOT, s.
    pub tpot_measured: f64,
    /// Measured TTFT, s.
    pub ttft_measured: f64,
    /// kvplan decode step, s.
    pub tpot_predicted: f64,
    /// Decode step + the replica's prefills spread over the output
    /// (c_local × prefill / osl): what an aggregated engine interleaves.
    pub tpot_with_prefill: f64,
    /// One prefill of isl tokens, s.
    pub ttft_single: f64,
    /// All the replica's prompts at once: prefill × (n+1)/2, s.
    pub ttft_wave: f64,
    /// What bounds the decode step.
    pub bound: &'static str,
    /// Shares of the decode step: (memory-or-compute, communication, overhead).
    pub step_shares: (f64, f64, f64),
    /// kvplan's decode step, broken down.
    pub step: perf::DecodeStep,
    /// Decoder layers, and how many of them are MoE layers.
    pub layers: (u64, u64),
    /// Whether kvplan's memory plan fits the concurrency.
    pub fits: bool,
    /// Approximation notes.
    pub notes: Vec<String>,
    /// Speculative decoding (MTP) on in the measurement and the prediction.
    pub mtp: bool,
    /// Mean input tokens of the benchmark's draw (isl × (1 + ratio) / 2).
    pub isl_mean: u64,
    /// Mean output tokens of the benchmark's draw.
    pub osl_mean: u64,
    /// The serving simulator's (TTFT, TPOT), seconds, when it ran: means, or
    /// p50s where the measurement is a median.
    pub serving: Option<(f64, f64)>,
    /// The measurement is a median (see `Record::median_only`).
    pub median_only: bool,
    /// Disaggregated workers from InferenceX (`Record::layout_from_inferencex`).
    pub layout_from_inferencex: bool,
}

/// Which of kvplan's predictions a score is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Predictor {
    /// The per-step model: TPOT = one decode step at the concurrency (÷ MTP
    /// tokens per step), TTFT = one lone prefill of the input.
    Step,
    /// The serving simulator's mean TTFT and mean TPOT.
    Serving,
}

impl Predictor {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Predictor::Step => "per-step model (decode step; one prefill)",
            Predictor::Serving => "serving simulator (mean TTFT, mean TPOT)",
        }
    }
}

impl RowResult {
    /// Predicted (TTFT, TPOT) in seconds by `p`, if it ran on this row.
    pub fn predicted(&self, p: Predictor) -> Option<(f64, f64)> {
        match p {
            Predictor::Step => Some((self.ttft_single, self.tpot_predicted)),
            Predictor::Serving => self.serving,
        }
    }
}

/// Mean absolute percentage errors of one set of rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mape {
    /// Rows scored.
    pub n: usize,
    /// mean |pred − meas| / meas of TPOT, as a fraction.
    pub tpot: f64,
    /// Same for TTFT.
    pub ttft: f64,
    /// Median predicted / measured TPOT (below 1: kvplan optimistic).
    pub tpot_ratio: f64,
    /// Median predicted / measured TTFT.
    pub ttft_ratio: f64,
}

/// MAPE of `rows` under predictor `p` (rows it did not run on are left out).
pub fn mape<'a>(rows: impl IntoIterator<Item = &'a RowResult>, p: Predictor) -> Option<Mape> {
    let (mut et, mut ef, mut rt, mut rf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        if let Some((ttft, tpot)) = r.predicted(p) {
            et.push((tpot - r.tpot_measured).abs() / r.tpot_measured);
            ef.push((ttft - r.ttft_measured).abs() / r.ttft_measured);
            rt.push(tpot / r.tpot_measured);
            rf.push(ttft / r.ttft_measured);
        }
    }
    if et.is_empty() {
        return None;
    }
    let n = et.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Some(Mape {
        n,
        tpot: mean(&et),
        ttft: mean(&ef),
        tpot_ratio: spread(rt).1,
        ttft_ratio: spread(rf).1,
    })
}

/// The issue's accuracy targets (pooled over the mapped aggregated rows).
pub mod target {
    /// Pooled TPOT MAPE at most.
    pub const TPOT: f64 = 0.12;
    /// Pooled TTFT MAPE at most.
    pub const TTFT: f64 = 0.25;
    /// Groups with at least this many rows are held to the group limits.
    pub const GROUP_MIN_ROWS: usize = 20;
    /// Group TPOT MAPE at most.
    pub const GROUP_TPOT: f64 = 0.25;
    /// Group TTFT MAPE at most.
    pub const GROUP_TTFT: f64 = 0.40;
    /// Rows scored / distinct aggregated rows, at least.
    pub const COVERAGE: f64 = 0.90;
}

/// Accuracy of one predictor over one mode's rows.
#[derive(Debug, Clone)]
pub struct Scorecard {
    /// Predictor scored.
    pub predictor: Predictor,
    /// Mode scored.
    pub mode: Mode,
    /// (model, GPU, engine) → MAPE.
    pub groups: Vec<((String, String, String), Mape)>,
    /// All scored rows.
    pub pooled: Option<Mape>,
    /// GPU → MAPE.
    pub by_gpu: Vec<(String, Mape)>,
    /// Rows scored, and distinct rows of this mode in the input.
    pub coverage: (usize, usize),
}

/// The per-(model, GPU, engine) MAPE table, with a verdict column when
/// `verdict` says how a group stands against its limits: one definition for
/// the aggregated and the disaggregated scorecards.
fn write_group_table(
    o: &mut String,
    groups: &[((String, String, String), Mape)],
    verdict: Option<fn(&Mape) -> &'static str>,
) {
    let (extra_head, extra_rule) = if verdict.is_some() {
        (" within group limits |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        o,
        "| model | GPU | engine | rows | TPOT MAPE | TTFT MAPE | TPOT ratio | TTFT ratio |{extra_head}"
    );
    let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|---:|{extra_rule}");
    for (k, m) in groups {
        let extra = verdict.map_or(String::new(), |v| format!(" {} |", v(m)));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |{extra}",
            k.0,
            k.1,
            k.2,
            m.n,
            pct(m.tpot),
            pct(m.ttft),
            m.tpot_ratio,
            m.ttft_ratio
        );
    }
}

/// The per-GPU MAPE table, one definition for the aggregated and the
/// disaggregated scorecards.
fn write_gpu_table(o: &mut String, by_gpu: &[(String, Mape)]) {
    let _ = writeln!(
        o,
        "| GPU | rows | TPOT MAPE | TTFT MAPE | TPOT ratio | TTFT ratio |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
    for (g, m) in by_gpu {
        let _ = writeln!(
            o,
            "| {g} | {} | {} | {} | {:.2} | {:.2} |",
            m.n,
            pct(m.tpot),
            pct(m.ttft),
            m.tpot_ratio,
            m.ttft_ratio
        );
    }
}

impl Scorecard {
    /// Groups of ≥ GROUP_MIN_ROWS rows over the group limits.
    pub fn failing_groups(&self) -> Vec<&((String, String, String), Mape)> {
        self.groups
            .iter()
            .filter(|(_, m)| {
                m.n >= target::GROUP_MIN_ROWS
                    && (m.tpot > target::GROUP_TPOT || m.ttft > target::GROUP_TTFT)
            })
            .collect()
    }

    /// Scored share of the distinct rows.
    pub fn coverage_share(&self) -> f64 {
        self.coverage.0 as f64 / self.coverage.1.max(1) as f64
    }
}

/// Score `p` over the rows of `mode` that pass `keep`.
pub fn scorecard(
    ev: &Evaluation,
    p: Predictor,
    mode: Mode,
    keep: &dyn Fn(&RowResult) -> bool,
) -> Scorecard {
    let rows: Vec<&RowResult> = ev
        .results
        .iter()
        .filter(|r| r.mode == mode && keep(r) && r.predicted(p).is_some())
        .collect();
    let mut groups: BTreeMap<(String, String, String), Vec<&RowResult>> = BTreeMap::new();
    let mut gpus: BTreeMap<String, Vec<&RowResult>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.model.clone(), r.gpu.clone(), r.engine.clone()))
            .or_default()
            .push(r);
        gpus.entry(r.gpu.clone()).or_default().push(r);
    }
    Scorecard {
        predictor: p,
        mode,
        groups: groups
            .into_iter()
            .filter_map(|(k, v)| mape(v.iter().copied(), p).map(|m| (k, m)))
            .collect(),
        pooled: mape(rows.iter().copied(), p),
        by_gpu: gpus
            .into_iter()
            .filter_map(|(k, v)| mape(v.iter().copied(), p).map(|m| (k, m)))
            .collect(),
        coverage: (rows.len(), ev.distinct.get(&mode).copied().unwrap_or(0)),
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The scorecard as Markdown: pooled line with pass/fail against the
/// targets, per-GPU lines, and the per-group table.
pub fn scorecard_md(sc: &Scorecard, title: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "### {title}: {}\n", sc.predictor.name());
    let Some(p) = sc.pooled else {
        let _ = writeln!(o, "No rows scored.\n");
        return o;
    };
    let ok = |b: bool| if b { "meets" } else { "misses" };
    let failing = sc.failing_groups();
    let _ = writeln!(
        o,
        "Pooled over {} rows: **TPOT MAPE {}** ({} the {} target), **TTFT MAPE {}** ({} the {} target); \
         median predicted/measured TPOT {:.2}, TTFT {:.2}. Coverage {} of {} distinct rows = {} ({} the {} target). \
         Groups of ≥ {} rows over {} TPOT / {} TTFT: {}.\n",
        p.n,
        pct(p.tpot),
        ok(p.tpot <= target::TPOT),
        pct(target::TPOT),
        pct(p.ttft),
        ok(p.ttft <= target::TTFT),
        pct(target::TTFT),
        p.tpot_ratio,
        p.ttft_ratio,
        sc.coverage.0,
        sc.coverage.1,
        pct(sc.coverage_share()),
        ok(sc.coverage_share() >= target::COVERAGE),
        pct(target::COVERAGE),
        target::GROUP_MIN_ROWS,
        pct(target::GROUP_TPOT),
        pct(target::GROUP_TTFT),
        failing.len()
    );
    write_gpu_table(&mut o, &sc.by_gpu);
    let _ = writeln!(o);
    write_group_table(
        &mut o,
        &sc.groups,
        Some(|m: &Mape| {
            if m.n < target::GROUP_MIN_ROWS {
                "(< 20 rows)"
            } else if m.tpot <= target::GROUP_TPOT && m.ttft <= target::GROUP_TTFT {
                "yes"
            } else {
                "**no**"
            }
        }),
    );
    let _ = writeln!(o);
    o
}

/// Everything one run of the check produces.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Rows read.
    pub rows: usize,
    /// Used rows.
    pub results: Vec<RowResult>,
    /// Skipped rows per reason.
    pub skipped: BTreeMap<String, usize>,
    /// Notes on assumptions, with row counts.
    pub notes: BTreeMap<String, usize>,
    /// Distinct (non-duplicate) input rows per mode: the coverage denominator.
    pub distinct: BTreeMap<Mode, usize>,
}

/// Knobs of one run of the check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One KV dtype for every row (the data does not record it).
    pub kv_override: Option<String>,
    /// What-if: replace every engine's fixed decode cost per layer (seconds).
    pub layer_overhead_s: Option<f64>,
    /// What-if: replace every engine's fixed decode cost per step (seconds).
    pub step_overhead_s: Option<f64>,
    /// Efficiencies (kvplan's defaults unless a what-if).
    pub eff: Efficiency,
    /// Run the serving simulator on every aggregated row too.
    pub serving: bool,
    /// Cap on simulated requests per row (None: the benchmark's own count).
    pub max_sim_requests: Option<u64>,
    /// What-if / fit: the scheduler's FITTED knobs for every engine
    /// (eager cost per layer, prefill cost per sequence, per-request latency), seconds.
    pub sched: SchedKnobs,
    /// What-if: predict the rows the sources mark as MTP runs without
    /// speculative decoding (the before/after of modelling it).
    pub ignore_mtp: bool,
    /// What-if: the MTP draft acceptance for every MTP row (default:
    /// `perf::speculative::DEFAULT_MTP_ACCEPTANCE`).
    pub mtp_acceptance: Option<f64>,
    /// What-if: MTP rows draft as InferenceX's recipes do (`recipe_mtp_drafts`)
    /// instead of one token per MTP module.
    pub mtp_drafts_by_recipe: bool,
    /// What-if: leave TensorRT-LLM's attention-DP balancing off where the
    /// InferenceX recipe turns it on (`inferencex_adp_balance`).
    pub no_adp_balance: bool,
    /// What-if: leave SGLang's `--scheduler-recv-interval` at its default (1)
    /// where the InferenceX recipe passes it.
    pub no_recv_interval: bool,
    /// What-if: run the aiperf rows with the engine profile's own token
    /// budget and sequence cap instead of the limits aiconfigurator's
    /// generator deploys them with (`AicEngineLimits`).
    pub no_aic_limits: bool,
    /// What-if: run the InferenceX rows with the engine profiles' defaults
    /// instead of the flags of the launch script that produced them
    /// (`inferencex_recipe`).
    pub no_ix_recipes: bool,
}

/// The engine limits aiconfigurator's config generator writes for an
/// aggregated worker, which its own gap-analysis rows (the aiperf rows) were
/// deployed with: `max_num_tokens = max_batch_size + isl + 1500` for
/// TensorRT-LLM, vLLM (`--max-num-batched-tokens`) and SGLang
/// (`--max-prefill-tokens isl + 1500`), `max_batch_size` (vLLM
/// `--max-num-seqs`) = the row's batch per replica, and TensorRT-LLM without
/// chunked prefill (`enable_chunked_prefill` defaults to false in its engine
/// template). Sources, ai-dynamo/aiconfigurator: `generator/backends/trtllm.py`
/// at a7c507ed ("max_num_tokens heuristic", 2025-09), and
/// `generator/rule_plugin/{trtllm,vllm,sglang}.rule` at 95ddf241 (2025-12-04,
/// vLLM/SGLang generator support; at 095f58a5 the benchmark-mode rules
/// `rule_plugin/benchmark/*.rule` keep + 1500, TensorRT-LLM's default rule
/// has + 500); engine template
/// `templates/trtllm/extra_engine_args.1.0.0rc3.yaml.j2` at a7c507ed. With
/// a budget of about two 1k prompts per iteration, a closed loop's burst of
/// C prompts is admitted a few per iteration, so the clients' requests
/// finish at different iterations and stay spread apart (the steady state
/// aiperf measures) instead of re-arriving together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AicEngineLimits {
    /// `max_num_tokens` / `--max-num-batched-tokens`.
    pub max_num_tokens: u64,
    /// `max_batch_size` / `--max-num-seqs`.
    pub max_batch_size: u64,
    /// SGLang `--max-prefill-tokens` (isl + 1500).
    pub max_prefill_tokens: u64,
}

impl AicEngineLimits {
    /// The limits for a row of `isl` prompt tokens run at `batch` sequences per replica.
    pub fn for_row(isl: u64, batch: u64) -> Self {
        AicEngineLimits {
            max_num_tokens: batch + isl + 1500,
            max_batch_size: batch.max(1),
            max_prefill_tokens: isl + 1500,
        }
    }
}

/// The engine flags of InferenceX's single-node launch scripts
/// (SemiAnalysisAI/InferenceX `benchmarks/…`, each row with its script and
/// commit; tests/fixtures/silicon/README.md says how it was read).
pub const INFERENCEX_RECIPES: &str =
    include_str!("../tests/fixtures/silicon/inferencex_recipes.csv");

/// The note of a row run with its launch script's flags.
pub const IX_RECIPE_NOTE: &str = "InferenceX row: the engine flags of the launch script in effect on its measured date (tests/fixtures/silicon/inferencex_recipes.csv; the script's default branch where its flags depend on the run)";

/// One version of one InferenceX launch script, as flag expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// kvplan model, GPU and engine names, and the script's precision token.
    pub key: [String; 4],
    /// `script@commit`.
    pub script: String,
    /// First date this version was on the repository's main branch.
    pub valid_from: String,
    /// The version applies only at this TP (a branch of the script).
    pub tp_only: Option<u64>,
    /// vLLM `--max-num-batched-tokens` / TensorRT-LLM `max_num_tokens`.
    pub max_num_tokens: String,
    /// vLLM `--max-num-seqs` / SGLang `--max-running-requests` / TensorRT-LLM `max_batch_size`.
    pub max_num_seqs: String,
    /// The memory fraction (vLLM, SGLang, TensorRT-LLM's free fraction).
    pub mem_fraction: Option<f64>,
    /// SGLang `--chunked-prefill-size`.
    pub chunked_prefill: String,
    /// SGLang `--max-prefill-tokens`.
    pub max_prefill_tokens: String,
    /// SGLang `--cuda-graph-max-bs` / TensorRT-LLM `cuda_graph_config.max_batch_size`
    /// (vLLM's capture size is left to the profile).
    pub cuda_graph_max_bs: String,
    /// SGLang `--scheduler-recv-interval`.
    pub scheduler_recv_interval: String,
}

/// Parse `INFERENCEX_RECIPES` (header row first).
pub fn inferencex_recipes() -> Vec<Recipe> {
    let mut lines = INFERENCEX_RECIPES.lines();
    let header = split_csv(lines.next().unwrap_or(""));
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f = split_csv(line);
        let get = |name: &str| {
            col(name)
                .and_then(|i| f.get(i))
                .cloned()
                .unwrap_or_default()
        };
        let notes = get("notes");
        let tp_only = notes
            .split("applies when tp==")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|t| t.parse().ok());
        out.push(Recipe {
            key: [get("model"), get("gpu"), get("engine"), get("precision")],
            script: format!("{}@{}", get("script_path"), get("commit")),
            valid_from: get("valid_from"),
            tp_only,
            max_num_tokens: get("max_num_batched_tokens"),
            max_num_seqs: get("max_num_seqs"),
            mem_fraction: get("mem_fraction").trim().parse().ok(),
            chunked_prefill: get("chunked_prefill"),
            max_prefill_tokens: get("max_prefill_tokens"),
            cuda_graph_max_bs: get("cuda_graph_max_bs"),
            scheduler_recv_interval: get("scheduler_recv_interval"),
        });
    }
    out
}

/// The recipe version a row ran: same model, GPU, engine and precision, the
/// latest version on main by the row's measured date (`YYYY-MM-DD`; a row
/// measured before the first version gets the first), matching its TP where
/// the script branches on TP.
pub fn inferencex_recipe<'a>(
    recipes: &'a [Recipe],
    key: [&str; 4],
    measured: &str,
    tp: u64,
) -> Option<&'a Recipe> {
    let fits = |r: &&Recipe| {
        r.key
            .iter()
            .zip(key)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
            && r.tp_only.is_none_or(|t| t == tp)
    };
    let by_date = |a: &&Recipe, b: &&Recipe| a.valid_from.cmp(&b.valid_from);
    recipes
        .iter()
        .filter(fits)
        .filter(|r| r.valid_from.as_str() <= measured)
        .max_by(by_date)
        .or_else(|| recipes.iter().filter(fits).min_by(by_date))
}

/// A recipe's flags evaluated for one run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecipeLimits {
    /// Token budget per iteration (vLLM, TensorRT-LLM) or SGLang's chunk size.
    pub max_num_tokens: Option<u64>,
    /// Sequence cap.
    pub max_num_seqs: Option<u64>,
    /// Memory fraction.
    pub mem_fraction: Option<f64>,
    /// SGLang `--max-prefill-tokens`.
    pub max_prefill_tokens: Option<u64>,
    /// Largest captured decode graph (SGLang, TensorRT-LLM).
    pub cuda_graph_max_bs: Option<u64>,
    /// SGLang `--scheduler-recv-interval`.
    pub scheduler_recv_interval: Option<u64>,
}

impl Recipe {
    /// The flags at `v` for `engine`; an expression that does not evaluate
    /// leaves that flag at the engine's default.
    pub fn limits(&self, engine: &str, v: RecipeVars) -> RecipeLimits {
        let n = |e: &str| {
            eval_recipe_expr(e, v)
                .filter(|x| *x >= 1.0)
                .map(|x| x as u64)
        };
        let sglang = engine == "sglang";
        RecipeLimits {
            max_num_tokens: if sglang {
                n(&self.chunked_prefill)
            } else {
                n(&self.max_num_tokens)
            },
            max_num_seqs: n(&self.max_num_seqs),
            mem_fraction: self.mem_fraction.filter(|f| *f > 0.0 && *f < 1.0),
            max_prefill_tokens: if sglang {
                n(&self.max_prefill_tokens)
            } else {
                None
            },
            cuda_graph_max_bs: if engine == "vllm" {
                None
            } else {
                n(&self.cuda_graph_max_bs)
            },
            scheduler_recv_interval: if sglang {
                n(&self.scheduler_recv_interval)
            } else {
                None
            },
        }
    }
}

/// The run variables an InferenceX launch script's flag expressions use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecipeVars {
    /// Input length (`ISL`).
    pub isl: f64,
    /// Output length (`OSL`).
    pub osl: f64,
    /// Concurrency (`CONC`).
    pub conc: f64,
    /// Tensor-parallel size (`TP`).
    pub tp: f64,
}

/// Evaluate a normalized flag expression of a launch script: integers, the
/// variables `isl`, `osl`, `conc`, `tp`, `+ - *`, `/` (integer division, as
/// the shell's `$(( ))`), parentheses and
/// `max(a, b)` / `min(a, b)`. None on anything else (the row then keeps the
/// engine default, and the caller says so).
pub fn eval_recipe_expr(text: &str, v: RecipeVars) -> Option<f64> {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
        v: RecipeVars,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn sum(&mut self, depth: u32) -> Option<f64> {
            let mut x = self.product(depth)?;
            loop {
                if self.eat(b'+') {
                    x += self.product(depth)?;
                } else if self.eat(b'-') {
                    x -= self.product(depth)?;
                } else {
                    return Some(x);
                }
            }
        }
        fn product(&mut self, depth: u32) -> Option<f64> {
            let mut x = self.atom(depth)?;
            loop {
                if self.eat(b'*') {
                    x *= self.atom(depth)?;
                } else if self.eat(b'/') {
                    // Shell arithmetic ($(( ))): integer division.
                    let d = self.atom(depth)?;
                    if d == 0.0 {
                        return None;
                    }
                    x = (x / d).floor();
                } else {
                    return Some(x);
                }
            }
        }
        fn atom(&mut self, depth: u32) -> Option<f64> {
            if depth > 32 {
                return None;
            }
            self.ws();
            if self.eat(b'(') {
                let x = self.sum(depth + 1)?;
                return self.eat(b')').then_some(x);
            }
            let start = self.i;
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'.')
            {
                self.i += 1;
            }
            let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            match word {
                "isl" => Some(self.v.isl),
                "osl" => Some(self.v.osl),
                "conc" => Some(self.v.conc),
                "tp" => Some(self.v.tp),
                "max" | "min" => {
                    if !self.eat(b'(') {
                        return None;
                    }
                    let a = self.sum(depth + 1)?;
                    if !self.eat(b',') {
                        return None;
                    }
                    let b = self.sum(depth + 1)?;
                    if !self.eat(b')') {
                        return None;
                    }
                    Some(if word == "max" { a.max(b) } else { a.min(b) })
                }
                w => w.parse::<f64>().ok().filter(|x| x.is_finite()),
            }
        }
    }
    let mut p = P {
        s: text.trim().as_bytes(),
        i: 0,
        v,
    };
    let x = p.sum(0)?;
    p.ws();
    (p.i == p.s.len() && x.is_finite()).then_some(x)
}

/// Draft tokens per step of InferenceX's DeepSeek-R1 MTP recipes
/// (SemiAnalysisAI/InferenceX `benchmarks/single_node/fixed_seq_len/`):
/// TensorRT-LLM `num_nextn_predict_layers` 3, or 1 with attention DP
/// (`dsr1_fp8_b200_trt_mtp.sh`); SGLang EAGLE `--speculative-num-steps 2`
/// (`dsr1_fp8_b200_mtp.sh`); others: the checkpoint's module count (None).
/// The multi-node disaggregated recipes vary (mtp1–mtp3 by config); the
/// same rule is applied to them.
pub fn recipe_mtp_drafts(engine: &str, layout: Layout) -> Option<u64> {
    match engine {
        "trtllm" => Some(if layout.dp > 1 { 1 } else { 3 }),
        "sglang" => Some(2),
        _ => None,
    }
}

/// Overrides of the engine profiles' FITTED scheduler knobs (None: the profile's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SchedKnobs {
    /// `eager_overhead_per_layer_seconds`.
    pub eager_layer_s: Option<f64>,
    /// `prefill_overhead_per_sequence_seconds`.
    pub prefill_seq_s: Option<f64>,
    /// `request_overhead_seconds`.
    pub request_s: Option<f64>,
    /// `prefill_compute_scale`.
    pub prefill_scale: Option<f64>,
}

/// GPU family of a kvplan GPU name, for the cross-GPU held-out split.
pub fn gpu_family(gpu: &str) -> &'static str {
    match gpu {
        "B200" | "GB200" | "B300" | "GB300" | "B100" => "Blackwell",
        "H100" | "H200" | "H800" | "H20" => "Hopper",
        "MI300X" | "MI325X" => "AMD CDNA3",
        _ => "other",
    }
}

/// Family of a record's GPU ("other" where unmapped).
pub fn record_family(r: &Record) -> &'static str {
    builtin_gpu(&r.system).map_or("other", gpu_family)
}

/// Serving knobs fitted for one engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingFit {
    /// Engine profile name.
    pub engine: String,
    /// Fitted knobs (all Some).
    pub knobs: SchedKnobs,
    /// Aggregated rows the fit scored (every `stride`-th row of the engine).
    pub rows: usize,
    /// TPOT and TTFT MAPE on them.
    pub mape: (f64, f64),
}

/// FIT, per engine, the serving simulator's scheduler knobs
/// `eager_overhead_per_layer_seconds` and `prefill_compute_scale`
/// (`request_overhead_seconds` held at 0) that minimise TPOT MAPE + TTFT MAPE of the
/// simulated mean TTFT/TPOT over the engine's aggregated rows in `records`
/// (every `stride`-th, for time). A coordinate search from (0, 1.5),
/// six rounds, halving its steps after a round without a move; every candidate is a full simulation of those rows.
pub fn fit_serving(
    records: &[Record],
    cat: &Catalog,
    base: &Options,
    stride: usize,
) -> Vec<ServingFit> {
    let mut engines: Vec<String> = records.iter().map(|r| r.backend.clone()).collect();
    engines.sort();
    engines.dedup();
    let mut out = Vec::new();
    for engine in engines {
        let rows: Vec<Record> = records
            .iter()
            .filter(|r| r.mode == "agg" && r.backend == engine)
            .step_by(stride.max(1))
            .cloned()
            .collect();
        let score = |k: [f64; 3]| -> (f64, usize, f64, f64) {
            let opt = Options {
                serving: true,
                sched: SchedKnobs {
                    request_s: Some(k[0]),
                    eager_layer_s: Some(k[1]),
                    prefill_scale: Some(k[2]),
                    ..base.sched
                },
                ..base.clone()
            };
            let ev = evaluate(&rows, cat, &opt);
            mape(ev.results.iter(), Predictor::Serving).map_or((f64::INFINITY, 0, 0.0, 0.0), |m| {
                (m.tpot + m.ttft, m.n, m.tpot, m.ttft)
            })
        };
        // All three are searched: the request overhead holds the client's
        // slot in the simulated closed loop (Little's law keeps holding).
        let mut x = [0.05, 40e-6, 2.0];
        let mut best = score(x);
        if best.1 == 0 {
            continue;
        }
        let mut step = [0.04, 40e-6, 0.5];
        let floor = [0.0, 0.0, 1.0];
        for _ in 0..8 {
            let mut moved = false;
            for i in 0..3 {
                for sign in [1.0, -1.0] {
                    let mut c = x;
                    c[i] = (c[i] + sign * step[i]).max(floor[i]);
                    if c == x {
                        continue;
                    }
                    let v = score(c);
                    if v.0 < best.0 {
                        (best, x, moved) = (v, c, true);
                        break;
                    }
                }
            }
            if !moved {
                step.iter_mut().for_each(|d| *d /= 2.0);
            }
        }
        out.push(ServingFit {
            engine,
            knobs: SchedKnobs {
                request_s: Some(x[0]),
                eager_layer_s: Some(x[1]),
                prefill_scale: Some(x[2]),
                ..base.sched
            },
            rows: best.1,
            mape: (best.2, best.3),
        });
    }
    out
}

/// Options with one engine's fitted knobs applied to rows of that engine
/// only: evaluate each engine's rows with its own knobs and merge.
pub fn evaluate_with_fits(
    records: &[Record],
    cat: &Catalog,
    base: &Options,
    fits: &[ServingFit],
) -> Evaluation {
    let mut all = Evaluation {
        rows: records.len(),
        ..Default::default()
    };
    let mut seen_dup = HashSet::new();
    let mut dedup = Vec::new();
    for r in records {
        if seen_dup.insert(measurement_key(r)) {
            dedup.push(r.clone());
        } else {
            *all.skipped.entry(skip::DUPLICATE.into()).or_default() += 1;
        }
    }
    let mut engines: Vec<String> = dedup.iter().map(|r| r.backend.clone()).collect();
    engines.sort();
    engines.dedup();
    for engine in engines {
        let rows: Vec<Record> = dedup
            .iter()
            .filter(|r| r.backend == engine)
            .cloned()
            .collect();
        let mut opt = base.clone();
        if let Some(f) = fits.iter().find(|f| f.engine == engine) {
            opt.sched = f.knobs;
        }
        let ev = evaluate(&rows, cat, &opt);
        all.results.extend(ev.results);
        for (k, v) in ev.skipped {
            *all.skipped.entry(k).or_default() += v;
        }
        for (k, v) in ev.notes {
            *all.notes.entry(k).or_default() += v;
        }
        for (k, v) in ev.distinct {
            *all.distinct.entry(k).or_default() += v;
        }
    }
    all
}

fn fits_md(fits: &[ServingFit], on: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "| engine | rows fitted ({on}) | request_overhead_seconds | eager_overhead_per_layer_seconds | prefill_compute_scale | TPOT MAPE | TTFT MAPE |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
    for f in fits {
        let _ = writeln!(
            o,
            "| {} | {} | {:.4} | {:.1e} | {:.3} | {} | {} |",
            f.engine,
            f.rows,
            f.knobs.request_s.unwrap_or(0.0),
            f.knobs.eager_layer_s.unwrap_or(0.0),
            f.knobs.prefill_scale.unwrap_or(1.0),
            pct(f.mape.0),
            pct(f.mape.1)
        );
    }
    let _ = writeln!(o);
    o
}

/// Result of fitting the per-step model's fixed decode costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepFit {
    /// Fixed cost per decode step, seconds.
    pub per_step_s: f64,
    /// Fixed cost per layer per decode step, seconds.
    pub per_layer_s: f64,
    /// Aggregated rows fitted on.
    pub rows: usize,
    /// TPOT MAPE on them.
    pub tpot_mape: f64,
}

/// FIT the two fixed decode costs (per step, per layer; one pair for every
/// engine, as in the profiles) that minimise the pooled TPOT MAPE of the
/// per-step model over the aggregated rows of `records` (a coordinate search
/// from the profiles' values, halving the step; every candidate is a full
/// re-run of kvplan on those rows, no surrogate).
pub fn fit_step_overheads(records: &[Record], cat: &Catalog, base: &Options) -> StepFit {
    let agg: Vec<Record> = records
        .iter()
        .filter(|r| r.mode == "agg")
        .cloned()
        .collect();
    let score = |step: f64, layer: f64| -> (f64, usize) {
        let opt = Options {
            step_overhead_s: Some(step),
            layer_overhead_s: Some(layer),
            serving: false,
            ..base.clone()
        };
        let ev = evaluate(&agg, cat, &opt);
        mape(ev.results.iter(), Predictor::Step).map_or((f64::INFINITY, 0), |m| (m.tpot, m.n))
    };
    let (mut x, mut y) = (1.2e-3, 49e-6);
    let (mut best, mut n) = score(x, y);
    let (mut dx, mut dy) = (0.8e-3, 32e-6);
    for _ in 0..7 {
        let mut moved = false;
        for (cx, cy) in [
            (x + dx, y),
            ((x - dx).max(0.0), y),
            (x, y + dy),
            (x, (y - dy).max(0.0)),
        ] {
            let (v, m) = score(cx, cy);
            if v < best {
                (best, n, x, y, moved) = (v, m, cx, cy, true);
            }
        }
        if !moved {
            dx /= 2.0;
            dy /= 2.0;
        }
    }
    StepFit {
        per_step_s: x,
        per_layer_s: y,
        rows: n,
        tpot_mape: best,
    }
}

fn no_files(name: &str) -> kvplan::Result<ModelSpec> {
    Err(Error::input(
        "model",
        format!("{name}: only built-in models here"),
    ))
}

struct Side {
    layout: Layout,
    batch: u64,
    gpus: String,
    /// The engine's memory fraction where the row's deployment must have
    /// set one (SGLang `--mem-fraction-static`, vLLM
    /// `--gpu-memory-utilization`); `None`: the engine's default.
    mem_fraction: Option<f64>,
}

/// Map and predict one record.
/// The attention-DP balancing an InferenceX TensorRT-LLM recipe turns on
/// (`attention_dp_config.enable_balance: true` whenever it runs attention DP),
/// for the aggregated rows its benchmark produced. SemiAnalysisAI/InferenceX
/// `benchmarks/dsr1_fp4_b200_trt.sh` (and the fp8 and MTP DeepSeek-R1
/// scripts): `timeout_iters: 60`, `batching_wait_iters: 0`;
/// `benchmarks/gptoss_fp4_b200_trt.sh`: `enable_balance: true` alone, so
/// TensorRT-LLM's defaults (`AttentionDpConfig` in tensorrt_llm/llmapi/llm_args.py:
/// timeout 50, batching wait 10). Other models: none known.
pub fn inferencex_adp_balance(r: &Record) -> Option<kvplan::spec::scheduler::AdpBalance> {
    use kvplan::spec::scheduler::AdpBalance;
    if r.backend != "trtllm" || r.bench != BENCH_INFERENCEX {
        return None;
    }
    let m = r.model_path.to_ascii_lowercase();
    if m.contains("deepseek") {
        Some(AdpBalance {
            timeout_iterations: 60,
            batching_wait_iterations: 0,
        })
    } else if m.contains("gpt-oss") {
        Some(AdpBalance {
            timeout_iterations: 50,
            batching_wait_iterations: 10,
        })
    } else {
        None
    }
}

fn evaluate_row(r: &Record, cat: &Catalog, opt: &Options) -> Result<RowResult, String> {
    let kv_override = opt.kv_override.as_deref();
    let mode = match r.mode.as_str() {
        "agg" => Mode::Agg,
        "disagg" => Mode::Disagg,
        _ => return Err(skip::MODE.into()),
    };
    if let Some(why) = r
        .source
        .split(';')
        .find_map(|p| p.trim().strip_prefix("skip="))
    {
        return Err(why.to_string());
    }
    let (model, model_note) = resolve_model(cat, &r.model_path).ok_or(skip::MODEL)?;
    let model_name = model.name.clone();
    let gpu = builtin_gpu(&r.system)
        .filter(|g| cat.gpu(g).is_ok())
        .ok_or(skip::GPU)?;
    let moe = model.moe.is_some();
    let concurrency = r.concurrency().ok_or(skip::NO_CONCURRENCY)?;
    let mut notes: Vec<String> = model_note.iter().map(|s| s.to_string()).collect();
    notes.extend(
        r.source
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("assume="))
            .map(str::to_string),
    );
    if r.precision.is_empty() && r.gemm_quant.is_empty() {
        notes.push("precision not recorded: bf16 assumed".into());
    }
    let (weights, mut kv) = formats(model, r, kv_override);
    // The spec the request runs: NVIDIA's published NVFP4 checkpoint of the
    // model where kvplan has one (its ModelOpt layout keeps attention and
    // lm_head 16-bit on MoE models), else the model with every linear in
    // the row's format. Groups and recipes keep the model's own name.
    let spec_name = nvfp4_checkpoint(cat, &model_name, &weights).unwrap_or(model_name.clone());
    if spec_name != model_name {
        notes.push(format!(
            "NVFP4 rows run {spec_name}: the published checkpoint's layout"
        ));
    }
    match (&r.kv_dtype, kv_override) {
        (_, Some(_)) => {}
        (Some(k), None) => kv = k.clone(),
        (None, None) => notes.push(format!("KV dtype not recorded: {kv} assumed")),
    }
    let mtp = r.mtp == Some(true) && !opt.ignore_mtp;
    // aiconfigurator's own gap-analysis rows (aiperf): the engine limits its
    // generator deploys (`AicEngineLimits`), batch = the row's per replica.
    let aic_limits =
        (r.bench == BENCH_AIPERF && mode == Mode::Agg && !opt.no_aic_limits).then(|| {
            let dp = r.layout.dp.unwrap_or(1).max(1);
            let bs = r.batch_size.unwrap_or(concurrency.div_ceil(dp)).max(1);
            AicEngineLimits::for_row(r.isl, bs)
        });
    if aic_limits.is_some() {
        notes.push(AIC_LIMITS_NOTE.into());
    }
    // InferenceX rows: the flags of the launch script that produced them.
    let ix_limits = (r.bench == BENCH_INFERENCEX && mode == Mode::Agg && !opt.no_ix_recipes)
        .then(|| {
            static RECIPES: std::sync::OnceLock<Vec<Recipe>> = std::sync::OnceLock::new();
            let recipes = RECIPES.get_or_init(inferencex_recipes);
            let measured = r
                .source
                .split(';')
                .find_map(|p| p.trim().strip_prefix("measured="))?;
            let measured = measured.get(..10).unwrap_or(measured);
            let tp = r.layout.tp.unwrap_or(1).max(1);
            let rec = inferencex_recipe(
                recipes,
                [&model_name, gpu, &r.backend, &r.precision],
                measured,
                tp,
            )?;
            let l = rec.limits(
                &r.backend,
                RecipeVars {
                    isl: r.isl as f64,
                    osl: r.osl as f64,
                    conc: concurrency as f64,
                    tp: tp as f64,
                },
            );
            // A script whose sequence cap is below the row's clients per
            // replica did not run it (the scripts set the cap to the largest
            // concurrency they run: "as the maximum concurrency", e.g.
            // dsr1_fp8_b200_docker.sh @1d29967c4); the row keeps the defaults.
            let per_replica = concurrency.div_ceil(r.layout.dp.unwrap_or(1).max(1));
            Some(l).filter(|l| l.max_num_seqs.is_none_or(|m| m >= per_replica))
        })
        .flatten();
    if ix_limits.is_some() {
        notes.push(IX_RECIPE_NOTE.into());
    }
    let ix_fraction = ix_limits.and_then(|l| l.mem_fraction);
    if mtp {
        notes.push(
            "speculative decoding (MTP) on, per the source: kvplan --mtp, default acceptance"
                .into(),
        );
    }
    if !r.bench.is_empty() {
        notes.push(format!("benchmark: {}", r.bench));
    }
    if r.median_only {
        notes.push(
            "source gives medians only: compared as medians (the per-step model has one value)"
                .into(),
        );
    }
    // Mean lengths of the benchmark's uniform draw in [ratio × L, L].
    let mean_len = |l: u64| ((l as f64) * (1.0 + r.range_ratio) / 2.0).round().max(1.0) as u64;
    let (isl, osl) = (mean_len(r.isl), mean_len(r.osl));
    let side = |raw: RawLayout, batch_per_rank: u64, fill_dp: bool| -> Result<Side, String> {
        let raw = if fill_dp { unfold(raw) } else { raw };
        let layout = to_layout(raw, moe)?;
        if model.attention.num_heads % layout.tp != 0 {
            return Err(skip::HEADS_TP.into());
        }
        let gpus = gpus_text(gpu, layout.tp * layout.pp * layout.dp)?;
        Ok(Side {
            layout,
            batch: batch_per_rank,
            gpus,
            mem_fraction: None,
        })
    };
    // (decode side, prefill side)
    let (dec, pre) = match mode {
        Mode::Agg => {
            let bs = r.batch_size.ok_or(skip::NO_LAYOUT)?;
            let dp_raw = r.layout.dp.unwrap_or(1).max(1);
            if bs * dp_raw != concurrency {
                return Err(skip::BATCH_MISMATCH.into());
            }
            let s = side(r.layout, 0, r.layout.dp.is_some())?;
            let s = Side {
                batch: concurrency,
                ..s
            };
            let p = Side {
                layout: s.layout,
                batch: 1,
                gpus: s.gpus.clone(),
                mem_fraction: None,
            };
            (s, p)
        }
        Mode::Disagg => {
            let (dbs, Some(dw)) = (r.decode.0, r.decode.1) else {
                return Err(skip::DISAGG_UNKNOWN.into());
            };
            let d = side(r.decode.2, 0, r.decode.2.dp.is_some())?;
            // Sequences per decode worker: the recorded batch per DP rank,
            // or (layouts from InferenceX, no batch) the concurrency spread
            // over the decode workers.
            let per_worker = match dbs {
                Some(b) if b * d.layout.dp * dw.max(1) == concurrency => b * d.layout.dp,
                Some(_) => return Err(skip::BATCH_MISMATCH.into()),
                None if r.layout_from_inferencex => concurrency.div_ceil(dw.max(1)),
                None => return Err(skip::DISAGG_UNKNOWN.into()),
            };
            let d = Side {
                batch: per_worker,
                ..d
            };
            let p = side(r.prefill.2, 1, r.prefill.2.dp.is_some())?;
            (d, p)
        }
    };
    let raw_sides = match mode {
        Mode::Agg => vec![r.layout],
        Mode::Disagg => vec![r.decode.2, r.prefill.2],
    };
    if raw_sides.iter().any(|l| {
        let l = if l.dp.is_some() { unfold(*l) } else { *l };
        moe_tp_across_dp(l, moe)
    }) {
        notes.push(skip::MOE_TP_AS_EP.into());
    }
    if r.layout_from_inferencex {
        notes.push(LAYOUT_FROM_INFERENCEX.into());
    }
    let run = |s: &Side, ctx: u64| -> Result<(kvplan::estimate::Estimate, f64), String> {
        let rejects = |e: Error| {
            format!(
                "kvplan rejects the layout ({})",
                e.field().unwrap_or("other")
            )
        };
        let req = EstimateRequest {
            model: spec_name.clone(),
            gpus: s.gpus.clone(),
            ctx: Some(Tokens::Number(ctx)),
            batch: Some(s.batch.max(1)),
            weights: Some(
                kvplan::spec::dtype::WeightFormat::parse(&weights, "weights").map_err(rejects)?,
            ),
            kv_dtype: Some(kvplan::spec::dtype::KvDtype::parse(&kv, "kv-dtype").map_err(rejects)?),
            engine: Some(kvplan::spec::engine_id::EngineId::parse(&r.backend).map_err(rejects)?),
            tp: Some(s.layout.tp),
            pp: Some(s.layout.pp),
            ep: Some(s.layout.ep),
            dp: Some(s.layout.dp),
            mtp: Some(mtp),
            mtp_acceptance: opt.mtp_acceptance.filter(|_| mtp),
            mtp_draft_tokens: if mtp && opt.mtp_drafts_by_recipe {
                recipe_mtp_drafts(&r.backend, s.layout)
            } else {
                None
            },
            // The row's own fraction (SGLang, vLLM), else its script's
            // (also TensorRT-LLM's free fraction, through vLLM's flag).
            mem_fraction_static: s
                .mem_fraction
                .or(ix_fraction)
                .filter(|_| r.backend == "sglang"),
            gpu_memory_utilization: match r.backend.as_str() {
                "vllm" => s.mem_fraction.or(ix_fraction),
                "trtllm" => ix_fraction,
                _ => None,
            },
            max_num_batched_tokens: aic_limits
                .map(|l| l.max_num_tokens)
                .or(ix_limits.and_then(|l| l.max_num_tokens)),
            max_num_seqs: aic_limits
                .map(|l| l.max_batch_size)
                .or(ix_limits.and_then(|l| l.max_num_seqs)),
            ..Default::default()
        };
        let mut res = resolve(&req, cat, &no_files).map_err(|e| {
            format!(
                "kvplan rejects the layout ({})",
                e.field().unwrap_or("other")
            )
        })?;
        if let Some(l) = ix_limits {
            let e = &mut res.scenario.deployment.engine;
            if let Some(t) = l.max_prefill_tokens {
                e.override_scheduler(|sp| sp.max_prefill_tokens = t);
            }
            if let Some(k) = l.scheduler_recv_interval.filter(|_| !opt.no_recv_interval) {
                e.override_scheduler(|sp| sp.recv_interval = k);
            }
            if let Some(g) = l.cuda_graph_max_bs {
                // The script's graph cap replaces the extension to max_num_seqs.
                e.override_scheduler(|sp| {
                    *sp = kvplan::spec::scheduler::SchedulerSpec {
                        cuda_graph_extend_step: 0,
                        ..sp.clone().with_graphs_up_to(g)
                    };
                });
            }
        }
        if let Some(l) = aic_limits {
            let e = &mut res.scenario.deployment.engine;
            match r.backend.as_str() {
                "trtllm" => e.chunked_prefill = false,
                "sglang" => e.override_scheduler(|sp| sp.max_prefill_tokens = l.max_prefill_tokens),
                _ => {}
            }
        }
        if let Some(t) = opt.layer_overhead_s {
            res.scenario
                .deployment
                .engine
                .decode_overhead_per_layer_seconds = t;
        }
        if let Some(t) = opt.step_overhead_s {
            res.scenario
                .deployment
                .engine
                .decode_overhead_per_step_seconds = t;
        }
        let k = opt.sched;
        if k != SchedKnobs::default() {
            res.scenario.deployment.engine.override_scheduler(|sp| {
                if let Some(v) = k.eager_layer_s {
                    sp.eager_overhead_per_layer_seconds = v;
                }
                if let Some(v) = k.prefill_seq_s {
                    sp.prefill_overhead_per_sequence_seconds = v;
                }
                if let Some(v) = k.request_s {
                    sp.request_overhead_seconds = v;
                }
                if let Some(v) = k.prefill_scale {
                    sp.prefill_compute_scale = v;
                }
            });
        }
        if mode == Mode::Agg && !opt.no_adp_balance {
            if let Some(b) = inferencex_adp_balance(r) {
                res.scenario
                    .deployment
                    .engine
                    .override_scheduler(|sp| sp.adp_balance = Some(b));
            }
        }
        let est = estimate(&res.scenario, &opt.eff, res.tokens_per_step).map_err(|e| {
            format!(
                "kvplan rejects the layout ({})",
                e.field().unwrap_or("other")
            )
        })?;
        Ok((est, res.tokens_per_step))
    };
    let eff = &opt.eff;
    let ctx = isl + osl / 2;
    let (de, tokens_per_step) = run(&dec, ctx)?;
    let pe = if mode == Mode::Agg {
        de.clone()
    } else {
        run(&pre, isl)?.0
    };
    let (prefill, _) = perf::prefill_seconds(&pe.scenario, &pe.memory, eff, isl);
    // The serving simulator: the benchmark's closed loop at the row's whole
    // concurrency, its length distribution and request count. The scenario is
    // resolved as `kvplan estimate --isl --osl` resolves it (context = the
    // longest request, batch 1: the simulator sizes the running set itself).
    // MTP rows too: the simulator's decode iterations verify and emit as
    // `perf::speculative` says (the scenario carries `--mtp`).
    let serving = if opt.serving && mode == Mode::Agg && r.request_rate.is_none() {
        let half = (1.0 - r.range_ratio) / (1.0 + r.range_ratio);
        let mut w = ServingWorkload::closed(isl, osl, dec.batch);
        w.random_range_ratio = half;
        w.num_requests = match (r.num_requests, opt.max_sim_requests) {
            (Some(n), Some(cap)) => Some(n.min(cap.max(dec.batch))),
            (n, _) => n,
        };
        let longest = w.max_sequence_tokens();
        let side = Side {
            layout: dec.layout,
            batch: 1,
            gpus: dec.gpus.clone(),
            mem_fraction: None,
        };
        let sim = run(&side, longest).and_then(|(se, _)| {
            simulate(&se.scenario, &se.memory, eff, &w).map_err(|e| {
                format!(
                    "serving simulator rejects the row ({})",
                    e.field().unwrap_or("other")
                )
            })
        });
        match sim {
            Ok(res) => {
                let pick = |p: &kvplan::serving::Percentiles| {
                    if r.median_only {
                        p.p50
                    } else {
                        p.mean
                    }
                };
                Some((pick(&res.ttft_ms) / 1e3, pick(&res.tpot_ms) / 1e3))
            }
            Err(why) => {
                notes.push(why);
                None
            }
        }
    } else {
        None
    };
    // Disaggregated rows: the disaggregated simulator (its own functions below).
    let serving = match mode {
        Mode::Disagg if opt.serving && r.request_rate.is_none() => {
            match disagg_serving(r, &pre, &dec, (isl, osl), &run, opt) {
                Ok((ttft, tpot, note)) => {
                    notes.extend(note);
                    Some((ttft, tpot))
                }
                Err(why) => {
                    notes.push(why);
                    None
                }
            }
        }
        _ => serving,
    };
    let step = &de.performance.decode;
    let batch_local = de.scenario.batch_per_replica();
    let c_local = batch_local as f64;
    // TPOT of the step model: one decode step per tokens_per_step output tokens.
    let tpot = step.seconds / tokens_per_step;
    let (tpot_with_prefill, ttft_wave) = match mode {
        Mode::Agg => (
            tpot + c_local * prefill / osl.max(1) as f64,
            prefill * (c_local + 1.0) / 2.0,
        ),
        Mode::Disagg => (tpot, prefill),
    };
    let roof = step.memory_seconds.max(step.compute_seconds);
    Ok(RowResult {
        id: r.id.clone(),
        mode,
        model: model_name.clone(),
        gpu: gpu.into(),
        engine: r.backend.clone(),
        formats: (weights, kv),
        layout: dec.layout,
        isl: r.isl,
        osl: r.osl,
        concurrency: dec.batch,
        batch_local,
        tpot_measured: r.tpot_ms / 1e3,
        ttft_measured: r.ttft_ms / 1e3,
        tpot_predicted: tpot,
        tpot_with_prefill,
        ttft_single: prefill,
        ttft_wave,
        bound: step.bound.name(),
        step_shares: (
            roof / step.seconds,
            step.communication_seconds / step.seconds,
            step.overhead_seconds / step.seconds,
        ),
        mtp,
        isl_mean: isl,
        osl_mean: osl,
        serving,
        median_only: r.median_only,
        layout_from_inferencex: r.layout_from_inferencex,
        fits: de.memory.fits,
        step: step.clone(),
        layers: (
            de.scenario.model.num_layers,
            (0..de.scenario.model.num_layers)
                .filter(|i| moe && de.scenario.model.is_moe_layer(*i))
                .count() as u64,
        ),
        notes,
    })
}

/// Estimate of one worker side (the `run` closure of `evaluate_row`).
type SideRun<'a> = dyn Fn(&Side, u64) -> Result<(kvplan::estimate::Estimate, f64), String> + 'a;

/// The disaggregated simulator on one disaggregated row: `prefill_num_workers`
/// workers of the `prefill_*` layout (cap `prefill_batch_size` per attention-DP
/// rank) and `decode_num_workers` of the `decode_*` layout (cap
/// `decode_batch_size`), the row's closed loop at its concurrency, the KV
/// over NVLink inside one NVLink domain (8-GPU node; GB200's 72) or the
/// network. Returns the simulated (TTFT, TPOT) in seconds (means, or
/// medians where the row is a median) and a note where the decode worker's
/// memory fraction had to be raised (`raise_decode_fraction`).
fn disagg_serving(
    r: &Record,
    pre: &Side,
    dec: &Side,
    (isl, osl): (u64, u64),
    run: &SideRun<'_>,
    opt: &Options,
) -> Result<(f64, f64, Option<String>), String> {
    use kvplan::serving::disagg::{simulate_disagg, KvLink, LinkData, Pool};
    let pw = r.prefill.1.filter(|n| *n > 0).ok_or(skip::DISAGG_UNKNOWN)?;
    let dw = r.decode.1.filter(|n| *n > 0).ok_or(skip::DISAGG_UNKNOWN)?;
    let concurrency = r.concurrency().ok_or(skip::NO_CONCURRENCY)?;
    let half = (1.0 - r.range_ratio) / (1.0 + r.range_ratio);
    let mut w = ServingWorkload::closed(isl, osl, concurrency);
    w.random_range_ratio = half;
    w.num_requests = match (r.num_requests, opt.max_sim_requests) {
        (Some(n), Some(cap)) => Some(n.min(cap.max(concurrency))),
        (None, Some(cap)) => Some((concurrency * 10).min(cap.max(concurrency))),
        (n, None) => n,
    };
    let longest = w.max_sequence_tokens();
    let one = |s: &Side| Side {
        layout: s.layout,
        batch: 1,
        gpus: s.gpus.clone(),
        mem_fraction: s.mem_fraction,
    };
    let (mut pe, _) = run(&one(pre), longest)?;
    let (mut de, _) = run(&one(dec), longest)?;
    let raised = raise_decode_fraction(r, dec, (isl, osl), longest, &de, run);
    let note = raised.as_ref().map(|(f, _)| {
        format!(
            "decode worker: the engine's default memory fraction leaves a KV pool smaller than the recorded decode batch × (isl + osl); fraction raised to the smallest that holds it ({f:.3}; the deployment ran that batch)"
        )
    });
    if let Some((_, e)) = raised {
        de = e;
    }
    for (e, cap, pool) in [
        (&mut pe, r.prefill.0, "prefill"),
        (&mut de, r.decode.0, "decode"),
    ] {
        if let Some(b) = cap.filter(|b| *b > 0) {
            e.scenario.deployment.engine.max_num_seqs = b;
        }
        if !e.memory.fits || e.memory.kv_cache_tokens == 0 {
            return Err(format!(
                "disaggregated simulator: the {pool} worker does not fit kvplan's memory plan"
            ));
        }
    }
    let data = LinkData::builtin().map_err(|e| e.to_string())?;
    let gpu = &de.scenario.cluster.gpu;
    let node = if gpu.interconnect.max_gpus > 8 {
        gpu.interconnect.max_gpus
    } else {
        8
    };
    let total = pw * pe.scenario.cluster.total_gpus() + dw * de.scenario.cluster.total_gpus();
    let link = KvLink::between(gpu, node, total, &data);
    let overlap = data.overlap_of(&pe.scenario.deployment.engine.name);
    fn pool(e: &kvplan::estimate::Estimate, n: u64) -> Pool<'_> {
        Pool {
            scenario: &e.scenario,
            memory: &e.memory,
            workers: n,
        }
    }
    let res = simulate_disagg(&pool(&pe, pw), &pool(&de, dw), &link, overlap, &opt.eff, &w)
        .map_err(|e| {
            format!(
                "disaggregated simulator rejects the row ({})",
                e.field().unwrap_or("other")
            )
        })?;
    let pick = |p: &kvplan::serving::Percentiles| if r.median_only { p.p50 } else { p.mean };
    // The simulator's own warning that its closed loop is approximate.
    let unsettled = res.unsettled_in_flight.map(|in_flight| {
        let a = "disaggregated simulator APPROXIMATE: the closed loop had not settled (the run's requests in flight differ from the clients by more than 3%)";
        if in_flight > concurrency as f64 {
            format!("{a}, more in flight")
        } else {
            format!("{a}, fewer in flight")
        }
    });
    let note = match (note, unsettled) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    Ok((
        pick(&res.serving.ttft_ms) / 1e3,
        pick(&res.serving.tpot_ms) / 1e3,
        note,
    ))
}

/// Where a row records its decode batch (`decode_batch_size`, sequences per
/// attention-DP rank, which the measured deployment ran at once) but the
/// engine's default memory fraction leaves the decode worker a KV pool that
/// cannot hold that many requests of `isl + osl` tokens, the deployment must
/// have set the fraction itself (SGLang `--mem-fraction-static`, vLLM
/// `--gpu-memory-utilization`: both are launch flags the rows do not record).
/// Returns the smallest fraction, in steps of 0.005 up to 0.95, whose pool
/// holds the recorded batch, with the decode worker's estimate at it; `None`
/// where the default already holds it, the engine is TensorRT-LLM (its
/// fraction is of the memory left after the weights, a different rule) or no
/// fraction up to 0.95 holds it.
fn raise_decode_fraction(
    r: &Record,
    dec: &Side,
    (isl, osl): (u64, u64),
    longest: u64,
    de: &kvplan::estimate::Estimate,
    run: &SideRun<'_>,
) -> Option<(f64, kvplan::estimate::Estimate)> {
    let batch = r.decode.0.filter(|b| *b > 0)?;
    let need_tokens = batch * (isl + osl);
    if de.memory.kv_cache_tokens >= need_tokens || !matches!(r.backend.as_str(), "sglang" | "vllm")
    {
        return None;
    }
    (0..=40).find_map(|k| {
        let fraction = 0.75 + 0.005 * k as f64;
        let side = Side {
            layout: dec.layout,
            batch: 1,
            gpus: dec.gpus.clone(),
            mem_fraction: Some(fraction),
        };
        let (e, _) = run(&side, longest).ok()?;
        (e.memory.fits && e.memory.kv_cache_tokens >= need_tokens).then_some((fraction, e))
    })
}

/// The issue's accuracy targets for the disaggregated rows.
pub mod disagg_target {
    /// Pooled TPOT MAPE at most.
    pub const TPOT: f64 = 0.15;
    /// Pooled TTFT MAPE at most.
    pub const TTFT: f64 = 0.30;
    /// Rows scored / distinct disaggregated rows that record worker counts, at least.
    pub const COVERAGE: f64 = 0.90;
}

/// Distinct disaggregated rows that record decode batch and worker counts
/// (the coverage denominator of the disaggregated score).
pub fn disagg_rows_with_counts(records: &[Record]) -> usize {
    let mut seen = HashSet::new();
    records
        .iter()
        .filter(|r| seen.insert(measurement_key(r)))
        .filter(|r| r.mode == "disagg" && r.decode.0.is_some() && r.decode.1.is_some())
        .count()
}

/// Distinct disaggregated rows whose worker counts only InferenceX records
/// (`apply_inferencex_layouts`): the denominator of their coverage.
pub fn disagg_rows_with_inferencex_layouts(records: &[Record]) -> usize {
    let mut seen = HashSet::new();
    records
        .iter()
        .filter(|r| seen.insert(measurement_key(r)))
        .filter(|r| r.mode == "disagg" && r.layout_from_inferencex)
        .count()
}

/// The disaggregated simulator's scorecard against the disaggregated targets.
pub fn disagg_md(
    ev: &Evaluation,
    keep: &dyn Fn(&RowResult) -> bool,
    with_counts: usize,
    title: &str,
    denominator: &str,
) -> String {
    let mut o = String::new();
    let sc = scorecard(ev, Predictor::Serving, Mode::Disagg, keep);
    let _ = writeln!(o, "### {title}\n");
    let Some(p) = sc.pooled else {
        let _ = writeln!(o, "No disaggregated rows scored.\n");
        return o;
    };
    let ok = |b: bool| if b { "meets" } else { "misses" };
    let cov = p.n as f64 / with_counts.max(1) as f64;
    let _ = writeln!(
        o,
        "Pooled over {} rows: **TPOT MAPE {}** ({} the {} target), **TTFT MAPE {}** ({} the {} target); \
         median predicted/measured TPOT {:.2}, TTFT {:.2}. Coverage {} of {} distinct {} = {} ({} the {} target).\n",
        p.n,
        pct(p.tpot),
        ok(p.tpot <= disagg_target::TPOT),
        pct(disagg_target::TPOT),
        pct(p.ttft),
        ok(p.ttft <= disagg_target::TTFT),
        pct(disagg_target::TTFT),
        p.tpot_ratio,
        p.ttft_ratio,
        p.n,
        with_counts,
        denominator,
        pct(cov),
        ok(cov >= disagg_target::COVERAGE),
        pct(disagg_target::COVERAGE),
    );
    write_gpu_table(&mut o, &sc.by_gpu);
    let _ = writeln!(o);
    write_group_table(&mut o, &sc.groups, None);
    let _ = writeln!(o);
    o
}

/// Identity of a measurement, to drop the same run listed twice.
fn measurement_key(r: &Record) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{:?}|{:.3}|{:.4}",
        r.model_path,
        r.system,
        r.backend,
        r.mode,
        r.precision,
        r.isl,
        r.osl,
        r.concurrency(),
        r.ttft_ms,
        r.tpot_ms
    )
}

/// Map and predict every record.
pub fn evaluate(records: &[Record], cat: &Catalog, opt: &Options) -> Evaluation {
    let mut ev = Evaluation {
        rows: records.len(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    for r in records {
        if !seen.insert(measurement_key(r)) {
            *ev.skipped.entry(skip::DUPLICATE.into()).or_default() += 1;
            continue;
        }
        match r.mode.as_str() {
            "agg" => *ev.distinct.entry(Mode::Agg).or_default() += 1,
            "disagg" => *ev.distinct.entry(Mode::Disagg).or_default() += 1,
            _ => {}
        }
        match evaluate_row(r, cat, opt) {
            Ok(res) => {
                for n in &res.notes {
                    *ev.notes.entry(n.clone()).or_default() += 1;
                }
                ev.results.push(res);
            }
            Err(why) => *ev.skipped.entry(why).or_default() += 1,
        }
    }
    ev
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// p10, median, p90 of `v`.
pub fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (quantile(&v, 0.1), quantile(&v, 0.5), quantile(&v, 0.9))
}

/// Statistics of one group.
#[derive(Debug, Clone)]
pub struct GroupStats {
    /// (mode, model, gpu, engine).
    pub key: (Mode, String, String, String),
    /// Rows used.
    pub n: usize,
    /// Predicted/measured TPOT: p10, median, p90.
    pub tpot: (f64, f64, f64),
    /// Same with the prefill share added (agg).
    pub tpot_with_prefill: (f64, f64, f64),
    /// One-prefill TTFT / measured: p10, median, p90.
    pub ttft_single: (f64, f64, f64),
    /// Wave TTFT / measured.
    pub ttft_wave: (f64, f64, f64),
}

/// Per-group statistics, groups sorted by mode, model, GPU, engine.
pub fn group_stats(results: &[RowResult]) -> Vec<GroupStats> {
    let mut groups: BTreeMap<(Mode, String, String, String), Vec<&RowResult>> = BTreeMap::new();
    for r in results {
        groups
            .entry((r.mode, r.model.clone(), r.gpu.clone(), r.engine.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(key, rs)| {
            let f = |g: &dyn Fn(&RowResult) -> f64| spread(rs.iter().map(|r| g(r)).collect());
            GroupStats {
                key,
                n: rs.len(),
                tpot: f(&|r| r.tpot_predicted / r.tpot_measured),
                tpot_with_prefill: f(&|r| r.tpot_with_prefill / r.tpot_measured),
                ttft_single: f(&|r| r.ttft_single / r.ttft_measured),
                ttft_wave: f(&|r| r.ttft_wave / r.ttft_measured),
            }
        })
        .collect()
}

fn fmt3(s: (f64, f64, f64)) -> String {
    format!("{:.2} ({:.2}–{:.2})", s.1, s.0, s.2)
}

/// The report, as Markdown.
pub fn report(ev: &Evaluation, source: &str, what_if: &[String]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## Ratio tables (per-step model)\n");
    let _ = writeln!(
        o,
        "Input: `{source}` — {} rows; {} used ({} aggregated, {} disaggregated), {} skipped.\n",
        ev.rows,
        ev.results.len(),
        ev.results.iter().filter(|r| r.mode == Mode::Agg).count(),
        ev.results.iter().filter(|r| r.mode == Mode::Disagg).count(),
        ev.skipped.values().sum::<usize>()
    );
    for w in what_if {
        let _ = writeln!(o, "**{w}**\n");
    }
    let _ = writeln!(
        o,
        "Ratios are predicted / measured: median (p10–p90). Below 1 = kvplan is faster than reality.\n"
    );
    if !ev.results.is_empty() {
        let all = |g: &dyn Fn(&RowResult) -> f64| spread(ev.results.iter().map(g).collect());
        let _ = writeln!(
            o,
            "All used rows: TPOT {}, TPOT+prefill {}.\n",
            fmt3(all(&|r| r.tpot_predicted / r.tpot_measured)),
            fmt3(all(&|r| r.tpot_with_prefill / r.tpot_measured))
        );
    }
    let stats = group_stats(&ev.results);
    for mode in [Mode::Agg, Mode::Disagg] {
        let rows: Vec<&GroupStats> = stats.iter().filter(|g| g.key.0 == mode).collect();
        if rows.is_empty() {
            continue;
        }
        match mode {
            Mode::Agg => {
                let _ = writeln!(o, "## Aggregated serving\n");
                let _ = writeln!(o, "TPOT = kvplan decode step. TPOT+prefill = decode step + the replica's prefills spread over the output (c × prefill / osl). TTFT 1 = one prefill of isl tokens (no queueing, a lower bound); TTFT wave = all c prompts of a replica at once, mean (c+1)/2 prefills (an upper bound).\n");
                let _ = writeln!(
                    o,
                    "| model | GPU | engine | rows | TPOT | TPOT+prefill | TTFT 1 | TTFT wave |"
                );
                let _ = writeln!(o, "|---|---|---|---:|---|---|---|---|");
                for g in rows {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        g.key.1,
                        g.key.2,
                        g.key.3,
                        g.n,
                        fmt3(g.tpot),
                        fmt3(g.tpot_with_prefill),
                        fmt3(g.ttft_single),
                        fmt3(g.ttft_wave)
                    );
                }
            }
            Mode::Disagg => {
                let _ = writeln!(o, "\n## Disaggregated serving\n");
                let _ = writeln!(o, "TPOT = kvplan decode step of the decode worker at its batch (no prefill interleaved). TTFT 1 = one prefill on the prefill worker (queueing and KV transfer not modelled: a lower bound).\n");
                let _ = writeln!(o, "| model | GPU | engine | rows | TPOT | TTFT 1 |");
                let _ = writeln!(o, "|---|---|---|---:|---|---|");
                for g in rows {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} | {} |",
                        g.key.1,
                        g.key.2,
                        g.key.3,
                        g.n,
                        fmt3(g.tpot),
                        fmt3(g.ttft_single)
                    );
                }
            }
        }
    }
    // Aggregated rows by sequences per replica and by the decode bound.
    let agg: Vec<&RowResult> = ev.results.iter().filter(|r| r.mode == Mode::Agg).collect();
    if !agg.is_empty() {
        let _ = writeln!(o, "\n## Aggregated TPOT by sequences per replica\n");
        let _ = writeln!(
            o,
            "| sequences per replica | rows | TPOT | TPOT+prefill | overhead share of predicted step | communication share |"
        );
        let _ = writeln!(o, "|---|---:|---|---|---:|---:|");
        for (lo, hi) in [(1, 8), (9, 32), (33, 128), (129, u64::MAX)] {
            let rs: Vec<&&RowResult> = agg
                .iter()
                .filter(|r| r.batch_local >= lo && r.batch_local <= hi)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let label = if hi == u64::MAX {
                format!("> {}", lo - 1)
            } else {
                format!("{lo}–{hi}")
            };
            let m = |g: &dyn Fn(&RowResult) -> f64| spread(rs.iter().map(|r| g(r)).collect());
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} | {:.2} | {:.2} |",
                rs.len(),
                fmt3(m(&|r| r.tpot_predicted / r.tpot_measured)),
                fmt3(m(&|r| r.tpot_with_prefill / r.tpot_measured)),
                m(&|r| r.step_shares.2).1,
                m(&|r| r.step_shares.1).1,
            );
        }
        let _ = writeln!(o, "\n| decode bound (kvplan) | rows | TPOT |");
        let _ = writeln!(o, "|---|---:|---|");
        let mut by_bound: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for r in &agg {
            by_bound
                .entry(r.bound)
                .or_default()
                .push(r.tpot_predicted / r.tpot_measured);
        }
        for (b, v) in by_bound {
            let _ = writeln!(o, "| {b} | {} | {} |", v.len(), fmt3(spread(v)));
        }
        let no_fit = agg.iter().filter(|r| !r.fits).count();
        let _ = writeln!(
            o,
            "\n{no_fit} of {} aggregated rows do not fit kvplan's memory plan at their concurrency (the engine would queue or preempt; kept in the statistics).",
            agg.len()
        );
    }
    let _ = writeln!(o, "\n## Skipped rows\n");
    let _ = writeln!(o, "| reason | rows |");
    let _ = writeln!(o, "|---|---:|");
    let mut sk: Vec<(&String, &usize)> = ev.skipped.iter().collect();
    sk.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (why, n) in sk {
        let _ = writeln!(o, "| {why} | {n} |");
    }
    let _ = writeln!(o, "\n## Assumptions applied\n");
    let _ = writeln!(o, "| assumption | rows |");
    let _ = writeln!(o, "|---|---:|");
    for (n, c) in &ev.notes {
        let _ = writeln!(o, "| {n} | {c} |");
    }
    o
}

/// One line per used row (for analysis).
pub fn rows_csv(ev: &Evaluation) -> String {
    let mut o = String::from("id,mode,model,gpu,engine,weights,kv,tp,pp,dp,ep,isl,osl,concurrency,batch_local,bound,fits,tpot_measured_ms,tpot_predicted_ms,tpot_with_prefill_ms,ttft_measured_ms,ttft_single_ms,ttft_wave_ms,roof_share,comm_share,overhead_share,memory_ms,compute_ms,comm_ms,overhead_ms,weight_gb,kv_gb,layers,moe_layers,mtp,isl_mean,osl_mean,serving_ttft_ms,serving_tpot_ms\n");
    for r in &ev.results {
        let _ = writeln!(
            o,
            "{},{:?},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{},{},{},{},{},{},{}",
            r.id,
            r.mode,
            r.model,
            r.gpu,
            r.engine,
            r.formats.0,
            r.formats.1,
            r.layout.tp,
            r.layout.pp,
            r.layout.dp,
            r.layout.ep,
            r.isl,
            r.osl,
            r.concurrency,
            r.batch_local,
            r.bound,
            r.fits,
            r.tpot_measured * 1e3,
            r.tpot_predicted * 1e3,
            r.tpot_with_prefill * 1e3,
            r.ttft_measured * 1e3,
            r.ttft_single * 1e3,
            r.ttft_wave * 1e3,
            r.step_shares.0,
            r.step_shares.1,
            r.step_shares.2,
            r.step.memory_seconds * 1e3,
            r.step.compute_seconds * 1e3,
            r.step.communication_seconds * 1e3,
            r.step.overhead_seconds * 1e3,
            r.step.weight_bytes_read / 1e9,
            r.step.kv_bytes_read / 1e9,
            r.layers.0,
            r.layers.1,
            r.mtp,
            r.isl_mean,
            r.osl_mean,
            r.serving.map_or(String::new(), |s| format!("{:.3}", s.0 * 1e3)),
            r.serving.map_or(String::new(), |s| format!("{:.4}", s.1 * 1e3)),
        );
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut path = DEFAULT_CSV.to_string();
    let mut opt = Options {
        serving: true,
        ..Options::default()
    };
    let mut rows_out = None;
    let mut score_mode = Mode::Agg;
    let mut fit_on: Option<String> = None;
    let mut held_out_full = false;
    let mut fit_serving_flag = false;
    let mut it = args.iter();
    let usage = "usage: silicon_check [CSV] [--kv fp8|bf16] [--layer-us N] [--step-us N] \
                 [--mode agg|disagg] [--fit-on Blackwell|Hopper] [--no-serving] [--max-sim-requests N] [--eager-layer-us N] [--prefill-seq-us N] [--request-us N] [--prefill-scale K] [--matmul F] [--fit-serving] [--held-out-full] [--no-mtp] [--no-adp-balance] [--no-recv-interval] [--no-aic-limits] [--no-ix-recipes] [--mtp-acceptance A] [--mtp-drafts-by-recipe] [--rows OUT.csv]\n\
                 CSV: aiconfigurator's silicon_sample.csv layout or the AMD serving-runs layout \
                 (detected from the header); default tests/fixtures/silicon/subset.csv";
    let micros = |v: Option<&String>, flag: &str| -> f64 {
        match v.and_then(|v| v.parse::<f64>().ok()).filter(|v| *v >= 0.0) {
            Some(v) => v * 1e-6,
            None => {
                eprintln!("error: {flag} needs a number of microseconds\n{usage}");
                std::process::exit(2)
            }
        }
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kv" => opt.kv_override = it.next().cloned(),
            "--layer-us" => opt.layer_overhead_s = Some(micros(it.next(), "--layer-us")),
            "--step-us" => opt.step_overhead_s = Some(micros(it.next(), "--step-us")),
            "--mode" => {
                score_mode = match it.next().map(String::as_str) {
                    Some("agg") => Mode::Agg,
                    Some("disagg") => Mode::Disagg,
                    _ => {
                        eprintln!("error: --mode takes agg or disagg\n{usage}");
                        std::process::exit(2)
                    }
                }
            }
            "--fit-on" => fit_on = it.next().cloned(),
            "--held-out-full" => held_out_full = true,
            "--no-serving" => opt.serving = false,
            "--eager-layer-us" => {
                opt.sched.eager_layer_s = Some(micros(it.next(), "--eager-layer-us"))
            }
            "--prefill-seq-us" => {
                opt.sched.prefill_seq_s = Some(micros(it.next(), "--prefill-seq-us"))
            }
            "--request-us" => opt.sched.request_s = Some(micros(it.next(), "--request-us")),
            "--prefill-scale" => {
                opt.sched.prefill_scale = it
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| *v >= 1.0);
                if opt.sched.prefill_scale.is_none() {
                    eprintln!("error: --prefill-scale takes a number ≥ 1\n{usage}");
                    std::process::exit(2)
                }
            }
            "--fit-serving" => fit_serving_flag = true,
            "--matmul" => {
                opt.eff.matmul = it
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| *v > 0.0 && *v <= 1.0)
                    .unwrap_or_else(|| {
                        eprintln!("error: --matmul takes a fraction in (0, 1]\n{usage}");
                        std::process::exit(2)
                    });
            }
            "--max-sim-requests" => {
                opt.max_sim_requests = it.next().and_then(|v| v.parse().ok());
            }
            "--rows" => rows_out = it.next().cloned(),
            "--no-mtp" => opt.ignore_mtp = true,
            "--no-adp-balance" => opt.no_adp_balance = true,
            "--no-recv-interval" => opt.no_recv_interval = true,
            "--no-aic-limits" => opt.no_aic_limits = true,
            "--no-ix-recipes" => opt.no_ix_recipes = true,
            "--mtp-drafts-by-recipe" => opt.mtp_drafts_by_recipe = true,
            "--mtp-acceptance" => {
                opt.mtp_acceptance = it
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| (0.0..=1.0).contains(v));
                if opt.mtp_acceptance.is_none() {
                    eprintln!("error: --mtp-acceptance takes a fraction in [0, 1]\n{usage}");
                    std::process::exit(2)
                }
            }
            "-h" | "--help" => {
                println!("{usage}");
                return;
            }
            p => path = p.to_string(),
        }
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("error: {path}: {e}");
        std::process::exit(2)
    });
    let parsed = if is_amd_layout(&text) {
        parse_amd_csv(&text)
    } else {
        parse_csv(&text)
    };
    let records = parsed.unwrap_or_else(|e| {
        eprintln!("error: {path}: {e}");
        std::process::exit(2)
    });
    let cat = Catalog::builtin().expect("built-in catalogue");
    let ev = evaluate(&records, &cat, &opt);
    let mut what_if = Vec::new();
    if let Some(k) = &opt.kv_override {
        what_if.push(format!("KV dtype {k} for every row"));
    }
    if let Some(t) = opt.layer_overhead_s {
        what_if.push(format!(
            "what-if: fixed decode cost {:.0} µs per layer for every engine",
            t * 1e6
        ));
    }
    if let Some(t) = opt.step_overhead_s {
        what_if.push(format!(
            "what-if: fixed decode cost {:.0} µs per step for every engine",
            t * 1e6
        ));
    }
    let mut out = String::new();
    let _ = writeln!(out, "# kvplan against measured serving runs\n");
    let _ = writeln!(out, "## Accuracy ({score_mode:?} rows)\n");
    for p in [Predictor::Step, Predictor::Serving] {
        let sc = scorecard(&ev, p, score_mode, &|_| true);
        if sc.pooled.is_some() {
            out.push_str(&scorecard_md(&sc, "All mapped rows"));
        }
    }
    if let Some(family) = &fit_on {
        let (train, test): (Vec<Record>, Vec<Record>) = records
            .iter()
            .cloned()
            .partition(|r| record_family(r).eq_ignore_ascii_case(family));
        let fit = fit_step_overheads(&train, &cat, &opt);
        let fitted = Options {
            step_overhead_s: Some(fit.per_step_s),
            layer_overhead_s: Some(fit.per_layer_s),
            ..opt.clone()
        };
        let _ = writeln!(
            out,
            "## Cross-GPU out-of-sample (per-step model)\n\nFITTED on the {} {family} aggregated rows: \
             {:.0} µs per step + {:.1} µs per layer (TPOT MAPE {} in sample). Scored with those \
             constants on the rows of the other GPU families:\n",
            fit.rows,
            fit.per_step_s * 1e6,
            fit.per_layer_s * 1e6,
            pct(fit.tpot_mape)
        );
        let held = evaluate(&test, &cat, &fitted);
        out.push_str(&scorecard_md(
            &scorecard(&held, Predictor::Step, score_mode, &|_| true),
            &format!("Held out (not {family})"),
        ));
    }
    if fit_serving_flag {
        let fits = fit_serving(&records, &cat, &opt, 3);
        let _ = writeln!(
            out,
            "## Serving knobs FITTED on every third aggregated row of each engine (in sample)\n"
        );
        out.push_str(&fits_md(&fits, "all GPUs"));
        if let Some(family) = &fit_on {
            let (train, test): (Vec<Record>, Vec<Record>) = records
                .iter()
                .cloned()
                .partition(|r| record_family(r).eq_ignore_ascii_case(family));
            let fits = fit_serving(&train, &cat, &opt, 2);
            let _ = writeln!(
                out,
                "## Cross-GPU out-of-sample (serving simulator)\n\nKnobs FITTED on every second {family} aggregated row of each engine:\n"
            );
            out.push_str(&fits_md(&fits, family));
            // `--held-out-full`: fit at `--max-sim-requests`, score the held-out
            // rows at the benchmark's own request counts.
            let score_opt = Options {
                max_sim_requests: if held_out_full {
                    None
                } else {
                    opt.max_sim_requests
                },
                ..opt.clone()
            };
            let held = evaluate_with_fits(&test, &cat, &score_opt, &fits);
            out.push_str(&scorecard_md(
                &scorecard(&held, Predictor::Serving, score_mode, &|_| true),
                &format!("Held out (not {family}), knobs fitted on {family}"),
            ));
        }
    }
    if score_mode == Mode::Disagg && opt.serving {
        let _ = writeln!(out, "## Disaggregated simulator\n");
        out.push_str(&disagg_md(
            &ev,
            &|r| !r.layout_from_inferencex,
            disagg_rows_with_counts(&records),
            "Disaggregated rows with worker counts",
            "disaggregated rows that record their worker counts",
        ));
        out.push_str(&disagg_md(
            &ev,
            &|r| r.layout_from_inferencex,
            disagg_rows_with_inferencex_layouts(&records),
            "Disaggregated rows whose worker counts only InferenceX records (inferencex_layouts.csv)",
            "such rows",
        ));
        for (mtp, what) in [(false, "without"), (true, "with")] {
            let mut seen = HashSet::new();
            let n = records
                .iter()
                .filter(|r| seen.insert(measurement_key(r)))
                .filter(|r| r.layout_from_inferencex && (r.mtp == Some(true)) == mtp)
                .count();
            out.push_str(&disagg_md(
                &ev,
                &|r| r.layout_from_inferencex && r.mtp == mtp,
                n,
                &format!("Those rows {what} MTP"),
                "such rows",
            ));
        }
    }
    out.push_str(&report(&ev, &path, &what_if));
    print!("{out}");
    if let Some(o) = rows_out {
        std::fs::write(&o, rows_csv(&ev)).unwrap_or_else(|e| {
            eprintln!("error: {o}: {e}");
            std::process::exit(2)
        });
    }
}
