//! The model architecture as kvplan sees it: every dimension that decides
//! parameter counts, KV-cache bytes and decode work. Built-in specs live in
//! model-specs/*.yaml (written by `kvplan import` from real config.json files);
//! HF config.json files are translated into the same type by `spec::hf`.

use super::dtype::{CheckpointLayout, DType, WeightFormat};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A model architecture plus where its numbers came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Canonical short id users type, e.g. `deepseek-v3`.
    pub name: String,
    /// Human name, e.g. `DeepSeek-V3`.
    pub display_name: String,
    /// Hugging Face repository, e.g. `deepseek-ai/DeepSeek-V3`.
    #[serde(default)]
    pub hf_repo: Option<String>,
    /// Other names that resolve to this spec.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Where the numbers come from (file, paper, card).
    pub source: String,
    /// HF `model_type` (family), e.g. `deepseek_v3`, `llama`, `gemma2`.
    pub family: String,
    /// Residual stream width.
    pub hidden_size: u64,
    /// Decoder layers (MTP layers excluded).
    pub num_layers: u64,
    /// Vocabulary size (embedding rows).
    pub vocab_size: u64,
    /// Whether lm_head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Longest context the model supports (tokens).
    pub max_context: u64,
    /// dtype of unquantized tensors in the checkpoint.
    pub native_dtype: DType,
    /// Attention shape.
    pub attention: AttentionSpec,
    /// Per-layer attention type, cycled over the layers (`[full]` for most
    /// models, `[sliding, full]` for Gemma-2/gpt-oss, `[sliding ×5, full]` for Gemma-3).
    #[serde(default = "default_pattern")]
    pub layer_pattern: Vec<LayerType>,
    /// Window of sliding layers, tokens.
    #[serde(default)]
    pub sliding_window: Option<u64>,
    /// Dense MLP (used by every layer of a dense model and by the dense
    /// prefix layers of an MoE model).
    pub mlp: MlpSpec,
    /// Mixture-of-experts layout, if any.
    #[serde(default)]
    pub moe: Option<MoeSpec>,
    /// Normalisation layers.
    #[serde(default)]
    pub norm: NormSpec,
    /// Multi-token-prediction modules in the checkpoint (DeepSeek-V3: 1).
    #[serde(default)]
    pub mtp_layers: u64,
    /// Bytes of recurrent state per sequence per `linear` layer (Mamba,
    /// gated delta-net); 0 when the model has none.
    #[serde(default)]
    pub linear_state_bytes_per_layer: u64,
    /// The checkpoint's own quantization (from `quantization_config`).
    #[serde(default)]
    pub checkpoint_format: Option<WeightFormat>,
    /// What the checkpoint's quantization metadata says beyond the format:
    /// which linear layers stay 16-bit, KV quantization, where it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_layout: Option<CheckpointLayout>,
    /// Per-layer feed-forward kinds, cycled over the layers, when they do not
    /// follow the MoE rule of `moe` (Nemotron-H blocks, GLM `mlp_layer_types`).
    /// Empty: `moe.first_dense_layers` / `moe.layer_step` decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ffn_pattern: Vec<FfnType>,
    /// Shapes of the `linear` layers (Gated DeltaNet, Kimi Delta Attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_attention: Option<LinearAttentionSpec>,
    /// Shapes of the `mamba` layers (Mamba2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mamba: Option<MambaSpec>,
    /// DeepSeek sparse attention's lightning indexer (DeepSeek-V3.2, GLM-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexer: Option<IndexerSpec>,
    /// KV heads and head size of the full-attention layers where they differ
    /// from `attention` (Gemma-4 global layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_attention_shape: Option<HeadShape>,
    /// Per-layer widths of the dense MLP, cycled over the layers, where layers
    /// differ (Nemotron-NAS / DeciLM `block_configs[i].ffn.ffn_mult`). Empty:
    /// every dense layer is `mlp.intermediate_size` wide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ffn_widths: Vec<u64>,
    /// DeepSeek-V4's compressed attention (per-layer `compress_ratios`, the
    /// shared-KV window, the grouped output projection); None for other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed_attention: Option<CompressedAttentionSpec>,
    /// MiniMax-M3's sparse attention index (`sparse_attention_config`): the
    /// layers that hold one; None for other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_index: Option<SparseIndexSpec>,
    /// Residual streams of manifold-constrained hyper-connections (DeepSeek-V4
    /// `hc_mult`: 4); 0 for a plain residual stream.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hyper_connection_streams: u64,
    /// The vision tower, where kvplan counts it (Qwen3-VL, Qwen3.5/3.6); None for a
    /// text-only model and for multimodal models whose tower is not modelled
    /// (`vision_tower_uncounted` says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_encoder: Option<VisionEncoderSpec>,
    /// The checkpoint has a vision tower kvplan does not count: the weights
    /// cover the language model only, and the estimate says so.
    #[serde(default, skip_serializing_if = "is_false")]
    pub vision_tower_uncounted: bool,
    /// The vision tower's depth and width under the names SGLang reads
    /// (`vision_config.num_hidden_layers`, `hidden_size`), which lower its
    /// default memory fraction (`spec::engine::sglang_vlm_fraction_factor`);
    /// None where the config names neither or the model has no tower
    /// (`ModelSpec::sglang_vision_tower_shape` fills SGLang's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_tower_shape: Option<VisionTowerShape>,
}

