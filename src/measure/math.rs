//! Pure accounting for the probe: bytes and FLOPs of each measured phase,
//! where each weight matrix lives in the weight buffer, how the attention
//! work is split, and request validation. No GPU, no I/O.

use super::{GemmShape, ProbeAttention, ProbeDtype, ProbeError, ProbeRequest, Timing};
use crate::spec::dtype::KvDtype;

/// Alignment of every matrix and cache block inside the big buffers (bytes).
pub const ALIGN: u64 = 256;

/// Round `x` up to a multiple of `a`.
pub fn round_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Values per token per layer in the KV cache: GQA `2 × kv_heads × head_dim`,
/// MLA `kv_lora_rank + rope_dim` (one latent shared by all heads, no factor 2),
/// from the core's one KV formula ([`crate::memory::kv::KvLayer`]).
pub fn kv_values_per_token_layer(att: &ProbeAttention) -> u64 {
    att.kv_layer().bytes_per_token(KvDtype::Bf16) / KvDtype::Bf16.bytes()
}

/// Bytes of cache one layer holds for `batch × context` tokens, as measured
/// (the probe's kernels read bf16 caches: 2 bytes per value).
pub fn kv_layer_bytes(att: &ProbeAttention, batch: u64, context: u64) -> u64 {
    att.kv_layer().bytes_per_token(KvDtype::Bf16) * batch * context
}

/// Query heads of the layer.
pub fn q_heads(att: &ProbeAttention) -> u64 {
    match *att {
        ProbeAttention::Gqa { q_heads, .. } => q_heads,
        ProbeAttention::Mla { heads, .. } => heads,
    }
}

/// (query width, output width) per head in values: GQA `head_dim, head_dim`;
/// MLA with absorbed projections `rank + rope, rank`.
pub fn q_o_dims(att: &ProbeAttention) -> (u64, u64) {
    match *att {
        ProbeAttention::Gqa { head_dim, .. } => (head_dim, head_dim),
        ProbeAttention::Mla {
            kv_lora_rank,
            rope_dim,
            ..
        } => (kv_lora_rank + rope_dim, kv_lora_rank),
    }
}

/// Fewest bytes one layer's decode attention must move: the cache once, the
/// queries once, the outputs once (bf16).
pub fn attention_bytes(att: &ProbeAttention, batch: u64, context: u64) -> u64 {
    let (qd, od) = q_o_dims(att);
    kv_layer_bytes(att, batch, context) + batch * q_heads(att) * (qd + od) * 2
}

/// FLOPs of one layer's decode attention: scores `2·H·T·d_qk`, weighted sum
/// `2·H·T·d_v`, per sequence (softmax not counted).
pub fn attention_flops(att: &ProbeAttention, batch: u64, context: u64) -> u64 {
    let (qd, od) = q_o_dims(att);
    2 * batch * q_heads(att) * context * (qd + od)
}

/// Bytes of one matrix of `shape` in `dtype`.
pub fn matrix_bytes(shape: &GemmShape, dtype: ProbeDtype) -> u64 {
    shape.n * shape.k * dtype.bytes()
}

/// Weight bytes one layer's GEMMs stream (every matrix once).
pub fn gemm_layer_weight_bytes(gemms: &[GemmShape], dtype: ProbeDtype) -> u64 {
    gemms.iter().map(|g| matrix_bytes(g, dtype) * g.count).sum()
}

/// Distance in bytes between consecutive matrices of one shape's group in
/// the weight buffer (each matrix rounded up to [`ALIGN`]).
pub fn matrix_stride(shape: &GemmShape, dtype: ProbeDtype) -> u64 {
    round_up(matrix_bytes(shape, dtype), ALIGN)
}

/// Fewest bytes one layer's GEMMs move: weights once, plus each matmul's
/// activations in (m×k) and out (m×n, bf16), with m = the shape's `rows`,
/// else `batch`.
pub fn gemm_layer_bytes(gemms: &[GemmShape], dtype: ProbeDtype, batch: u64) -> u64 {
    gemm_layer_weight_bytes(gemms, dtype)
        + gemms
            .iter()
            .map(|g| g.count * g.m(batch) * (g.k * dtype.bytes() + g.n * 2))
            .sum::<u64>()
}

