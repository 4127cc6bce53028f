//! KV cache per attention kind, in the spirit of vLLM's KV-cache spec
//! classes: one variant per kind, one method per question the allocator asks
//! (bytes per token, tokens cached at a context, fixed state per sequence).
//!
//! Sources: full attention `2 × kv_heads × head_dim × b` per token per layer
//! (vLLM `kv_cache_interface.py` FullAttentionSpec page size); MLA caches one
//! latent of `kv_lora_rank + qk_rope_head_dim` values per token per layer,
//! shared by all heads (DeepSeek-V2 paper, arXiv 2405.04434, Table 1).

use crate::memory::hybrid::{
    indexer_key_bytes, sglang_state_split, vllm_hybrid_pages, VllmHybridPages,
    VLLM_ATTENTION_BLOCK_ALIGN, VLLM_MLA_BLOCK_ALIGN,
};
use crate::spec::dtype::KvDtype;
use crate::spec::engine::{EngineSpec, HybridPaging, MlaCache};
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
    /// Multi-head latent attention: one shared latent per token, plus the
    /// DeepSeek-sparse-attention indexer's keys where the layer has its own
    /// indexer (DeepSeek-V3.2, GLM-5).
    Mla {
        /// Elements per token (kv_lora_rank + qk_rope_head_dim = 576).
        latent_dim: u64,
        /// Bytes per token of an fp8 latent in this engine's layout.
        fp8_bytes: u64,
        /// Bytes per token of the DSA indexer's key cache in this layer (0:
        /// no indexer, or one shared with another layer). Engines keep it in
        /// fp8 with one fp32 scale per 128 values whatever the KV dtype
        /// (vLLM `DeepseekV32IndexerCache`: 132 B for 128-wide keys).
        indexer_bytes: u64,
    },
    /// Linear attention / state-space layer: a fixed state per sequence.
    State {
        /// Bytes of state per sequence.
        bytes_per_sequence: u64,
    },
    /// Full attention with MiniMax-M3's sparse index: K and V for every
    /// token plus the index key (and value) in the model dtype (SGLang's
    /// indexer pool, vLLM's `MiniMaxM3IndexerCache`); a decoding query reads
    /// the top-k blocks' K and V and every index key.
    SparseIndexed {
        /// KV heads held on this GPU.
        kv_heads: u64,
        /// K head dimension.
        k_dim: u64,
        /// V head dimension.
        v_dim: u64,
        /// Index bytes per token (index key, plus value where kept).
        index_bytes: u64,
        /// Tokens of the blocks a query attends to (top-k blocks × block size).
        attended_tokens: u64,
    },
    /// DeepSeek-V4 compressed attention: one shared K=V entry per token for
    /// the last `window` tokens, plus one compressed entry per `ratio` tokens
    /// of the whole context (CSA at 4 with its indexer keys, HCA at 128; 0:
    /// window only) and the compressor's running state. vLLM
    /// `kv_cache_interface.py` `MLAAttentionSpec` (`model_version
    /// deepseek_v4`: 584 B per stored entry, `block_size // compress_ratio`
    /// entries per block), `sparse_swa.py` `DeepseekV4SWACache`,
    /// `deepseek_compressor.py` `CompressorStateCache`, `deepseek_v4_attention.py`
    /// `DeepseekV4IndexerCache` (132 B per compressed entry).
    Compressed {
        /// Tokens folded into one compressed entry (0: window only).
        ratio: u64,
        /// Uncompressed window, tokens.
        window: u64,
        /// Elements of one entry (head_dim, 512) in a 16-bit cache.
        entry_dim: u64,
        /// Bytes of one entry in the fp8 layout (448 fp8 NoPE + 64 bf16 RoPE
        /// + 8 scale bytes = 584).
        fp8_entry_bytes: u64,
        /// Elements of the indexer key per compressed entry (CSA layers:
        /// `index_head_dim`), else 0. Stored fp8 + one fp32 scale per 128 in
        /// an fp8 cache (vLLM `DeepseekV4IndexerCache`, 132 B), in the cache
        /// dtype otherwise (HF `DeepseekV4CSACache` keeps them in bf16).
        indexer_dim: u64,
        /// Compressed entries one decoding query reads (CSA: `index_topk`;
        /// 0: all of them).
        topk: u64,
        /// The compressor's fp32 running state per sequence.
        state_bytes: u64,
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
            KvLayer::SparseIndexed {
                kv_heads,
                k_dim,
                v_dim,
                index_bytes,
                ..
            } => kv_heads * (k_dim + v_dim) * dtype.bytes() + index_bytes,
            KvLayer::Mla {
                latent_dim,
                fp8_bytes,
                indexer_bytes,
            } => {
                indexer_bytes
                    + match dtype {
                        KvDtype::Fp8 => fp8_bytes,
                        d => latent_dim * d.bytes(),
                    }
            }
            KvLayer::State { .. } => 0,
            KvLayer::Compressed { .. } => self.entry_bytes(dtype),
        }
    }

    /// Bytes of one cached entry of a compressed layer (its window entries
    /// and compressed entries share the layout); 0 for other kinds.
    pub fn entry_bytes(&self, dtype: KvDtype) -> u64 {
        match *self {
            KvLayer::Compressed {
                entry_dim,
                fp8_entry_bytes,
                ..
            } => match dtype {
                KvDtype::Fp8 => fp8_entry_bytes,
                d => entry_dim * d.bytes(),
            },
            _ => 0,
        }
    }

    /// Bytes of one indexer key of a compressed layer's compressed entry in
    /// a `dtype` cache; 0 for other kinds and for layers without an indexer.
    pub fn indexer_key_bytes(&self, dtype: KvDtype) -> u64 {
        match *self {
            KvLayer::Compressed { indexer_dim, .. } if indexer_dim > 0 => match dtype {
                KvDtype::Fp8 => indexer_key_bytes(indexer_dim),
                d => indexer_dim * d.bytes(),
            },
            _ => 0,
        }
    }

    /// Compressed entries a compressed layer stores for `context` tokens
    /// (one per started group of `ratio` tokens, as its blocks are
    /// allocated); 0 for other kinds.
    pub fn compressed_entries(&self, context: u64) -> u64 {
        match *self {
            KvLayer::Compressed { ratio, .. } if ratio > 1 => context.div_ceil(ratio),
            _ => 0,
        }
    }

    /// Bytes of one sequence of `context` tokens in a compressed layer
    /// beyond its window: the compressed entries and their indexer keys.
    pub fn compressed_bytes(&self, dtype: KvDtype, context: u64) -> u64 {
        match *self {
            KvLayer::Compressed { .. } => {
                self.compressed_entries(context)
                    * (self.entry_bytes(dtype) + self.indexer_key_bytes(dtype))
            }
            _ => 0,
        }
    }

    /// Bytes decode attention reads in a compressed layer for one sequence of
    /// `context` tokens: the window's entries, the top-k (CSA) or all (HCA)
    /// complete compressed entries, and every indexer key (the indexer
    /// scores them all); 0 for other kinds.
    pub fn compressed_attended_bytes(&self, dtype: KvDtype, context: u64) -> u64 {
        match *self {
            KvLayer::Compressed {
                ratio,
                window,
                topk,
                ..
            } => {
                let entries = if ratio > 1 { context / ratio } else { 0 };
                let read = if topk > 0 { entries.min(topk) } else { entries };
                let e = self.entry_bytes(dtype);
                context.min(window) * e + read * e + entries * self.indexer_key_bytes(dtype)
            }
            _ => 0,
        }
    }

    /// Bytes decode attention reads in a sparse-indexed layer for one
    /// sequence of `context` tokens: the attended blocks' K and V and every
    /// index key; 0 for other kinds.
    pub fn sparse_attended_bytes(&self, dtype: KvDtype, context: u64) -> u64 {
        match *self {
            KvLayer::SparseIndexed {
                index_bytes,
                attended_tokens,
                ..
            } => {
                let kv = self.bytes_per_token(dtype) - index_bytes;
                context.min(attended_tokens) * kv + context * index_bytes
            }
            _ => 0,
        }
    }

    /// Tokens this layer holds for a sequence of `context` tokens, before
    /// block rounding. `capped` = whether the engine drops tokens outside
    /// the window.
    pub fn cached_tokens(&self, context: u64, capped: bool) -> u64 {
        match *self {
            KvLayer::Sliding { window, .. } if capped => context.min(window),
            // Every engine (and HF's cache) drops a compressed layer's window
            // tokens as it slides.
            KvLayer::Compressed { window, .. } => context.min(window),
            KvLayer::State { .. } => 0,
            _ => context,
        }
    }

    /// Fixed bytes per sequence (recurrent state), independent of context.
    pub fn state_bytes_per_sequence(&self) -> u64 {
        match *self {
            KvLayer::State { bytes_per_sequence } => bytes_per_sequence,
            KvLayer::Compressed { state_bytes, .. } => state_bytes,
            _ => 0,
        }
    }

    /// Recurrent state of a linear-attention / state-space layer (what the
    /// engines' hybrid paging and state pools hold); 0 for attention kinds,
    /// compressed ones included.
    fn recurrent_state_bytes(&self) -> u64 {
        match *self {
            KvLayer::State { bytes_per_sequence } => bytes_per_sequence,
            _ => 0,
        }
    }
}

