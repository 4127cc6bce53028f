//! Sanity bounds on a model architecture, checked where every model is
//! built (`ModelSpec::validate`, which YAML specs, config.json files, the Hub
//! and the API's pasted configs all pass through) and, for the few values
//! that size an allocation while a config.json is translated, before that
//! work is done ([`check_count`]).
//!
//! Why: every later computation is proportional to these numbers (layers
//! are walked one by one, MTP modules are added per module, patterns are
//! materialised), and byte counts multiply them. A config with
//! `sliding_window_pattern: 2^63` must be an error naming the field, not a
//! 9 EB allocation; `num_nextn_predict_layers: 10^6` must not keep a server
//! thread busy for minutes.
//!
//! The ranges are *plausible*, not merely representable: each is one to
//! three orders of magnitude beyond the largest published model of 2026
//! (largest known value in the comment), so no real model is refused.

use super::model::{LayerType, ModelSpec};
use crate::error::{Error, Result};
use crate::units::thousands;
use std::ops::RangeInclusive;

/// Decoder layers. Largest known: 126 (Llama-3.1-405B).
pub const LAYERS: RangeInclusive<u64> = 1..=1024;
/// Residual width. Largest known: 16,384 (Llama-3.1-405B).
pub const HIDDEN_SIZE: RangeInclusive<u64> = 1..=262_144;
/// Vocabulary. Largest known: 262,208 (Gemma-3).
pub const VOCAB_SIZE: RangeInclusive<u64> = 1..=16_777_216;
/// Context, tokens. Largest known: 10,485,760 (Llama-4 Scout).
pub const MAX_CONTEXT: RangeInclusive<u64> = 1..=134_217_728;
/// Query heads. Largest known: 128 (DeepSeek-V3, Llama-405B).
pub const HEADS: RangeInclusive<u64> = 1..=16_384;
/// Per-head width. Largest known: 512 (Gemma-3 global layers in some variants).
pub const HEAD_DIM: RangeInclusive<u64> = 1..=16_384;
/// MLP / expert widths (0 allowed where the model has no such layer).
/// Largest known: 53,248 (Llama-3.1-405B).
pub const INTERMEDIATE_SIZE: RangeInclusive<u64> = 0..=4_194_304;
/// Routed experts per MoE layer. Largest known: 512 (Qwen3-Next).
pub const EXPERTS: RangeInclusive<u64> = 1..=65_536;
/// Multi-token-prediction modules. Largest known: 1 (DeepSeek-V3, GLM-4.5,
/// Qwen3-Next); each one adds a decoder layer's work per estimate.
pub const MTP_LAYERS: RangeInclusive<u64> = 0..=16;
/// Entries of the repeating layer pattern (never longer than the layer
/// limit: a longer pattern has entries no layer uses). Largest known: 6 (Gemma-3).
pub const PATTERN_LEN: RangeInclusive<u64> = 1..=1024;
/// Sliding window, tokens. Largest known: 131,072.
pub const SLIDING_WINDOW: RangeInclusive<u64> = 1..=134_217_728;
/// MLA latent rank and query rank. Largest known: 1,536 (DeepSeek-V3 q_lora_rank).
pub const LORA_RANK: RangeInclusive<u64> = 1..=65_536;
/// Norm layers per decoder layer. Largest known: 4 (Gemma-2/3).
pub const NORMS_PER_LAYER: RangeInclusive<u64> = 0..=64;
/// Recurrent state per sequence per linear layer, bytes (≤ 16 GiB).
pub const LINEAR_STATE_BYTES: RangeInclusive<u64> = 0..=17_179_869_184;
/// Whole-model parameters (≤ 10^14, i.e. 100 T; largest known ~2 T), so
/// byte counts of the weights stay far inside u64.
pub const MAX_PARAMS: f64 = 1e14;
/// KV elements cached per token across all layers (≤ 2^24: 64 MiB per
/// token at fp32; largest known ~1.3 M, a 80-layer MHA model), so the 10^11
/// tokens in flight the inputs allow stay inside u64 bytes.
pub const MAX_KV_ELEMENTS_PER_TOKEN: u64 = 1 << 24;

