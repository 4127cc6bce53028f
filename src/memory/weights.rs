//! Parameter counts and weight bytes, from the architecture alone.
//!
//! Every tensor of the checkpoint is listed with its shape, its role (which
//! decides whether a quantization format applies to it) and how tensor
//! parallelism splits it (vLLM's column/row-parallel and vocab-parallel
//! layers). Counting is exact; bytes follow `WeightFormat::linear_bytes`.

use crate::spec::dtype::{DType, WeightFormat};
use crate::spec::model::ModelSpec;

/// What a tensor is, which decides whether quantization applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A linear layer in attention or a dense MLP / shared expert: quantized.
    Linear,
    /// A linear layer of a routed expert: quantized (mxfp4 touches only these).
    ExpertLinear,
    /// Token embedding: stays 16-bit.
    Embedding,
    /// Output head: stays 16-bit.
    LmHead,
    /// MoE router: stays 16-bit.
    Router,
    /// Norm weights, biases, sinks: stay 16-bit.
    Vector,
}

/// How tensor parallelism splits a tensor over `tp` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Every rank holds the whole tensor.
    Replicated,
    /// The output rows are split (column-parallel; also vocab-parallel).
    Rows,
    /// The input columns are split (row-parallel).
    Cols,
    /// Split by heads of `head_rows` rows each, `heads` heads; ranks beyond
    /// the head count hold one replicated head (KV replication).
    Heads {
        /// Number of heads in the tensor.
        heads: u64,
    },
}

/// One tensor (or `count` identical tensors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Checkpoint-style name, for reports.
    pub name: &'static str,
    /// Output features (rows); for vectors, the length.
    pub out: u64,
    /// Input features (columns); 1 for vectors.
    pub inp: u64,
    /// Quantization role.
    pub role: Role,
    /// TP split rule.
    pub split: Split,
}

impl Tensor {
    fn lin(name: &'static str, out: u64, inp: u64, split: Split) -> Self {
        Tensor {
            name,
            out,
            inp,
            role: Role::Linear,
            split,
        }
    }
    fn vec(name: &'static str, len: u64, split: Split) -> Self {
        Tensor {
            name,
            out: len,
            inp: 1,
            role: Role::Vector,
            split,
        }
    }

    /// Parameters in the whole tensor.
    pub fn params(&self) -> u64 {
        self.out * self.inp
    }

    /// The (out, inp) shape one of `tp` ranks holds.
    pub fn shard_shape(&self, tp: u64) -> (u64, u64) {
        let tp = tp.max(1);
        match self.split {
            Split::Replicated => (self.out, self.inp),
            Split::Rows => (self.out.div_ceil(tp), self.inp),
            Split::Cols => (self.out, self.inp.div_ceil(tp)),
            Split::Heads { heads } => {
                let per_head = self.out / heads.max(1);
                let heads_here = (heads / tp).max(1);
                (per_head * heads_here, self.inp)
            }
        }
    }

    /// Bytes of one rank's shard under `format`. Linear roles are quantized
    /// (dense linears only when `quantize_dense`); the rest stays 16-bit.
    pub fn shard_bytes(
        &self,
        tp: u64,
        format: WeightFormat,
        native: DType,
        quantize_dense: bool,
    ) -> u64 {
        let (o, i) = self.shard_shape(tp);
        let quantize = format.is_quantized()
            && match self.role {
                Role::ExpertLinear => true,
                Role::Linear => quantize_dense,
                _ => false,
            };
        if quantize {
            format.linear_bytes(o, i)
        } else {
            o * i * format.unquantized_bytes_per_param(native)
        }
    }
}

/// The tensors of one decoder layer, split into the dense part and one
/// routed expert (repeated `num_experts` times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerTensors {
    /// Attention, norms, dense MLP or shared experts, router.
    pub dense: Vec<Tensor>,
    /// The tensors of ONE routed expert (empty for dense layers).
    pub expert: Vec<Tensor>,
    /// Routed experts in this layer.
    pub num_experts: u64,
}

