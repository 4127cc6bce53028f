//! Terminal and Markdown renderings of a Report.

use super::Report;
use crate::units::{gib, params, seconds, thousands};
use comfy_table::{presets, Cell, CellAlignment, Table};

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 / whole as f64 * 100.0)
    }
}

/// Rows of the per-GPU memory breakdown: (component, bytes, note).
fn memory_rows(r: &Report) -> Vec<(String, String, String)> {
    let m = &r.memory_per_gpu;
    let cap = m.capacity_bytes;
    let mut rows = vec![
        (
            "weights".to_string(),
            gib(m.weights_bytes),
            format!(
                "{} of GPU; {} format",
                pct(m.weights_bytes, cap),
                r.deployment.weights_dtype
            ),
        ),
        (
            "KV cache".to_string(),
            gib(m.kv_cache_bytes),
            format!(
                "{} seq × {} tokens, {}",
                r.workload.batch.div_ceil(r.deployment.dp),
                thousands(r.workload.context),
                r.deployment.kv_dtype
            ),
        ),
        (
            "activations".to_string(),
            gib(m.activation_bytes),
            "peak of one prefill chunk (estimate)".to_string(),
        ),
        (
            "overhead".to_string(),
            gib(m.overhead_bytes),
            "CUDA context, non-torch, NCCL, CUDA graphs".to_string(),
        ),
        (
            "total".to_string(),
            gib(m.total_bytes),
            pct(m.total_bytes, cap),
        ),
        (
            "engine budget".to_string(),
            gib(m.budget_bytes),
            budget_note(r, cap),
        ),
    ];
    rows.push(if m.kv_shortfall_bytes > 0 {
        (
            "KV pool available".to_string(),
            "none".to_string(),
            format!(
                "short by {}: weights, activations and overhead exceed the budget",
                gib(m.kv_shortfall_bytes)
            ),
        )
    } else {
        (
            "KV pool available".to_string(),
            gib(m.kv_budget_bytes),
            "what the engine can give the KV cache".to_string(),
        )
    });
    rows
}

/// Terminal rendering.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let d = &r.deployment;
    out.push_str(&format!(
        "{} — {} params ({} active), {}, {} layers\n",
        r.model.display_name,
        params(r.model.params_total),
        params(r.model.params_active),
        r.model.attention,
        r.model.layers
    ));
    out.push_str(&format!(
        "on {} × {} ({} per GPU) · weights {} · KV {} · TP {} PP {} EP {} DP {}{} · {} {}\n",
        r.gpus.count,
        r.gpus.display_name,
        gib(r.gpus.memory_bytes),
        d.weights_dtype,
        d.kv_dtype,
        d.tp,
        d.pp,
        d.ep,
        d.dp,
        dcp_label(d.dcp),
        d.engine,
        d.engine_version
    ));
    let state = if r.kv_cache.state_bytes_per_sequence > 0 {
        // DeepSeek-V4's fixed part is its compressors' running state.
        let what = if r.model.attention.starts_with("compressed") {
            "compressor state"
        } else {
            "linear/SSM layers"
        };
        format!(
            " + {} B fixed state per sequence ({what})",
            thousands(r.kv_cache.state_bytes_per_sequence)
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        "context {} tokens × batch {}; KV {} B/token (whole model){state}, {} B/token per GPU{}; weights {} in all\n\n",
        thousands(r.workload.context),
        r.workload.batch,
        thousands(r.kv_cache.bytes_per_token),
        thousands(r.kv_cache.bytes_per_token_per_gpu),
        if d.dcp > 1 {
            format!(
                " stored for every {}th token (DCP {}: {} B per token of context per GPU)",
                d.dcp,
                d.dcp,
                thousands(r.kv_cache.bytes_per_token_per_gpu.div_ceil(d.dcp))
            )
        } else {
            String::new()
        },
        gib(r.model.weights_bytes_total)
    ));
    if let Some(l) = &r.model.checkpoint_layout {
        out.push_str(&format!("checkpoint: {l}\n\n"));
    }
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        format!("per GPU (stage {}, fullest)", r.memory_per_gpu.stage),
        "GiB".into(),
        "note".into(),
    ]);
    for (a, b, c) in memory_rows(r) {
        t.add_row(vec![
            Cell::new(a),
            Cell::new(b).set_alignment(CellAlignment::Right),
            Cell::new(c),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    let verdict = if r.fits { "FITS" } else { "DOES NOT FIT" };
    out.push_str(&format!("\n{verdict}\n"));
    for v in &r.verdict {
        out.push_str(&format!("  · {v}\n"));
    }
    let l = &r.limits;
    out.push_str(&format!(
        "\nlimits: max batch at {} tokens = {}{} · max context at batch {} = {} (memory {}, model {}) · KV pool {} tokens\n",
        thousands(r.workload.context),
        l.max_batch,
        match l.max_batch_engine {
            Some(cap) if cap < l.max_batch => format!(
                " by memory, but the engine runs at most {} at once (max_num_seqs × DP; --max-num-seqs raises it)",
                thousands(cap)
            ),
            _ => String::new(),
        },
        r.workload.batch,
        thousands(l.max_context),
        thousands(l.max_context_memory),
        thousands(l.model_max_context),
        thousands(l.kv_cache_tokens)
    ));
    if d.dcp > 1 {
        out.push_str(&format!(
            "        the KV pool counts the tokens of all {} DCP ranks: each GPU's pool holds {} of them (vLLM logs \"Multiplying the GPU KV cache size by the dcp_world_size {}\")\n",
            d.dcp,
            thousands(l.kv_cache_tokens / d.dcp),
            d.dcp
        ));
    }
    let p = &r.performance;
    out.push_str(&format!(
        "speed:  decode step {} ({}-bound) → {:.1} tok/s per request, {:.0} tok/s total · prefill {} ({}-bound) · TTFT {}\n",
        seconds(p.decode_step_seconds),
        p.decode_bound,
        p.tokens_per_second_per_request,
        p.decode_tokens_per_second,
        seconds(p.prefill_seconds),
        p.prefill_bound,
        seconds(p.ttft_seconds)
    ));
    if let Some(sv) = &r.serving {
        out.push_str(&crate::serving::render::text(sv));
    }
    if !r.recommendations.is_empty() {
        out.push_str("\nrecommendations (in the order to try them):\n");
        for (i, rec) in r.recommendations.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {}\n     {}\n     cost: {}\n",
                i + 1,
                rec.title,
                rec.detail,
                rec.cost
            ));
        }
    }
    out.push_str("\nassumptions:\n");
    for a in &r.assumptions {
        out.push_str(&format!("  - {a}\n"));
    }
    out
}