/// FLOPs of one layer's GEMMs: `2·m·n·k` per matrix, m = the shape's
/// `rows`, else `batch`.
pub fn gemm_layer_flops(gemms: &[GemmShape], batch: u64) -> u64 {
    gemms
        .iter()
        .map(|g| 2 * g.m(batch) * g.n * g.k * g.count)
        .sum()
}

/// Where each matrix of each layer lives in the weight buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightLayout {
    /// `offsets[layer][gemm][instance]`, bytes from the buffer start.
    pub offsets: Vec<Vec<Vec<u64>>>,
    /// True when the layers' matrices did not all fit and placement wrapped
    /// around (then some matrices share memory and may be re-read from L2).
    pub wrapped: bool,
    /// Per gemm: true when, in every layer, its `count` matrices lie back to
    /// back [`matrix_stride`] apart (so one strided-batched GEMM can run them).
    pub contiguous: Vec<bool>,
}

/// Pack every matrix of every layer one after another (256-byte aligned),
/// wrapping to the buffer start when the buffer is full. The `count`
/// matrices of one shape in one layer are kept together (the whole group
/// wraps) unless the group is larger than the buffer. Errors when one matrix
/// alone is larger than the buffer.
pub fn weight_layout(
    weights_bytes: u64,
    layers: u64,
    gemms: &[GemmShape],
    dtype: ProbeDtype,
) -> Result<WeightLayout, ProbeError> {
    let mut cursor = 0u64;
    let mut wrapped = false;
    let mut offsets = Vec::with_capacity(layers as usize);
    for _ in 0..layers {
        let mut layer = Vec::with_capacity(gemms.len());
        for g in gemms {
            let size = matrix_bytes(g, dtype);
            if size > weights_bytes {
                return Err(ProbeError::InvalidRequest(format!(
                    "matrix '{}' ({} × {} {}) is {} bytes, larger than the whole weight shard ({} bytes)",
                    g.name,
                    g.n,
                    g.k,
                    dtype.name(),
                    size,
                    weights_bytes
                )));
            }
            let stride = matrix_stride(g, dtype);
            let group = stride * (g.count - 1) + size;
            let mut inst = Vec::with_capacity(g.count as usize);
            if group <= weights_bytes {
                if cursor + group > weights_bytes {
                    cursor = 0;
                    wrapped = true;
                }
                inst.extend((0..g.count).map(|i| cursor + i * stride));
                cursor = round_up(cursor + group, ALIGN);
            } else {
                for _ in 0..g.count {
                    if cursor + size > weights_bytes {
                        cursor = 0;
                        wrapped = true;
                    }
                    inst.push(cursor);
                    cursor = round_up(cursor + size, ALIGN);
                }
            }
            layer.push(inst);
        }
        offsets.push(layer);
    }
    let contiguous = gemms
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let stride = matrix_stride(g, dtype);
            offsets
                .iter()
                .all(|l| l[gi].windows(2).all(|w: &[u64]| w[1] == w[0] + stride))
        })
        .collect();
    Ok(WeightLayout {
        offsets,
        wrapped,
        contiguous,
    })
}

