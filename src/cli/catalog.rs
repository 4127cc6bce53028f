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
        "name",
        "model",
        "params",
        "active",
        "attention",
        "layers",
        "max ctx",
        "aliases",
    ]);
    for m in &c.models {
        let p = param_counts(m);
        t.add_row(vec![
            m.name.clone(),
            m.display_name.clone(),
            params(p.total),
            params(p.active),
            m.attention_label(),
            m.num_layers.to_string(),
            thousands(m.max_context),
            m.aliases.join(", "),
        ]);
    }
    crate::outln!("{t}");
    Ok(())
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
    crate::outln!("{t}");
    Ok(())
}