/// A vision tower's depth and width as SGLang reads them from the model's
/// `vision_config` object (`server_args.py` `adjust_mem_fraction_for_vlm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionTowerShape {
    /// ViT blocks (`num_hidden_layers`).
    pub num_hidden_layers: u64,
    /// ViT width (`hidden_size`).
    pub hidden_size: u64,
}

impl VisionTowerShape {
    /// A ViT-L/14 (24 layers, width 1024): SGLang's `getattr` defaults for
    /// an attribute the vision config lacks, and the baseline its memory
    /// fraction compares a tower against.
    pub const VIT_L14: VisionTowerShape = VisionTowerShape {
        num_hidden_layers: 24,
        hidden_size: 1024,
    };
}

/// The Qwen3-VL / Qwen3.5 vision tower (`vision_config`; HF transformers
/// `Qwen3VLVisionModel`): a Conv3d patch embedding, learned position
/// embeddings, `depth` pre-norm ViT blocks, the output patch merger and one
/// DeepStack merger per `deepstack_visual_indexes` entry. It sits in the
/// checkpoint and in GPU memory beside the language model; text decode
/// never reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionEncoderSpec {
    /// ViT blocks (`depth`).
    pub depth: u64,
    /// ViT width (`hidden_size`).
    pub hidden_size: u64,
    /// ViT MLP width (`intermediate_size`).
    pub intermediate_size: u64,
    /// Input channels (`in_channels`, 3).
    pub in_channels: u64,
    /// Spatial patch side in pixels (`patch_size`).
    pub patch_size: u64,
    /// Frames per temporal patch (`temporal_patch_size`).
    pub temporal_patch_size: u64,
    /// Learned position embeddings (`num_position_embeddings`).
    pub num_position_embeddings: u64,
    /// Patches merged per side into one token (`spatial_merge_size`).
    pub spatial_merge_size: u64,
    /// Width of the merged tokens handed to the language model (`out_hidden_size`).
    pub out_hidden_size: u64,
    /// DeepStack mergers (`deepstack_visual_indexes`' length).
    pub deepstack_mergers: u64,
}

/// MiniMax-M3's block-sparse attention index (SGLang `minimax_m3.py`
/// `MiniMaxM3Attention`): on each sparse layer an `index_qkv_proj` of
/// `num_heads` index query heads and one index key (plus one index value
/// where the layer keeps it, with an `index_o_proj` back to hidden) of
/// `head_dim`, two norms; the cache keeps the index key (and value) per
/// token beside the layer's K and V, in the model dtype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseIndexSpec {
    /// Index query heads (`sparse_num_index_heads`).
    pub num_heads: u64,
    /// Index head size (`sparse_index_dim`).
    pub head_dim: u64,
    /// Tokens per selectable block (`sparse_block_size`).
    pub block_size: u64,
    /// Blocks a query attends to (`sparse_topk_blocks`).
    pub topk_blocks: u64,
    /// Layers with the sparse index (`sparse_attention_freq` = 1).
    pub layers: Vec<u64>,
    /// Sparse layers that also keep an index value (`sparse_disable_index_value` = 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_layers: Vec<u64>,
}

impl SparseIndexSpec {
    /// Index values (key, plus value where kept) cached per token in layer `i`.
    pub fn cached_dim(&self, i: u64) -> u64 {
        if !self.layers.contains(&i) {
            return 0;
        }
        self.head_dim * (1 + u64::from(self.value_layers.contains(&i)))
    }
}