/// An error naming `field`, its `value` and the plausible `range`.
fn out_of_range(origin: &str, field: &str, value: u64, range: &RangeInclusive<u64>) -> Error {
    Error::spec(
        origin,
        format!(
            "{field} = {} is outside the plausible range {}–{}; check the config (no published model comes close)",
            thousands(value),
            thousands(*range.start()),
            thousands(*range.end())
        ),
    )
}

/// Check one count against its range before work proportional to it is
/// done (e.g. building a layer pattern from `sliding_window_pattern`).
pub fn check_count(
    origin: &str,
    field: &str,
    value: u64,
    range: RangeInclusive<u64>,
) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(out_of_range(origin, field, value, &range))
    }
}

/// Every count and size of `m` within its plausible range, and the derived
/// totals (parameters, KV elements per token) bounded, so all later
/// arithmetic and loops are bounded too.
pub fn check_model(m: &ModelSpec, origin: &str) -> Result<()> {
    let a = &m.attention;
    let mut checks: Vec<(&str, u64, RangeInclusive<u64>)> = vec![
        ("num_layers", m.num_layers, LAYERS),
        ("hidden_size", m.hidden_size, HIDDEN_SIZE),
        ("vocab_size", m.vocab_size, VOCAB_SIZE),
        ("max_context", m.max_context, MAX_CONTEXT),
        ("attention.num_heads", a.num_heads, HEADS),
        ("attention.num_kv_heads", a.num_kv_heads, HEADS),
        ("attention.head_dim", a.head_dim, HEAD_DIM),
        (
            "mlp.intermediate_size",
            m.mlp.intermediate_size,
            INTERMEDIATE_SIZE,
        ),
        ("mtp_layers", m.mtp_layers, MTP_LAYERS),
        (
            "layer_pattern length",
            m.layer_pattern.len() as u64,
            PATTERN_LEN,
        ),
        ("norm.per_layer", m.norm.per_layer, NORMS_PER_LAYER),
        (
            "linear_state_bytes_per_layer",
            m.linear_state_bytes_per_layer,
            LINEAR_STATE_BYTES,
        ),
    ];
    if !m.ffn_widths.is_empty() {
        checks.push(("ffn_widths length", m.ffn_widths.len() as u64, PATTERN_LEN));
    }
    for w in &m.ffn_widths {
        checks.push(("ffn_widths", *w, INTERMEDIATE_SIZE));
    }
    if let Some(v) = a.v_head_dim {
        checks.push(("attention.v_head_dim", v, HEAD_DIM));
    }
    if let Some(w) = m.sliding_window {
        if m.layer_pattern.contains(&LayerType::Sliding) {
            checks.push(("sliding_window", w, SLIDING_WINDOW));
        }
    }
    if let Some(mla) = &a.mla {
        checks.push(("attention.mla.kv_lora_rank", mla.kv_lora_rank, LORA_RANK));
        if let Some(q) = mla.q_lora_rank {
            checks.push(("attention.mla.q_lora_rank", q, LORA_RANK));
        }
        checks.push((
            "attention.mla.qk_nope_head_dim",
            mla.qk_nope_head_dim,
            0..=*HEAD_DIM.end(),
        ));
        checks.push((
            "attention.mla.qk_rope_head_dim",
            mla.qk_rope_head_dim,
            0..=*HEAD_DIM.end(),
        ));
        checks.push(("attention.mla.v_head_dim", mla.v_head_dim, HEAD_DIM));
    }
    if let Some(c) = &m.compressed_attention {
        checks.push(("compressed_attention.q_lora_rank", c.q_lora_rank, LORA_RANK));
        checks.push(("compressed_attention.o_lora_rank", c.o_lora_rank, LORA_RANK));
        checks.push(("compressed_attention.o_groups", c.o_groups, HEADS));
        checks.push(("compressed_attention.window", c.window, SLIDING_WINDOW));
        checks.push((
            "compressed_attention.rope_head_dim",
            c.rope_head_dim,
            0..=*HEAD_DIM.end(),
        ));
    }
    if let Some(ix) = &m.indexer {
        checks.push(("indexer.num_heads", ix.num_heads, HEADS));
        checks.push(("indexer.head_dim", ix.head_dim, HEAD_DIM));
        checks.push(("indexer.topk", ix.topk, 0..=*MAX_CONTEXT.end()));
    }
    if let Some(x) = &m.sparse_index {
        checks.push(("sparse_index.num_heads", x.num_heads, HEADS));
        checks.push(("sparse_index.head_dim", x.head_dim, HEAD_DIM));
        checks.push((
            "sparse_index.block_size",
            x.block_size,
            1..=*MAX_CONTEXT.end(),
        ));
        checks.push((
            "sparse_index.topk_blocks",
            x.topk_blocks,
            0..=*MAX_CONTEXT.end(),
        ));
    }
    if let Some(moe) = &m.moe {
        checks.push(("moe.num_experts", moe.num_experts, EXPERTS));
        checks.push((
            "moe.experts_per_token",
            moe.experts_per_token,
            1..=moe.num_experts.max(1),
        ));
        checks.push((
            "moe.expert_intermediate_size",
            moe.expert_intermediate_size,
            1..=*INTERMEDIATE_SIZE.end(),
        ));
        checks.push((
            "moe.shared_intermediate_size",
            moe.shared_intermediate_size,
            INTERMEDIATE_SIZE,
        ));
        checks.push((
            "moe.first_dense_layers",
            moe.first_dense_layers,
            0..=m.num_layers,
        ));
        checks.push(("moe.layer_step", moe.layer_step, 1..=*LAYERS.end()));
    }
    for (field, value, range) in &checks {
        check_count(origin, field, *value, range.clone())?;
    }
    if let Some(mla) = &a.mla {
        if mla.qk_nope_head_dim + mla.qk_rope_head_dim == 0 {
            return Err(Error::spec(
                origin,
                "attention.mla: qk_nope_head_dim + qk_rope_head_dim is 0; an MLA query/key head needs a width",
            ));
        }
    } else if a.num_kv_heads > a.num_heads {
        return Err(Error::spec(
            origin,
            format!(
                "attention.num_kv_heads ({}) exceeds num_heads ({}); KV heads are shared by query heads, never more numerous",
                a.num_kv_heads, a.num_heads
            ),
        ));
    }
    // Derived totals, in floating point so they cannot overflow themselves.
    let (l, h) = (m.num_layers as f64, m.hidden_size as f64);
    let q_width = (a.num_heads * a.head_dim) as f64;
    let kv_width = (a.num_kv_heads * (a.head_dim + a.v_dim())) as f64;
    let per_expert = 3.0
        * h
        * m.moe
            .as_ref()
            .map_or(0.0, |e| e.expert_intermediate_size as f64);
    let experts = m.moe.as_ref().map_or(0.0, |e| e.num_experts as f64);
    let params = l
        * (h * (2.0 * q_width + kv_width)
            + 3.0 * h * m.mlp.intermediate_size as f64
            + experts * per_expert)
        + 2.0 * m.vocab_size as f64 * h
        + m.mtp_layers as f64 * (experts * per_expert + 4.0 * h * h);
    if params > MAX_PARAMS {
        return Err(Error::spec(
            origin,
            format!(
                "these sizes give about {:.3e} parameters, beyond the plausible 10^14 (the largest published models have ~2·10^12); check layers, widths and experts",
                params
            ),
        ));
    }
    let kv_per_layer = match &a.mla {
        Some(mla) => mla.kv_lora_rank + mla.qk_rope_head_dim,
        None => a.num_kv_heads * (a.head_dim + a.v_dim()),
    };
    let kv_elements = kv_per_layer.saturating_mul(m.num_layers + m.mtp_layers);
    if kv_elements > MAX_KV_ELEMENTS_PER_TOKEN {
        return Err(Error::spec(
            origin,
            format!(
                "the KV cache would hold {} elements per token (layers × KV width), beyond the plausible {}; check num_key_value_heads, head_dim and layers",
                thousands(kv_elements),
                thousands(MAX_KV_ELEMENTS_PER_TOKEN)
            ),
        ));
    }
    Ok(())
}

