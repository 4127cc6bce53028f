//! Activation peak of one prefill forward pass on one GPU — an estimate, not
//! an exact figure: engines free each layer's temporaries before the next,
//! so the peak is one layer's widest point times the tokens in flight, plus
//! the attention mask and the logits the sampler materialises.
//!
//! How wide "one layer's widest point" is depends on the engine, and the
//! engine profile says it as data (`profiles/engines/*.yaml`): the hidden-
//! sized tensors kept through the layer, the copies per routed MoE token, the
//! per-head copies of an MLA prefill. The `hf` profile's numbers come from
//! the transformers 5.17 code path and match validation/measurements.json;
//! `activation_factor` scales the result for allocator slack.

use crate::scenario::Scenario;
use crate::spec::model::LayerType;

/// Bytes of one activation element (bf16/fp16 activations).
const ACT_BYTES: u64 = 2;

/// The widest per-token temporaries of one layer on one GPU, bytes.
pub fn per_token_layer_peak_bytes(s: &Scenario) -> u64 {
    let m = &s.model;
    let d = &s.deployment;
    let e = &d.engine;
    let a = &m.attention;
    let tp = d.tp;
    let h = m.hidden_size;
    // Hidden-sized tensors alive across the layer (residual stream, normed
    // input, and for HF the embedding output and the layer input too).
    let resident = e.activation_hidden_copies * h;
    let heads = a.num_heads / tp;
    let attn = if let Some(mla) = &a.mla {
        // Prefill decompresses the latent to per-head K (nope + rope) and V;
        // the profile says how many per-head Q/K/V/output copies are alive.
        let qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
        let c = e.mla_prefill_head_copies;
        heads * ((c.q + c.k) * qk + (c.v + c.out) * mla.v_head_dim)
            + mla.latent_dim()
            + mla.q_lora_rank.unwrap_or(0)
    } else {
        let kv = (a.num_kv_heads / tp).max(1);
        (heads + 2 * kv) * a.head_dim + heads * a.v_dim()
    };
    let has_dense_layers = (0..m.num_layers).any(|i| !m.is_moe_layer(i));
    let dense_mlp = if has_dense_layers && m.mlp.intermediate_size > 0 {
        // gate_up output (2I) + activated (I), per TP rank.
        3 * m.mlp.intermediate_size / tp
    } else {
        0
    };
    let moe = match &m.moe {
        Some(moe) => {
            let moe_tp = s.moe_tp();
            // Each token's top-k expert copies, over the share of experts this GPU holds.
            let local_share = 1.0 / d.ep as f64 * if d.ep > 1 { d.dp as f64 } else { 1.0 };
            let ie = moe.expert_intermediate_size / moe_tp;
            // The expert GEMMs' peak (vLLM: 2I + I + h) or the combine step's
            // (HF: gathered input + output + two fp32 copies), whichever is wider.
            let gemm = e.moe_intermediate_copies * ie + e.moe_hidden_copies * h;
            let per_copy = gemm.max(e.moe_combine_hidden_copies * h);
            let routed =
                (moe.experts_per_token as f64 * per_copy as f64 * local_share).ceil() as u64;
            let shared = 3 * moe.shared_intermediate_size / tp;
            let experts = if e.moe_shared_concurrent || shared == 0 {
                routed + shared
            } else {
                // One after the other: the routed output stays alive while the
                // shared expert runs.
                routed.max(h + shared)
            };
            experts + moe.num_experts * 2
        }
        None => 0,
    };
    (resident + attn.max(dense_mlp).max(moe)) * ACT_BYTES
}

/// Tokens in one prefill forward: the engine's chunk, or the whole batch of
/// prompts for engines without chunked prefill (HF).
pub fn prefill_tokens(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    if e.chunked_prefill {
        e.max_num_batched_tokens
    } else {
        s.batch_per_replica() * s.workload.context
    }
}

/// Logits materialised at the sampler, bytes (whole vocabulary on each GPU).
pub fn logits_bytes(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    let rows = if e.logits_all_positions {
        prefill_tokens(s)
    } else if e.chunked_prefill {
        e.max_num_seqs.min(e.max_num_batched_tokens)
    } else {
        s.batch_per_replica()
    };
    rows * s.model.vocab_size * e.logits_bytes_per_value * e.logits_copies
}

/// The attention mask a prefill materialises for sliding-window layers once
/// the prompt reaches the window (transformers `masking_utils`: the causal
/// mask is skipped only while `kv_length < sliding_window`), bytes: one
/// `queries × keys` mask shared by the batch.
pub fn sliding_mask_bytes(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    let m = &s.model;
    let ctx = s.workload.context;
    let sliding = m.layer_pattern.contains(&LayerType::Sliding);
    match m.sliding_window {
        Some(w) if sliding && e.sliding_mask_bytes_per_pair > 0 && ctx >= w => {
            let queries = if e.chunked_prefill {
                e.max_num_batched_tokens.min(ctx)
            } else {
                ctx
            };
            e.sliding_mask_bytes_per_pair * queries * ctx
        }
        _ => 0,
    }
}

/// Peak activation bytes on the GPU of the last pipeline stage (which also
/// computes logits): layer temporaries × tokens × the engine's factor, plus
/// the sliding-window mask and the logits.
pub fn prefill_peak_bytes(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    if let Some(measured) = e.activation_peak_bytes {
        return measured;
    }
    let layer = (per_token_layer_peak_bytes(s) * prefill_tokens(s)) as f64 * e.activation_factor;
    let forward = layer.ceil() as u64 + sliding_mask_bytes(s);
    match e.sampler_logits_copies {
        // The sampler warm-up runs after the forward has freed its
        // temporaries: the peak is whichever phase is larger.
        Some(copies) => forward.max(sampler_warmup_bytes(s, copies)),
        None => forward + logits_bytes(s),
    }
}

/// Rows of logits the sampler warm-up samples: the engine's maximum batch
/// of sequences, at most one per token of the profile run.
pub fn sampler_rows(e: &crate::spec::engine::EngineSpec) -> u64 {
    e.max_num_seqs.min(e.max_num_batched_tokens)
}

/// The sampler warm-up's peak, bytes: `copies` fp32 copies of the logits of
/// the engine's maximum batch of sequences over the whole vocabulary.
pub fn sampler_warmup_bytes(s: &Scenario, copies: f64) -> u64 {
    let e = &s.deployment.engine;
    let rows = sampler_rows(e);
    let logits =
        (rows as f64 * s.model.vocab_size as f64 * e.logits_bytes_per_value as f64 * copies).ceil()
            as u64;
    // Model Runner V2 holds the forward's output and the sampled rows'
    // hidden states until the warm-up ends (bf16, replicated across TP).
    let hidden = if e.sampler_keeps_forward_output {
        (prefill_tokens(s) + rows) * s.model.hidden_size * ACT_BYTES
    } else {
        0
    };
    logits + hidden
}