/// DeepSeek-V4's attention (HF `DeepseekV4Attention`, vLLM `deepseek_v4.py`):
/// one shared K=V head per layer, attended over a window of the last
/// `window` tokens; layers with a compress ratio also attend over one
/// compressed entry per `ratio` tokens — Compressed Sparse Attention at ratio
/// 4 (overlapping windows, a lightning indexer picking `indexer.topk`
/// entries), Heavily Compressed Attention at ratio 128 (every entry). Queries
/// go through a low-rank `q_a`/`q_b` pair, the output through `o_groups`
/// grouped projections of rank `o_lora_rank` and a mixing projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressedAttentionSpec {
    /// Compress ratio of each decoder layer (config `compress_ratios`; 0 =
    /// window only). A trailing entry for the MTP layer is not kept.
    pub compress_ratios: Vec<u64>,
    /// Uncompressed window every layer keeps, tokens (`sliding_window`).
    pub window: u64,
    /// Rotary part of the shared head (`qk_rope_head_dim`).
    pub rope_head_dim: u64,
    /// Rank of the query compression (`q_lora_rank`).
    pub q_lora_rank: u64,
    /// Groups of the output projection (`o_groups`).
    pub o_groups: u64,
    /// Rank of each group's output projection (`o_lora_rank`).
    pub o_lora_rank: u64,
}

impl CompressedAttentionSpec {
    /// Compress ratio of layer `i` (0 past the listed layers: the MTP layer
    /// attends over the window only, vLLM `DeepseekV4Attention`).
    pub fn ratio(&self, i: u64) -> u64 {
        self.compress_ratios.get(i as usize).copied().unwrap_or(0)
    }

    /// Whether layer `i` is a Compressed Sparse Attention layer (ratio 4:
    /// overlapping windows and its own lightning indexer).
    pub fn is_csa(&self, i: u64) -> bool {
        self.ratio(i) == 4
    }

    /// Bytes per sequence of one compressor's fp32 running state at `ratio`
    /// for entries of `head_dim` (vLLM `deepseek_compressor.py`
    /// `CompressorStateCache`): `coff × ratio` tokens (coff = 2 with CSA's
    /// overlapping windows, else 1) of a kv and a score vector of `coff ×
    /// head_dim` values each; 0 for a window-only layer.
    pub fn compressor_state_bytes(ratio: u64, head_dim: u64) -> u64 {
        if ratio <= 1 {
            return 0;
        }
        let coff = 1 + u64::from(ratio == 4);
        coff * ratio * 2 * coff * head_dim * 4
    }

    /// The compressors' state of layer `i` per sequence: its own, plus its
    /// indexer's (at `index_head_dim`) on a CSA layer.
    pub fn layer_state_bytes(&self, i: u64, head_dim: u64, index_head_dim: Option<u64>) -> u64 {
        let r = self.ratio(i);
        Self::compressor_state_bytes(r, head_dim)
            + match index_head_dim {
                Some(d) if self.is_csa(i) => Self::compressor_state_bytes(r, d),
                _ => 0,
            }
    }
}

/// Feed-forward block of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FfnType {
    /// The dense MLP (`mlp`).
    Dense,
    /// The mixture of experts (`moe`).
    Moe,
    /// No feed-forward block (Nemotron-H mixer-only layers).
    None,
}

/// Which linear-attention recurrence a `linear` layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinearKind {
    /// Gated DeltaNet (Qwen3-Next, Qwen3.5/3.6): fused qkv short conv, one
    /// recurrent state of `value_heads × key_head_dim × value_head_dim`.
    GatedDeltaNet,
    /// Kimi Delta Attention (Kimi-Linear/K3): separate q/k/v short convs,
    /// per-channel gates, one `heads × head_dim × head_dim` state.
    Kda,
}

/// Shapes of a linear-attention layer; decide its parameters and the fixed
/// state each sequence holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearAttentionSpec {
    /// Recurrence.
    pub kind: LinearKind,
    /// Query/key heads.
    pub num_key_heads: u64,
    /// Value heads (= recurrent states per layer).
    pub num_value_heads: u64,
    /// Query/key head size.
    pub key_head_dim: u64,
    /// Value head size.
    pub value_head_dim: u64,
    /// Short causal convolution width (config `linear_conv_kernel_dim`).
    pub conv_kernel: u64,
    /// Element type of the recurrent state (config `mamba_ssm_dtype`).
    pub state_dtype: DType,
    /// KDA's output gate is one full-rank `g_proj` (hidden → heads × head_dim)
    /// instead of the low-rank `g_a_proj`/`g_b_proj` pair (Kimi-K3
    /// `linear_attn_config.use_full_rank_gate`; ml-explore/mlx-lm
    /// `mlx_lm/models/kimi_k3.py` `KimiK3DeltaAttention`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_rank_gate: bool,
}

impl LinearAttentionSpec {
    /// Channels of the short convolution (q, k and v concatenated).
    pub fn conv_dim(&self) -> u64 {
        2 * self.num_key_heads * self.key_head_dim + self.num_value_heads * self.value_head_dim
    }

