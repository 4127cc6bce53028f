//! Text renderings of a serving result (the `serving` section of the
//! estimate's table and Markdown).

use super::ServingResult;

fn ms(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} s", x / 1e3)
    } else if x >= 100.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.2} ms")
    }
}

/// Rows of the latency table: name, mean, p50, p90, p99.
fn rows(r: &ServingResult) -> [(&'static str, [String; 4]); 4] {
    let f = |p: &super::Percentiles| [ms(p.mean), ms(p.p50), ms(p.p90), ms(p.p99)];
    [
        ("TTFT", f(&r.ttft_ms)),
        ("TPOT", f(&r.tpot_ms)),
        ("ITL", f(&r.itl_ms)),
        ("E2E", f(&r.e2e_ms)),
    ]
}

fn summary(r: &ServingResult) -> String {
    format!(
        "{:.0} output tok/s ({:.0} per GPU, {:.1} per user) · {:.2} req/s · mean running batch {:.1} per replica · {} preemptions · iterations {}-bound",
        r.output_tokens_per_second,
        r.output_tokens_per_second_per_gpu,
        r.output_tokens_per_second_per_user,
        r.requests_per_second,
        r.mean_running_batch,
        r.preemptions,
        r.bound
    )
}

fn kv_line(r: &ServingResult) -> Option<String> {
    if r.kv_blocked_iteration_share > 0.0 || r.preemptions > 0 {
        Some(format!(
            "KV pool {} tokens per replica, peak use {:.0}%: requests waited for KV space in {:.0}% of iterations{}",
            crate::units::thousands(r.kv_pool_tokens_per_replica),
            r.peak_kv_use * 100.0,
            r.kv_blocked_iteration_share * 100.0,
            if r.preemptions > 0 {
                format!(", {} were preempted and recomputed", r.preemptions)
            } else {
                String::new()
            }
        ))
    } else {
        None
    }
}

/// The terminal table's serving section.
pub fn text(r: &ServingResult) -> String {
    use comfy_table::{presets, Cell, CellAlignment, Table};
    let mut out = format!(
        "\nserving (simulated: {} requests, {} per replica × {} replica{}, {}):\n",
        r.requests,
        r.load_per_replica,
        r.replicas,
        if r.replicas == 1 { "" } else { "s" },
        r.scheduler
    );
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["", "mean", "p50", "p90", "p99"]);
    for (name, v) in rows(r) {
        let mut row = vec![Cell::new(name)];
        row.extend(
            v.into_iter()
                .map(|x| Cell::new(x).set_alignment(CellAlignment::Right)),
        );
        t.add_row(row);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out.push_str(&format!("  {}\n", summary(r)));
    if let Some(l) = kv_line(r) {
        out.push_str(&format!("  {l}\n"));
    }
    out
}

/// The Markdown serving section.
pub fn markdown(r: &ServingResult) -> String {
    let mut out = format!(
        "\n### Serving (simulated: {} requests, {} per replica)\n\n| | mean | p50 | p90 | p99 |\n|---|---:|---:|---:|---:|\n",
        r.requests, r.load_per_replica
    );
    for (name, v) in rows(r) {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            v[0], v[1], v[2], v[3]
        ));
    }
    out.push_str(&format!("\n{}\n", summary(r)));
    if let Some(l) = kv_line(r) {
        out.push_str(&format!("\n{l}\n"));
    }
    out
}

/// The serving plan as a table: best first, then the Pareto front, then
/// the nearest miss when nothing meets the SLA.
pub fn plan_text(p: &super::plan::ServingPlan, top: usize, markdown: bool) -> String {
    use comfy_table::{presets, Table};
    let pct = &p.sla.percentile;
    let limit = |x: Option<f64>| x.map_or("none".to_string(), |v| format!("{v} ms"));
    let mut out = format!(
        "SLA: {pct} TTFT ≤ {}, {pct} TPOT ≤ {} — {} configurations simulated, {}\n",
        limit(p.sla.max_ttft_ms),
        limit(p.sla.max_tpot_ms),
        p.evaluated,
        if p.any_meets {
            format!(
                "{} meet it",
                p.candidates.iter().filter(|c| c.meets_sla).count()
            )
        } else {
            "none meets it".to_string()
        }
    );
    let table = |rows: &[super::plan::ServingCandidate]| {
        let mut t = Table::new();
        t.load_style(if markdown {
            presets::ASCII_MARKDOWN
        } else {
            presets::UTF8_FULL_CONDENSED
        });
        t.set_header(vec![
            "#".to_string(),
            "weights".into(),
            "KV".into(),
            "TP".into(),
            "PP".into(),
            "DP".into(),
            "EP".into(),
            "chunk".into(),
            "seqs".into(),
            format!("{pct} TTFT"),
            format!("{pct} TPOT"),
            "tok/s/GPU".into(),
            "tok/s/user".into(),
            "copies × GPUs".into(),
            "SLA".into(),
        ]);
        for (i, x) in rows.iter().enumerate() {
            t.add_row(vec![
                (i + 1).to_string(),
                x.weights_dtype.to_string(),
                x.kv_dtype.to_string(),
                x.tp.to_string(),
                x.pp.to_string(),
                x.dp.to_string(),
                x.ep.to_string(),
                x.max_num_batched_tokens.to_string(),
                x.max_num_seqs.to_string(),
                ms(x.ttft_ms),
                ms(x.tpot_ms),
                format!("{:.0}", x.output_tokens_per_second_per_gpu),
                format!("{:.1}", x.output_tokens_per_second_per_user),
                format!("{} × {}", x.copies, x.gpus),
                if x.meets_sla {
                    "✓".into()
                } else {
                    format!("✗ {:.2}×", x.sla_ratio)
                },
            ]);
        }
        t.to_string()
    };
    let shown: Vec<_> = p.candidates.iter().take(top).cloned().collect();
    out.push_str(&table(&shown));
    out.push_str("\n\nPareto front (tokens/s per GPU against tokens/s per user):\n");
    out.push_str(&table(&p.pareto));
    out.push('\n');
    if let Some(n) = &p.nearest {
        out.push_str(&format!("\n{n}\n"));
    }
    out
}
