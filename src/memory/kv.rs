//! KV cache per attention kind, in the spirit of vLLM's KV-cache spec
//! classes: one variant per kind, one method per question the allocator asks
//! (bytes per token, tokens cached at a context, fixed state per sequence).
//!
//! Sources: full attention `2 × kv_heads × head_dim × b` per token per layer
//! (vLLM `kv_cache_interface.py` FullAttentionSpec page size); MLA caches one
//! latent of `kv_lora_rank + qk_rope_head_dim` values per token per layer,
//! shared by all heads (DeepSeek-V2 paper, arXiv 2405.04434, Table 1).

use crate::spec::dtype::KvDtype;
use crate::spec::engine::{EngineSpec, MlaCache};
use crate::spec::model::{LayerType, ModelSpec};

/// What one decoder layer caches, on one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvLayer {
    /// Full attention (MHA/GQA/MQA): K and V for every token.
    Full {
        /// KV heads held on this GPU.
        kv_heads: u64,
        /// K head dimension.
        k_dim: u64,
        /// V head dimension.
        v_dim: u64,
    },
    /// Sliding-window attention: K and V for the last `window` tokens.
    Sliding {
        /// KV heads held on this GPU.
        kv_heads: u64,
        /// K head dimension.
        k_dim: u64,
        /// V head dimension.
        v_dim: u64,
        /// Window, tokens.
        window: u64,
    },
    /// Multi-head latent attention: one shared latent per token.
    Mla {
        /// Elements per token (kv_lora_rank + qk_rope_head_dim = 576).
        latent_dim: u64,
        /// Bytes per token of an fp8 latent in this engine's layout.
        fp8_bytes: u64,
    },
    /// Linear attention / state-space layer: a fixed state per sequence.
    State {
        /// Bytes of state per sequence.
        bytes_per_sequence: u64,
    },
}

impl KvLayer {
    /// Bytes one cached token costs in this layer.
    pub fn bytes_per_token(&self, dtype: KvDtype) -> u64 {
        match *self {
            KvLayer::Full {
                kv_heads,
                k_dim,
                v_dim,
            }
            | KvLayer::Sliding {
                kv_heads,
                k_dim,
                v_dim,
                ..
            } => kv_heads * (k_dim + v_dim) * dtype.bytes(),
            KvLayer::Mla {
                latent_dim,
                fp8_bytes,
            } => match dtype {
                KvDtype::Fp8 => fp8_bytes,
                d => latent_dim * d.bytes(),
            },
            KvLayer::State { .. } => 0,
        }
    }

    /// Tokens this layer holds for a sequence of `context` tokens, before
    /// block rounding. `capped` = whether the engine drops tokens outside
    /// the window.
    pub fn cached_tokens(&self, context: u64, capped: bool) -> u64 {
        match *self {
            KvLayer::Sliding { window, .. } if capped => context.min(window),
            KvLayer::State { .. } => 0,
            _ => context,
        }
    }

    /// Fixed bytes per sequence (recurrent state), independent of context.
    pub fn state_bytes_per_sequence(&self) -> u64 {
        match *self {
            KvLayer::State { bytes_per_sequence } => bytes_per_sequence,
            _ => 0,
        }
    }
}

/// The KV layers of a model (or of one GPU's shard of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvLayout {
    /// One entry per decoder layer held.
    pub layers: Vec<KvLayer>,
}

/// Build the KV layer list for `model`, layers `range`, with K/V heads split
/// over `tp` ranks (at least one head per rank: replication when tp exceeds
/// the KV heads; MLA latents are never split by TP).
pub fn layout(
    model: &ModelSpec,
    engine: &EngineSpec,
    tp: u64,
    range: std::ops::Range<u64>,
) -> KvLayout {
    let a = &model.attention;
    let layers = range
        .map(|i| {
            let t = model.layer_type(i);
            if matches!(t, LayerType::Linear | LayerType::Mamba | LayerType::None) {
                return KvLayer::State {
                    // Engines split the state by heads over TP (vLLM MambaStateShapeCalculator).
                    bytes_per_sequence: model.state_bytes_per_layer(t).div_ceil(tp.max(1)),
                };
            }
            if let Some(mla) = &a.mla {
                return match engine.mla_cache {
                    MlaCache::Latent => KvLayer::Mla {
                        latent_dim: mla.latent_dim(),
                        fp8_bytes: engine.mla_fp8_bytes_per_token_layer,
                    },
                    // Decompressed per-head K (nope + rope) and V, split over TP by heads.
                    MlaCache::Decompressed => KvLayer::Full {
                        kv_heads: (a.num_heads / tp.max(1)).max(1),
                        k_dim: mla.qk_nope_head_dim + mla.qk_rope_head_dim,
                        v_dim: mla.v_head_dim,
                    },
                };
            }
            let (n_kv, k_dim, v_dim) = model.kv_shape(t);
            let kv_heads = (n_kv / tp.max(1)).max(1);
            match t {
                LayerType::Sliding => KvLayer::Sliding {
                    kv_heads,
                    k_dim,
                    v_dim,
                    window: model.sliding_window.unwrap_or(u64::MAX),
                },
                _ => KvLayer::Full {
                    kv_heads,
                    k_dim,
                    v_dim,
                },
            }
        })
        .collect();
    KvLayout { layers }
}

impl KvLayout {
    /// Bytes per token summed over layers, as if every layer cached the token
    /// (the figure model cards and vLLM's page size quote).
    pub fn bytes_per_token(&self, dtype: KvDtype) -> u64 {
        self.layers.iter().map(|l| l.bytes_per_token(dtype)).sum()
    }

    /// Bytes per token summed over layers that keep growing with context
    /// (full and MLA layers; sliding layers stop at their window).
    pub fn growing_bytes_per_token(&self, dtype: KvDtype) -> u64 {
        self.layers
            .iter()
            .filter(|l| matches!(l, KvLayer::Full { .. } | KvLayer::Mla { .. }))
            .map(|l| l.bytes_per_token(dtype))
            .sum()
    }

    /// Exact bytes one sequence of `context` tokens holds, with each layer's
    /// tokens rounded up to whole blocks of `block_size`, plus state.
    pub fn sequence_bytes(
        &self,
        dtype: KvDtype,
        context: u64,
        block_size: u64,
        capped: bool,
    ) -> u64 {
        let block = block_size.max(1);
        self.layers
            .iter()
            .map(|l| {
                let mut t = l.cached_tokens(context, capped);
                if t < context && block > 1 {
                    // A sliding layer straddles one extra block as the window moves.
                    t += block;
                }
                let t = t.div_ceil(block) * block;
                t * l.bytes_per_token(dtype) + l.state_bytes_per_sequence()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_kind_bytes() {
        let full = KvLayer::Full {
            kv_heads: 8,
            k_dim: 128,
            v_dim: 128,
        };
        assert_eq!(full.bytes_per_token(KvDtype::Bf16), 4096);
        assert_eq!(full.bytes_per_token(KvDtype::Fp8), 2048);
        let mla = KvLayer::Mla {
            latent_dim: 576,
            fp8_bytes: 656,
        };
        assert_eq!(mla.bytes_per_token(KvDtype::Bf16), 1152);
        assert_eq!(mla.bytes_per_token(KvDtype::Fp8), 656);
        let sw = KvLayer::Sliding {
            kv_heads: 8,
            k_dim: 128,
            v_dim: 128,
            window: 4096,
        };
        assert_eq!(sw.cached_tokens(10_000, true), 4096);
        assert_eq!(sw.cached_tokens(10_000, false), 10_000);
        assert_eq!(sw.cached_tokens(100, true), 100);
    }
}