    /// Logical state bytes per sequence of one layer: the convolution's last
    /// `conv_kernel − 1` inputs in `conv_dtype` plus the recurrent state
    /// (vLLM `MambaStateShapeCalculator.gated_delta_net_state_shape` / `kda_state_shape`).
    pub fn state_bytes(&self, conv_dtype: DType) -> u64 {
        self.conv_kernel.saturating_sub(1) * self.conv_dim() * conv_dtype.bytes()
            + self.num_value_heads
                * self.key_head_dim
                * self.value_head_dim
                * self.state_dtype.bytes()
    }
}

/// Shapes of a Mamba2 layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MambaSpec {
    /// SSM heads (`mamba_num_heads`).
    pub num_heads: u64,
    /// Head size (`mamba_head_dim`); heads × head size = the inner width.
    pub head_dim: u64,
    /// SSM state size N (`ssm_state_size`).
    pub state_size: u64,
    /// B/C groups (`n_groups`).
    pub n_groups: u64,
    /// Causal convolution width (`conv_kernel`).
    pub conv_kernel: u64,
    /// The convolution has a bias (`use_conv_bias`).
    #[serde(default)]
    pub conv_bias: bool,
    /// Element type of the SSM state (`mamba_ssm_cache_dtype`).
    pub state_dtype: DType,
}

impl MambaSpec {
    /// Inner width (heads × head size).
    pub fn inner(&self) -> u64 {
        self.num_heads * self.head_dim
    }

    /// Channels of the convolution: x, B and C.
    pub fn conv_dim(&self) -> u64 {
        self.inner() + 2 * self.n_groups * self.state_size
    }

    /// Logical state bytes per sequence of one layer (vLLM
    /// `MambaStateShapeCalculator.mamba2_state_shape`): conv state
    /// `(conv_kernel − 1) × conv_dim` in `conv_dtype`, SSM state
    /// `heads × head_dim × state_size` in `state_dtype`.
    pub fn state_bytes(&self, conv_dtype: DType) -> u64 {
        self.conv_kernel.saturating_sub(1) * self.conv_dim() * conv_dtype.bytes()
            + self.num_heads * self.head_dim * self.state_size * self.state_dtype.bytes()
    }
}

/// DeepSeek sparse attention's indexer: a small set of fp8 keys per token that
/// picks the `topk` tokens each query attends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexerSpec {
    /// Indexer query heads (`index_n_heads`).
    pub num_heads: u64,
    /// Indexer key size (`index_head_dim`).
    pub head_dim: u64,
    /// Tokens selected per query (`index_topk`).
    pub topk: u64,
    /// Layers whose indexer reuses another layer's keys (GLM-5.2
    /// `indexer_types: shared`); they hold no indexer weights or keys.
    /// Empty: every layer has its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_layers: Vec<u64>,
}

/// KV heads and head size of one kind of attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadShape {
    /// KV heads.
    pub num_kv_heads: u64,
    /// Head size of Q, K and V.
    pub head_dim: u64,
}

fn default_pattern() -> Vec<LayerType> {
    vec![LayerType::Full]
}

/// Attention variant of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerType {
    /// Attends to the whole context.
    Full,
    /// Attends to the last `sliding_window` tokens.
    Sliding,
    /// Linear attention (Gated DeltaNet, KDA) with a fixed-size state.
    Linear,
    /// Mamba2 state-space layer with a fixed-size state.
    Mamba,
    /// No token mixer (Nemotron-H MLP/MoE-only blocks).
    None,
}

/// Attention dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionSpec {
    /// Query heads.
    pub num_heads: u64,
    /// Key/value heads (== num_heads for MHA, 1 for MQA). For MLA models the
    /// config's value is kept here but the cache is the latent.
    pub num_kv_heads: u64,
    /// Per-head dimension of Q and K (config `head_dim`, else hidden/heads).
    pub head_dim: u64,
    /// Per-head dimension of V when it differs from `head_dim`.
    #[serde(default)]
    pub v_head_dim: Option<u64>,
    /// Q/K/V projections carry biases (Qwen2, gpt-oss).
    #[serde(default)]
    pub qkv_bias: bool,
    /// The output projection carries a bias (gpt-oss).
    #[serde(default)]
    pub o_bias: bool,
    /// Per-head RMSNorm on Q and K (Qwen3, Gemma-3).
    #[serde(default)]
    pub qk_norm: bool,
    /// The Q/K norm spans all heads (`qk_norm_type: per_layer`, MiniMax-M2):
    /// weights of `heads × head_dim` instead of `head_dim`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub qk_norm_full_width: bool,
    /// q_proj also emits a sigmoid output gate per head (Qwen3-Next/3.5
    /// `attn_output_gate`), doubling its rows. With MLA (Kimi-K3
    /// `mla_use_output_gate`) the gate is its own `g_proj` of hidden →
    /// heads × v_head_dim.
    #[serde(default, skip_serializing_if = "is_false")]
    pub output_gate: bool,
    /// Learned attention-sink logits, one per head (gpt-oss).
    #[serde(default)]
    pub sinks: bool,
    /// Full-attention layers project keys once and take the values from the
    /// same projection (Gemma-4 `attention_k_eq_v`: no `v_proj`; the cache
    /// still holds K and V, which differ after the norms and RoPE).
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_k_eq_v: bool,
    /// Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2).
    #[serde(default)]
    pub mla: Option<MlaSpec>,
}

