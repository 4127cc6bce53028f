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
    println!("{t}");
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
    println!("{t}");
    Ok(())
}

/// List engines.
pub fn engines(c: &Catalog, format: Format) -> Result<()> {
    if matches!(format, Format::Json | Format::Yaml) {
        return print_data(&c.engines, format);
    }
    let mut t = table(format);
    t.set_header(vec![
        "name",
        "engine",
        "version",
        "memory fraction",
        "block",
        "prefill chunk",
    ]);
    for e in &c.engines {
        t.add_row(vec![
            e.name.clone(),
            e.display_name.clone(),
            e.version.clone(),
            format!("{}", e.memory_fraction),
            e.block_size.to_string(),
            e.max_num_batched_tokens.to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}