/// Check a request before touching the GPU.
pub fn validate(req: &ProbeRequest) -> Result<(), ProbeError> {
    let bad = |s: String| Err(ProbeError::InvalidRequest(s));
    if req.batch == 0 || req.context_tokens == 0 || req.layers == 0 {
        return bad("batch, context_tokens and layers must all be at least 1".into());
    }
    if req.gemms.is_empty() {
        return bad("gemms is empty: give at least one weight matmul of the decode layer".into());
    }
    for g in &req.gemms {
        if g.n == 0 || g.k == 0 || g.count == 0 || g.rows == Some(0) {
            return bad(format!(
                "gemm '{}' has a zero dimension, count or rows",
                g.name
            ));
        }
        if g.m(req.batch) > i32::MAX as u64 || g.count > i32::MAX as u64 {
            return bad(format!(
                "gemm '{}': rows and count must fit in 32 bits",
                g.name
            ));
        }
        if g.k % 16 != 0 || g.n % 16 != 0 {
            return bad(format!(
                "gemm '{}' is {} × {}: n and k must be multiples of 16 (cuBLASLt alignment)",
                g.name, g.n, g.k
            ));
        }
    }
    if req.batch > i32::MAX as u64 || req.context_tokens > i32::MAX as u64 {
        return bad("batch and context must fit in 32 bits".into());
    }
    match req.attention {
        ProbeAttention::Gqa {
            q_heads,
            kv_heads,
            head_dim,
        } => {
            if kv_heads == 0 || q_heads == 0 || q_heads % kv_heads != 0 {
                return bad(format!(
                    "GQA needs q_heads ({q_heads}) to be a non-zero multiple of kv_heads ({kv_heads})"
                ));
            }
            if head_dim == 0 || head_dim % 8 != 0 || head_dim > 256 {
                return bad(format!(
                    "head_dim {head_dim} is not supported by the probe's kernel (multiples of 8 up to 256)"
                ));
            }
        }
        ProbeAttention::Mla {
            heads,
            kv_lora_rank,
            rope_dim,
        } => {
            if heads == 0 || kv_lora_rank == 0 || kv_lora_rank % 8 != 0 || rope_dim % 8 != 0 {
                return bad(format!(
                    "MLA needs heads ≥ 1 and kv_lora_rank ({kv_lora_rank}) and rope_dim ({rope_dim}) multiples of 8"
                ));
            }
        }
    }
    if let Some(a) = req.attention_layers {
        if a == 0 || a > req.layers {
            return bad(format!(
                "attention_layers ({a}) must be between 1 and layers ({}): the probe times the attention of at least one layer",
                req.layers
            ));
        }
    }
    if (req.state_layers() > 0) != (req.state_bytes > 0) {
        return bad(format!(
            "{} layers hold no cache but state_bytes is {}: give the state of the non-attending layers (or no attention_layers)",
            req.state_layers(),
            req.state_bytes
        ));
    }
    weight_layout(req.weights_bytes, req.layers, &req.gemms, req.weight_dtype)?;
    let per_layer = kv_layer_bytes(&req.attention, req.batch, req.context_tokens);
    let attending = req.attending_layers();
    let need = per_layer * attending + req.state_bytes;
    if need > req.kv_cache_bytes {
        return bad(format!(
            "kv_cache_bytes ({}) cannot hold {} attention layers × {} sequences × {} tokens of bf16 cache + {} B of state = {} bytes",
            req.kv_cache_bytes, attending, req.batch, req.context_tokens, req.state_bytes, need
        ));
    }
    Ok(())
}

/// Tokens each split-K block of the GQA decode kernel handles: enough blocks
/// to fill the GPU several waves over (`target_blocks`), never fewer than
/// `min_chunk` tokens per block, a multiple of 64.
pub fn gqa_chunk(
    batch: u64,
    kv_blocks: u64,
    context: u64,
    target_blocks: u64,
    min_chunk: u64,
) -> u64 {
    let base = (batch * kv_blocks).max(1);
    let splits = target_blocks.div_ceil(base).max(1);
    let chunk = round_up(context.div_ceil(splits), 64).max(min_chunk);
    chunk.min(round_up(context, 64))
}

/// Largest divisor of `group` that is ≤ `max`: the q heads one attention
/// block handles for one KV head.
pub fn heads_per_block(group: u64, max: u64) -> u64 {
    (1..=max.min(group))
        .rev()
        .find(|d| group % d == 0)
        .unwrap_or(1)
}

/// Sequences per MLA launch group, chosen so that one group's latent cache
/// plus its score and probability buffers stay inside `l2_budget` bytes (the
/// second GEMM then re-reads the latent from L2, not HBM).
pub fn mla_group(batch: u64, context: u64, heads: u64, latent: u64, l2_budget: u64) -> u64 {
    let per_seq = context * latent * 2 + heads * context * 6;
    (l2_budget / per_seq.max(1)).clamp(1, batch.max(1))
}