impl AttentionSpec {
    /// V head dimension (defaults to `head_dim`).
    pub fn v_dim(&self) -> u64 {
        self.v_head_dim.unwrap_or(self.head_dim)
    }
}

/// DeepSeek's multi-head latent attention dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaSpec {
    /// Rank of the query compression (None: plain q_proj, as in V2-Lite).
    pub q_lora_rank: Option<u64>,
    /// Rank of the joint KV latent (512).
    pub kv_lora_rank: u64,
    /// Non-rotary part of each Q/K head (128).
    pub qk_nope_head_dim: u64,
    /// Rotary part, shared by all heads in the cache (64).
    pub qk_rope_head_dim: u64,
    /// V head dimension (128).
    pub v_head_dim: u64,
}

impl MlaSpec {
    /// Elements cached per token per layer: the latent plus the rotary key.
    pub fn latent_dim(&self) -> u64 {
        self.kv_lora_rank + self.qk_rope_head_dim
    }
}

/// Feed-forward block of dense layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Intermediate width (0 when the model has no dense MLP layers).
    pub intermediate_size: u64,
    /// Gated (SwiGLU/GeGLU: gate, up, down) rather than two matrices.
    #[serde(default = "yes")]
    pub gated: bool,
    /// Linear layers carry biases.
    #[serde(default)]
    pub bias: bool,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Mixture-of-experts layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeSpec {
    /// Routed experts per MoE layer.
    pub num_experts: u64,
    /// Routed experts each token uses (top-k).
    pub experts_per_token: u64,
    /// Intermediate width of one routed expert.
    pub expert_intermediate_size: u64,
    /// Total intermediate width of the always-on shared expert(s) (0 if none).
    #[serde(default)]
    pub shared_intermediate_size: u64,
    /// A sigmoid gate (hidden → 1) scales the shared expert (Qwen2-MoE).
    #[serde(default)]
    pub shared_expert_gate: bool,
    /// Leading layers that use the dense MLP instead (DeepSeek `first_k_dense_replace`).
    #[serde(default)]
    pub first_dense_layers: u64,
    /// Every `layer_step`-th layer (from the first MoE one) is MoE; 1 = all.
    #[serde(default = "one")]
    pub layer_step: u64,
    /// Router has a bias vector (gpt-oss).
    #[serde(default)]
    pub router_bias: bool,
    /// Router has a score-correction bias (DeepSeek-V3 `noaux_tc`).
    #[serde(default)]
    pub router_score_bias: bool,
    /// Expert linear layers carry biases (gpt-oss).
    #[serde(default)]
    pub expert_bias: bool,
    /// The router scales its input per channel and its output per expert
    /// (Gemma-4 `Gemma4TextRouter`: `scale` of hidden size, `per_expert_scale`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub router_scales: bool,
    /// Width of the latent space the routed experts work in (Nemotron-3
    /// `moe_latent_size`); None: they work on the hidden state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent_size: Option<u64>,
    /// An RMSNorm of the latent width sits between the routed experts and the
    /// latent up-projection (Kimi-K3 `latent_moe_use_norm`:
    /// `routed_expert_norm`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub latent_norm: bool,
    /// Leading MoE layers that route by a fixed token-id → experts table
    /// (DeepSeek-V4 `num_hash_layers`: a `tid2eid` table of vocab × top-k,
    /// no score-correction bias).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hash_layers: u64,
}

fn one() -> u64 {
    1
}

