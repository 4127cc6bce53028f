//! Number formats: how weights are stored (with real quantization layouts)
//! and how the KV cache is stored. Byte counts here are exact per tensor,
//! including scales, zero points and index tensors, so weight totals are right
//! to the byte for a given checkpoint layout.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Storage format of the model's weights (`--weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum WeightFormat {
    /// 32-bit float (a few base checkpoints, e.g. gemma-2-2b, ship this).
    Fp32,
    /// bfloat16, 2 bytes per parameter.
    Bf16,
    /// float16, 2 bytes per parameter.
    Fp16,
    /// FP8 e4m3 with one fp32 scale per tensor (vLLM `fp8`, ModelOpt FP8).
    Fp8,
    /// FP8 e4m3 with one fp32 scale per 128×128 block (DeepSeek-V3, Qwen3-FP8).
    Fp8Block,
    /// INT8 weights with one bf16 scale per output channel (W8A8/W8A16).
    Int8,
    /// 4-bit AWQ, group 128 along the input: fp16 scale + 4-bit zero per group.
    Int4,
    /// 4-bit GPTQ, group 128: fp16 scale + 4-bit zero per group + int32 g_idx per input row.
    Int4Gptq,
    /// bitsandbytes NF4: 4-bit codes + one fp32 absmax per 64 values (no double quantization).
    Nf4,
    /// OCP MXFP4: 4-bit e2m1 + one e8m0 (1 byte) scale per 32 values (gpt-oss).
    Mxfp4,
    /// OCP MXFP8 (Microscaling Formats spec v1.0, MXFP8 E4M3): fp8 e4m3
    /// values + one e8m0 (1 byte) scale per 32 values along the input; ModelOpt
    /// `MXFP8` layers (NVIDIA's MiniMax-M3-NVFP4 attention and shared experts).
    Mxfp8,
    /// NVIDIA NVFP4: 4-bit e2m1 + one fp8 scale per 16 values + an fp32 global scale per tensor.
    Nvfp4,
    /// compressed-tensors `pack-quantized` symmetric int4, group 32 (Kimi-K2.5,
    /// Kimi-K2-Thinking): int32-packed nibbles + one bf16 scale per 32 inputs
    /// + an int64 `weight_shape` pair per tensor; no zero points.
    Int4G32,
}

impl WeightFormat {
    /// Every format, for listings and the plan search.
    pub const ALL: [WeightFormat; 13] = [
        WeightFormat::Fp32,
        WeightFormat::Bf16,
        WeightFormat::Fp16,
        WeightFormat::Fp8,
        WeightFormat::Fp8Block,
        WeightFormat::Int8,
        WeightFormat::Int4,
        WeightFormat::Int4Gptq,
        WeightFormat::Nf4,
        WeightFormat::Mxfp4,
        WeightFormat::Mxfp8,
        WeightFormat::Nvfp4,
        WeightFormat::Int4G32,
    ];