/// Median of samples (mean of the middle two for even counts).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Timing statistics from per-sample seconds, each sample holding `reps`
/// operations.
pub fn timing(sample_s: &[f64], reps: usize) -> Timing {
    let per: Vec<f64> = sample_s.iter().map(|s| s / reps as f64).collect();
    Timing {
        median_s: median(&per),
        min_s: per.iter().cloned().fold(f64::INFINITY, f64::min),
        max_s: per.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        samples: per.len(),
        reps_per_sample: reps,
    }
}

/// Roofline floor: the larger of the byte time and the arithmetic time.
pub fn roofline_s(bytes: u64, flops: u64, bandwidth: f64, flops_rate: f64) -> f64 {
    (bytes as f64 / bandwidth).max(flops as f64 / flops_rate)
}

/// Bus bandwidth of an all-reduce (NCCL-tests convention): algbw · 2(n−1)/n.
pub fn allreduce_busbw(bytes: u64, seconds: f64, n: usize) -> f64 {
    let algbw = bytes as f64 / seconds;
    if n <= 1 {
        return algbw;
    }
    algbw * 2.0 * (n as f64 - 1.0) / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama8b_request() -> ProbeRequest {
        // Llama-3.1-8B (config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads,
        // head_dim 128, intermediate 14336).
        ProbeRequest {
            device_index: 0,
            weights_bytes: 16_060_522_496,
            kv_cache_bytes: 64 << 30,
            safety_margin_bytes: 1 << 30,
            batch: 64,
            context_tokens: 8192,
            layers: 32,
            attention_layers: None,
            state_bytes: 0,
            gemms: vec![
                GemmShape {
                    name: "qkv".into(),
                    n: 6144,
                    k: 4096,
                    count: 1,
                    rows: None,
                },
                GemmShape {
                    name: "o".into(),
                    n: 4096,
                    k: 4096,
                    count: 1,
                    rows: None,
                },
                GemmShape {
                    name: "gate_up".into(),
                    n: 28672,
                    k: 4096,
                    count: 1,
                    rows: None,
                },
                GemmShape {
                    name: "down".into(),
                    n: 4096,
                    k: 14336,
                    count: 1,
                    rows: None,
                },
            ],
            weight_dtype: ProbeDtype::Bf16,
            attention: ProbeAttention::Gqa {
                q_heads: 32,
                kv_heads: 8,
                head_dim: 128,
            },
            kv_dtype: ProbeDtype::Bf16,
            predicted: None,
            peaks: None,
        }
    }

    #[test]
    fn kv_bytes_match_published_per_token_sizes() {
        // Llama-3.1-8B: 2 × 8 × 128 × 2 B = 4096 B per token per layer;
        // × 32 layers = 131,072 B (128 KiB) per token.
        let gqa = ProbeAttention::Gqa {
            q_heads: 32,
            kv_heads: 8,
            head_dim: 128,
        };
        assert_eq!(kv_layer_bytes(&gqa, 1, 1) * 32, 131_072);
        // DeepSeek-V3 MLA: (512 + 64) × 2 B = 1,152 B per layer, × 61 = 70,272 B.
        let mla = ProbeAttention::Mla {
            heads: 128,
            kv_lora_rank: 512,
            rope_dim: 64,
        };
        assert_eq!(kv_layer_bytes(&mla, 1, 1), 1152);
        assert_eq!(kv_layer_bytes(&mla, 1, 1) * 61, 70_272);
    }

    #[test]
    fn attention_flops_and_bytes_by_hand() {
        let gqa = ProbeAttention::Gqa {
            q_heads: 32,
            kv_heads: 8,
            head_dim: 128,
        };
        // 64 seqs × 8192 tokens × 4096 B = 2 GiB of cache per layer.
        assert_eq!(kv_layer_bytes(&gqa, 64, 8192), 2 << 30);
        // q and out: 64 × 32 heads × 256 values × 2 B.
        assert_eq!(
            attention_bytes(&gqa, 64, 8192),
            (2 << 30) + 64 * 32 * 256 * 2
        );
        // 4 · B · H · T · d.
        assert_eq!(attention_flops(&gqa, 64, 8192), 4 * 64 * 32 * 8192 * 128);
        let mla = ProbeAttention::Mla {
            heads: 128,
            kv_lora_rank: 512,
            rope_dim: 64,
        };
        assert_eq!(attention_flops(&mla, 1, 1), 2 * 128 * (576 + 512));
    }

    #[test]
    fn gemm_accounting() {
        let r = llama8b_request();
        // Llama-3.1-8B layer linear weights: 4096·6144 + 4096·4096 + 4096·28672 + 14336·4096
        // = 218,103,808 params; ×2 B.
        assert_eq!(
            gemm_layer_weight_bytes(&r.gemms, ProbeDtype::Bf16),
            218_103_808 * 2
        );
        assert_eq!(gemm_layer_flops(&r.gemms, 1), 2 * 218_103_808);
        assert_eq!(
            gemm_layer_weight_bytes(&r.gemms, ProbeDtype::Fp8),
            218_103_808
        );
    }

    #[test]
    fn layout_packs_distinct_matrices_when_they_fit() {
        let r = llama8b_request();
        let l = weight_layout(r.weights_bytes, r.layers, &r.gemms, r.weight_dtype).unwrap();
        assert!(!l.wrapped);
        let mut all: Vec<(u64, u64)> = Vec::new();
        for layer in &l.offsets {
            for (gi, inst) in layer.iter().enumerate() {
                for &o in inst {
                    assert_eq!(o % ALIGN, 0);
                    let size = matrix_bytes(&r.gemms[gi], r.weight_dtype);
                    assert!(o + size <= r.weights_bytes);
                    all.push((o, o + size));
                }
            }
        }
        all.sort();
        for w in all.windows(2) {
            assert!(w[0].1 <= w[1].0, "overlap {w:?}");
        }
        assert_eq!(all.len(), 32 * 4);
    }

    #[test]
    fn layout_wraps_when_buffer_is_small_and_rejects_oversized_matrix() {
        let g = vec![GemmShape {
            name: "w".into(),
            n: 1024,
            k: 1024,
            count: 3,
            rows: None,
        }];
        // The group of 3 (6 MiB) does not fit in 5 MiB: placed one by one.
        let l = weight_layout(5 << 20, 2, &g, ProbeDtype::Bf16).unwrap();
        assert!(l.wrapped);
        assert_eq!(l.contiguous, vec![false]);
        for inst in l.offsets.iter().flatten().flatten() {
            assert!(inst + (2 << 20) <= 5 << 20);
        }
        assert!(weight_layout(1 << 20, 1, &g, ProbeDtype::Bf16).is_err());
    }

    #[test]
    fn expert_groups_stay_contiguous_when_wrapping() {
        // 2 layers × (one 1 MiB matrix + 3 experts of 2 MiB) in 9 MiB: the
        // second layer's expert group wraps as a whole, back to back.
        let g = vec![
            GemmShape {
                name: "dense".into(),
                n: 512,
                k: 1024,
                count: 1,
                rows: None,
            },
            GemmShape {
                name: "expert.w".into(),
                n: 1024,
                k: 1024,
                count: 3,
                rows: Some(2),
            },
        ];
        let l = weight_layout(9 << 20, 2, &g, ProbeDtype::Bf16).unwrap();
        assert!(l.wrapped);
        assert_eq!(l.contiguous, vec![true, true]);
        assert_eq!(l.offsets[1][1], vec![0, 2 << 20, 4 << 20]);
        // rows, not the batch, count for the experts' activations and FLOPs.
        assert_eq!(
            gemm_layer_flops(&g, 16),
            2 * 16 * 512 * 1024 + 3 * 2 * 2 * 1024 * 1024
        );
        assert_eq!(
            gemm_layer_bytes(&g, ProbeDtype::Bf16, 16),
            (512 * 1024 + 3 * 1024 * 1024) * 2
                + 16 * (1024 * 2 + 512 * 2)
                + 3 * 2 * (1024 * 2 + 1024 * 2)
        );
    }

    #[test]
    fn validate_rejects_small_cache_and_bad_heads() {
        let mut r = llama8b_request();
        assert!(validate(&r).is_ok());
        r.kv_cache_bytes = (64 << 30) - 1;
        let e = validate(&r).unwrap_err().to_string();
        assert!(e.contains("cannot hold"), "{e}");
        let mut r = llama8b_request();
        r.attention = ProbeAttention::Gqa {
            q_heads: 30,
            kv_heads: 8,
            head_dim: 128,
        };
        assert!(validate(&r).is_err());
        let mut r = llama8b_request();
        r.batch = 0;
        assert!(validate(&r).is_err());
    }

    #[test]
    fn chunk_fills_the_gpu_and_respects_bounds() {
        // 64 × 8 heads, 8k tokens, aim for 132·32 blocks.
        let c = gqa_chunk(64, 8, 8192, 132 * 32, 256);
        assert_eq!(c % 64, 0);
        let blocks = 64 * 8 * 8192u64.div_ceil(c);
        assert!(blocks >= 132 * 8, "{blocks}");
        // Tiny context: one chunk covering it.
        assert_eq!(gqa_chunk(1, 8, 100, 4224, 256), 128);
        // Batch 1: many splits, but chunk ≥ 256.
        assert!(gqa_chunk(1, 8, 32768, 4224, 256) >= 256);
    }

    #[test]
    fn heads_per_block_divides() {
        assert_eq!(heads_per_block(4, 8), 4);
        assert_eq!(heads_per_block(16, 8), 8);
        assert_eq!(heads_per_block(12, 8), 6);
        assert_eq!(heads_per_block(7, 8), 7);
        assert_eq!(heads_per_block(1, 8), 1);
    }

    #[test]
    fn mla_group_keeps_l2_budget() {
        // 4k tokens × 1152 B = 4.7 MB per sequence + 128·4096·6 = 3.1 MB.
        let g = mla_group(64, 4096, 128, 576, 40 << 20);
        assert_eq!(g, (40u64 << 20) / (4096 * 1152 + 128 * 4096 * 6));
        assert_eq!(mla_group(64, 32768, 128, 576, 40 << 20), 1);
        assert_eq!(mla_group(2, 16, 16, 576, 40 << 20), 2);
    }

    #[test]
    fn stats() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let t = timing(&[2.0, 4.0, 6.0], 2);
        assert_eq!(t.median_s, 2.0);
        assert_eq!(t.min_s, 1.0);
        assert_eq!(t.max_s, 3.0);
        assert_eq!(roofline_s(100, 10, 10.0, 1.0), 10.0);
        assert_eq!(roofline_s(100, 100, 10.0, 1.0), 100.0);
        // 8 GPUs, 1 GB in 1 s: busbw = 1e9 · 14/8.
        assert!((allreduce_busbw(1_000_000_000, 1.0, 8) - 1.75e9).abs() < 1.0);
    }

    #[test]
    fn hybrid_requests_are_checked() {
        let mut r = llama8b_request();
        r.attention_layers = Some(0);
        let e = validate(&r).unwrap_err().to_string();
        assert!(e.contains("attention_layers (0)"), "{e}");
        r.attention_layers = Some(8);
        let e = validate(&r).unwrap_err().to_string();
        assert!(
            e.contains("24 layers hold no cache but state_bytes is 0"),
            "{e}"
        );
        // 8 attention layers' cache + 24 layers of state fit where 32 layers' cache did.
        r.state_bytes = 1 << 30;
        assert!(validate(&r).is_ok());
        assert_eq!((r.attending_layers(), r.state_layers()), (8, 24));
        assert_eq!(r.state_bytes_per_layer(), (1 << 30) / 24);
        r.state_bytes = r.kv_cache_bytes;
        let e = validate(&r).unwrap_err().to_string();
        assert!(e.contains("cannot hold 8 attention layers"), "{e}");
    }
}
