//! Calibration profiles: what a GPU really achieved, measured by `kvplan
//! probe`, stored as `profiles/gpus/<gpu>.yaml` and read by
//! `estimate --profile` to replace datasheet peaks with measured ones.
//!
//! The types only derive serde (unknown fields are refused, so a typo in a
//! hand-edited profile is an error, not a silently ignored number); reading
//! and writing YAML is the yaml module's job.

use serde::{Deserialize, Serialize};

use crate::measure::{AllReduceSample, ProbeDtype, ProbeReport};

/// A measured profile of one GPU model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// GPU name as in kvplan's gpu-specs (e.g. "H200").
    pub gpu: String,
    /// Device name as the driver reports it (e.g. "NVIDIA H200").
    pub device_name: String,
    /// Driver version the measurements ran under (e.g. "580.159.04").
    #[serde(default)]
    pub driver: String,
    /// Date of the measurements, YYYY-MM-DD (UTC).
    pub date: String,
    /// Streaming-read bandwidth (16-byte loads over a multi-GiB buffer), bytes/s.
    pub read_bandwidth_bytes_per_s: f64,
    /// Device-to-device copy bandwidth, bytes read + written per second.
    pub copy_bandwidth_bytes_per_s: f64,
    /// Matmul samples (decode shapes and the large square ceiling).
    #[serde(default)]
    pub gemm: Vec<GemmSample>,
    /// Decode-attention samples.
    #[serde(default)]
    pub attention: Vec<AttentionSample>,
    /// Whole synthetic decode steps.
    #[serde(default)]
    pub decode_step: Vec<DecodeStepSample>,
    /// NCCL all-reduce samples (empty for a single-GPU machine).
    #[serde(default)]
    pub allreduce: Vec<AllReduceEntry>,
    /// read_bandwidth / datasheet memory bandwidth.
    pub bandwidth_efficiency: f64,
    /// Large bf16 GEMM FLOP/s / datasheet dense bf16 FLOP/s.
    pub gemm_efficiency_bf16: f64,
    /// Decode attention bytes/s / datasheet memory bandwidth, per kind.
    #[serde(default)]
    pub attention_bandwidth_efficiency: AttentionEfficiency,
    /// Fixed cost of one kernel inside a CUDA graph (seconds per node of a
    /// dependent chain of one-thread kernels): what every kernel of a
    /// graph-captured decode step costs at least.
    #[serde(default)]
    pub kernel_floor_seconds_graph: Option<f64>,
    /// The same kernel launched eagerly, back to back from the host.
    #[serde(default)]
    pub kernel_floor_seconds_eager: Option<f64>,
    /// Fixed cost of one tiny cuBLAS GEMM (1×256×256 bf16) inside a CUDA graph.
    #[serde(default)]
    pub gemm_floor_seconds_graph: Option<f64>,
    /// The same GEMM launched eagerly.
    #[serde(default)]
    pub gemm_floor_seconds_eager: Option<f64>,
}

fn one() -> u64 {
    1
}

fn is_one(x: &u64) -> bool {
    *x == 1
}

fn is_false(x: &bool) -> bool {
    !*x
}

/// One timed matmul `y[m×n] = x[m×k]·Wᵀ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmSample {
    /// Rows (decode batch).
    pub m: u64,
    /// Output features.
    pub n: u64,
    /// Input features.
    pub k: u64,
    /// Weight dtype measured (`bf16`, `fp16`, `fp8` in the profile).
    pub dtype: ProbeDtype,
    /// Seconds per matmul (median; for a strided batch of `count`
    /// matrices, the call's time / count).
    pub seconds: f64,
    /// 2·m·n·k / seconds.
    pub flops_per_s: f64,
    /// Matrices per call (a strided-batched expert GEMM), 1 otherwise.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
}

/// Kind of attention an [`AttentionSample`] measured (defined with the probe's types).
pub use crate::measure::AttentionKind;