    /// The name users type (`--weights fp8-block`).
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::Fp32 => "fp32",
            WeightFormat::Bf16 => "bf16",
            WeightFormat::Fp16 => "fp16",
            WeightFormat::Fp8 => "fp8",
            WeightFormat::Fp8Block => "fp8-block",
            WeightFormat::Int8 => "int8",
            WeightFormat::Int4 => "int4",
            WeightFormat::Int4Gptq => "int4-gptq",
            WeightFormat::Nf4 => "nf4",
            WeightFormat::Mxfp4 => "mxfp4",
            WeightFormat::Mxfp8 => "mxfp8",
            WeightFormat::Nvfp4 => "nvfp4",
            WeightFormat::Int4G32 => "int4-g32",
        }
    }

    /// Parse the user's spelling; errors list the valid names.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match t.as_str() {
            "bfloat16" => "bf16",
            "float16" | "half" => "fp16",
            "float32" => "fp32",
            "fp8-128" | "fp8-block128" | "fp8block" => "fp8-block",
            "awq" | "int4-awq" | "w4a16" => "int4",
            "gptq" | "gptq-int4" => "int4-gptq",
            "w8a8" | "w8a16" | "int8-channel" => "int8",
            "bnb-nf4" => "nf4",
            "int4-group32" | "w4a16-g32" | "pack-quantized" => "int4-g32",
            other => other,
        };
        WeightFormat::ALL
            .into_iter()
            .find(|f| f.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = WeightFormat::ALL.iter().map(|f| f.name()).collect();
                Error::input(
                    field,
                    format!(
                        "unknown weight format '{text}'; valid: {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// True when the format stores linear weights in fewer than 16 bits.
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            WeightFormat::Fp32 | WeightFormat::Bf16 | WeightFormat::Fp16
        )
    }

    /// Exact bytes of one linear weight matrix of `out × inp` in this format,
    /// scales, zero points and index tensors included.
    pub fn linear_bytes(self, out: u64, inp: u64) -> u64 {
        let n = out * inp;
        let groups = |g: u64| inp.div_ceil(g) * out;
        match self {
            WeightFormat::Fp32 => n * 4,
            WeightFormat::Bf16 | WeightFormat::Fp16 => n * 2,
            // fp8 e4m3 + one fp32 weight scale per tensor (dynamic activation scales).
            WeightFormat::Fp8 => n + 4,
            // fp8 e4m3 + fp32 `weight_scale_inv` of shape [ceil(out/128), ceil(in/128)].
            WeightFormat::Fp8Block => n + out.div_ceil(128) * inp.div_ceil(128) * 4,
            // int8 + one bf16 scale per output channel.
            WeightFormat::Int8 => n + out * 2,
            // AWQ gemm layout: qweight int32 [in, out/8], qzeros int32 [in/128, out/8],
            // scales fp16 [in/128, out]  => 0.5 B/param + 2.5 B per group.
            WeightFormat::Int4 => n.div_ceil(2) + groups(128) * 2 + groups(128).div_ceil(2),
            // GPTQ: same packing plus g_idx int32 [in].
            WeightFormat::Int4Gptq => {
                n.div_ceil(2) + groups(128) * 2 + groups(128).div_ceil(2) + inp * 4
            }
            // bitsandbytes NF4, blocksize 64, fp32 absmax, no double quantization.
            WeightFormat::Nf4 => n.div_ceil(2) + n.div_ceil(64) * 4,
            // OCP MX: e2m1 pairs packed in bytes + one e8m0 byte per 32 along the input.
            WeightFormat::Mxfp4 => n.div_ceil(2) + groups(32),
            // OCP MXFP8: one e4m3 byte per value + one e8m0 byte per 32 along
            // the input (vLLM `modelopt.py` `ModelOptMxFp8LinearMethod`:
            // `weight` fp8 [out, in], `weight_scale` uint8 [out, in / 32]).
            WeightFormat::Mxfp8 => n + groups(32),
            // NVFP4: e2m1 + one e4m3 scale per 16 along the input + fp32 global scale.
            WeightFormat::Nvfp4 => n.div_ceil(2) + groups(16) + 4,
            // compressed-tensors pack-quantized: weight_packed int32 [out, in/8],
            // weight_scale bf16 [out, in/32], weight_shape int64 [2].
            WeightFormat::Int4G32 => out * inp.div_ceil(8) * 4 + groups(32) * 2 + 16,
        }
    }

    /// Bytes of a parameter that stays unquantized (embeddings, norms,
    /// routers, biases) when the checkpoint uses this format.
    pub fn unquantized_bytes_per_param(self, native: DType) -> u64 {
        match self {
            WeightFormat::Fp32 => 4,
            WeightFormat::Fp16 => 2,
            WeightFormat::Bf16 => 2,
            // Quantized checkpoints keep the rest in the model's 16-bit dtype
            // (AWQ/GPTQ checkpoints are fp16, others bf16); fp32 natives are cast.
            _ => native.bytes().min(2),
        }
    }

    /// Smallest GPU architecture with tensor-core math for this format (the
    /// format can still be *stored* on older GPUs and upcast, at a cost).
    pub fn native_math_arch(self) -> Arch {
        match self {
            WeightFormat::Fp8 | WeightFormat::Fp8Block => Arch::Ada,
            WeightFormat::Mxfp4 | WeightFormat::Mxfp8 | WeightFormat::Nvfp4 => Arch::Blackwell,
            _ => Arch::Volta,
        }
    }

    /// Bits per weight element of the main payload (for the speed model's
    /// choice of matrix rate).
    pub fn payload_bits(self) -> u32 {
        match self {
            WeightFormat::Fp32 => 32,
            WeightFormat::Bf16 | WeightFormat::Fp16 => 16,
            WeightFormat::Fp8
            | WeightFormat::Fp8Block
            | WeightFormat::Mxfp8
            | WeightFormat::Int8 => 8,
            _ => 4,
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A part of a decoder layer, as quantization metadata names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModulePart {
    /// The token mixer: attention, its indexer, linear attention or Mamba2.
    Attention,
    /// The dense MLP of non-MoE layers.
    DenseMlp,
    /// The always-on shared expert(s).
    SharedExperts,
    /// The routed experts.
    RoutedExperts,
    /// Every linear layer of the layer.
    Layer,
    /// The output head.
    LmHead,
    /// The token embedding.
    Embedding,
}

impl ModulePart {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ModulePart::Attention => "attention",
            ModulePart::DenseMlp => "dense MLP",
            ModulePart::SharedExperts => "shared experts",
            ModulePart::RoutedExperts => "routed experts",
            ModulePart::Layer => "whole layer",
            ModulePart::LmHead => "lm_head",
            ModulePart::Embedding => "embedding",
        }
    }
}

/// Parts a quantized checkpoint keeps in 16 bits, as its quantization
/// metadata lists them (compressed-tensors `ignore`, ModelOpt
/// `exclude_modules`, fp8 `modules_to_not_convert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keep16 {
    /// Which part.
    pub part: ModulePart,
    /// Decoder layers it applies to; empty: every layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<u64>,
}

