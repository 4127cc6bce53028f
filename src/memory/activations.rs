//! Activation peak of one prefill forward pass on one GPU — an estimate, not
//! an exact figure: engines free each layer's temporaries before the next,
//! so the peak is one layer's widest point times the tokens in flight, plus
//! the logits the sampler materialises. The engine profile's
//! `activation_factor` absorbs allocator slack measured against real runs.

use crate::scenario::Scenario;

/// Bytes of one activation element (bf16/fp16 activations).
const ACT_BYTES: u64 = 2;

/// The widest per-token temporaries of one layer on one GPU, bytes.
pub fn per_token_layer_peak_bytes(s: &Scenario) -> u64 {
    let m = &s.model;
    let d = &s.deployment;
    let a = &m.attention;
    let tp = d.tp;
    let h = m.hidden_size;
    // Residual stream + normed input stay alive across the layer.
    let resident = 2 * h;
    let heads = a.num_heads / tp;
    let attn = if let Some(mla) = &a.mla {
        // Prefill decompresses per-head K (nope+rope) and V, plus Q and output.
        let qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
        heads * (2 * qk + 2 * mla.v_head_dim) + mla.latent_dim() + mla.q_lora_rank.unwrap_or(0)
    } else {
        let kv = (a.num_kv_heads / tp).max(1);
        (heads + 2 * kv) * a.head_dim + heads * a.v_dim()
    };
    let dense_mlp = if m.mlp.intermediate_size > 0 {
        // gate_up output (2I) + activated (I), per TP rank.
        3 * m.mlp.intermediate_size / tp
    } else {
        0
    };
    let moe = match &m.moe {
        Some(moe) => {
            let moe_tp = s.moe_tp();
            // Each token's top-k expert copies: gate_up (2Ie) + activated (Ie) + output (h),
            // over the share of experts this GPU holds.
            let local_share = 1.0 / d.ep as f64 * if d.ep > 1 { d.dp as f64 } else { 1.0 };
            let per_copy = 3 * moe.expert_intermediate_size / moe_tp + h;
            let routed =
                (moe.experts_per_token as f64 * per_copy as f64 * local_share).ceil() as u64;
            routed + 3 * moe.shared_intermediate_size / tp + moe.num_experts * 2
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

/// Peak activation bytes on the GPU of the last pipeline stage (which also
/// computes logits): layer temporaries × tokens × the engine's factor, plus logits.
pub fn prefill_peak_bytes(s: &Scenario) -> u64 {
    let e = &s.deployment.engine;
    let layer = (per_token_layer_peak_bytes(s) * prefill_tokens(s)) as f64 * e.activation_factor;
    layer.ceil() as u64 + logits_bytes(s)
}