/// One layer's decode attention over the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionSample {
    /// gqa | mla.
    pub kind: AttentionKind,
    /// Sequences.
    pub batch: u64,
    /// Tokens per sequence.
    pub context: u64,
    /// Seconds per layer (median).
    pub seconds: f64,
    /// Fewest bytes moved (cache + queries + outputs) / seconds.
    pub bytes_per_s: f64,
    /// Query heads on the GPU (the kernel's efficiency depends on the shape).
    #[serde(default)]
    pub q_heads: Option<u64>,
    /// KV heads on the GPU (GQA) or 1 (MLA latent).
    #[serde(default)]
    pub kv_heads: Option<u64>,
}

/// One whole synthetic decode step of a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeStepSample {
    /// Sequences.
    pub batch: u64,
    /// Tokens per sequence.
    pub context: u64,
    /// Layers on the GPU.
    pub layers: u64,
    /// Seconds per step (median): CUDA-graph replays when `graph`, else
    /// eager launches.
    pub seconds: f64,
    /// True when `seconds` was timed as CUDA-graph replays.
    #[serde(default, skip_serializing_if = "is_false")]
    pub graph: bool,
    /// The same step launched eagerly (when `graph`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager_seconds: Option<f64>,
}

/// One all-reduce message size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllReduceEntry {
    /// GPUs taking part.
    pub gpus: u64,
    /// Message bytes per GPU.
    pub bytes: u64,
    /// Seconds per all-reduce (median).
    pub seconds: f64,
    /// Bus bandwidth, bytes/s (NCCL-tests convention).
    pub busbw_bytes_per_s: f64,
}

/// Decode-attention bandwidth efficiency per kind (best large-cache sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionEfficiency {
    /// GQA/MHA bytes/s over datasheet bandwidth.
    #[serde(default)]
    pub gqa: Option<f64>,
    /// MLA bytes/s over datasheet bandwidth.
    #[serde(default)]
    pub mla: Option<f64>,
}

/// Samples whose cache is at least this large count for the attention
/// efficiency (small caches are launch- or L2-dominated).
const LARGE_CACHE_BYTES: u64 = 1 << 30;

/// "NVIDIA H200" → "H200"; "NVIDIA H100 80GB HBM3" → "H100".
pub fn gpu_short_name(device_name: &str) -> String {
    let s = device_name.trim();
    let s = s.strip_prefix("NVIDIA ").unwrap_or(s);
    s.split_whitespace().next().unwrap_or(s).to_string()
}

/// Civil date (YYYY-MM-DD, UTC) of a Unix time in seconds.
pub fn date_from_unix(secs: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today's date (UTC), YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    date_from_unix(secs)
}

impl Calibration {
    /// Decode-shaped GEMM time as `fixed + bytes / stream_bytes_per_s`, least
    /// squares over the bf16 samples with m ≤ 64 (time of the whole call =
    /// seconds × count, bytes = n·k·2·count). The fixed part is stated for a
    /// CUDA graph: the launch cost the graph removes (eager − graph kernel
    /// floor) is subtracted. None with fewer than two distinct sizes.
    pub fn gemm_time_model(&self) -> Option<(f64, f64)> {
        let pts: Vec<(f64, f64)> = self
            .gemm
            .iter()
            .filter(|g| g.m <= 64 && g.dtype == ProbeDtype::Bf16 && g.seconds > 0.0)
            .map(|g| {
                (
                    (g.n * g.k * 2 * g.count.max(1)) as f64,
                    g.seconds * g.count.max(1) as f64,
                )
            })
            .collect();
        let n = pts.len() as f64;
        if pts.len() < 2 {
            return None;
        }
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        if sxx <= 0.0 {
            return None;
        }
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
        if slope <= 0.0 {
            return None;
        }
        let launch = match (
            self.kernel_floor_seconds_eager,
            self.kernel_floor_seconds_graph,
        ) {
            (Some(e), Some(g)) if e > g => e - g,
            _ => 0.0,
        };
        let fixed = (my - slope * mx - launch).max(0.0);
        Some((fixed, 1.0 / slope))
    }