/// What kvplan read from a checkpoint's quantization metadata beyond the
/// format itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLayout {
    /// Where and what was read, e.g. "compressed-tensors pack-quantized int4
    /// group 32 (config.json quantization_config)".
    pub read_from: String,
    /// Linear layers stored 16-bit (embedding, norms, routers and biases
    /// always are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_16bit: Vec<Keep16>,
    /// KV-cache quantization the checkpoint was calibrated for (ModelOpt
    /// `kv_cache_quant_algo`, compressed-tensors `kv_cache_scheme`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<KvDtype>,
    /// Exclusion patterns kvplan could not place on a part (reported, not applied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unplaced_patterns: Vec<String>,
    /// Per-tensor formats of a mixed-precision checkpoint (ModelOpt
    /// `MIXED_PRECISION` `quantized_layers`). When set, a linear layer that no
    /// entry lists is stored 16-bit, and each listed one in its own format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixed: Vec<TensorFormat>,
    /// The fp8 block entries of `mixed` store their 128×128 block scales as one
    /// ue8m0 byte each (`float8_e8m0fnu`), not fp32: DeepSeek-V4 checkpoints with
    /// `expert_dtype: fp4` (config `scale_fmt: ue8m0`; vLLM `deepseek_v4.py`
    /// `DeepseekV4FP8Config.is_scale_e8m0`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ue8m0_block_scales: bool,
}

/// Linear layers of one kind stored in one format (a mixed-precision
/// checkpoint's entry, grouped over the layers it lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorFormat {
    /// Which part of the layer.
    pub part: ModulePart,
    /// kvplan's tensor name within the part (`q_proj`, `in_proj_qkvz`,
    /// `gate_proj`); empty: every linear layer of the part.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tensor: String,
    /// Decoder layers listed; empty: outside the decoder layers (lm_head).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<u64>,
    /// The stored format.
    pub format: WeightFormat,
}

impl CheckpointLayout {
    /// Whether `part` of decoder layer `layer` is stored 16-bit.
    pub fn keeps_16bit(&self, part: ModulePart, layer: Option<u64>) -> bool {
        self.keep_16bit.iter().any(|k| {
            let part_hit = k.part == part || (k.part == ModulePart::Layer && layer.is_some());
            let layer_hit = k.layers.is_empty() || layer.is_some_and(|l| k.layers.contains(&l));
            part_hit && layer_hit
        })
    }