impl LayerTensors {
    /// Parameters in the layer (all experts).
    pub fn params(&self) -> u64 {
        self.dense.iter().map(Tensor::params).sum::<u64>()
            + self.num_experts * self.expert.iter().map(Tensor::params).sum::<u64>()
    }

    /// Parameters of one routed expert.
    pub fn expert_params(&self) -> u64 {
        self.expert.iter().map(Tensor::params).sum()
    }
}

/// The attention tensors of one layer.
fn attention_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let a = &m.attention;
    let h = m.hidden_size;
    let mut t = Vec::new();
    if let Some(mla) = &a.mla {
        let qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
        let heads = Split::Heads { heads: a.num_heads };
        match mla.q_lora_rank {
            Some(r) => {
                t.push(Tensor::lin("q_a_proj", r, h, Split::Replicated));
                t.push(Tensor::vec("q_a_layernorm", r, Split::Replicated));
                t.push(Tensor::lin("q_b_proj", a.num_heads * qk, r, heads));
            }
            None => t.push(Tensor::lin("q_proj", a.num_heads * qk, h, heads)),
        }
        t.push(Tensor::lin(
            "kv_a_proj_with_mqa",
            mla.latent_dim(),
            h,
            Split::Replicated,
        ));
        t.push(Tensor::vec(
            "kv_a_layernorm",
            mla.kv_lora_rank,
            Split::Replicated,
        ));
        t.push(Tensor::lin(
            "kv_b_proj",
            a.num_heads * (mla.qk_nope_head_dim + mla.v_head_dim),
            mla.kv_lora_rank,
            heads,
        ));
        t.push(Tensor::lin(
            "o_proj",
            h,
            a.num_heads * mla.v_head_dim,
            Split::Cols,
        ));
        return t;
    }
    let q_heads = Split::Heads { heads: a.num_heads };
    let kv_heads = Split::Heads {
        heads: a.num_kv_heads,
    };
    t.push(Tensor::lin("q_proj", a.num_heads * a.head_dim, h, q_heads));
    t.push(Tensor::lin(
        "k_proj",
        a.num_kv_heads * a.head_dim,
        h,
        kv_heads,
    ));
    t.push(Tensor::lin(
        "v_proj",
        a.num_kv_heads * a.v_dim(),
        h,
        kv_heads,
    ));
    t.push(Tensor::lin(
        "o_proj",
        h,
        a.num_heads * a.v_dim(),
        Split::Cols,
    ));
    if a.qkv_bias {
        t.push(Tensor::vec(
            "q_proj.bias",
            a.num_heads * a.head_dim,
            q_heads,
        ));
        t.push(Tensor::vec(
            "k_proj.bias",
            a.num_kv_heads * a.head_dim,
            kv_heads,
        ));
        t.push(Tensor::vec(
            "v_proj.bias",
            a.num_kv_heads * a.v_dim(),
            kv_heads,
        ));
    }
    if a.o_bias {
        t.push(Tensor::vec("o_proj.bias", h, Split::Replicated));
    }
    if a.qk_norm {
        t.push(Tensor::vec("q_norm", a.head_dim, Split::Replicated));
        t.push(Tensor::vec("k_norm", a.head_dim, Split::Replicated));
    }
    if a.sinks {
        t.push(Tensor::vec("sinks", a.num_heads, q_heads));
    }
    t
}

/// A (gated) MLP of width `inter`: gate+up column-parallel, down row-parallel.
fn mlp_tensors(h: u64, inter: u64, gated: bool, bias: bool, role: Role) -> Vec<Tensor> {
    let mut t = Vec::new();
    let mk = |name, out, inp, split| Tensor {
        name,
        out,
        inp,
        role,
        split,
    };
    if gated {
        t.push(mk("gate_proj", inter, h, Split::Rows));
    }
    t.push(mk("up_proj", inter, h, Split::Rows));
    t.push(mk("down_proj", h, inter, Split::Cols));
    if bias {
        if gated {
            t.push(Tensor::vec("gate_proj.bias", inter, Split::Rows));
        }
        t.push(Tensor::vec("up_proj.bias", inter, Split::Rows));
        t.push(Tensor::vec("down_proj.bias", h, Split::Replicated));
    }
    t
}