    /// Decode-attention bytes/s measured for this kernel shape: the sample of
    /// the same kind and heads with the largest cache, else the largest of
    /// the kind. Attention kernels' efficiency depends on the head layout
    /// (e.g. 4 KV heads × 8 query heads each reads less efficiently than 8 × 4).
    pub fn attention_bytes_per_s(
        &self,
        kind: AttentionKind,
        q_heads: u64,
        kv_heads: u64,
    ) -> Option<f64> {
        let of_kind = || self.attention.iter().filter(|a| a.kind == kind);
        let largest = |it: &mut dyn Iterator<Item = &AttentionSample>| {
            it.max_by(|a, b| (a.seconds * a.bytes_per_s).total_cmp(&(b.seconds * b.bytes_per_s)))
                .map(|a| a.bytes_per_s)
        };
        largest(
            &mut of_kind().filter(|a| a.q_heads == Some(q_heads) && a.kv_heads == Some(kv_heads)),
        )
        .or_else(|| largest(&mut of_kind()))
    }

    /// Build a profile from one probe report. `datasheet_bw` (bytes/s) and
    /// `datasheet_bf16_flops` (FLOP/s) are the GPU's published peaks, which
    /// the efficiencies are stated against. `driver` and `date` are left for
    /// the caller to fill from `probe::inventory` (date is today).
    pub fn from_report(report: &ProbeReport, datasheet_bw: f64, datasheet_bf16_flops: f64) -> Self {
        Self::from_reports(
            std::slice::from_ref(report),
            datasheet_bw,
            datasheet_bf16_flops,
        )
    }

    /// Merge several reports of the same GPU model: samples are concatenated,
    /// the bandwidths and the GEMM ceiling are the medians over reports, the
    /// attention efficiencies are the best large-cache sample of each kind.
    /// Panics on an empty slice (there is nothing to calibrate from).
    pub fn from_reports(
        reports: &[ProbeReport],
        datasheet_bw: f64,
        datasheet_bf16_flops: f64,
    ) -> Self {
        assert!(
            !reports.is_empty(),
            "Calibration::from_reports needs at least one report"
        );
        let med = |f: &dyn Fn(&ProbeReport) -> f64| {
            crate::measure::math::median(&reports.iter().map(f).collect::<Vec<_>>())
        };
        let read = med(&|r| r.bandwidth.read_bytes_per_s);
        let copy = med(&|r| r.bandwidth.copy_bytes_per_s);
        let ceiling = med(&|r| r.gemm_ceiling.flops_per_s);
        let mut gemm = vec![];
        let mut attention = vec![];
        let mut decode_step = vec![];
        let mut eff = AttentionEfficiency::default();
        for r in reports {
            let c = &r.gemm_ceiling;
            let mut push = |g: &crate::measure::GemmResult| {
                let s = GemmSample {
                    m: g.m,
                    n: g.n,
                    k: g.k,
                    dtype: g.dtype_measured,
                    seconds: g.seconds,
                    flops_per_s: g.flops_per_s,
                    count: if g.batched { g.count } else { 1 },
                };
                if !gemm.contains(&s) {
                    gemm.push(s);
                }
            };
            push(c);
            r.gemms.iter().for_each(&mut push);
            let kind = r.request.attention.kind();
            let (q_heads, kv_heads) = r.request.attention.heads();
            attention.push(AttentionSample {
                kind,
                batch: r.attention.batch,
                context: r.attention.context,
                seconds: r.attention.phase.seconds,
                bytes_per_s: r.attention.phase.bytes_per_s,
                q_heads: Some(q_heads),
                kv_heads: Some(kv_heads),
            });
            let cache = crate::measure::math::kv_layer_bytes(
                &r.request.attention,
                r.attention.batch,
                r.attention.context,
            );
            if cache >= LARGE_CACHE_BYTES {
                let e = r.attention.phase.bytes_per_s / datasheet_bw;
                let slot = match kind {
                    AttentionKind::Gqa => &mut eff.gqa,
                    AttentionKind::Mla => &mut eff.mla,
                };
                *slot = Some(slot.map_or(e, |x: f64| x.max(e)));
            }
            decode_step.push(DecodeStepSample {
                batch: r.request.batch,
                context: r.request.context_tokens,
                layers: r.request.layers,
                seconds: r.decode_step.seconds,
                graph: r.decode_step_graph,
                eager_seconds: r
                    .decode_step_eager
                    .as_ref()
                    .filter(|_| r.decode_step_graph)
                    .map(|p| p.seconds),
            });
        }
        let floor = |f: &dyn Fn(&crate::measure::KernelFloors) -> f64| {
            let v: Vec<f64> = reports
                .iter()
                .filter_map(|r| r.kernel_floors.as_ref().map(f))
                .collect();
            (!v.is_empty()).then(|| crate::measure::math::median(&v))
        };
        let first = &reports[0];
        Calibration {
            gpu: gpu_short_name(&first.device.name),
            device_name: first.device.name.clone(),
            driver: String::new(),
            date: today(),
            read_bandwidth_bytes_per_s: read,
            copy_bandwidth_bytes_per_s: copy,
            gemm,
            attention,
            decode_step,
            allreduce: vec![],
            bandwidth_efficiency: read / datasheet_bw,
            gemm_efficiency_bf16: ceiling / datasheet_bf16_flops,
            attention_bandwidth_efficiency: eff,
            kernel_floor_seconds_graph: floor(&|f| f.kernel_graph_s),
            kernel_floor_seconds_eager: floor(&|f| f.kernel_eager_s),
            gemm_floor_seconds_graph: floor(&|f| f.gemm_graph_s),
            gemm_floor_seconds_eager: floor(&|f| f.gemm_eager_s),
        }
    }