    /// The stored format of tensor `tensor` (kvplan's name; its last
    /// `.`-component is matched) of `part` in decoder layer `layer` (None
    /// outside the layers), for a mixed-precision checkpoint: `None` when the
    /// checkpoint is not mixed, `Some(None)` when no entry lists it (stored
    /// 16-bit), `Some(Some(f))` when stored in `f`.
    pub fn mixed_format(
        &self,
        part: ModulePart,
        tensor: &str,
        layer: Option<u64>,
    ) -> Option<Option<WeightFormat>> {
        if self.mixed.is_empty() {
            return None;
        }
        let short = tensor.rsplit('.').next().unwrap_or(tensor);
        let hit = self.mixed.iter().find(|e| {
            e.part == part
                && (e.tensor.is_empty() || e.tensor == short)
                && match layer {
                    Some(l) => e.layers.contains(&l),
                    None => e.layers.is_empty(),
                }
        });
        Some(hit.map(|e| e.format))
    }

    /// One line for reports: what stays 16-bit.
    pub fn summary(&self) -> String {
        if !self.mixed.is_empty() {
            let mut by_format: Vec<(WeightFormat, Vec<String>)> = Vec::new();
            for e in &self.mixed {
                let what = if e.tensor.is_empty() {
                    e.part.name().to_string()
                } else {
                    format!("{} {}", e.part.name(), e.tensor)
                };
                match by_format.iter_mut().find(|(f, _)| *f == e.format) {
                    Some((_, v)) => {
                        if !v.contains(&what) {
                            v.push(what)
                        }
                    }
                    None => by_format.push((e.format, vec![what])),
                }
            }
            let parts: Vec<String> = by_format
                .iter()
                .map(|(f, v)| format!("{}: {}", f.name(), v.join(", ")))
                .collect();
            return format!(
                "{}; {}; every other linear layer 16-bit",
                self.read_from,
                parts.join("; ")
            );
        }
        if self.keep_16bit.is_empty() {
            return format!("{}; every linear layer quantized", self.read_from);
        }
        let parts: Vec<String> = self
            .keep_16bit
            .iter()
            .map(|k| {
                if k.layers.is_empty() {
                    k.part.name().to_string()
                } else {
                    format!("{} of layers {}", k.part.name(), ranges(&k.layers))
                }
            })
            .collect();
        format!("{}; 16-bit: {}", self.read_from, parts.join(", "))
    }
}

/// "0-2, 5, 7-9" from a sorted list.
fn ranges(v: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// Plain element types (model native dtype, activation dtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    Fp32,
    /// bfloat16.
    Bf16,
    /// float16.
    Fp16,
}

impl DType {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            DType::Fp32 => 4,
            DType::Bf16 | DType::Fp16 => 2,
        }
    }

    /// The matching unquantized weight format.
    pub fn as_weight_format(self) -> WeightFormat {
        match self {
            DType::Fp32 => WeightFormat::Fp32,
            DType::Bf16 => WeightFormat::Bf16,
            DType::Fp16 => WeightFormat::Fp16,
        }
    }

    /// HF `torch_dtype` spelling → DType.
    pub fn from_torch(name: &str) -> Option<Self> {
        match name {
            "bfloat16" => Some(DType::Bf16),
            "float16" | "half" => Some(DType::Fp16),
            "float32" | "float" => Some(DType::Fp32),
            _ => None,
        }
    }
}

/// Element type of the KV cache (`--kv-dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    /// 32-bit float (only HF transformers with an fp32 model).
    Fp32,
    /// bfloat16.
    Bf16,
    /// float16.
    Fp16,
    /// FP8 e4m3 (engines add their own scales; see the engine profile).
    Fp8,
}

impl KvDtype {
    /// Every KV dtype, for the plan search.
    pub const ALL: [KvDtype; 4] = [KvDtype::Fp32, KvDtype::Bf16, KvDtype::Fp16, KvDtype::Fp8];