/// `model_type`s whose config.json layout kvplan's reader knows (defaults
/// and family quirks included). Any other type is read only when the config
/// states every size itself ([`check_unknown_family`]).
pub const KNOWN_FAMILIES: &[&str] = &[
    "llama",
    "llama4",
    "llama4_text",
    "mistral",
    "mixtral",
    "ministral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "qwen3_next",
    "qwen3_5",
    "qwen3_5_text",
    "qwen3_5_moe",
    "qwen3_5_moe_text",
    "qwen3_vl",
    "qwen3_vl_text",
    "qwen3_vl_moe",
    "qwen3_vl_moe_text",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "gemma4",
    "gemma4_text",
    "deepseek_v2",
    "deepseek_v3",
    "deepseek_v32",
    "deepseek_v4",
    "deepseek_ref",
    "kimi_k2",
    "kimi_k25",
    "kimi_k3",
    "kimi_linear",
    "gpt_oss",
    "phi3",
    "olmo2",
    "glm4_moe",
    "glm4_moe_lite",
    "glm_moe_dsa",
    "mimo",
    "minimax_m2",
    "minimax_m3",
    "minimax_m3_vl",
    "nemotron_h",
    "nemotron-nas",
    "yi",
];

/// The keys (first one is the name used in messages) kvplan needs when it
/// cannot fall back on a family's known defaults.
const NEEDED_FIELDS: &[&[&str]] = &[
    &["hidden_size", "n_embd", "d_model"],
    &["num_hidden_layers", "n_layer", "num_layers"],
    &["num_attention_heads", "n_head"],
    &["num_key_value_heads", "n_head_kv", "num_kv_heads"],
    &["intermediate_size", "ffn_hidden_size", "n_inner"],
    &["vocab_size"],
    &[
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
    ],
];

