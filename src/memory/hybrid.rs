//! How the engines page the KV cache of hybrid models (attention layers next
//! to linear-attention / Mamba2 layers that hold a fixed state per sequence),
//! and the per-token cache entries of DeepSeek sparse attention. Pure
//! arithmetic; the engine profiles (`spec::engine`) decide which rule applies.
//!
//! Sources (vLLM v0.11–v0.19, `vllm-project/vllm`):
//! - `vllm/platforms/interface.py` (`_align_hybrid_block_size`, called from
//!   `check_and_update_config`): without prefix caching the attention block
//!   size becomes `align × cdiv(state_page, align × attn_page_1_token)` (align =
//!   the backend's kernel block multiple, 16 for FlashAttention), raised only
//!   when the configured block is smaller; the state page is then padded to
//!   the attention page.
//! - `vllm/v1/core/kv_cache_utils.py` (`_get_kv_cache_groups_uniform_page_size`):
//!   layers of one spec are split into groups of `group_size` layers — the
//!   fewest layers of any spec, or the most when max < 1.25 × min — padding the
//!   last group; `get_num_blocks`: blocks = budget ÷ page ÷ group_size;
//!   `_report_kv_cache_config`: "GPU KV cache size" = blocks ÷ groups × block.
//! - SGLang (`sgl-project/sglang`, the model runner's hybrid GDN / Mamba pool
//!   sizing): the state pool is sized apart from the KV pool; the memory left
//!   for caches is split by `mamba_full_memory_ratio` (server argument, default
//!   0.9): `mamba_budget = rest × ratio / (1 + ratio)`, the KV pool the rest.
//! - DeepSeek sparse attention (vLLM `vllm/v1/attention/backends/mla/flashmla_sparse.py`,
//!   `fp8_ds_mla` cache dtype; `vllm/model_executor/models/deepseek_v2.py`
//!   `DeepseekV32IndexerCache`): one latent entry of 512 fp8 values + 4 fp32
//!   tile scales + 64 bf16 rope values = 656 B per token per layer, and the
//!   indexer's keys: `index_head_dim` fp8 values + one fp32 scale per 128 =
//!   132 B per token per layer, kept in fp8 whatever the KV dtype.

/// vLLM's kernel block multiple for the attention block of a hybrid model
/// with FlashAttention-style attention (`HybridAttentionMambaModelConfig`
/// in `vllm/model_executor/models/config.py`: "FlashAttention requires block
/// size to be multiple of 16").
pub const VLLM_ATTENTION_BLOCK_ALIGN: u64 = 16;

/// The same for MLA backends (64; 128 only with `CUTLASS_MLA` forced).
pub const VLLM_MLA_BLOCK_ALIGN: u64 = 64;

/// vLLM's unified paging of a hybrid model on one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VllmHybridPages {
    /// Tokens per attention block after the raise.
    pub block_size: u64,
    /// Bytes of one page (one block of one layer), the same for every layer.
    pub page_bytes: u64,
    /// Bytes a state layer's page adds beyond its state (padding to the page).
    pub state_padding_bytes: u64,
    /// Layers per KV-cache group (one KVCacheTensor per group slot).
    pub group_size: u64,
    /// Groups holding attention layers.
    pub attention_groups: u64,
    /// Groups holding state layers.
    pub state_groups: u64,
}

/// vLLM's paging for `attn_layers` attention layers of `attn_bytes_per_token`
/// (one layer, one GPU) and `state_layers` state layers of `state_bytes` (one
/// layer, one sequence, one GPU), a configured `block_size` and the attention
/// backend's kernel block multiple `align` (16 for FlashAttention). None when
/// the model has no state layers or no attention layers (then there is nothing
/// to unify).
pub fn vllm_hybrid_pages(
    attn_bytes_per_token: u64,
    attn_layers: u64,
    state_bytes: u64,
    state_layers: u64,
    block_size: u64,
    align: u64,
) -> Option<VllmHybridPages> {
    if attn_layers == 0 || state_layers == 0 || attn_bytes_per_token == 0 || state_bytes == 0 {
        return None;
    }
    let align = align.max(1);
    let raised = align * state_bytes.div_ceil(align * attn_bytes_per_token);
    let block = block_size.max(raised);
    let page = block * attn_bytes_per_token;
    let (lo, hi) = (attn_layers.min(state_layers), attn_layers.max(state_layers));
    // `max_num_layers < min_num_layers * 1.25`, in integers.
    let group_size = if 4 * hi < 5 * lo { hi } else { lo };
    Some(VllmHybridPages {
        block_size: block,
        page_bytes: page,
        state_padding_bytes: page - state_bytes,
        group_size,
        attention_groups: attn_layers.div_ceil(group_size),
        state_groups: state_layers.div_ceil(group_size),
    })
}

impl VllmHybridPages {
    /// Blocks of the shared pool a KV budget of `budget_bytes` buys.
    pub fn num_blocks(&self, budget_bytes: u64) -> u64 {
        budget_bytes / self.page_bytes / self.group_size
    }