    /// Bytes per cached element.
    pub fn bytes(self) -> u64 {
        match self {
            KvDtype::Fp32 => 4,
            KvDtype::Bf16 | KvDtype::Fp16 => 2,
            KvDtype::Fp8 => 1,
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            KvDtype::Fp32 => "fp32",
            KvDtype::Bf16 => "bf16",
            KvDtype::Fp16 => "fp16",
            KvDtype::Fp8 => "fp8",
        }
    }

    /// Parse `--kv-dtype`.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        let t = match t.as_str() {
            "bfloat16" => "bf16",
            "float16" | "half" => "fp16",
            // vLLM's `--kv-cache-dtype` names: both fp8 layouts store one
            // byte per element (e5m2 trades mantissa for range), so the
            // memory is the same.
            "fp8-e4m3" | "fp8_e4m3" | "e4m3" | "fp8e4m3" | "fp8-e5m2" | "fp8_e5m2" | "e5m2"
            | "fp8e5m2" => "fp8",
            "float32" => "fp32",
            o => o,
        };
        KvDtype::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or_else(|| {
                Error::input(
                    field,
                    format!("unknown KV dtype '{text}'; valid: bf16, fp16, fp8 (also vLLM's fp8_e4m3, fp8_e5m2), fp32 (HF only)"),
                )
            })
    }

    /// KV dtype an engine uses by default for a model of native dtype `d`.
    pub fn from_native(d: DType) -> Self {
        match d {
            DType::Fp32 => KvDtype::Fp32,
            DType::Bf16 => KvDtype::Bf16,
            DType::Fp16 => KvDtype::Fp16,
        }
    }
}

impl fmt::Display for KvDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// GPU architecture generations, ordered, for feature checks (fp8 needs Ada or
/// Hopper, fp4 math needs Blackwell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// V100 and older tensor-core GPUs.
    Volta,
    /// A100, A10, A40, RTX 30.
    Ampere,
    /// L4, L40, L40S, RTX 40, RTX 6000 Ada.
    Ada,
    /// H100, H200, H800, H20.
    Hopper,
    /// B100, B200, GB200, RTX 50, RTX PRO 6000.
    Blackwell,
    /// AMD MI300X / MI325X (fp8 as e4m3fnuz; no fp4).
    Cdna3,
    /// AMD MI350X / MI355X (OCP fp8 e4m3fn; MXFP4/MXFP6 matrix math, no NVFP4).
    Cdna4,
}

impl Arch {
    /// Whether the GPU has FP8 tensor-core math.
    pub fn has_fp8(self) -> bool {
        matches!(
            self,
            Arch::Ada | Arch::Hopper | Arch::Blackwell | Arch::Cdna3 | Arch::Cdna4
        )
    }

    /// Whether the GPU has FP4 tensor-core math.
    pub fn has_fp4(self) -> bool {
        matches!(self, Arch::Blackwell | Arch::Cdna4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!(
            WeightFormat::parse("fp8-block", "w").unwrap(),
            WeightFormat::Fp8Block
        );
        assert_eq!(WeightFormat::parse("AWQ", "w").unwrap(), WeightFormat::Int4);
        let e = WeightFormat::parse("int3", "weights")
            .unwrap_err()
            .to_string();
        assert!(e.contains("weights") && e.contains("int4-gptq"), "{e}");
        assert_eq!(KvDtype::parse("fp8", "k").unwrap(), KvDtype::Fp8);
        assert!(KvDtype::parse("int2", "kv-dtype").is_err());
    }

    /// Quantization never increases the bytes of a realistic weight matrix.
    #[test]
    fn quantization_never_grows() {
        for (o, i) in [
            (4096u64, 4096u64),
            (14336, 4096),
            (4096, 14336),
            (576, 7168),
            (128, 7168),
        ] {
            let bf16 = WeightFormat::Bf16.linear_bytes(o, i);
            for f in WeightFormat::ALL {
                if f != WeightFormat::Fp32 {
                    assert!(f.linear_bytes(o, i) <= bf16, "{f} grows {o}x{i}");
                }
            }
        }
    }
}
