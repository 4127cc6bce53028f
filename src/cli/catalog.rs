//! `kvplan models`, `kvplan gpus`, `kvplan engines`.

use super::{print_data, Format};
use crate::error::Result;
use crate::memory::weights::param_counts;
use crate::spec::Catalog;
use crate::units::{gib, params, thousands};
use comfy_table::{presets, Table};

fn table(format: Format) -> Table {
    let mut t = Table::new();
    t.load_style(if format == Format::Markdown {
        presets::ASCII_MARKDOWN
    } else {
        presets::UTF8_FULL_CONDENSED
    });
    t
}

/// List models.
pub fn models(c: &Catalog, format: Format) -> Result<()> {
    if matches!(format, Format::Json | Format::Yaml) {
        return print_data(&c.models, format);
    }
    let mut t = table(format);
    t.set_header(vec![
        "family",
        "name",
        "model",
        "params",
        "active",
        "attention",
        "layers",
        "max ctx",
        "aliases",
    ]);
    let mut models: Vec<_> = c.models.iter().collect();
    models.sort_by_key(|m| (family_group(&m.family, &m.name), m.name.clone()));
    let mut last = "";
    for m in models {
        let p = param_counts(m);
        let fam = family_group(&m.family, &m.name);
        t.add_row(vec![
            if fam == last {
                String::new()
            } else {
                fam.to_string()
            },
            m.name.clone(),
            m.display_name.clone(),
            params(p.total),
            params(p.active),
            m.attention_label(),
            m.num_layers.to_string(),
            thousands(m.max_context),
            m.aliases.join(", "),
        ]);
        last = fam;
    }
    crate::outln!("{t}");
    Ok(())
}

/// The family a model is listed under in `kvplan models`, from its HF
/// `model_type` (and name where one type serves several families).
fn family_group(model_type: &str, name: &str) -> &'static str {
    let t = model_type;
    if name.starts_with("deepseek-r1-distill-llama") {
        return "Llama";
    }
    if name.starts_with("deepseek-r1-distill-qwen") {
        return "Qwen";
    }
    // Kimi-K2.x checkpoints (NVIDIA's NVFP4 copies too) say model_type deepseek_v3.
    if name.starts_with("kimi") {
        return "Kimi";
    }
    match () {
        _ if t.starts_with("deepseek") => "DeepSeek",
        _ if t.starts_with("kimi") => "Kimi",
        _ if t.starts_with("glm") => "GLM",
        _ if t.starts_with("minimax") => "MiniMax",
        _ if t.starts_with("nemotron") => "Nemotron",
        _ if t.starts_with("qwen") => "Qwen",
        _ if t.starts_with("llama") => "Llama",
        _ if t.starts_with("gemma") => "Gemma",
        _ if t.starts_with("mistral") || t.starts_with("mixtral") => "Mistral",
        _ if t.starts_with("gpt_oss") => "gpt-oss",
        _ if t.starts_with("mimo") => "MiMo",
        _ if name.starts_with("yi") => "Yi",
        _ => "other",
    }
}

/// List GPUs.
pub fn gpus(c: &Catalog, format: Format) -> Result<()> {
    if matches!(format, Format::Json | Format::Yaml) {
        return print_data(&c.gpus, format);
    }
    let mut t = table(format);
    t.set_header(vec![
        "name", "GPU", "memory", "TB/s", "bf16 TF", "fp8 TF", "fp4 TF", "link", "aliases",
    ]);
    for g in &c.gpus {
        let opt = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_else(|| "–".into());
        t.add_row(vec![
            g.name.clone(),
            g.display_name.clone(),
            gib(g.memory_bytes),
            format!("{}", g.memory_bandwidth_tbps),
            format!("{}", g.bf16_tflops),
            opt(g.fp8_tflops),
            opt(g.fp4_tflops),
            format!(
                "{} {} GB/s",
                g.interconnect.name, g.interconnect.bidir_gb_per_s
            ),
            g.aliases.join(", "),
        ]);
    }
    crate::outln!("{t}");
    Ok(())
}