/// Normalisation layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormSpec {
    /// Norms per decoder layer (2 for Llama-style, 4 for Gemma-2/3).
    pub per_layer: u64,
    /// LayerNorm with a bias vector rather than RMSNorm.
    #[serde(default)]
    pub bias: bool,
    /// One-value per-layer scalars stored in the checkpoint (Gemma-4's
    /// `layer_scalar` buffer).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scalars_per_layer: u64,
    /// A layer without a token mixer or without a feed-forward block also
    /// lacks that block's norm (DeciLM: no `input_layernorm` on a no-op
    /// attention, no `post_attention_layernorm` on a no-op FFN).
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_absent: bool,
    /// Attention residuals (Kimi-K3 `attn_res_block_size`): every layer holds
    /// a `self_attention_res` and an `mlp_res` pair (an RMSNorm of hidden and
    /// a hidden → 1 projection each), the model one `output_attn_res` pair
    /// before the final norm (ml-explore/mlx-lm `kimi_k3.py`
    /// `KimiK3DecoderLayer`, `KimiK3TextModel`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub attention_residuals: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for NormSpec {
    fn default() -> Self {
        NormSpec {
            per_layer: 2,
            bias: false,
            scalars_per_layer: 0,
            skip_absent: false,
            attention_residuals: false,
        }
    }
}

impl ModelSpec {
    /// The vision tower as SGLang's memory fraction reads it: the spec's
    /// `vision_tower_shape`, else SGLang's `getattr` defaults (24 layers,
    /// width 1024) for what the config does not name; None without a tower.
    /// Assumption: the Qwen3-VL / Qwen3.5 `vision_config` names its depth
    /// `depth`, which SGLang does not read (24, with the tower's width).
    pub fn sglang_vision_tower_shape(&self) -> Option<VisionTowerShape> {
        if self.vision_tower_shape.is_some() {
            return self.vision_tower_shape;
        }
        if let Some(enc) = &self.vision_encoder {
            return Some(VisionTowerShape {
                hidden_size: enc.hidden_size,
                ..VisionTowerShape::VIT_L14
            });
        }
        self.vision_tower_uncounted
            .then_some(VisionTowerShape::VIT_L14)
    }

    /// Attention type of layer `i`.
    pub fn layer_type(&self, i: u64) -> LayerType {
        self.layer_pattern[(i % self.layer_pattern.len() as u64) as usize]
    }

    /// Whether layer `i` uses the MoE block.
    pub fn is_moe_layer(&self, i: u64) -> bool {
        match &self.moe {
            None => false,
            Some(_) if !self.ffn_pattern.is_empty() => self.ffn_type(i) == FfnType::Moe,
            Some(m) => i >= m.first_dense_layers && (i - m.first_dense_layers) % m.layer_step == 0,
        }
    }

    /// Feed-forward kind of layer `i`.
    pub fn ffn_type(&self, i: u64) -> FfnType {
        if !self.ffn_pattern.is_empty() {
            return self.ffn_pattern[(i % self.ffn_pattern.len() as u64) as usize];
        }
        if self.is_moe_layer(i) {
            FfnType::Moe
        } else {
            FfnType::Dense
        }
    }

    /// Width of the dense MLP of layer `i` (`ffn_widths` where the layers
    /// differ, else `mlp.intermediate_size`).
    pub fn dense_width(&self, i: u64) -> u64 {
        if self.ffn_widths.is_empty() {
            self.mlp.intermediate_size
        } else {
            self.ffn_widths[(i % self.ffn_widths.len() as u64) as usize]
        }
    }

    /// Norm layers of decoder layer `i` (one fewer per absent block when
    /// `norm.skip_absent`).
    pub fn norms_in_layer(&self, i: u64) -> u64 {
        if !self.norm.skip_absent {
            return self.norm.per_layer;
        }
        let absent = u64::from(self.layer_type(i) == LayerType::None)
            + u64::from(self.ffn_type(i) == FfnType::None);
        self.norm.per_layer.saturating_sub(absent)
    }

    /// Fixed state bytes per sequence of one `linear` or `mamba` layer, from
    /// its shapes (conv state in the model's dtype), else the spec's
    /// `linear_state_bytes_per_layer`.
    pub fn state_bytes_per_layer(&self, t: LayerType) -> u64 {
        match t {
            LayerType::Linear => self
                .linear_attention
                .as_ref()
                .map(|l| l.state_bytes(self.native_dtype))
                .unwrap_or(self.linear_state_bytes_per_layer),
            LayerType::Mamba => self
                .mamba
                .as_ref()
                .map(|m| m.state_bytes(self.native_dtype))
                .unwrap_or(self.linear_state_bytes_per_layer),
            _ => 0,
        }
    }

    /// Fixed state bytes per sequence of the whole model (all layers, logical
    /// bytes before any page padding).
    ///
    /// DeepSeek-V4: the compressors' fp32 running state.
    pub fn state_bytes_per_sequence(&self) -> u64 {
        if let Some(c) = &self.compressed_attention {
            let ix = self.indexer.as_ref().map(|x| x.head_dim);
            return (0..self.num_layers)
                .map(|i| c.layer_state_bytes(i, self.attention.head_dim, ix))
                .sum();
        }
        (0..self.num_layers)
            .map(|i| self.state_bytes_per_layer(self.layer_type(i)))
            .sum()
    }

