//! `kvplan probe`: check a plan on the real GPU. Lists GPUs (NVML), or
//! builds the per-GPU plan, allocates its weights and KV cache for real,
//! times decode-like work, prints measured next to predicted and writes a
//! calibration profile that later estimates use with `--profile`.

use super::{Format, ScenarioArgs};
use crate::error::{Error, Result};
pub use crate::measure::ProbeRun;
use crate::spec::Catalog;
use crate::units::{parse_bytes, parse_tokens};
use clap::Args;
#[cfg(feature = "gpu")]
use {
    super::{estimate::efficiency_for, CliModels},
    crate::calibration::Calibration,
    crate::estimate::estimate,
    crate::probe::{self, shard, ProbeEvent, ProbeReport},
    crate::request::resolve_with,
    crate::units::{gib, seconds},
    comfy_table::{presets, Table},
    std::io::Write,
};

/// `probe` options.
#[derive(Debug, Args)]
// MODEL and --gpus are required by estimate/plan but not by `probe --list`:
// here they default to empty and `run` checks them.
#[command(mut_arg("model", |a| a.required(false).default_value("")))]
#[command(mut_arg("gpus", |a| a.required(false).default_value("")))]
#[command(
    after_help = "Examples:\n  kvplan probe --list\n  kvplan probe llama-3.1-8b --gpus H200 --ctx 8k --batch 16\n  kvplan probe llama-3.1-8b --gpus H200 --points 1x1k,16x8k,64x8k --out profiles/gpus/H200.yaml\n  kvplan probe deepseek-v2-lite --gpus H200 --points 16x4k --report probe.json\n  kvplan probe --allreduce --devices 0,1"
)]
pub struct ProbeArgs {
    /// List the GPUs NVML sees (driver, memory, clocks, links) and exit.
    #[arg(long)]
    pub list: bool,
    /// Measure NCCL all-reduce bus bandwidth between the GPUs in --devices.
    #[arg(long)]
    pub allreduce: bool,
    /// GPUs for --allreduce, e.g. 0,1.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<usize>,
    /// The plan to prove (model and the estimate flags).
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Decode batch (whole deployment); ignored with --points.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Several batch×context points in one run, e.g. 1x1k,16x8k,64x8k.
    #[arg(long, value_delimiter = ',')]
    pub points: Vec<String>,
    /// CUDA device to probe.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Memory to leave free on the GPU.
    #[arg(long, default_value = "2GiB")]
    pub margin: String,
    /// Write (or merge into) this calibration profile (YAML).
    #[arg(long)]
    pub out: Option<String>,
    /// Write the full probe reports as JSON here.
    #[arg(long)]
    pub report: Option<String>,
    /// Output format for --list.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Run `probe` in a build without the `gpu` feature: check the arguments as
/// the real run does, then say what is missing.
#[cfg(not(feature = "gpu"))]
pub fn run(_catalog: &Catalog, a: &ProbeArgs) -> Result<()> {
    if !a.list && !a.allreduce {
        checked_points(a)?;
    }
    Err(Error::missing_feature("gpu", "`kvplan probe`"))
}

/// The safety margin and the batch×context points of a plan probe.
fn checked_points(a: &ProbeArgs) -> Result<(u64, Vec<(u64, u64)>)> {
    let sa = &a.scenario;
    if sa.model.is_empty() || sa.gpus.is_empty() {
        return Err(Error::input("model", "give a model and --gpus to probe (e.g. kvplan probe llama-3.1-8b --gpus H200), or --list"));
    }
    Ok((parse_bytes(&a.margin, "margin")?, parse_points(a, sa)?))
}

/// Run `probe`.
#[cfg(feature = "gpu")]
pub fn run(catalog: &Catalog, a: &ProbeArgs) -> Result<()> {
    if a.list {
        let inv = probe::inventory().map_err(|e| Error::Environment(e.to_string()))?;
        match a.format {
            Format::Json | Format::Yaml => super::print_data(&inv, a.format)?,
            _ => crate::out!("{}", inv.table()),
        }
        return Ok(());
    }
    if a.allreduce {
        return allreduce(a);
    }
    let sa = &a.scenario;
    let (margin, points) = checked_points(a)?;
    // Fail fast, before any plan is printed, where there is no driver or no such GPU.
    let inv = probe::inventory().map_err(|e| Error::Environment(e.to_string()))?;
    if a.device >= inv.gpus.len() {
        return Err(Error::input(
            "device",
            format!(
                "GPU {} does not exist; this machine has {} GPU(s) (see `kvplan probe --list`)",
                a.device,
                inv.gpus.len()
            ),
        ));
    }
    let mut reports = Vec::new();
    let mut runs = Vec::new();
    let mut gpu_spec = None;
    for (batch, ctx) in points {
        let mut sa = sa.clone();
        sa.ctx = Some(ctx.to_string());
        let r = resolve_with(&sa.request(Some(batch)), catalog, &CliModels)?;
        let s = &r.scenario;
        let eff = efficiency_for(&sa, s)?;
        let est = estimate(s, &eff, r.tokens_per_step)?;
        let req = shard::request(
            s,
            &est.memory,
            &eff,
            s.batch_per_replica(),
            ctx,
            margin,
            a.device,
        );
        crate::errln!(
            "probing {} on GPU {}: stage {} ({} layers), weights {}, KV {} ({} seq × {} tokens)",
            s.model.display_name,
            a.device,
            est.memory.binding_stage().stage,
            req.layers,
            gib(req.weights_bytes),
            gib(req.kv_cache_bytes),
            req.batch,
            ctx
        );
        let mut progress = |ev: ProbeEvent| match ev {
            ProbeEvent::Stage { name, index, total } => crate::errln!("  [{index}/{total}] {name}"),
            ProbeEvent::Progress { stage, done, total } => {
                let width = 30usize;
                let filled = (done as usize * width) / (total.max(1) as usize);
                let _ = write!(
                    std::io::stderr(),
                    "\r      {stage:<12} [{}{}] {done}/{total}",
                    "#".repeat(filled),
                    ".".repeat(width - filled.min(width))
                );
                if done >= total {
                    crate::errln!();
                }
                let _ = std::io::stderr().flush();
            }
            ProbeEvent::Note(n) => crate::errln!("  note: {n}"),
        };
        let report =
            probe::run(&req, &mut progress).map_err(|e| Error::Environment(e.to_string()))?;
        print_report(&report)?;
        gpu_spec = Some(s.cluster.gpu.clone());
        runs.push(ProbeRun {
            model: sa.model.clone(),
            gpus: sa.gpus.clone(),
            weights: s.deployment.weights.name().to_string(),
            tp: s.deployment.tp,
            batch,
            context: ctx,
            report: report.clone(),
        });
        reports.push(report);
    }
    if let Some(path) = &a.report {
        let text =
            serde_json::to_string_pretty(&runs).map_err(|e| Error::Environment(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| Error::file("report", format!("cannot write '{path}': {e}")))?;
        crate::errln!("wrote the reports to {path}");
    }
    if let (Some(path), Some(gpu)) = (&a.out, gpu_spec) {
        let mut cal = Calibration::from_reports(
            &reports,
            gpu.bandwidth_bytes_per_s(),
            gpu.bf16_tflops * 1e12,
        );
        cal.gpu = gpu.name.clone();
        cal.driver = inv.driver_version.clone();
        if let Ok(old) = crate::files::read_limited(
            std::path::Path::new(path),
            crate::files::MAX_SPEC_FILE_BYTES,
        ) {
            let prev: Calibration = crate::yaml::from_str(&old, path)?;
            let mut merged = prev;
            merged.merge(&cal);
            cal = merged;
        }
        write_profile(path, &cal)?;
        crate::errln!(
            "wrote calibration profile {path}; use it with `kvplan estimate … --profile {path}`"
        );
    }
    Ok(())
}

#[cfg(feature = "gpu")]
/// Write a calibration profile as YAML with a header saying where it came from.
fn write_profile(path: &str, cal: &Calibration) -> Result<()> {
    let text = format!(
        "# Calibration profile written by `kvplan probe` on {} ({})\n{}",
        cal.device_name,
        cal.date,
        crate::yaml::to_string(cal)?
    );
    std::fs::write(path, text)
        .map_err(|e| Error::file("out", format!("cannot write '{path}': {e}")))
}

/// The batch×context points to probe.
fn parse_points(a: &ProbeArgs, sa: &ScenarioArgs) -> Result<Vec<(u64, u64)>> {
    if a.points.is_empty() {
        let ctx = match &sa.ctx {
            Some(c) => parse_tokens(c, "ctx")?,
            None => 4096,
        };
        return Ok(vec![(a.batch, ctx)]);
    }
    a.points
        .iter()
        .map(|p| {
            let (b, c) = p.split_once(['x', 'X']).ok_or_else(|| {
                Error::input("points", format!("'{p}' is not BATCHxCONTEXT (e.g. 16x8k)"))
            })?;
            let b: u64 = b.trim().parse().map_err(|_| {
                Error::input("points", format!("'{p}': batch must be a whole number"))
            })?;
            if b == 0 {
                return Err(Error::input(
                    "points",
                    format!("'{p}': batch must be at least 1"),
                ));
            }
            Ok((b, parse_tokens(c, "points")?))
        })
        .collect()
}

#[cfg(feature = "gpu")]
fn print_report(r: &ProbeReport) -> Result<()> {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["phase", "measured", "predicted", "error", "achieved"]);
    let bw = &r.bandwidth;
    t.add_row(vec![
        "read bandwidth".to_string(),
        format!("{:.0} GB/s", bw.read_bytes_per_s / 1e9),
        String::new(),
        String::new(),
        format!(
            "{:.2}× dtod copy ({:.0} GB/s)",
            bw.read_vs_copy,
            bw.copy_bytes_per_s / 1e9
        ),
    ]);
    for c in &r.comparisons {
        t.add_row(vec![
            c.what.clone(),
            seconds(c.measured_s),
            seconds(c.predicted_s),
            format!("{:+.1}%", c.relative_error * 100.0),
            String::new(),
        ]);
    }
    t.add_row(vec![
        format!("attention ({})", r.attention.kind),
        seconds(r.attention.phase.seconds),
        String::new(),
        String::new(),
        format!(
            "{:.2}× copy bandwidth, {:.2}× roofline",
            r.attention.phase.bandwidth_vs_copy, r.attention.phase.vs_roofline
        ),
    ]);
    crate::outln!("{t}");
    for c in &r.self_checks {
        crate::outln!(
            "  self-check {} {}: relative error {:.1e} (threshold {:.0e}) {}",
            c.kernel,
            c.shape,
            c.relative_error,
            c.threshold,
            if c.passed { "ok" } else { "FAILED" }
        );
    }
    for n in &r.notes {
        crate::outln!("  note: {n}");
    }
    Ok(())
}

#[cfg(feature = "gpu")]
fn allreduce(a: &ProbeArgs) -> Result<()> {
    let devices = if a.devices.is_empty() {
        vec![0, 1]
    } else {
        a.devices.clone()
    };
    if devices.len() < 2 {
        return Err(Error::input(
            "devices",
            "an all-reduce needs at least two GPUs, e.g. --devices 0,1",
        ));
    }
    let sizes: Vec<u64> = (10..=30).step_by(2).map(|p| 1u64 << p).collect();
    let samples = probe::allreduce_bandwidth(&devices, &sizes)
        .map_err(|e| Error::Environment(e.to_string()))?;
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["bytes", "time", "algbw GB/s", "busbw GB/s"]);
    for s in &samples {
        t.add_row(vec![
            crate::units::thousands(s.bytes),
            seconds(s.seconds),
            format!("{:.1}", s.algbw_bytes_per_s / 1e9),
            format!("{:.1}", s.busbw_bytes_per_s / 1e9),
        ]);
    }
    crate::outln!("{t}");
    if let Some(path) = &a.report {
        let text = serde_json::to_string_pretty(&samples)
            .map_err(|e| Error::Environment(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| Error::file("report", format!("cannot write '{path}': {e}")))?;
    }
    if let Some(path) = &a.out {
        // Add the samples to an existing profile of this GPU (the link model reads them).
        let old = crate::files::read_limited(std::path::Path::new(path), crate::files::MAX_SPEC_FILE_BYTES)
            .map_err(|e| e.for_field("out", path, "; --allreduce adds to an existing profile (write one with `kvplan probe MODEL … --out`)"))?;
        let mut cal: Calibration = crate::yaml::from_str(&old, path)?;
        cal.add_allreduce(&samples);
        write_profile(path, &cal)?;
        crate::errln!("added {} all-reduce samples to {path}", samples.len());
    }
    Ok(())
}