/// Refuse JSON that is not a Hugging Face `config.json`, naming the format
/// it looks like, so a TensorRT-LLM checkpoint config or a Meta
/// `params.json` is not read as a model with made-up sizes.
pub fn check_hf_format(root: &serde_json::Value, origin: &str) -> Result<()> {
    let has = |k: &str| root.get(k).is_some_and(|v| !v.is_null());
    let what = if has("architecture")
        && !has("architectures")
        && (has("mapping") || has("quantization") || has("position_embedding_type"))
    {
        Some(
            "a TensorRT-LLM checkpoint config (it has `architecture` and `mapping`/`quantization`)",
        )
    } else if has("dim") && has("n_layers") && !has("model_type") {
        Some("a Meta/Mistral native params.json (it has `dim` and `n_layers`)")
    } else if has("_class_name") && has("_diffusers_version") {
        Some("a diffusers component config")
    } else if has("architecture")
        && has("model_type")
        && root.get("model_type").and_then(|v| v.as_str()).is_none()
    {
        Some("not a Hugging Face config (its model_type is not a string)")
    } else {
        None
    };
    match what {
        Some(w) => Err(Error::spec(
            origin,
            format!("this is {w}, not a Hugging Face config.json; give the config.json of the Hugging Face model (e.g. from hf:org/name), or write a kvplan spec .yaml"),
        )),
        None => Ok(()),
    }
}