    /// The "GPU KV cache size" vLLM reports, tokens: blocks ÷ groups × block.
    pub fn kv_cache_tokens(&self, budget_bytes: u64) -> u64 {
        self.num_blocks(budget_bytes) / (self.attention_groups + self.state_groups)
            * self.block_size
    }

    /// Blocks one sequence of `context` tokens takes: every attention group
    /// holds its tokens, every state group `state_blocks` pages (1 without
    /// prefix caching or speculative decoding).
    pub fn blocks_per_sequence(&self, context: u64, state_blocks: u64) -> u64 {
        self.attention_groups * context.div_ceil(self.block_size) + self.state_groups * state_blocks
    }

    /// Sequences of `context` tokens that fit in `budget_bytes`.
    pub fn sequences(&self, budget_bytes: u64, context: u64, state_blocks: u64) -> u64 {
        self.num_blocks(budget_bytes) / self.blocks_per_sequence(context, state_blocks).max(1)
    }
}

/// SGLang's split of the memory left for caches between the KV pool and the
/// separate linear-attention / Mamba state pool: (kv_bytes, state_bytes) with
/// `ratio` = `mamba_full_memory_ratio` (SGLang's default 0.9).
pub fn sglang_state_split(rest_bytes: u64, ratio: f64) -> (u64, u64) {
    let kv = (rest_bytes as f64 / (1.0 + ratio)).floor() as u64;
    (kv, rest_bytes - kv)
}

/// Bytes of one `fp8_ds_mla` latent entry (DeepSeek sparse attention in vLLM
/// and SGLang): 512 fp8 + 4 fp32 scales + 64 bf16 rope values.
pub const FP8_DS_MLA_BYTES: u64 = 512 + 4 * 4 + 64 * 2;

/// Bytes per token per layer of the DSA indexer's keys: `head_dim` fp8 values
/// and one fp32 scale per 128 of them (vLLM `DeepseekV32IndexerCache`).
pub fn indexer_key_bytes(head_dim: u64) -> u64 {
    head_dim + head_dim.div_ceil(128) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen3.5-35B-A3B on one GPU, fp8 KV: 10 full layers of 2 KV heads × 256
    /// (K+V, 1 B) = 1,024 B/token; 30 Gated DeltaNet layers whose state is
    /// 3 × 8,192 conv channels × 2 B + 32 × 128 × 128 × 4 B = 2,146,304 B.
    #[test]
    fn qwen3_5_35b_paging() {
        let attn = 2 * 2 * 256;
        let state = 3 * (2 * 16 * 128 + 32 * 128) * 2 + 32 * 128 * 128 * 4;
        assert_eq!(state, 2_146_304);
        let p = vllm_hybrid_pages(attn, 10, state, 30, 16, 16).unwrap();
        // 16 × cdiv(2,146,304, 16 × 1,024) = 16 × 131 = 2,096 tokens per block
        // (vLLM logs "Setting attention block size to 2096 tokens" for this model).
        assert_eq!(p.block_size, 2096);
        assert_eq!(p.page_bytes, 2096 * 1024);
        assert_eq!(p.state_padding_bytes, 2096 * 1024 - state);
        // 10 : 30 → groups of 10: one attention group, three state groups.
        assert_eq!(
            (p.group_size, p.attention_groups, p.state_groups),
            (10, 1, 3)
        );
        // 304 blocks (budget = 304 pages × 10 layers): 304 / 4 × 2,096 = 159,296 tokens reported.
        let budget = 304 * p.page_bytes * 10;
        assert_eq!(p.num_blocks(budget), 304);
        assert_eq!(p.kv_cache_tokens(budget), 159_296);
        // 64k-token sequences: 32 attention blocks + one (or, with a spare page
        // per state group, two) blocks per state group.
        assert_eq!(p.blocks_per_sequence(65_536, 1), 32 + 3);
        assert_eq!(p.sequences(budget, 65_536, 1), 304 / 35);
        assert_eq!(p.sequences(budget, 65_536, 2), 304 / 38);
    }

    #[test]
    fn group_size_rule() {
        // gpt-oss-20b + eagle style 12 : 13 → one size of 13 (13 < 1.25 × 12).
        let p = vllm_hybrid_pages(100, 13, 1000, 12, 16, 16).unwrap();
        assert_eq!(
            (p.group_size, p.attention_groups, p.state_groups),
            (13, 1, 1)
        );
        // Nemotron-3-Super 8 attention : 40 Mamba2 → groups of 8.
        let p = vllm_hybrid_pages(100, 8, 1000, 40, 16, 16).unwrap();
        assert_eq!(
            (p.group_size, p.attention_groups, p.state_groups),
            (8, 1, 5)
        );
        assert!(vllm_hybrid_pages(100, 8, 0, 0, 16, 16).is_none());
    }

    #[test]
    fn sglang_split_and_dsa_bytes() {
        let (kv, st) = sglang_state_split(1_900, 0.9);
        assert_eq!((kv, st), (1_000, 900));
        assert_eq!(FP8_DS_MLA_BYTES, 656);
        assert_eq!(indexer_key_bytes(128), 132);
    }
}
