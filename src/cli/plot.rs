//! `kvplan plot`: resolve the scenario like `estimate`, compute the chart's
//! series (report::plot::series, pure) and draw them (report::plot).

use super::ScenarioArgs;
use crate::error::Result;
use crate::spec::Catalog;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
#[cfg(feature = "plot")]
use {
    super::{estimate::efficiency_for, CliModels},
    crate::report::plot::{self, series, ImageFormat},
    crate::request::resolve_with,
};

/// `plot --help` examples.
pub const EXAMPLES: &str = "Examples:\n  kvplan plot memory llama-3.1-70b --gpus 2xH100 --ctx 128k --out memory.png\n  kvplan plot attention deepseek-v3 --gpus 8xH800 --ctx 128k --out attention.svg\n  kvplan plot batch qwen2.5-7b --gpus H100 --ctx 128k --out batch.png\n  kvplan plot throughput llama-3.1-8b --gpus H100 --ctx 4k --out throughput.png\n  kvplan plot memory deepseek-v3 --gpus 8xH800 --ctx 32k --attention gqa:8 --out what-if.png\n  kvplan plot serving llama-3.1-70b --gpus 8xH100 --weights fp8 --isl 8k --osl 1k --concurrency 512 --out serving.svg";

/// Which chart to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotKind {
    /// Per-GPU memory stacked by component against context, with capacity, engine budget and the fit limit.
    Memory,
    /// KV bytes per sequence against context: the model as is vs MHA, GQA, MQA and MLA what-ifs.
    Attention,
    /// Max batch against context for bf16/fp8/int4 weights × bf16/fp8 KV.
    Batch,
    /// Tokens/s and time per output token against batch, with the memory→compute-bound crossover.
    Throughput,
    /// Simulated serving: TTFT and TPOT against concurrency (up to --concurrency, default 256), and tokens/s per GPU against tokens/s per user. Needs --isl and --osl.
    Serving,
}

/// `plot` options.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Chart: memory, attention, batch, throughput.
    #[arg(value_enum)]
    pub kind: PlotKind,
    /// Scenario (--ctx is the right end of context axes, and the context of `throughput`).
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Concurrent sequences (memory chart; the others sweep it or ignore it).
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Output file: .png (bitmap) or .svg (vector).
    #[arg(long)]
    pub out: PathBuf,
    /// Serving workload (the `serving` chart).
    #[command(flatten)]
    pub workload: super::workload::WorkloadArgs,
}

/// `plot` in a build without the `plot` feature: say what is missing.
#[cfg(not(feature = "plot"))]
pub fn run(_catalog: &Catalog, _a: &PlotArgs) -> Result<()> {
    Err(crate::error::Error::missing_feature(
        "plot",
        "`kvplan plot`",
    ))
}

/// Run `plot`.
#[cfg(feature = "plot")]
pub fn run(catalog: &Catalog, a: &PlotArgs) -> Result<()> {
    // Check the output name before any work.
    ImageFormat::from_path(&a.out)?;
    if a.kind == PlotKind::Serving {
        let w = a.workload.workload(a.batch)?.ok_or_else(|| {
            crate::error::Error::input(
                "isl",
                "the serving chart needs --isl and --osl (e.g. --isl 8k --osl 1k)",
            )
        })?;
        let req = a.scenario.request(Some(a.batch));
        let max = a.workload.concurrency.unwrap_or(256);
        let sweep = super::estimate::with_env(catalog, &a.scenario, |env| {
            crate::ops::serving_sweep(env, &req, &w, max, &a.workload.percentile)
        })?;
        plot::render_to_file(&sweep.figure, &a.out)?;
        crate::errln!("wrote {} ({})", a.out.display(), sweep.figure.subtitle);
        return Ok(());
    }
    let req = a.scenario.request(Some(a.batch));
    let r = resolve_with(&req, catalog, &CliModels)?;
    let s = &r.scenario;
    s.validate()?;
    let fig = match a.kind {
        PlotKind::Memory => series::memory_figure(s),
        PlotKind::Attention => series::attention_figure(s),
        PlotKind::Batch => series::batch_figure(s),
        PlotKind::Throughput => {
            let eff = efficiency_for(&a.scenario, s)?;
            series::throughput_figure(s, &eff, r.tokens_per_step)
        }
        PlotKind::Serving => unreachable!("drawn above"),
    };
    plot::render_to_file(&fig, &a.out)?;
    crate::errln!("wrote {} ({})", a.out.display(), fig.subtitle);
    Ok(())
}