/// For a `model_type` not in [`KNOWN_FAMILIES`] (or none at all): every
/// size must be stated in the config and consistent, since no family
/// defaults apply. Returns the note saying which fields were used, or None
/// for a known family.
pub fn check_unknown_family(root: &serde_json::Value, origin: &str) -> Result<Option<String>> {
    let c = root
        .get("text_config")
        .filter(|v| v.is_object())
        .unwrap_or(root);
    let family = c
        .get("model_type")
        .or_else(|| root.get("model_type"))
        .and_then(|v| v.as_str());
    if family.is_some_and(|f| KNOWN_FAMILIES.contains(&f)) {
        return Ok(None);
    }
    let label = match family {
        Some(f) => format!("model_type '{f}' is not one kvplan knows"),
        None => "the config has no model_type".to_string(),
    };
    let int = |v: &serde_json::Value| v.as_u64();
    let mut used = Vec::new();
    let mut missing = Vec::new();
    for keys in NEEDED_FIELDS {
        match keys
            .iter()
            .find_map(|k| c.get(*k).and_then(int).map(|v| (*k, v)))
        {
            Some((k, v)) => used.push(format!("{k}={v}")),
            None => missing.push(keys[0]),
        }
    }
    if !missing.is_empty() {
        return Err(Error::spec(
            origin,
            format!(
                "{label}, so every size must be stated as an integer: missing {} (kvplan does not guess an unknown family's defaults); add them, or write a kvplan spec .yaml",
                missing.join(", ")
            ),
        ));
    }
    let hidden = c
        .get("hidden_size")
        .or_else(|| c.get("n_embd"))
        .or_else(|| c.get("d_model"))
        .and_then(int)
        .unwrap_or(0);
    let heads = c
        .get("num_attention_heads")
        .or_else(|| c.get("n_head"))
        .and_then(int)
        .unwrap_or(0);
    if c.get("head_dim").and_then(int).is_none() {
        if heads == 0 || hidden % heads != 0 {
            return Err(Error::spec(
                origin,
                format!("{label} and gives no head_dim, and hidden_size {hidden} is not a multiple of num_attention_heads {heads}; add head_dim"),
            ));
        }
    } else if let Some(h) = c.get("head_dim").and_then(int) {
        used.push(format!("head_dim={h}"));
    }
    Ok(Some(format!(
        "{label}: sized only from the fields it states ({}), with no family-specific defaults; check them against the model card",
        used.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Catalog;

    #[test]
    fn every_builtin_model_is_within_bounds() {
        let c = Catalog::builtin().unwrap();
        for m in &c.models {
            check_model(m, &m.name).unwrap();
        }
    }

    #[test]
    fn errors_name_field_value_and_range() {
        let c = Catalog::builtin().unwrap();
        let mut m = c.model("deepseek-v3").unwrap().clone();
        m.mtp_layers = 1_000_000;
        let e = check_model(&m, "x.json").unwrap_err().to_string();
        assert!(
            e.contains("mtp_layers = 1,000,000") && e.contains("0–16"),
            "{e}"
        );
        let mut m = c.model("llama-3.1-8b").unwrap().clone();
        m.num_layers = 1 << 32;
        let e = check_model(&m, "x.json").unwrap_err().to_string();
        assert!(
            e.contains("num_layers = 4,294,967,296") && e.contains("1–1,024"),
            "{e}"
        );
    }

    #[test]
    fn derived_totals_are_bounded() {
        let c = Catalog::builtin().unwrap();
        let mut m = c.model("deepseek-v3").unwrap().clone();
        // Each value in range, the product not.
        m.hidden_size = 200_000;
        m.moe.as_mut().unwrap().num_experts = 60_000;
        let e = check_model(&m, "x.json").unwrap_err().to_string();
        assert!(e.contains("parameters"), "{e}");
    }
}