/// How the engine's budget is made, in the engine's own terms: vLLM and
/// SGLang take a fraction of the whole GPU; TensorRT-LLM's
/// `free_gpu_memory_fraction` is a fraction of what is still free after
/// the weights, activations and runtime buffers are loaded; HF has no pool.
fn budget_note(r: &Report, cap: u64) -> String {
    use crate::spec::engine::BudgetRule;
    let f = r.deployment.memory_fraction * 100.0;
    match r.deployment.budget_rule {
        BudgetRule::FractionOfFree => format!(
            "{f:.0}% of the memory free after weights, activations and runtime buffers (free_gpu_memory_fraction)"
        ),
        BudgetRule::Dynamic => "no pool: whatever is left after weights and activations".into(),
        _ => format!("{f:.0}% of {}", gib(cap)),
    }
}

/// Markdown rendering.
pub fn render_markdown(r: &Report) -> String {
    let d = &r.deployment;
    let mut out = format!(
        "## {} on {} × {}\n\n{} params ({} active), {}. Weights {}, KV {}, TP {} PP {} EP {} DP {}{}, engine {} {}. Context {} × batch {}.\n\n",
        r.model.display_name,
        r.gpus.count,
        r.gpus.name,
        params(r.model.params_total),
        params(r.model.params_active),
        r.model.attention,
        d.weights_dtype,
        d.kv_dtype,
        d.tp,
        d.pp,
        d.ep,
        d.dp,
        dcp_label(d.dcp),
        d.engine,
        d.engine_version,
        thousands(r.workload.context),
        r.workload.batch
    );
    out.push_str("| per GPU | GiB | note |\n|---|---:|---|\n");
    for (a, b, c) in memory_rows(r) {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    out.push_str(&format!(
        "\n**{}**\n\n",
        if r.fits { "Fits" } else { "Does not fit" }
    ));
    for v in &r.verdict {
        out.push_str(&format!("- {v}\n"));
    }
    let l = &r.limits;
    let p = &r.performance;
    out.push_str(&format!(
        "\n| limit | value |\n|---|---:|\n| max batch at context | {} |\n| max context at batch | {} |\n| KV pool tokens | {} |\n| decode step | {} |\n| tokens/s (total) | {:.0} |\n| prefill | {} |\n",
        l.max_batch,
        thousands(l.max_context),
        thousands(l.kv_cache_tokens),
        seconds(p.decode_step_seconds),
        p.decode_tokens_per_second,
        seconds(p.prefill_seconds)
    ));
    if let Some(sv) = &r.serving {
        out.push_str(&crate::serving::render::markdown(sv));
    }
    if !r.recommendations.is_empty() {
        out.push_str("\n### Recommendations\n\n");
        for rec in &r.recommendations {
            out.push_str(&format!(
                "1. **{}** — {} (cost: {})\n",
                rec.title, rec.detail, rec.cost
            ));
        }
    }
    out.push_str("\n### Assumptions\n\n");
    for a in &r.assumptions {
        out.push_str(&format!("- {a}\n"));
    }
    out
}

/// " DCP N" after the parallel sizes when decode context parallelism is on.
fn dcp_label(dcp: u64) -> String {
    if dcp > 1 {
        format!(" DCP {dcp}")
    } else {
        String::new()
    }
}
