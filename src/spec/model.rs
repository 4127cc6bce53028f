//! The model architecture as kvplan sees it: every dimension that decides
//! parameter counts, KV-cache bytes and decode work. Built-in specs live in
//! model-specs/*.yaml (written by `kvplan import` from real config.json files);
//! HF config.json files are translated into the same type by `spec::hf`.

use super::dtype::{DType, WeightFormat};
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
    /// Linear attention / state-space layer with a fixed-size state.
    Linear,
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
    /// Learned attention-sink logits, one per head (gpt-oss).
    #[serde(default)]
    pub sinks: bool,
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
}

impl Default for NormSpec {
    fn default() -> Self {
        NormSpec {
            per_layer: 2,
            bias: false,
        }
    }
}

impl ModelSpec {
    /// Attention type of layer `i`.
    pub fn layer_type(&self, i: u64) -> LayerType {
        self.layer_pattern[(i % self.layer_pattern.len() as u64) as usize]
    }

    /// Whether layer `i` uses the MoE block.
    pub fn is_moe_layer(&self, i: u64) -> bool {
        match &self.moe {
            None => false,
            Some(m) => i >= m.first_dense_layers && (i - m.first_dense_layers) % m.layer_step == 0,
        }
    }

    /// Number of MoE layers.
    pub fn moe_layers(&self) -> u64 {
        (0..self.num_layers)
            .filter(|&i| self.is_moe_layer(i))
            .count() as u64
    }

    /// Kind of attention, for display ("GQA 64/8", "MLA 512+64", …).
    pub fn attention_label(&self) -> String {
        let a = &self.attention;
        if let Some(m) = &a.mla {
            return format!("MLA (latent {}+{})", m.kv_lora_rank, m.qk_rope_head_dim);
        }
        let base = if a.num_kv_heads == a.num_heads {
            "MHA".to_string()
        } else if a.num_kv_heads == 1 {
            "MQA".to_string()
        } else {
            format!("GQA {}/{}", a.num_heads, a.num_kv_heads)
        };
        let sliding = self
            .layer_pattern
            .iter()
            .filter(|t| **t == LayerType::Sliding)
            .count();
        if sliding == 0 {
            base
        } else if sliding == self.layer_pattern.len() {
            format!("{base}, sliding {}", self.sliding_window.unwrap_or(0))
        } else {
            format!(
                "{base}, {sliding}:{} sliding {} : full",
                self.layer_pattern.len() - sliding,
                self.sliding_window.unwrap_or(0)
            )
        }
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
        let has_dense_layers = (0..self.num_layers).any(|i| !self.is_moe_layer(i));
        if has_dense_layers && self.mlp.intermediate_size == 0 {
            return bad(
                "mlp.intermediate_size must be > 0 (the model has dense MLP layers)".into(),
            );
        }
        Ok(())
    }
}