    /// (KV heads, K head size, V head size) of an attention layer of kind `t`.
    pub fn kv_shape(&self, t: LayerType) -> (u64, u64, u64) {
        let a = &self.attention;
        match (t, &self.full_attention_shape) {
            (LayerType::Full, Some(s)) => (s.num_kv_heads, s.head_dim, s.head_dim),
            _ => (a.num_kv_heads, a.head_dim, a.v_dim()),
        }
    }

    /// Tokens a decoding query reads on the model's windowed layers:
    /// the sliding window where the model has sliding layers, else the DSA
    /// indexer's top-k (DeepSeek-V3.2 / GLM-5 attend to `index_topk` selected
    /// tokens: vLLM `flashmla_sparse.py`, SGLang `nsa_backend.py`), else
    /// `u64::MAX` (the whole context).
    pub fn attention_window(&self) -> u64 {
        if self.layer_pattern.contains(&LayerType::Sliding) {
            return self.sliding_window.filter(|&w| w > 0).unwrap_or(u64::MAX);
        }
        match &self.indexer {
            Some(ix) if self.attention.mla.is_some() && ix.topk > 0 => ix.topk,
            _ => u64::MAX,
        }
    }

    /// Whether attention layers read only top-k selected tokens (DSA): the
    /// MLA latent is then read over `attention_window()` tokens, the indexer's
    /// keys over the whole context.
    pub fn sparse_topk_attention(&self) -> bool {
        !self.layer_pattern.contains(&LayerType::Sliding)
            && self.attention.mla.is_some()
            && self.indexer.as_ref().is_some_and(|ix| ix.topk > 0)
    }

    /// Number of MoE layers.
    pub fn moe_layers(&self) -> u64 {
        (0..self.num_layers)
            .filter(|&i| self.is_moe_layer(i))
            .count() as u64
    }

    /// Kind of attention, for display ("GQA 64/8", "MLA 512+64", hybrids as
    /// "Gated DeltaNet 45 + GQA 32/2 15 layers").
    pub fn attention_label(&self) -> String {
        let a = &self.attention;
        let count = |k: LayerType| {
            (0..self.num_layers)
                .filter(|&i| self.layer_type(i) == k)
                .count()
        };
        if let Some(c) = &self.compressed_attention {
            let of = |r: u64| (0..self.num_layers).filter(|&i| c.ratio(i) == r).count();
            let rest = self.num_layers as usize - of(4) - of(128);
            let rest = if rest > 0 {
                format!(" + {rest} window-only")
            } else {
                String::new()
            };
            return format!(
                "compressed MQA {}×{} (CSA {} + HCA {}{rest}, window {})",
                a.num_heads,
                a.head_dim,
                of(4),
                of(128),
                c.window
            );
        }
        let sliding = count(LayerType::Sliding);
        let full = count(LayerType::Full);
        let mut base = if let Some(m) = &a.mla {
            format!("MLA (latent {}+{})", m.kv_lora_rank, m.qk_rope_head_dim)
        } else if a.num_kv_heads == a.num_heads {
            "MHA".to_string()
        } else if a.num_kv_heads == 1 {
            "MQA".to_string()
        } else {
            format!("GQA {}/{}", a.num_heads, a.num_kv_heads)
        };
        if self.indexer.is_some() {
            base = format!("{base} + DSA indexer");
        }
        if let Some(x) = &self.sparse_index {
            base = format!("{base} + sparse index on {} layers", x.layers.len());
        }
        if sliding > 0 && full == 0 {
            base = format!("{base}, sliding {}", self.sliding_window.unwrap_or(0));
        } else if sliding > 0 {
            let p = self.layer_pattern.len();
            let ps = self
                .layer_pattern
                .iter()
                .filter(|t| **t == LayerType::Sliding)
                .count();
            base = format!(
                "{base}, {ps}:{} sliding {} : full",
                p - ps,
                self.sliding_window.unwrap_or(0)
            );
        }
        let linear = count(LayerType::Linear);
        let mamba = count(LayerType::Mamba);
        if linear + mamba == 0 {
            return base;
        }
        let kind = if mamba > 0 {
            "Mamba2"
        } else {
            match self.linear_attention.as_ref().map(|l| l.kind) {
                Some(LinearKind::GatedDeltaNet) => "Gated DeltaNet",
                Some(LinearKind::Kda) => "KDA",
                None => "linear attention",
            }
        };
        format!(
            "{kind} {} + {base} {} layers",
            linear + mamba,
            full + sliding
        )
    }