    /// Add all-reduce samples from `probe::allreduce_bandwidth`.
    pub fn add_allreduce(&mut self, samples: &[AllReduceSample]) {
        self.allreduce
            .extend(samples.iter().map(|s| AllReduceEntry {
                gpus: s.devices.len() as u64,
                bytes: s.bytes,
                seconds: s.seconds,
                busbw_bytes_per_s: s.busbw_bytes_per_s,
            }));
    }

    /// Merge another profile of the same GPU into this one: samples are
    /// appended (duplicates dropped), bandwidths, efficiencies and kernel
    /// floors become the mean of the two (attention efficiencies: the larger;
    /// a floor only one side has is kept), the date the later.
    pub fn merge(&mut self, other: &Calibration) {
        let mean = |a: f64, b: f64| 0.5 * (a + b);
        self.read_bandwidth_bytes_per_s = mean(
            self.read_bandwidth_bytes_per_s,
            other.read_bandwidth_bytes_per_s,
        );
        self.copy_bandwidth_bytes_per_s = mean(
            self.copy_bandwidth_bytes_per_s,
            other.copy_bandwidth_bytes_per_s,
        );
        self.bandwidth_efficiency = mean(self.bandwidth_efficiency, other.bandwidth_efficiency);
        self.gemm_efficiency_bf16 = mean(self.gemm_efficiency_bf16, other.gemm_efficiency_bf16);
        fn extend<T: PartialEq + Clone>(a: &mut Vec<T>, b: &[T]) {
            for x in b {
                if !a.contains(x) {
                    a.push(x.clone());
                }
            }
        }
        extend(&mut self.gemm, &other.gemm);
        extend(&mut self.attention, &other.attention);
        extend(&mut self.decode_step, &other.decode_step);
        extend(&mut self.allreduce, &other.allreduce);
        let best = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        self.attention_bandwidth_efficiency.gqa = best(
            self.attention_bandwidth_efficiency.gqa,
            other.attention_bandwidth_efficiency.gqa,
        );
        self.attention_bandwidth_efficiency.mla = best(
            self.attention_bandwidth_efficiency.mla,
            other.attention_bandwidth_efficiency.mla,
        );
        let avg = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(mean(x, y)),
            (x, y) => x.or(y),
        };
        self.kernel_floor_seconds_graph = avg(
            self.kernel_floor_seconds_graph,
            other.kernel_floor_seconds_graph,
        );
        self.kernel_floor_seconds_eager = avg(
            self.kernel_floor_seconds_eager,
            other.kernel_floor_seconds_eager,
        );
        self.gemm_floor_seconds_graph = avg(
            self.gemm_floor_seconds_graph,
            other.gemm_floor_seconds_graph,
        );
        self.gemm_floor_seconds_eager = avg(
            self.gemm_floor_seconds_eager,
            other.gemm_floor_seconds_eager,
        );
        if other.date > self.date {
            self.date = other.date.clone();
        }
    }
}