/// All tensors of decoder layer `i`.
pub fn layer_tensors(m: &ModelSpec, i: u64) -> LayerTensors {
    let h = m.hidden_size;
    let mut dense = attention_tensors(m);
    let norm_params = if m.norm.bias { 2 } else { 1 };
    for _ in 0..m.norm.per_layer * norm_params {
        dense.push(Tensor::vec("norm", h, Split::Replicated));
    }
    let (expert, num_experts) = match (&m.moe, m.is_moe_layer(i)) {
        (Some(moe), true) => {
            dense.push(Tensor {
                name: "router",
                out: moe.num_experts,
                inp: h,
                role: Role::Router,
                split: Split::Replicated,
            });
            if moe.router_bias {
                dense.push(Tensor::vec(
                    "router.bias",
                    moe.num_experts,
                    Split::Replicated,
                ));
            }
            if moe.router_score_bias {
                dense.push(Tensor::vec(
                    "e_score_correction_bias",
                    moe.num_experts,
                    Split::Replicated,
                ));
            }
            if moe.shared_intermediate_size > 0 {
                dense.extend(mlp_tensors(
                    h,
                    moe.shared_intermediate_size,
                    m.mlp.gated,
                    false,
                    Role::Linear,
                ));
                if moe.shared_expert_gate {
                    dense.push(Tensor {
                        name: "shared_expert_gate",
                        out: 1,
                        inp: h,
                        role: Role::Router,
                        split: Split::Replicated,
                    });
                }
            }
            let e = mlp_tensors(
                h,
                moe.expert_intermediate_size,
                m.mlp.gated,
                moe.expert_bias,
                Role::ExpertLinear,
            );
            (e, moe.num_experts)
        }
        _ => {
            dense.extend(mlp_tensors(
                h,
                m.mlp.intermediate_size,
                m.mlp.gated,
                m.mlp.bias,
                Role::Linear,
            ));
            (Vec::new(), 0)
        }
    };
    LayerTensors {
        dense,
        expert,
        num_experts,
    }
}

/// The distinct layer structures in `range` with how many layers share each
/// (decoder layers differ only in dense-vs-MoE MLP), so callers sum over two
/// kinds instead of every layer.
pub fn layer_kinds(m: &ModelSpec, range: std::ops::Range<u64>) -> Vec<(LayerTensors, u64)> {
    let moe = range.clone().filter(|&i| m.is_moe_layer(i)).count() as u64;
    let dense = range.end.saturating_sub(range.start) - moe;
    let mut out = Vec::new();
    if let Some(i) = range.clone().find(|&i| !m.is_moe_layer(i)) {
        out.push((layer_tensors(m, i), dense));
    }
    if let Some(i) = range.clone().find(|&i| m.is_moe_layer(i)) {
        out.push((layer_tensors(m, i), moe));
    }
    out
}

/// Tensors outside the decoder layers: embedding, final norm, lm_head.
pub fn outer_tensors(m: &ModelSpec) -> (Tensor, Vec<Tensor>, Option<Tensor>) {
    let emb = Tensor {
        name: "embed_tokens",
        out: m.vocab_size,
        inp: m.hidden_size,
        role: Role::Embedding,
        split: Split::Rows,
    };
    let norm_params = if m.norm.bias { 2 } else { 1 };
    let final_norm = (0..norm_params)
        .map(|_| Tensor::vec("final_norm", m.hidden_size, Split::Replicated))
        .collect();
    let head = (!m.tie_word_embeddings).then_some(Tensor {
        name: "lm_head",
        out: m.vocab_size,
        inp: m.hidden_size,
        role: Role::LmHead,
        split: Split::Rows,
    });
    (emb, final_norm, head)
}