/// The KV cache of one GPU's shard, built once per (model, engine, dtype,
/// parallel shard) as vLLM builds its KV-cache spec objects: the layers it
/// holds, and the policy that turns them into bytes — the KV dtype, the
/// engine's block (page) size and whether it drops tokens outside a sliding
/// window. Memory, speed, reports, charts and the probe all ask this one
/// object; the per-token formula lives only in [`KvLayer::bytes_per_token`].
#[derive(Debug, Clone, PartialEq)]
pub struct KvLayout {
    /// One entry per decoder layer held (plus MTP layers where loaded).
    pub layers: Vec<KvLayer>,
    /// Element type of the cache.
    pub dtype: KvDtype,
    /// Tokens per block (page); each layer's tokens round up to whole blocks.
    pub block_size: u64,
    /// Whether the engine frees tokens outside a sliding window
    /// (`EngineSpec::sliding_window_capped`).
    pub window_capped: bool,
    /// How the engine pages the state of hybrid models
    /// (`EngineSpec::hybrid_paging`).
    pub hybrid: HybridPaging,
    /// State pool : KV pool memory under `HybridPaging::SeparatePool`.
    pub state_pool_ratio: f64,
}

/// The cache of one decoder layer `i` of `model` under `engine`, with K/V
/// heads split over `tp` ranks (at least one head per rank: replication when
/// tp exceeds the KV heads; MLA latents and DSA indexer keys are never split
/// by TP: vLLM's `MLAAttentionSpec` has one KV head).
pub fn layer(model: &ModelSpec, engine: &EngineSpec, tp: u64, i: u64) -> KvLayer {
    let a = &model.attention;
    let t = model.layer_type(i);
    if matches!(t, LayerType::Linear | LayerType::Mamba | LayerType::None) {
        return KvLayer::State {
            // Engines split the state by heads over TP (vLLM MambaStateShapeCalculator).
            bytes_per_sequence: model.state_bytes_per_layer(t).div_ceil(tp.max(1)),
        };
    }
    if let Some(c) = &model.compressed_attention {
        return compressed_layer(model, c, i);
    }
    if let Some(mla) = &a.mla {
        // DSA: layers with their own indexer cache its keys; GLM-5.2's
        // `indexer_types: shared` layers reuse another layer's selection.
        let indexer_bytes = match &model.indexer {
            Some(ix) if !ix.shared_layers.contains(&i) => indexer_key_bytes(ix.head_dim),
            _ => 0,
        };
        return match engine.mla_cache {
            MlaCache::Latent => KvLayer::Mla {
                latent_dim: mla.latent_dim(),
                fp8_bytes: if model.indexer.is_some() {
                    engine.mla_sparse_fp8_bytes_per_token_layer
                } else {
                    engine.mla_fp8_bytes_per_token_layer
                },
                indexer_bytes,
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
    if let Some(x) = model
        .sparse_index
        .as_ref()
        .filter(|x| x.layers.contains(&i))
    {
        // The index key is one head, replicated on every TP rank.
        return KvLayer::SparseIndexed {
            kv_heads,
            k_dim,
            v_dim,
            index_bytes: x.cached_dim(i) * model.native_dtype.bytes().min(2),
            attended_tokens: x.topk_blocks * x.block_size,
        };
    }
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
}

/// Bytes of one fp8 entry of DeepSeek-V4's cache: the NoPE part in fp8, the
/// RoPE part in bf16, one ue8m0 scale per 64 NoPE values plus one pad byte
/// (vLLM `deepseek_v4_attention.py` `head_bytes`: 448 + 128 + 7 + 1 = 584).
pub fn v4_fp8_entry_bytes(head_dim: u64, rope_dim: u64) -> u64 {
    let nope = head_dim.saturating_sub(rope_dim);
    nope + rope_dim * 2 + nope / 64 + 1
}

/// The cache of DeepSeek-V4 layer `i`: the window and compressed entries of
/// the shared head (never split by TP: one KV head), the CSA layers' indexer
/// keys and the compressor states (the CSA layers' indexer has its own
/// compressor at `index_head_dim`).
fn compressed_layer(
    model: &ModelSpec,
    c: &crate::spec::model::CompressedAttentionSpec,
    i: u64,
) -> KvLayer {
    let hd = model.attention.head_dim;
    let ratio = c.ratio(i);
    let csa = c.is_csa(i);
    let ix = model.indexer.as_ref().filter(|_| csa);
    KvLayer::Compressed {
        ratio: if ratio > 1 { ratio } else { 0 },
        window: c.window,
        entry_dim: hd,
        fp8_entry_bytes: v4_fp8_entry_bytes(hd, c.rope_head_dim),
        indexer_dim: ix.map_or(0, |x| x.head_dim),
        topk: ix.map_or(0, |x| x.topk),
        state_bytes: c.layer_state_bytes(i, hd, ix.map(|x| x.head_dim)),
    }
}

/// Σ numerator/denominator over `parts`, rounded up to a whole byte (HCA
/// layers add 584/128 = 4.5625 B per token).
fn ceil_fraction_sum(parts: impl Iterator<Item = (u64, u64)>) -> u64 {
    let parts: Vec<(u128, u128)> = parts
        .filter(|&(_, d)| d > 0)
        .map(|(n, d)| (n as u128, d as u128))
        .collect();
    let gcd = |mut a: u128, mut b: u128| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let den = parts.iter().fold(1u128, |l, &(_, d)| l / gcd(l, d) * d);
    let num: u128 = parts.iter().map(|&(n, d)| n * (den / d)).sum();
    num.div_ceil(den).min(u64::MAX as u128) as u64
}

impl KvLayout {
    /// The layout of layers `range` of `model` on one rank of `tp`, cached
    /// in `dtype` with `engine`'s block size and window policy.
    pub fn build(
        model: &ModelSpec,
        engine: &EngineSpec,
        dtype: KvDtype,
        tp: u64,
        range: std::ops::Range<u64>,
    ) -> KvLayout {
        KvLayout {
            layers: range.map(|i| layer(model, engine, tp, i)).collect(),
            dtype,
            block_size: engine.block_size.max(1),
            window_capped: engine.sliding_window_capped,
            hybrid: engine.hybrid_paging,
            state_pool_ratio: engine.state_pool_ratio,
        }
    }

    /// The same layers under another block size and window policy (charts
    /// and tests that want exact tokens or an uncapped cache).
    pub fn with_policy(mut self, block_size: u64, window_capped: bool) -> KvLayout {
        self.block_size = block_size.max(1);
        self.window_capped = window_capped;
        self
    }

    /// Bytes per token summed over layers, as if every layer cached the token
    /// (the figure model cards and vLLM's page size quote).
    ///
    /// A compressed layer adds its window entry plus its share of a
    /// compressed entry (and indexer key) per token; the sum is rounded up
    /// to a whole byte.
    pub fn bytes_per_token(&self) -> u64 {
        let plain: u64 = self
            .layers
            .iter()
            .filter(|l| !matches!(l, KvLayer::Compressed { .. }))
            .map(|l| l.bytes_per_token(self.dtype))
            .sum();
        plain + self.compressed_share(true)
    }

    /// Per-token bytes of the compressed layers, rounded up: the compressed
    /// entries' and indexer keys' share, plus the window entry when
    /// `with_window`.
    fn compressed_share(&self, with_window: bool) -> u64 {
        ceil_fraction_sum(self.layers.iter().flat_map(|l| match *l {
            KvLayer::Compressed { ratio, .. } => {
                let e = l.entry_bytes(self.dtype);
                let w = if with_window { e } else { 0 };
                let share = if ratio > 1 {
                    (e + l.indexer_key_bytes(self.dtype), ratio)
                } else {
                    (0, 1)
                };
                vec![(w, 1), share]
            }
            _ => Vec::new(),
        }))
    }

    /// Bytes each further token adds once sliding windows are full: layers
    /// that keep growing with context (full and MLA; sliding layers too when
    /// the engine does not cap them).
    /// Compressed layers grow by their compressed entries' share (rounded up).
    pub fn growing_bytes_per_token(&self) -> u64 {
        self.layers
            .iter()
            .filter(|l| {
                matches!(
                    l,
                    KvLayer::Full { .. } | KvLayer::Mla { .. } | KvLayer::SparseIndexed { .. }
                ) || (!self.window_capped && matches!(l, KvLayer::Sliding { .. }))
            })
            .map(|l| l.bytes_per_token(self.dtype))
            .sum::<u64>()
            + self.compressed_share(false)
    }

    /// Fixed bytes per sequence (recurrent state of linear / state-space
    /// layers), independent of context.
    pub fn state_bytes_per_sequence(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| l.state_bytes_per_sequence())
            .sum()
    }

    /// Exact bytes one sequence of `context` tokens holds under the engine's
    /// policy: each layer's tokens rounded up to whole blocks, plus state —
    /// under vLLM's hybrid paging, whole pages of every layer group (the
    /// raised attention block, one padded page per state group).
    pub fn sequence_bytes(&self, context: u64) -> u64 {
        if let Some(p) = self.vllm_pages() {
            return p.blocks_per_sequence(context, 1) * p.group_size * p.page_bytes;
        }
        self.bytes_at(context, self.block_size, self.window_capped, true)
    }

    /// vLLM's unified paging of this layout, when the engine pages hybrid
    /// models that way and the layout holds both attention and state layers
    /// (None otherwise). Attention layers of different sizes page at the
    /// largest; the kernel block multiple is 64 for MLA backends, else 16.
    pub fn vllm_pages(&self) -> Option<VllmHybridPages> {
        if self.hybrid != HybridPaging::UnifiedPages
            || self
                .layers
                .iter()
                .any(|l| matches!(l, KvLayer::Compressed { .. }))
        {
            return None;
        }
        let attn: Vec<u64> = self
            .layers
            .iter()
            .filter(|l| !matches!(l, KvLayer::State { .. }))
            .map(|l| l.bytes_per_token(self.dtype))
            .collect();
        let states: Vec<u64> = self
            .layers
            .iter()
            .map(|l| l.recurrent_state_bytes())
            .filter(|&b| b > 0)
            .collect();
        let align = if self.layers.iter().any(|l| matches!(l, KvLayer::Mla { .. })) {
            VLLM_MLA_BLOCK_ALIGN
        } else {
            VLLM_ATTENTION_BLOCK_ALIGN
        };
        vllm_hybrid_pages(
            *attn.iter().max()?,
            attn.len() as u64,
            *states.iter().max()?,
            states.len() as u64,
            self.block_size,
            align,
        )
    }

    /// SGLang's split of a cache budget into (KV pool, state pool) bytes,
    /// when the engine keeps a separate state pool and the layout has both
    /// attention and state (None otherwise).
    pub fn state_pool_split(&self, budget_bytes: u64) -> Option<(u64, u64)> {
        (self.hybrid == HybridPaging::SeparatePool
            && self.recurrent_state_bytes() > 0
            && self.bytes_per_token() > 0)
            .then(|| sglang_state_split(budget_bytes, self.state_pool_ratio))
    }

    /// Sequences of `context` tokens the engine's caches hold in
    /// `budget_bytes`: whole pages under vLLM's hybrid paging; the fewer of
    /// KV-pool sequences and state slots under SGLang's separate pool; else
    /// budget ÷ `sequence_bytes` (a huge number when nothing is cached).
    pub fn sequences_fit(&self, budget_bytes: i128, context: u64) -> u64 {
        if budget_bytes <= 0 {
            return 0;
        }
        let budget = budget_bytes.min(u64::MAX as i128) as u64;
        let cap = u64::MAX / 4;
        if let Some(p) = self.vllm_pages() {
            return p.sequences(budget, context, 1);
        }
        if let Some((kv, st)) = self.state_pool_split(budget) {
            let attn = self.bytes_at(context, self.block_size, self.window_capped, false);
            let by_kv = kv.checked_div(attn).unwrap_or(cap);
            return by_kv.min(st / self.recurrent_state_bytes());
        }
        match self.sequence_bytes(context) {
            0 => cap,
            per => (budget / per).min(cap),
        }
    }

    /// State slots (sequences whose state fits) of SGLang's separate pool in
    /// `budget_bytes`; None for other engines or models without state.
    pub fn state_slots(&self, budget_bytes: i128) -> Option<u64> {
        let budget = budget_bytes.clamp(0, u64::MAX as i128) as u64;
        let (_, st) = self.state_pool_split(budget)?;
        Some(st / self.recurrent_state_bytes())
    }

    /// Linear-attention / SSM state per sequence (what hybrid paging and
    /// SGLang's state pool hold; compressed layers' compressor state is kept
    /// beside their KV).
    fn recurrent_state_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.recurrent_state_bytes()).sum()
    }

    /// Bytes decode attention reads for one sequence of `context` tokens:
    /// exact tokens (no block rounding), sliding layers only their window
    /// (every engine attends over the window, even where it keeps more).
    /// Compressed layers: the window, the compressed entries a query reads
    /// and every indexer key ([`KvLayer::compressed_attended_bytes`]).
    pub fn attended_bytes(&self, context: u64) -> u64 {
        self.layers
            .iter()
            .map(|l| match l {
                KvLayer::Compressed { .. } => l.compressed_attended_bytes(self.dtype, context),
                KvLayer::SparseIndexed { .. } => l.sparse_attended_bytes(self.dtype, context),
                _ => self.layer_bytes(l, context, 1, true, true),
            })
            .sum()
    }

    /// Tokens decode attention reads per sequence, summed over layers (a
    /// compressed layer's compressed entries count as tokens).
    pub fn attended_tokens(&self, context: u64) -> u64 {
        self.layers
            .iter()
            .map(|l| match *l {
                KvLayer::Compressed { ratio, topk, .. } => {
                    let entries = if ratio > 1 { context / ratio } else { 0 };
                    l.cached_tokens(context, true)
                        + if topk > 0 { entries.min(topk) } else { entries }
                }
                _ => l.cached_tokens(context, true),
            })
            .sum()
    }

    /// Tokens the engine's pool holds in `budget_bytes`, as engines log at
    /// start-up: whole blocks of all layers held (0 when nothing is cached
    /// per token or the budget is not positive).
    ///
    /// Hybrid models: vLLM reports blocks ÷ layer groups × block size
    /// (`_report_kv_cache_config`); SGLang's KV pool is its share of the
    /// budget after the state pool.
    ///
    /// Layouts with compressed layers: the budget over the bytes each token
    /// adds once the windows are full (their windows and compressor states
    /// are a fixed cost per sequence).
    pub fn pool_tokens(&self, budget_bytes: i128) -> u64 {
        let compressed = self
            .layers
            .iter()
            .any(|l| matches!(l, KvLayer::Compressed { .. }));
        let per_token = if compressed {
            self.growing_bytes_per_token()
        } else {
            self.bytes_per_token()
        };
        if budget_bytes <= 0 || per_token == 0 {
            return 0;
        }
        let budget = budget_bytes.min(u64::MAX as i128) as u64;
        if let Some(p) = self.vllm_pages() {
            return p.kv_cache_tokens(budget);
        }
        let budget = self.state_pool_split(budget).map_or(budget, |(kv, _)| kv);
        let block = self.block_size as u128;
        let blocks = budget as u128 / (per_token as u128 * block);
        (blocks * block).min(u64::MAX as u128 / 4) as u64
    }

    /// Bytes of one sequence of `context` tokens with each layer's tokens
    /// rounded up to blocks of `block_size`, dropping tokens outside the
    /// window when `capped`, plus state when `with_state`.
    fn bytes_at(&self, context: u64, block_size: u64, capped: bool, with_state: bool) -> u64 {
        self.layers
            .iter()
            .map(|l| self.layer_bytes(l, context, block_size, capped, with_state))
            .sum()
    }

    /// [`Self::bytes_at`] for one layer; a compressed layer adds its
    /// compressed entries and indexer keys to its window.
    fn layer_bytes(
        &self,
        l: &KvLayer,
        context: u64,
        block_size: u64,
        capped: bool,
        with_state: bool,
    ) -> u64 {
        let block = block_size.max(1);
        let mut t = l.cached_tokens(context, capped);
        if t < context && block > 1 {
            // A sliding layer straddles one extra block as the window moves.
            t += block;
        }
        let t = t.div_ceil(block) * block;
        t * l.bytes_per_token(self.dtype)
            + l.compressed_bytes(self.dtype, context)
            + if with_state {
                l.state_bytes_per_sequence()
            } else {
                0
            }
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
            indexer_bytes: 0,
        };
        assert_eq!(mla.bytes_per_token(KvDtype::Bf16), 1152);
        assert_eq!(mla.bytes_per_token(KvDtype::Fp8), 656);
        // With a DSA indexer of 128-wide keys: + 128 fp8 + one fp32 scale, in
        // either KV dtype.
        let dsa = KvLayer::Mla {
            latent_dim: 576,
            fp8_bytes: 656,
            indexer_bytes: 132,
        };
        assert_eq!(dsa.bytes_per_token(KvDtype::Bf16), 1152 + 132);
        assert_eq!(dsa.bytes_per_token(KvDtype::Fp8), 656 + 132);
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

    fn layout_of(layers: Vec<KvLayer>, block_size: u64, window_capped: bool) -> KvLayout {
        KvLayout {
            layers,
            dtype: KvDtype::Bf16,
            block_size,
            window_capped,
            hybrid: HybridPaging::Logical,
            state_pool_ratio: 0.9,
        }
    }

    #[test]
    fn pool_tokens_are_whole_blocks_of_all_layers() {
        // Two full layers of 8 KV heads × 128 in bf16: 2 × 8 × 256 × 2 = 8,192 B per
        // token. vLLM: num_blocks = budget // (page per layer × layers); a 1 MiB budget
        // holds 1,048,576 / (8,192 × 16) = 8 blocks of 16 tokens = 128 tokens.
        let full = KvLayer::Full {
            kv_heads: 8,
            k_dim: 128,
            v_dim: 128,
        };
        let l = layout_of(vec![full, full], 16, true);
        assert_eq!(l.bytes_per_token(), 8192);
        assert_eq!(l.pool_tokens(1 << 20), 128);
        assert_eq!(l.pool_tokens((1 << 20) - 1), 112);
        assert_eq!(l.pool_tokens(0), 0);
        assert_eq!(l.pool_tokens(-5), 0);
    }

    #[test]
    fn stored_and_attended_bytes_of_a_sliding_layer() {
        // Window 4096, 10,000-token sequence, blocks of 16: the engine keeps the
        // window plus the block it straddles, 4096 + 16 = 4112 token slots; decode
        // attention reads exactly the 4096 window tokens; uncapped it keeps 10,000.
        let sw = KvLayer::Sliding {
            kv_heads: 1,
            k_dim: 64,
            v_dim: 64,
            window: 4096,
        };
        let per = 2 * 64 * 2;
        let l = layout_of(vec![sw], 16, true);
        assert_eq!(l.sequence_bytes(10_000), 4112 * per);
        assert_eq!(l.attended_bytes(10_000), 4096 * per);
        assert_eq!(l.attended_tokens(10_000), 4096);
        assert_eq!(l.growing_bytes_per_token(), 0);
        let uncapped = l.with_policy(1, false);
        assert_eq!(uncapped.sequence_bytes(10_000), 10_000 * per);
        assert_eq!(uncapped.growing_bytes_per_token(), per);
    }

    #[test]
    fn state_layers_cost_a_fixed_amount_per_sequence() {
        let st = KvLayer::State {
            bytes_per_sequence: 1_000,
        };
        let l = layout_of(vec![st, st], 16, true);
        assert_eq!(l.bytes_per_token(), 0);
        assert_eq!(l.state_bytes_per_sequence(), 2_000);
        assert_eq!(l.sequence_bytes(1), 2_000);
        assert_eq!(l.sequence_bytes(100_000), 2_000);
    }
}
