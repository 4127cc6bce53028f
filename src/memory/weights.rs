//! Parameter counts and weight bytes, from the architecture alone.
//!
//! Every tensor of the checkpoint is listed with its shape, its role (which
//! decides whether a quantization format applies to it) and how tensor
//! parallelism splits it (vLLM's column/row-parallel and vocab-parallel
//! layers). Counting is exact; bytes follow `WeightFormat::linear_bytes`.

use crate::spec::dtype::{DType, ModulePart, WeightFormat};
use crate::spec::model::{FfnType, LayerType, LinearKind, ModelSpec};

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
    /// A vision-tower tensor: stays 16-bit (the quantized checkpoints'
    /// ignore lists name the vision tower; kvplan never quantizes it).
    Vision,
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
    /// The checkpoint stores this tensor 16-bit in its own format (its
    /// quantization metadata excludes it); other formats quantize it as usual.
    pub kept_16bit_in: Option<WeightFormat>,
    /// `(checkpoint format, stored format)`: sized in the checkpoint's own
    /// format, this tensor is stored in another one (a mixed-precision
    /// checkpoint's FP8 attention beside NVFP4 experts, its NVFP4 lm_head).
    pub stored_as: Option<(WeightFormat, WeightFormat)>,
    /// Stored as fp8 block (through `stored_as`), its 128×128 block scales are
    /// one ue8m0 byte each instead of fp32 (DeepSeek-V4's `expert_dtype: fp4`
    /// checkpoints: vLLM `DeepseekV4FP8Config.is_scale_e8m0`).
    pub ue8m0_block_scales: bool,
}