    /// Check internal consistency; `origin` names the file for errors.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |m: String| Err(Error::spec(origin, m));
        let a = &self.attention;
        // Plausible ranges and bounded derived totals (spec/bounds.rs), before
        // anything below walks the layers.
        super::bounds::check_model(self, origin)?;
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("vocab_size", self.vocab_size),
            ("max_context", self.max_context),
            ("attention.num_heads", a.num_heads),
            ("attention.num_kv_heads", a.num_kv_heads),
            ("attention.head_dim", a.head_dim),
        ] {
            if v == 0 {
                return bad(format!("{name} must be > 0"));
            }
            if v > 100_000_000 {
                return bad(format!("{name} = {v} is absurdly large"));
            }
        }
        if self.num_layers > 10_000 {
            return bad(format!(
                "num_layers = {} is absurdly large",
                self.num_layers
            ));
        }
        if a.mla.is_none() && a.num_heads % a.num_kv_heads != 0 {
            return bad(format!(
                "attention.num_heads ({}) must be a multiple of num_kv_heads ({})",
                a.num_heads, a.num_kv_heads
            ));
        }
        if self.layer_pattern.is_empty() {
            return bad("layer_pattern must list at least one layer type".into());
        }
        if self.layer_pattern.contains(&LayerType::Linear)
            && self.linear_attention.is_none()
            && self.linear_state_bytes_per_layer == 0
        {
            return bad("layer_pattern has linear layers but neither linear_attention nor linear_state_bytes_per_layer says their state".into());
        }
        if self.layer_pattern.contains(&LayerType::Mamba)
            && self.mamba.is_none()
            && self.linear_state_bytes_per_layer == 0
        {
            return bad("layer_pattern has mamba layers but neither mamba nor linear_state_bytes_per_layer says their state".into());
        }
        if let Some(c) = &self.compressed_attention {
            if c.compress_ratios.len() as u64 != self.num_layers {
                return bad(format!(
                    "compressed_attention.compress_ratios lists {} layers but num_layers is {}",
                    c.compress_ratios.len(),
                    self.num_layers
                ));
            }
            if let Some((i, r)) = c
                .compress_ratios
                .iter()
                .enumerate()
                .find(|(_, r)| !matches!(r, 0 | 1 | 4 | 128))
            {
                return bad(format!("compressed_attention.compress_ratios[{i}] = {r}: only 0/1 (window only), 4 (CSA) and 128 (HCA) are modelled, as the engines run them"));
            }
            if c.window == 0 || c.o_groups == 0 || a.num_heads % c.o_groups != 0 {
                return bad(format!(
                    "compressed_attention: window ({}) must be > 0 and o_groups ({}) must divide num_heads ({})",
                    c.window, c.o_groups, a.num_heads
                ));
            }
            if c.compress_ratios.contains(&4) && self.indexer.is_none() {
                return bad("compressed_attention has CSA layers (ratio 4) but no indexer section (index_n_heads, index_head_dim, index_topk)".into());
            }
        }
        if self.ffn_pattern.contains(&FfnType::Moe) && self.moe.is_none() {
            return bad("ffn_pattern has moe layers but the spec has no moe section".into());
        }
        if self.layer_pattern.contains(&LayerType::Sliding) && self.sliding_window.unwrap_or(0) == 0
        {
            return bad(
                "layer_pattern has sliding layers but sliding_window is missing or 0".into(),
            );
        }
        if let Some(m) = &self.moe {
            if m.num_experts == 0 || m.experts_per_token == 0 || m.experts_per_token > m.num_experts
            {
                return bad(format!(
                    "moe: experts_per_token ({}) must be between 1 and num_experts ({})",
                    m.experts_per_token, m.num_experts
                ));
            }
            if m.layer_step == 0 {
                return bad("moe.layer_step must be ≥ 1".into());
            }
            if m.expert_intermediate_size == 0 {
                return bad("moe.expert_intermediate_size must be > 0".into());
            }
        }
        let has_dense_layers = (0..self.num_layers).any(|i| self.ffn_type(i) == FfnType::Dense);
        if let Some(i) = (0..self.num_layers)
            .find(|&i| self.ffn_type(i) == FfnType::Dense && self.dense_width(i) == 0)
        {
            return bad(format!(
                "layer {i} has a dense MLP but its width (ffn_widths / mlp.intermediate_size) is 0"
            ));
        }
        if has_dense_layers && self.mlp.intermediate_size == 0 {
            return bad(
                "mlp.intermediate_size must be > 0 (the model has dense MLP layers)".into(),
            );
        }
        Ok(())
    }
}