/// The prefill chunk the estimate uses, by GPU where the engine picks it
/// per GPU (vLLM's large-GPU defaults, SGLang's memory tiers).
fn chunk_rule(e: &crate::spec::engine::EngineSpec) -> String {
    if e.fraction_rule == crate::spec::engine::FractionRule::SglangTieredReserve {
        return "by GPU memory: 2048 (< 35 GiB), 4096 (< 60 GiB), 8192 (< 160 GiB), 16384".into();
    }
    match &e.large_gpu_defaults {
        Some(l) => format!(
            "{} on GPUs ≥ {} GiB{}, else {}",
            l.max_num_batched_tokens,
            l.min_memory_bytes >> 30,
            if l.exclude_names.is_empty() {
                String::new()
            } else {
                format!(" except {}", l.exclude_names.join(", "))
            },
            e.max_num_batched_tokens
        ),
        None => e.max_num_batched_tokens.to_string(),
    }
}

/// Sequences scheduled at once, by GPU like [`chunk_rule`].
fn seqs_rule(e: &crate::spec::engine::EngineSpec) -> String {
    if e.budget_rule == crate::spec::engine::BudgetRule::Dynamic {
        return "no scheduler (the batch given)".into();
    }
    match &e.large_gpu_defaults {
        Some(l) => format!("{} on large GPUs, else {}", l.max_num_seqs, e.max_num_seqs),
        None => e.max_num_seqs.to_string(),
    }
}

/// List engines: every modelled version (`NAME@VERSION` pins one; `NAME`
/// is the newest), its releases, defaults and what changed.
pub fn engines(c: &Catalog, format: Format) -> Result<()> {
    if matches!(format, Format::Json | Format::Yaml) {
        return print_data(&c.engines, format);
    }
    let mut t = table(format);
    t.set_header(vec![
        "--engine",
        "engine",
        "releases",
        "memory fraction",
        "block",
        "prefill chunk (estimate uses)",
        "max_num_seqs",
        "what changed",
    ]);
    for newest in &c.engines {
        let versions: Vec<&crate::spec::engine::EngineSpec> = if newest.releases.is_empty() {
            vec![newest]
        } else {
            c.engine_versions
                .iter()
                .filter(|e| e.name == newest.name)
                .collect()
        };
        for e in versions {
            let fraction = match e.fraction_rule {
                crate::spec::engine::FractionRule::Fixed if e.memory_fraction_by_tp.is_empty() => {
                    format!("{}", e.memory_fraction)
                }
                crate::spec::engine::FractionRule::Fixed => format!(
                    "{}–{} by TP",
                    e.memory_fraction_by_tp
                        .iter()
                        .map(|x| x.1)
                        .fold(f64::INFINITY, f64::min),
                    e.memory_fraction_by_tp
                        .iter()
                        .map(|x| x.1)
                        .fold(0.0, f64::max)
                ),
                crate::spec::engine::FractionRule::SglangTieredReserve => {
                    "(gpu − tiered reserve) / gpu".to_string()
                }
            };
            let id = if e.id() == format!("{}@{}", newest.name, newest.version)
                && !newest.releases.is_empty()
            {
                format!("{} = {}", e.id(), e.name)
            } else {
                e.id()
            };
            t.add_row(vec![
                id,
                e.display_name.clone(),
                if e.releases.is_empty() {
                    e.version.clone()
                } else {
                    e.releases.clone()
                },
                fraction,
                e.block_size.to_string(),
                chunk_rule(e),
                seqs_rule(e),
                e.changes.join("; "),
            ]);
        }
    }
    crate::outln!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::family_group;

    #[test]
    fn families_by_model_type_and_name() {
        assert_eq!(family_group("deepseek_v3", "kimi-k2.5-nvfp4"), "Kimi");
        assert_eq!(family_group("deepseek_v3", "deepseek-v3"), "DeepSeek");
        assert_eq!(family_group("deepseek_v4", "deepseek-v4-pro"), "DeepSeek");
        assert_eq!(
            family_group("deepseek_ref", "deepseek-v4-pro-fp8"),
            "DeepSeek"
        );
        assert_eq!(family_group("minimax_m3", "minimax-m3"), "MiniMax");
    }
}