/// The built-in calibration profiles (profiles/gpus/*.yaml, embedded), by
/// name (the file stem, e.g. "H200"): (path, text). Shared by the CLI's
/// `--profile` and the server's `profile` field.
pub fn builtin_profile(name: &str) -> Option<(&'static str, &'static str)> {
    crate::spec::builtin_gpu_profiles()
        .iter()
        .copied()
        .find(|(path, _)| profile_stem(path).eq_ignore_ascii_case(name.trim()))
}

/// Names of the built-in calibration profiles, for error messages.
pub fn builtin_profile_names() -> Vec<String> {
    crate::spec::builtin_gpu_profiles()
        .iter()
        .map(|(p, _)| profile_stem(p))
        .collect()
}

fn profile_stem(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parse profile `text` (from `origin`) and turn it into efficiencies for
/// `s`, refusing a profile measured on another GPU than the scenario's.
pub fn efficiency_from_profile(
    text: &str,
    origin: &str,
    s: &crate::scenario::Scenario,
) -> crate::error::Result<crate::perf::Efficiency> {
    let cal: Calibration = crate::yaml::from_str(text, origin)?;
    let gpu = &s.cluster.gpu;
    if !cal.gpu.eq_ignore_ascii_case(&gpu.name) {
        return Err(crate::error::Error::input(
            "profile",
            format!(
                "profile {origin} was measured on {} but the plan's GPU is {}",
                cal.gpu, gpu.name
            ),
        ));
    }
    Ok(crate::perf::Efficiency::from_calibration(&cal, s, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_unix_time() {
        assert_eq!(date_from_unix(0), "1970-01-01");
        // 2000-02-29 00:00:00 UTC = 951782400 (leap day).
        assert_eq!(date_from_unix(951_782_400), "2000-02-29");
        // 2026-11-28 12:00 UTC = 1795867200.
        assert_eq!(date_from_unix(1_795_867_200), "2026-11-28");
    }

    #[test]
    fn shipped_h200_profile_parses_and_is_consistent() {
        let text = include_str!("../profiles/gpus/H200.yaml");
        let c: Calibration = serde_norway::from_str(text).expect("H200.yaml matches the schema");
        assert_eq!(c.gpu, "H200");
        // Efficiencies restate the bandwidths against the 4.8 TB/s datasheet.
        assert!((c.bandwidth_efficiency - c.read_bandwidth_bytes_per_s / 4.8e12).abs() < 1e-3);
        assert!(c.copy_bandwidth_bytes_per_s < c.read_bandwidth_bytes_per_s);
        assert!(c
            .gemm
            .iter()
            .any(|g| g.m == 8192 && g.n == 8192 && g.k == 8192));
        assert!(c.attention.iter().any(|a| a.kind == AttentionKind::Mla));
        let gqa = c.attention_bandwidth_efficiency.gqa.unwrap();
        assert!(gqa > 0.5 && gqa < 1.0);
        let again: Calibration =
            serde_norway::from_str(&serde_norway::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = include_str!("../profiles/gpus/H200.yaml")
            .replace("gpu: H200", "gpu: H200\nbandwith: 1");
        assert!(serde_norway::from_str::<Calibration>(&text).is_err());
    }

    #[test]
    fn merge_keeps_samples_and_averages_bandwidth() {
        let text = include_str!("../profiles/gpus/H200.yaml");
        let a: Calibration = serde_norway::from_str(text).unwrap();
        let mut b = a.clone();
        b.read_bandwidth_bytes_per_s *= 0.5;
        b.date = "2027-01-01".into();
        b.attention_bandwidth_efficiency.gqa = Some(0.99);
        let mut m = a.clone();
        m.merge(&b);
        assert!((m.read_bandwidth_bytes_per_s - 0.75 * a.read_bandwidth_bytes_per_s).abs() < 1.0);
        assert_eq!(m.gemm.len(), a.gemm.len()); // duplicates dropped
        assert_eq!(m.date, "2027-01-01");
        assert_eq!(m.attention_bandwidth_efficiency.gqa, Some(0.99));
    }

    #[test]
    fn from_reports_of_a_real_h200_run() {
        // Two reports of the third H200 device run (probe/NOTES.md).
        let reports: Vec<ProbeReport> =
            serde_json::from_str(include_str!("../probe/sample_reports.json")).unwrap();
        let c = Calibration::from_reports(&reports, 4.8e12, 989e12);
        assert_eq!(c.gpu, "H200");
        assert_eq!(c.attention.len(), 2);
        assert_eq!(c.decode_step.len(), 2);
        // Median of two = mean of the two reports' read bandwidths.
        let mean =
            0.5 * (reports[0].bandwidth.read_bytes_per_s + reports[1].bandwidth.read_bytes_per_s);
        assert!((c.read_bandwidth_bytes_per_s - mean).abs() < 1.0);
        assert!((c.bandwidth_efficiency - mean / 4.8e12).abs() < 1e-12);
        // Both caches are ≥ 1 GiB per layer, so both kinds get an efficiency.
        let g = c.attention_bandwidth_efficiency.gqa.unwrap();
        assert!((g - reports[0].attention.phase.bytes_per_s / 4.8e12).abs() < 1e-12);
        assert!(c.attention_bandwidth_efficiency.mla.is_some());
        // Ceiling + 4 Llama shapes + 8 DeepSeek shapes.
        assert_eq!(c.gemm.len(), 1 + 4 + 8 + 1);
        let one = Calibration::from_report(&reports[0], 4.8e12, 989e12);
        assert_eq!(one.attention.len(), 1);
        assert!(one.attention_bandwidth_efficiency.mla.is_none());
    }

    #[test]
    fn kernel_floors_and_graph_steps() {
        // Reports from before CUDA graphs: no floors, eager steps.
        let mut reports: Vec<ProbeReport> =
            serde_json::from_str(include_str!("../probe/sample_reports.json")).unwrap();
        let old = Calibration::from_reports(&reports, 4.8e12, 989e12);
        assert!(old.kernel_floor_seconds_graph.is_none());
        assert!(old
            .decode_step
            .iter()
            .all(|d| !d.graph && d.eager_seconds.is_none()));
        // With floors and a graph-timed step.
        for (i, r) in reports.iter_mut().enumerate() {
            r.kernel_floors = Some(crate::measure::KernelFloors {
                kernel_eager_s: 2e-6,
                kernel_graph_s: 1e-6 * (i + 1) as f64,
                gemm_eager_s: 6e-6,
                gemm_graph_s: 3e-6,
                gemm_shape: "1×256×256 bf16".into(),
                graph_nodes: 200,
            });
            r.decode_step_eager = Some(r.decode_step.clone());
            r.decode_step_graph = true;
        }
        let c = Calibration::from_reports(&reports, 4.8e12, 989e12);
        assert_eq!(c.kernel_floor_seconds_graph, Some(1.5e-6));
        assert_eq!(c.gemm_floor_seconds_eager, Some(6e-6));
        assert!(c
            .decode_step
            .iter()
            .all(|d| d.graph && d.eager_seconds.is_some()));
        let text = serde_norway::to_string(&c).unwrap();
        let again: Calibration = serde_norway::from_str(&text).unwrap();
        assert_eq!(again, c);
        let mut m = old.clone();
        m.merge(&c);
        assert_eq!(m.kernel_floor_seconds_graph, Some(1.5e-6));
    }

    #[test]
    fn short_names() {
        assert_eq!(gpu_short_name("NVIDIA H200"), "H200");
        assert_eq!(gpu_short_name("NVIDIA H100 80GB HBM3"), "H100");
        assert_eq!(gpu_short_name("H800"), "H800");
    }
}
