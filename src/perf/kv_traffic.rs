//! What a decode step does to the KV cache beyond reading it once, per
//! engine (`EngineSpec::decode_cache`, `mla_decode_expands_latent`).
//!
//! Fused engines (vLLM, SGLang, TRT-LLM) read each layer's cached tokens
//! once, share GQA heads inside the kernel and attend over the MLA latent;
//! the roofline in `perf` covers that. Hugging Face transformers 5.17 does
//! more, and on an H200 the extra dominates large-batch decode
//! (validation/README.md surprises 5 and 6):
//! - `DynamicCache` (`cache_utils.py DynamicLayer.update`) appends with
//!   `torch.cat`, re-writing each layer's whole cache every step;
//! - a layer whose attention gets an explicit mask cannot use SDPA's native
//!   GQA (`integrations/sdpa_attention.py use_gqa_in_sdpa`), so `repeat_kv`
//!   materialises K/V at the query-head count: a strided copy (read c, write
//!   g·c, g = query heads per KV head), then attention reads g·c. With a
//!   `StaticCache` every step has a mask; with a `DynamicCache` only sliding
//!   layers past their window do;
//! - a full `StaticSlidingWindowLayer` rolls its window every step
//!   (`roll(-1)`: a strided copy of c, then `copy_` back: read + write c);
//! - MLA (`modeling_deepseek_v3.py expand_kv`) pushes every cached latent
//!   through `kv_b_proj` on every step (a GEMM over all cached tokens),
//!   assembles per-head keys with two strided `copy_` calls, and attention
//!   reads per-head K and V.

use crate::memory::kv::{KvLayer, KvLayout};
use crate::spec::engine::{DecodeCache, EngineSpec};
use crate::spec::model::ModelSpec;

/// Bytes of one expanded K/V or activation element (bf16).
const ACT_BYTES: f64 = 2.0;

/// Extra KV work of one decode step on one GPU's layers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvTraffic {
    /// Bytes moved at full memory bandwidth beyond one read of the cache
    /// (cache re-writes, reads of expanded K/V, copy-backs).
    pub bytes: f64,
    /// Bytes read + written by generic strided-copy kernels.
    pub copy_bytes: f64,
    /// FLOPs of the MLA latent re-expansion GEMMs.
    pub expand_flops: f64,
    /// Bytes those GEMMs read and write (latent in, per-head K/V out).
    pub expand_bytes: f64,
}

/// Extra KV traffic of one decode step: `batch` sequences of `context`
/// tokens over the layers of `kv`, with `heads` query heads on this GPU.
pub fn decode_extra(
    engine: &EngineSpec,
    model: &ModelSpec,
    kv: &KvLayout,
    heads: u64,
    batch: u64,
    context: u64,
) -> KvTraffic {
    let mut t = KvTraffic::default();
    let dtype = kv.dtype;
    let b = batch as f64;
    let h = heads as f64;
    for layer in &kv.layers {
        // Decode attends over the window in every engine (HF's dynamic sliding
        // layer keeps window − 1 tokens after the first step; its static one
        // holds min(window, max_cache_len)).
        let tokens = layer.cached_tokens(context, true) as f64;
        let c = b * tokens * layer.bytes_per_token(dtype) as f64;
        match *layer {
            KvLayer::Full { kv_heads, .. } | KvLayer::Sliding { kv_heads, .. } => {
                let sliding_full = match *layer {
                    KvLayer::Sliding { window, .. } => context >= window,
                    _ => false,
                };
                let g = (heads / kv_heads.max(1)).max(1) as f64;
                let expand = match engine.decode_cache {
                    DecodeCache::Paged => false,
                    DecodeCache::Dynamic => sliding_full,
                    DecodeCache::Static => true,
                };
                if expand && g > 1.0 {
                    // repeat_kv: read c, write g·c (strided copy); attention
                    // then reads g·c where the roofline counted c.
                    t.copy_bytes += (1.0 + g) * c;
                    t.bytes += (g - 1.0) * c;
                }
                match engine.decode_cache {
                    DecodeCache::Dynamic => t.bytes += 2.0 * c, // torch.cat: read + write
                    DecodeCache::Static if sliding_full => {
                        t.copy_bytes += 2.0 * c; // roll(-1)
                        t.bytes += 2.0 * c; // copy_ back
                    }
                    _ => {}
                }
            }
            KvLayer::Mla { .. } => {
                if engine.decode_cache == DecodeCache::Dynamic {
                    t.bytes += 2.0 * c;
                }
                let Some(m) = &model.attention.mla else {
                    continue;
                };
                if !engine.mla_decode_expands_latent {
                    continue;
                }
                let n = b * tokens;
                let (nope, rope, v) = (
                    m.qk_nope_head_dim as f64,
                    m.qk_rope_head_dim as f64,
                    m.v_head_dim as f64,
                );
                let r = m.kv_lora_rank as f64;
                // kv_b_proj over every cached latent: r → heads × (nope + v).
                t.expand_flops += n * 2.0 * r * h * (nope + v);
                t.expand_bytes += n * (r + h * (nope + v)) * ACT_BYTES;
                // key_states = [k_nope | k_rot]: read heads·nope + rope, write heads·(nope + rope).
                t.copy_bytes += n * (h * nope + rope + h * (nope + rope)) * ACT_BYTES;
                // Attention reads per-head K and V (the roofline counted the latent,
                // which kv_b_proj reads).
                t.bytes += n * h * (nope + rope + v) * ACT_BYTES;
            }
            KvLayer::State { .. } | KvLayer::Compressed { .. } | KvLayer::SparseIndexed { .. } => {}
        }
    }
    t
}