impl Tensor {
    fn lin(name: &'static str, out: u64, inp: u64, split: Split) -> Self {
        Tensor {
            name,
            out,
            inp,
            role: Role::Linear,
            split,
            kept_16bit_in: None,
            stored_as: None,
            ue8m0_block_scales: false,
        }
    }
    fn vec(name: &'static str, len: u64, split: Split) -> Self {
        Tensor {
            name,
            out: len,
            inp: 1,
            role: Role::Vector,
            split,
            kept_16bit_in: None,
            stored_as: None,
            ue8m0_block_scales: false,
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
                let heads = heads.max(1);
                let heads_here = (heads / tp).max(1).min(heads);
                // Rows in proportion to the heads held, rounded up: exact when
                // the rows are not a multiple of the heads (Gated DeltaNet's
                // in_proj_qkvz and conv1d over its value heads).
                ((self.out * heads_here).div_ceil(heads), self.inp)
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
        if let Some((checkpoint, stored)) = self.stored_as.filter(|(c, _)| *c == format) {
            debug_assert_eq!(checkpoint, format);
            return if stored == WeightFormat::Fp8Block && self.ue8m0_block_scales {
                // e4m3 values + one ue8m0 byte per 128×128 block.
                o * i + o.div_ceil(128) * i.div_ceil(128)
            } else if stored.is_quantized() {
                stored.linear_bytes(o, i)
            } else {
                o * i * stored.unquantized_bytes_per_param(native)
            };
        }
        let quantize = format.is_quantized()
            && self.kept_16bit_in != Some(format)
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

/// The token-mixer tensors of layer `i` (attention, linear attention or
/// Mamba2; none for Nemotron-H's feed-forward-only blocks).
fn mixer_tensors(m: &ModelSpec, i: u64) -> Vec<Tensor> {
    if m.compressed_attention.is_some() {
        return compressed_attention_tensors(m, i);
    }
    match m.layer_type(i) {
        LayerType::Full | LayerType::Sliding => {
            let mut t = attention_tensors(m, m.layer_type(i));
            t.extend(indexer_tensors(m, i));
            t.extend(sparse_index_tensors(m, i));
            t
        }
        LayerType::Linear => linear_attention_tensors(m),
        LayerType::Mamba => mamba_tensors(m),
        LayerType::None => Vec::new(),
    }
}

/// MiniMax-M3's sparse index on layer `i` (SGLang `minimax_m3.py`
/// `MiniMaxM3Attention`): `index_qkv_proj` hidden → index heads × dim + one
/// key (+ one value where kept), `index_o_proj` index heads × dim → hidden
/// where the value is kept, `index_q_norm` and `index_k_norm` of dim.
fn sparse_index_tensors(m: &ModelSpec, i: u64) -> Vec<Tensor> {
    let Some(x) = m.sparse_index.as_ref().filter(|x| x.layers.contains(&i)) else {
        return Vec::new();
    };
    let value = x.value_layers.contains(&i);
    let heads = Split::Heads { heads: x.num_heads };
    let q = x.num_heads * x.head_dim;
    let mut t = vec![Tensor::lin(
        "index_qkv_proj",
        q + x.head_dim * (1 + u64::from(value)),
        m.hidden_size,
        heads,
    )];
    if value {
        t.push(Tensor::lin("index_o_proj", m.hidden_size, q, Split::Cols));
    }
    t.push(Tensor::vec("index_q_norm", x.head_dim, Split::Replicated));
    t.push(Tensor::vec("index_k_norm", x.head_dim, Split::Replicated));
    t
}

/// A tensor the engines never quantize (vLLM builds these projections with
/// `quant_config=None`; the checkpoint ships them in bf16): counted like a
/// router.
fn unquantized(name: &'static str, out: u64, inp: u64) -> Tensor {
    Tensor {
        name,
        out,
        inp,
        role: Role::Router,
        split: Split::Replicated,
        kept_16bit_in: None,
        stored_as: None,
        ue8m0_block_scales: false,
    }
}

/// DeepSeek-V4 attention of layer `i` (HF `DeepseekV4Attention`):
/// `q_a_proj` hidden → q_lora_rank, `q_a_norm`, `q_b_proj` → heads ×
/// head_dim, `kv_proj` hidden → head_dim (the shared K=V head), `kv_norm`,
/// grouped `o_a_proj` (o_groups blocks of heads·head_dim/o_groups →
/// o_lora_rank), `o_b_proj` o_groups·o_lora_rank → hidden, per-head `sinks`.
/// A layer with a compress ratio adds its compressor (`kv_proj`,
/// `gate_proj` hidden → coff·head_dim, `position_bias` ratio × coff·head_dim,
/// `kv_norm`; coff = 2 for CSA's overlapping windows), a CSA layer its
/// lightning indexer (its own compressor at `index_head_dim`, `q_b_proj`
/// q_lora_rank → index heads × index_head_dim, `weights_proj` hidden → index
/// heads). The compressor and indexer projections other than `q_b_proj` are
/// bf16 in the checkpoint and unquantized in vLLM.
fn compressed_attention_tensors(m: &ModelSpec, i: u64) -> Vec<Tensor> {
    let Some(c) = &m.compressed_attention else {
        return Vec::new();
    };
    let a = &m.attention;
    let (h, hd, nh) = (m.hidden_size, a.head_dim, a.num_heads);
    let heads = Split::Heads { heads: nh };
    let mut t = vec![
        Tensor::lin("q_a_proj", c.q_lora_rank, h, Split::Replicated),
        Tensor::vec("q_a_norm", c.q_lora_rank, Split::Replicated),
        Tensor::lin("q_b_proj", nh * hd, c.q_lora_rank, heads),
        Tensor::lin("kv_proj", hd, h, Split::Replicated),
        Tensor::vec("kv_norm", hd, Split::Replicated),
        Tensor::lin(
            "o_a_proj",
            c.o_groups * c.o_lora_rank,
            nh * hd / c.o_groups.max(1),
            Split::Rows,
        ),
        Tensor::lin("o_b_proj", h, c.o_groups * c.o_lora_rank, Split::Cols),
        Tensor::vec("sinks", nh, heads),
    ];
    let ratio = c.ratio(i);
    if ratio > 1 {
        let coff = 1 + u64::from(c.is_csa(i));
        t.extend([
            unquantized("compressor.kv_proj", coff * hd, h),
            unquantized("compressor.gate_proj", coff * hd, h),
            Tensor::vec(
                "compressor.position_bias",
                ratio * coff * hd,
                Split::Replicated,
            ),
            Tensor::vec("compressor.kv_norm", hd, Split::Replicated),
        ]);
    }
    if let Some(ix) = m.indexer.as_ref().filter(|_| c.is_csa(i)) {
        let d = ix.head_dim;
        t.extend([
            unquantized("indexer.kv_proj", 2 * d, h),
            unquantized("indexer.gate_proj", 2 * d, h),
            Tensor::vec("indexer.position_bias", ratio * 2 * d, Split::Replicated),
            Tensor::vec("indexer.kv_norm", d, Split::Replicated),
            Tensor::lin(
                "indexer.q_b_proj",
                ix.num_heads * d,
                c.q_lora_rank,
                Split::Replicated,
            ),
            unquantized("indexer.weights_proj", ix.num_heads, h),
        ]);
    }
    t
}

/// Manifold-constrained hyper-connections of one decoder layer (HF
/// `DeepseekV4HyperConnection`, one before attention and one before the
/// MoE): `fn` of (2 + n)·n × n·hidden, `base` of (2 + n)·n, 3 scales, for n
/// residual streams; none for a plain residual.
fn hyper_connection_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let n = m.hyper_connection_streams;
    if n == 0 {
        return Vec::new();
    }
    let mix = (2 + n) * n;
    let one = hyper_mixer(["hc.fn", "hc.base", "hc.scale"], mix, n * m.hidden_size, 3);
    [one.clone(), one].concat()
}

/// One hyper-connection mixer as HF's DeepSeek-V4 stores it: `fn` (`out` ×
/// `inp`, replicated), its `base` bias (`out`) and `scales` scalars; the
/// layers' mixers and the head's (`DeepseekV4HyperHead`) differ in sizes only.
fn hyper_mixer(names: [&'static str; 3], out: u64, inp: u64, scales: u64) -> Vec<Tensor> {
    vec![
        Tensor {
            name: names[0],
            out,
            inp,
            role: Role::Vector,
            split: Split::Replicated,
            kept_16bit_in: None,
            stored_as: None,
            ue8m0_block_scales: false,
        },
        Tensor::vec(names[1], out, Split::Replicated),
        Tensor::vec(names[2], scales, Split::Replicated),
    ]
}

/// DeepSeek sparse attention's indexer (DeepSeek-V3.2 `Indexer`: `wq_b`
/// q_lora_rank → heads × head_dim, `wk` hidden → head_dim, LayerNorm `k_norm`
/// with bias, `weights_proj` hidden → heads). Layers that share another
/// layer's indexer hold none.
fn indexer_tensors(m: &ModelSpec, i: u64) -> Vec<Tensor> {
    let Some(ix) = &m.indexer else {
        return Vec::new();
    };
    if ix.shared_layers.contains(&i) {
        return Vec::new();
    }
    let h = m.hidden_size;
    let q_in = m
        .attention
        .mla
        .as_ref()
        .and_then(|l| l.q_lora_rank)
        .unwrap_or(h);
    vec![
        Tensor::lin(
            "indexer.wq_b",
            ix.num_heads * ix.head_dim,
            q_in,
            Split::Replicated,
        ),
        Tensor::lin("indexer.wk", ix.head_dim, h, Split::Replicated),
        Tensor::vec("indexer.k_norm", ix.head_dim, Split::Replicated),
        Tensor::vec("indexer.k_norm.bias", ix.head_dim, Split::Replicated),
        Tensor {
            name: "indexer.weights_proj",
            out: ix.num_heads,
            inp: h,
            role: Role::Router,
            split: Split::Replicated,
            kept_16bit_in: None,
            stored_as: None,
            ue8m0_block_scales: false,
        },
    ]
}

/// A linear-attention layer. Gated DeltaNet (HF `Qwen3NextGatedDeltaNet`):
/// `in_proj_qkvz` hidden → 2·k_dim + 2·v_dim, `in_proj_ba` hidden → 2·v_heads,
/// depthwise `conv1d` of conv_dim × kernel (no bias), `dt_bias` and `A_log`
/// per value head, gated RMSNorm of value_head_dim, `out_proj` v_dim → hidden.
/// KDA (Kimi-Linear `KimiDeltaAttention`): q/k/v projections, three short
/// convolutions, low-rank forget (`f_a`, `f_b`) and output (`g_a`, `g_b`)
/// gates of rank head_dim (Kimi-K3: one full-rank `g_proj` instead of the
/// output pair), `b_proj` hidden → heads, `A_log` per head, `dt_bias` per
/// channel, RMSNorm of head_dim, `o_proj`.
fn linear_attention_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let Some(l) = &m.linear_attention else {
        return Vec::new();
    };
    let h = m.hidden_size;
    let kd = l.num_key_heads * l.key_head_dim;
    let vd = l.num_value_heads * l.value_head_dim;
    let vh = Split::Heads {
        heads: l.num_value_heads,
    };
    match l.kind {
        LinearKind::GatedDeltaNet => vec![
            Tensor::lin("linear_attn.in_proj_qkvz", 2 * kd + 2 * vd, h, vh),
            Tensor::lin("linear_attn.in_proj_ba", 2 * l.num_value_heads, h, vh),
            Tensor::vec("linear_attn.conv1d", l.conv_dim() * l.conv_kernel, vh),
            Tensor::vec("linear_attn.dt_bias", l.num_value_heads, vh),
            Tensor::vec("linear_attn.A_log", l.num_value_heads, vh),
            Tensor::vec("linear_attn.norm", l.value_head_dim, Split::Replicated),
            Tensor::lin("linear_attn.out_proj", h, vd, Split::Cols),
        ],
        LinearKind::Kda => {
            let heads = Split::Heads {
                heads: l.num_value_heads,
            };
            let d = l.value_head_dim;
            let mut t = vec![
                Tensor::lin("self_attn.q_proj", kd, h, heads),
                Tensor::lin("self_attn.k_proj", kd, h, heads),
                Tensor::lin("self_attn.v_proj", vd, h, heads),
                Tensor::vec("self_attn.q_conv1d", kd * l.conv_kernel, heads),
                Tensor::vec("self_attn.k_conv1d", kd * l.conv_kernel, heads),
                Tensor::vec("self_attn.v_conv1d", vd * l.conv_kernel, heads),
                Tensor::lin("self_attn.f_a_proj", d, h, Split::Replicated),
                Tensor::lin("self_attn.f_b_proj", vd, d, heads),
            ];
            if l.full_rank_gate {
                // Kimi-K3: one full-rank output gate (mlx-lm `kimi_k3.py`
                // `KimiK3DeltaAttention.g_proj`, hidden → heads × head_dim).
                t.push(Tensor::lin("self_attn.g_proj", vd, h, heads));
            } else {
                t.push(Tensor::lin("self_attn.g_a_proj", d, h, Split::Replicated));
                t.push(Tensor::lin("self_attn.g_b_proj", vd, d, heads));
            }
            t.extend([
                Tensor::lin("self_attn.b_proj", l.num_value_heads, h, heads),
                Tensor::vec("self_attn.A_log", l.num_value_heads, heads),
                Tensor::vec("self_attn.dt_bias", vd, heads),
                Tensor::vec("self_attn.o_norm", d, Split::Replicated),
                Tensor::lin("self_attn.o_proj", h, vd, Split::Cols),
            ]);
            t
        }
    }
}

/// A Mamba2 layer (HF `NemotronHMamba2Mixer`): `in_proj` hidden → 2·inner +
/// 2·groups·N + heads (z, x, B, C, dt), depthwise `conv1d` over x, B, C with
/// its bias, `dt_bias`, `A_log`, `D` per head, gated RMSNorm of inner,
/// `out_proj` inner → hidden.
fn mamba_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let Some(mb) = &m.mamba else {
        return Vec::new();
    };
    let h = m.hidden_size;
    let heads = Split::Heads {
        heads: mb.num_heads,
    };
    let mut t = vec![
        Tensor::lin(
            "mixer.in_proj",
            2 * mb.inner() + 2 * mb.n_groups * mb.state_size + mb.num_heads,
            h,
            heads,
        ),
        Tensor::vec("mixer.conv1d", mb.conv_dim() * mb.conv_kernel, heads),
    ];
    if mb.conv_bias {
        t.push(Tensor::vec("mixer.conv1d.bias", mb.conv_dim(), heads));
    }
    t.extend([
        Tensor::vec("mixer.dt_bias", mb.num_heads, heads),
        Tensor::vec("mixer.A_log", mb.num_heads, heads),
        Tensor::vec("mixer.D", mb.num_heads, heads),
        Tensor::vec("mixer.norm", mb.inner(), heads),
        Tensor::lin("mixer.out_proj", h, mb.inner(), Split::Cols),
    ]);
    t
}

/// The attention tensors of one layer of kind `kind` (full or sliding).
fn attention_tensors(m: &ModelSpec, kind: LayerType) -> Vec<Tensor> {
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
        if a.output_gate {
            // Kimi-K3 `mla_use_output_gate`: sigmoid(g_proj(x)) scales the
            // attention output before o_proj (mlx-lm `KimiK3MLAAttention`).
            t.push(Tensor::lin(
                "g_proj",
                a.num_heads * mla.v_head_dim,
                h,
                heads,
            ));
        }
        return t;
    }
    let (n_kv, head_dim, v_dim) = m.kv_shape(kind);
    let q_heads = Split::Heads { heads: a.num_heads };
    let kv_heads = Split::Heads { heads: n_kv };
    let gate = if a.output_gate { 2 } else { 1 };
    t.push(Tensor::lin(
        "q_proj",
        gate * a.num_heads * head_dim,
        h,
        q_heads,
    ));
    t.push(Tensor::lin("k_proj", n_kv * head_dim, h, kv_heads));
    // Gemma-4 full-attention layers reuse k_proj for the values.
    let k_eq_v = a.full_k_eq_v && kind == LayerType::Full;
    if !k_eq_v {
        t.push(Tensor::lin("v_proj", n_kv * v_dim, h, kv_heads));
    }
    t.push(Tensor::lin("o_proj", h, a.num_heads * v_dim, Split::Cols));
    if a.qkv_bias {
        t.push(Tensor::vec(
            "q_proj.bias",
            gate * a.num_heads * head_dim,
            q_heads,
        ));
        t.push(Tensor::vec("k_proj.bias", n_kv * head_dim, kv_heads));
        if !k_eq_v {
            t.push(Tensor::vec("v_proj.bias", n_kv * v_dim, kv_heads));
        }
    }
    if a.o_bias {
        t.push(Tensor::vec("o_proj.bias", h, Split::Replicated));
    }
    if a.qk_norm && a.qk_norm_full_width {
        t.push(Tensor::vec("q_norm", a.num_heads * head_dim, q_heads));
        t.push(Tensor::vec("k_norm", n_kv * head_dim, kv_heads));
    } else if a.qk_norm {
        t.push(Tensor::vec("q_norm", head_dim, Split::Replicated));
        t.push(Tensor::vec("k_norm", head_dim, Split::Replicated));
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
        kept_16bit_in: None,
        stored_as: None,
        ue8m0_block_scales: false,
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

/// Mark `tensors` (all of `part`, in decoder layer `layer`) as stored 16-bit
/// when the checkpoint's quantization metadata excludes them.
fn mark_16bit(m: &ModelSpec, tensors: &mut [Tensor], part: ModulePart, layer: Option<u64>) {
    let (Some(f), Some(l)) = (m.checkpoint_format, &m.checkpoint_layout) else {
        return;
    };
    if !l.mixed.is_empty() {
        // Mixed precision: each linear layer in the format its entry gives,
        // an unlisted one 16-bit.
        for t in tensors
            .iter_mut()
            .filter(|t| matches!(t.role, Role::Linear | Role::ExpertLinear | Role::LmHead))
        {
            match l.mixed_format(part, t.name, layer).flatten() {
                // Set even when g == f: the head is quantized only when listed.
                Some(g) => {
                    t.stored_as = Some((f, g));
                    t.ue8m0_block_scales = l.ue8m0_block_scales && g == WeightFormat::Fp8Block;
                }
                None => t.kept_16bit_in = Some(f),
            }
        }
        return;
    }
    if l.keeps_16bit(part, layer) {
        for t in tensors {
            t.kept_16bit_in = Some(f);
        }
    }
}

/// One Kimi-K3 attention-residual mix (mlx-lm `kimi_k3.py`): a norm over
/// the hidden width and a hidden → 1 projection that weighs the block
/// snapshots; both small and replicated, kept 16-bit.
fn attention_residual_mix(norm: &'static str, proj: &'static str, hidden: u64) -> [Tensor; 2] {
    [
        Tensor::vec(norm, hidden, Split::Replicated),
        Tensor::vec(proj, hidden, Split::Replicated),
    ]
}

/// All tensors of decoder layer `i`.
pub fn layer_tensors(m: &ModelSpec, i: u64) -> LayerTensors {
    let h = m.hidden_size;
    let mut dense = mixer_tensors(m, i);
    mark_16bit(m, &mut dense, ModulePart::Attention, Some(i));
    let norm_params = if m.norm.bias { 2 } else { 1 };
    for _ in 0..m.norms_in_layer(i) * norm_params {
        dense.push(Tensor::vec("norm", h, Split::Replicated));
    }
    for _ in 0..m.norm.scalars_per_layer {
        dense.push(Tensor::vec("layer_scalar", 1, Split::Replicated));
    }
    dense.extend(hyper_connection_tensors(m));
    if m.norm.attention_residuals {
        // Kimi-K3: one attention-residual mix before the mixer and one
        // before the feed-forward block.
        dense.extend(attention_residual_mix(
            "self_attention_res_norm",
            "self_attention_res_proj",
            h,
        ));
        dense.extend(attention_residual_mix("mlp_res_norm", "mlp_res_proj", h));
    }
    let (expert, num_experts) = match (&m.moe, m.is_moe_layer(i)) {
        (Some(moe), true) => {
            dense.push(Tensor {
                name: "router",
                out: moe.num_experts,
                inp: h,
                role: Role::Router,
                split: Split::Replicated,
                kept_16bit_in: None,
                stored_as: None,
                ue8m0_block_scales: false,
            });
            if moe.router_bias {
                dense.push(Tensor::vec(
                    "router.bias",
                    moe.num_experts,
                    Split::Replicated,
                ));
            }
            if moe.router_scales {
                dense.push(Tensor::vec("router.scale", h, Split::Replicated));
                dense.push(Tensor::vec(
                    "router.per_expert_scale",
                    moe.num_experts,
                    Split::Replicated,
                ));
            }
            let hash = i < moe.hash_layers;
            if hash {
                // Hash routing: a fixed token-id → top-k experts table.
                dense.push(Tensor {
                    name: "router.tid2eid",
                    out: m.vocab_size,
                    inp: moe.experts_per_token,
                    role: Role::Router,
                    split: Split::Replicated,
                    kept_16bit_in: None,
                    stored_as: None,
                    ue8m0_block_scales: false,
                });
            }
            if moe.router_score_bias && !hash {
                dense.push(Tensor::vec(
                    "e_score_correction_bias",
                    moe.num_experts,
                    Split::Replicated,
                ));
            }
            if let Some(lat) = moe.latent_size {
                // Latent MoE (Nemotron-3): routed experts work in a narrower
                // latent space entered and left through two projections.
                dense.push(Tensor::lin("fc1_latent_proj", lat, h, Split::Replicated));
                dense.push(Tensor::lin("fc2_latent_proj", h, lat, Split::Replicated));
                if moe.latent_norm {
                    // Kimi-K3 `routed_expert_norm` on the experts' latent sum.
                    dense.push(Tensor::vec("routed_expert_norm", lat, Split::Replicated));
                }
            }
            if moe.shared_intermediate_size > 0 {
                let mut shared = mlp_tensors(
                    h,
                    moe.shared_intermediate_size,
                    m.mlp.gated,
                    false,
                    Role::Linear,
                );
                mark_16bit(m, &mut shared, ModulePart::SharedExperts, Some(i));
                dense.extend(shared);
                if moe.shared_expert_gate {
                    dense.push(Tensor {
                        name: "shared_expert_gate",
                        out: 1,
                        inp: h,
                        role: Role::Router,
                        split: Split::Replicated,
                        kept_16bit_in: None,
                        stored_as: None,
                        ue8m0_block_scales: false,
                    });
                }
            }
            let mut e = mlp_tensors(
                moe.latent_size.unwrap_or(h),
                moe.expert_intermediate_size,
                m.mlp.gated,
                moe.expert_bias,
                Role::ExpertLinear,
            );
            mark_16bit(m, &mut e, ModulePart::RoutedExperts, Some(i));
            (e, moe.num_experts)
        }
        _ if m.ffn_type(i) == FfnType::None => (Vec::new(), 0),
        _ => {
            let mut mlp = mlp_tensors(h, m.dense_width(i), m.mlp.gated, m.mlp.bias, Role::Linear);
            mark_16bit(m, &mut mlp, ModulePart::DenseMlp, Some(i));
            dense.extend(mlp);
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
/// (layers differ by token mixer, feed-forward kind and whether they hold an
/// indexer), so callers sum over a few kinds instead of every layer.
pub fn layer_kinds(m: &ModelSpec, range: std::ops::Range<u64>) -> Vec<(LayerTensors, u64)> {
    let key = |i: u64| {
        let own_indexer = m
            .indexer
            .as_ref()
            .is_some_and(|x| !x.shared_layers.contains(&i));
        let kept: [bool; 4] = match &m.checkpoint_layout {
            None => [false; 4],
            Some(l) => [
                ModulePart::Attention,
                ModulePart::DenseMlp,
                ModulePart::SharedExperts,
                ModulePart::RoutedExperts,
            ]
            .map(|p| l.keeps_16bit(p, Some(i))),
        };
        // Mixed precision: which per-tensor entries list this layer.
        let mixed: Vec<usize> = m
            .checkpoint_layout
            .iter()
            .flat_map(|l| l.mixed.iter().enumerate())
            .filter(|(_, e)| e.layers.contains(&i))
            .map(|(n, _)| n)
            .collect();
        // DeepSeek-V4: the compress ratio and hash routing change the tensors.
        let v4 = (
            m.compressed_attention.as_ref().map_or(0, |c| c.ratio(i)),
            m.moe.as_ref().is_some_and(|x| i < x.hash_layers),
            // MiniMax-M3: whether the layer has a sparse index (and its value).
            m.sparse_index.as_ref().map_or(0, |x| x.cached_dim(i)),
        );
        (
            m.layer_type(i),
            m.ffn_type(i),
            m.dense_width(i),
            own_indexer,
            kept,
            mixed,
            v4,
        )
    };
    type Key = (
        LayerType,
        FfnType,
        u64,
        bool,
        [bool; 4],
        Vec<usize>,
        (u64, bool, u64),
    );
    let mut kinds: Vec<(Key, u64, u64)> = Vec::new();
    for i in range {
        let k = key(i);
        match kinds.iter_mut().find(|(kk, _, _)| *kk == k) {
            Some(e) => e.2 += 1,
            None => kinds.push((k, i, 1)),
        }
    }
    kinds
        .into_iter()
        .map(|(_, first, n)| (layer_tensors(m, first), n))
        .collect()
}

/// Tensors outside the decoder layers: embedding, final norm, lm_head.
pub fn outer_tensors(m: &ModelSpec) -> (Tensor, Vec<Tensor>, Option<Tensor>) {
    let emb = Tensor {
        name: "embed_tokens",
        out: m.vocab_size,
        inp: m.hidden_size,
        role: Role::Embedding,
        split: Split::Rows,
        kept_16bit_in: None,
        stored_as: None,
        ue8m0_block_scales: false,
    };
    let norm_params = if m.norm.bias { 2 } else { 1 };
    let mut final_norm: Vec<Tensor> = (0..norm_params)
        .map(|_| Tensor::vec("final_norm", m.hidden_size, Split::Replicated))
        .collect();
    if m.norm.attention_residuals {
        // Kimi-K3: the last attention-residual mix before the final norm.
        final_norm.extend(attention_residual_mix(
            "output_attn_res_norm",
            "output_attn_res_proj",
            m.hidden_size,
        ));
    }
    let n = m.hyper_connection_streams;
    if n > 0 {
        // HF `DeepseekV4HyperHead`: collapses the streams before the final norm.
        final_norm.extend(hyper_mixer(
            ["hc_head.fn", "hc_head.base", "hc_head.scale"],
            n,
            n * m.hidden_size,
            1,
        ));
    }
    let mut head = (!m.tie_word_embeddings).then_some(Tensor {
        name: "lm_head",
        out: m.vocab_size,
        inp: m.hidden_size,
        role: Role::LmHead,
        split: Split::Rows,
        kept_16bit_in: None,
        stored_as: None,
        ue8m0_block_scales: false,
    });
    // A mixed-precision checkpoint may store the head quantized (ModelOpt
    // lists `lm_head` as NVFP4 in the Qwen3.6 / Nemotron-3.5 checkpoints).
    if let Some(h) = head.as_mut() {
        mark_16bit(m, std::slice::from_mut(h), ModulePart::LmHead, None);
    }
    // The head and embedding stay 16-bit in every format kvplan models, so
    // their exclusion in the metadata changes nothing.
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
    // The MTP block uses the layer type of the last (MoE) layer; DeepSeek-V4's
    // attends over its window only (no compress ratio past the decoder layers).
    let last = m.num_layers.max(1) - 1;
    let l = if m.compressed_attention.is_some() {
        layer_tensors(m, m.num_layers)
    } else {
        layer_tensors(m, last)
    };
    if m.layer_type(last) == LayerType::None {
        // Nemotron-H ends in an MoE-only block; its MTP block ("*E") also has
        // attention: take the last attention layer's.
        if let Some(a) = (0..m.num_layers)
            .rev()
            .find(|&i| matches!(m.layer_type(i), LayerType::Full | LayerType::Sliding))
        {
            t.extend(attention_tensors(m, m.layer_type(a)));
        }
    }
    t.extend(l.dense);
    for _ in 0..l.num_experts {
        t.extend(l.expert.iter().cloned());
    }
    t
}

/// The vision tower's tensors (Qwen3-VL and Qwen3.5/3.6, HF transformers
/// `modeling_qwen3_vl.py` `Qwen3VLVisionModel`): patch_embed.proj (Conv3d
/// with bias), pos_embed, per block norm1/norm2 (LayerNorm weight + bias),
/// attn.qkv and attn.proj, mlp.linear_fc1/fc2 (all with bias), the output
/// merger (LayerNorm over the ViT width, linear_fc1 over the merged width,
/// linear_fc2 to `out_hidden_size`) and the DeepStack mergers (the same with
/// their LayerNorm over the merged width). Split over TP as vLLM's default
/// `mm_encoder_tp_mode="weights"` shards the tower (column-parallel qkv and
/// fc1, row-parallel proj and fc2); norms, embeddings and biases of the
/// row-parallel layers replicated. Empty without a counted tower.
pub fn vision_tensors(m: &ModelSpec) -> Vec<Tensor> {
    let Some(v) = &m.vision_encoder else {
        return Vec::new();
    };
    let t = |name, out, inp, split| Tensor {
        name,
        out,
        inp,
        role: Role::Vision,
        split,
        kept_16bit_in: None,
        stored_as: None,
        ue8m0_block_scales: false,
    };
    let (h, d) = (v.hidden_size, v.depth);
    let merged = h * v.spatial_merge_size * v.spatial_merge_size;
    let kernel = v.in_channels * v.temporal_patch_size * v.patch_size * v.patch_size;
    let mut out = vec![
        t(
            "visual.patch_embed.proj.weight",
            h,
            kernel,
            Split::Replicated,
        ),
        t("visual.patch_embed.proj.bias", h, 1, Split::Replicated),
        t(
            "visual.pos_embed",
            v.num_position_embeddings,
            h,
            Split::Replicated,
        ),
        t("visual.blocks.*.norm1+norm2", 4 * h, d, Split::Replicated),
        t("visual.blocks.*.attn.qkv.weight", 3 * h, h * d, Split::Rows),
        t("visual.blocks.*.attn.qkv.bias", 3 * h, d, Split::Rows),
        t("visual.blocks.*.attn.proj.weight", h, h * d, Split::Cols),
        t("visual.blocks.*.attn.proj.bias", h, d, Split::Replicated),
        t(
            "visual.blocks.*.mlp.linear_fc1.weight",
            v.intermediate_size,
            h * d,
            Split::Rows,
        ),
        t(
            "visual.blocks.*.mlp.linear_fc1.bias",
            v.intermediate_size,
            d,
            Split::Rows,
        ),
        t(
            "visual.blocks.*.mlp.linear_fc2.weight",
            h,
            v.intermediate_size * d,
            Split::Cols,
        ),
        t(
            "visual.blocks.*.mlp.linear_fc2.bias",
            h,
            d,
            Split::Replicated,
        ),
    ];
    // The output merger (norm over the ViT width) and the DeepStack mergers
    // (norm over the merged width).
    let mergers = 1 + v.deepstack_mergers;
    out.extend([
        t("visual.merger.norm", 2 * h, 1, Split::Replicated),
        t(
            "visual.deepstack_merger_list.*.norm",
            2 * merged,
            v.deepstack_mergers,
            Split::Replicated,
        ),
        t(
            "visual.*merger*.linear_fc1.weight",
            merged,
            merged * mergers,
            Split::Rows,
        ),
        t(
            "visual.*merger*.linear_fc1.bias",
            merged,
            mergers,
            Split::Rows,
        ),
        t(
            "visual.*merger*.linear_fc2.weight",
            v.out_hidden_size,
            merged * mergers,
            Split::Cols,
        ),
        t(
            "visual.*merger*.linear_fc2.bias",
            v.out_hidden_size,
            mergers,
            Split::Replicated,
        ),
    ]);
    out
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
    /// Parameters of the vision tower kvplan counts (Qwen3-VL, Qwen3.5/3.6; 0 otherwise),
    /// not in `total`: the language model's count is the one model names
    /// give (235B-A22B), the checkpoint holds both.
    pub vision: u64,
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
        vision: vision_tensors(m).iter().map(Tensor::params).sum(),
    }
}

/// Whether `format` applies to dense (non-expert) linear layers. MXFP4 in
/// gpt-oss quantizes only the experts (`modules_to_not_convert` lists
/// self_attn, router, embed_tokens, lm_head); on a dense model it applies to
/// every linear layer.
pub fn quantizes_dense(m: &ModelSpec, format: WeightFormat) -> bool {
    !(format == WeightFormat::Mxfp4 && m.moe.is_some())
}

/// Exact weight bytes of the whole model (MTP excluded, a counted vision
/// tower included) under `format`.
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
    // The checkpoint holds the counted vision tower too (16-bit).
    b += vision_tensors(m)
        .iter()
        .map(|t| t.shard_bytes(1, format, nat, qd))
        .sum::<u64>();
    for (l, n) in layer_kinds(m, 0..m.num_layers) {
        let dense = l
            .dense
            .iter()
            .map(|t| t.shard_bytes(1, format, nat, qd))
            .sum::<u64>();
        let experts = l.num_experts
            * l.expert
                .iter()
                .map(|t| t.shard_bytes(1, format, nat, qd))
                .sum::<u64>();
        b += n * (dense + experts);
    }
    b
}