/// Tensors of one multi-token-prediction module (DeepSeek-V3 style):
/// enorm, hnorm, eh_proj (2h → h), a full decoder layer (MoE type) and the
/// shared head's norm. Embedding and output head are shared with the main
/// model (DeepSeek-V3 README_WEIGHTS: "11.5B unique parameters").
pub fn mtp_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let h = m.hidden_size;
    let mut t = vec![
        Tensor::vec("enorm", h, Split::Replicated),
        Tensor::vec("hnorm", h, Split::Replicated),
        Tensor::lin("eh_proj", h, 2 * h, Split::Replicated),
        Tensor::vec("shared_head.norm", h, Split::Replicated),
    ];
    // The MTP block uses the layer type of the last (MoE) layer.
    let l = layer_tensors(m, m.num_layers.max(1) - 1);
    t.extend(l.dense);
    for _ in 0..l.num_experts {
        t.extend(l.expert.iter().cloned());
    }
    t
}

/// Whole-model parameter totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    /// All parameters of the main model (MTP excluded), embeddings and head included.
    pub total: u64,
    /// Parameters one token touches: all but the unrouted experts.
    pub active: u64,
    /// Embedding parameters.
    pub embedding: u64,
    /// Unique parameters of the MTP modules (0 if none).
    pub mtp: u64,
}

/// Count the parameters of `m`.
pub fn param_counts(m: &ModelSpec) -> ParamCounts {
    let (emb, final_norm, head) = outer_tensors(m);
    let mut total = emb.params() + final_norm.iter().map(Tensor::params).sum::<u64>();
    if let Some(h) = &head {
        total += h.params();
    }
    let mut inactive = 0;
    for (l, n) in layer_kinds(m, 0..m.num_layers) {
        total += n * l.params();
        if let Some(moe) = &m.moe {
            if l.num_experts > 0 {
                inactive += n * (l.num_experts - moe.experts_per_token) * l.expert_params();
            }
        }
    }
    let mtp = if m.mtp_layers > 0 {
        m.mtp_layers * mtp_tensors(m).iter().map(Tensor::params).sum::<u64>()
    } else {
        0
    };
    ParamCounts {
        total,
        active: total - inactive,
        embedding: emb.params(),
        mtp,
    }
}

/// Whether `format` applies to dense (non-expert) linear layers. MXFP4 in
/// gpt-oss quantizes only the experts (`modules_to_not_convert` lists
/// self_attn, router, embed_tokens, lm_head); on a dense model it applies to
/// every linear layer.
pub fn quantizes_dense(m: &ModelSpec, format: WeightFormat) -> bool {
    !(format == WeightFormat::Mxfp4 && m.moe.is_some())
}

/// Exact weight bytes of the whole model (MTP excluded) under `format`.
pub fn total_weight_bytes(m: &ModelSpec, format: WeightFormat) -> u64 {
    let qd = quantizes_dense(m, format);
    let nat = m.native_dtype;
    let (emb, final_norm, head) = outer_tensors(m);
    let mut b = emb.shard_bytes(1, format, nat, qd)
        + final_norm
            .iter()
            .map(|t| t.shard_bytes(1, format, nat, qd))
            .sum::<u64>();
    if let Some(h) = &head {
        b += h.shard_bytes(1, format, nat, qd);
    }
    for i in 0..m.num_layers {
        let l = layer_tensors(m, i);
        b += l
            .dense
            .iter()
            .map(|t| t.shard_bytes(1, format, nat, qd))
            .sum::<u64>();
        b += l.num_experts
            * l.expert
                .iter()
                .map(|t| t.shard_bytes(1, format, nat, qd))
                .sum::<u64>();
    }
    b
}
