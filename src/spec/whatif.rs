//! Attention what-ifs (`--attention mha|gqa:N|mqa|mla:RANK`): the same model
//! with a different attention shape, so users can see what GQA, MQA or
//! DeepSeek's multi-head latent attention would do to its KV cache, weights
//! and speed. Pure: a `ModelSpec` in, a transformed `ModelSpec` out.
//!
//! Conventions (DeepSeek-V2 paper, arXiv 2405.04434, Table 1): full
//! attention caches `2 × n_kv_heads × d_h` elements per token per layer; MLA
//! caches `d_c + d_h^R` (kv_lora_rank + a 64-wide rotary key). Turning an MLA
//! model into MHA/GQA/MQA uses its per-head value width (128 for DeepSeek)
//! as `d_h`, as the paper's comparison does; turning a full-attention model
//! into MLA keeps its head width for the non-rotary part and adds the 64-wide
//! rotary key, as DeepSeek does (q_proj stays a plain projection, as in
//! DeepSeek-V2-Lite).

use super::model::{AttentionSpec, MlaSpec, ModelSpec};
use crate::error::{Error, Result};

/// Width of the decoupled rotary key that MLA adds (DeepSeek-V2/V3: 64).
pub const MLA_ROPE_DIM: u64 = 64;

/// One attention shape to try in place of the model's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionVariant {
    /// Multi-head attention: one K/V head per query head.
    Mha,
    /// Grouped-query attention with this many K/V heads.
    Gqa(u64),
    /// Multi-query attention: one K/V head shared by all query heads.
    Mqa,
    /// Multi-head latent attention with this KV latent rank (kv_lora_rank).
    Mla(u64),
}

impl AttentionVariant {
    /// Parse `mha`, `gqa:N`, `mqa`, `mla:RANK` (`mla` alone = rank 512, DeepSeek's).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        let (kind, arg) = match t.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (t.as_str(), None),
        };
        let number = |what: &str| -> Result<u64> {
            let a = arg.filter(|a| !a.is_empty()).ok_or_else(|| {
                Error::input(
                    "attention",
                    format!("'{text}' needs {what}, e.g. --attention {kind}:8"),
                )
            })?;
            a.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::input(
                    "attention",
                    format!("'{text}': {what} must be a positive whole number, got '{a}'"),
                )
            })
        };
        let no_arg = |v: AttentionVariant| -> Result<AttentionVariant> {
            match arg {
                None => Ok(v),
                Some(a) => Err(Error::input(
                    "attention",
                    format!(
                        "'{text}': {kind} takes no number (got ':{a}'); use gqa:N for N KV heads"
                    ),
                )),
            }
        };
        match kind {
            "mha" => no_arg(AttentionVariant::Mha),
            "mqa" => no_arg(AttentionVariant::Mqa),
            "gqa" => Ok(AttentionVariant::Gqa(number("the number of KV heads")?)),
            "mla" if arg.is_none() => Ok(AttentionVariant::Mla(512)),
            "mla" => Ok(AttentionVariant::Mla(number("the latent rank (kv_lora_rank)")?)),
            _ => Err(Error::input(
                "attention",
                format!("unknown attention what-if '{text}'; valid: mha, gqa:N (N KV heads), mqa, mla:RANK (e.g. mla:512)"),
            )),
        }
    }

    /// How the variant is written on the command line (`gqa:8`).
    pub fn flag(&self) -> String {
        match self {
            AttentionVariant::Mha => "mha".into(),
            AttentionVariant::Gqa(n) => format!("gqa:{n}"),
            AttentionVariant::Mqa => "mqa".into(),
            AttentionVariant::Mla(r) => format!("mla:{r}"),
        }
    }

    /// The model with this attention shape. Errors name the field `attention`
    /// and say which values would work.
    pub fn apply(&self, model: &ModelSpec) -> Result<ModelSpec> {
        let a = &model.attention;
        let heads = a.num_heads;
        // Per-head widths of the full-attention form.
        let (k_dim, v_dim) = match &a.mla {
            Some(m) => (m.v_head_dim, m.v_head_dim),
            None => (a.head_dim, a.v_dim()),
        };
        let full = |kv_heads: u64| AttentionSpec {
            num_heads: heads,
            num_kv_heads: kv_heads,
            head_dim: k_dim,
            v_head_dim: (v_dim != k_dim).then_some(v_dim),
            // Biases and norms of a converted MLA model are unknown; leave them out.
            qkv_bias: a.mla.is_none() && a.qkv_bias,
            o_bias: a.mla.is_none() && a.o_bias,
            qk_norm: a.mla.is_none() && a.qk_norm,
            qk_norm_full_width: a.mla.is_none() && a.qk_norm_full_width,
            output_gate: a.mla.is_none() && a.output_gate,
            sinks: a.sinks,
            full_k_eq_v: false,
            mla: None,
        };
        let attention = match *self {
            AttentionVariant::Mha => full(heads),
            AttentionVariant::Mqa => full(1),
            AttentionVariant::Gqa(n) => {
                if n > heads || heads % n != 0 {
                    let divisors: Vec<String> = (1..=heads)
                        .filter(|d| heads % d == 0)
                        .map(|d| d.to_string())
                        .collect();
                    return Err(Error::input(
                        "attention",
                        format!(
                            "gqa:{n}: the number of KV heads must divide the {heads} query heads of {}; valid: gqa:{}",
                            model.display_name,
                            divisors.join(", gqa:")
                        ),
                    ));
                }
                full(n)
            }
            AttentionVariant::Mla(rank) => {
                if rank > 65_536 {
                    return Err(Error::input(
                        "attention",
                        format!("mla:{rank}: a latent rank above 65,536 is not plausible (DeepSeek uses 512)"),
                    ));
                }
                let mla = match &a.mla {
                    Some(m) => MlaSpec {
                        kv_lora_rank: rank,
                        ..m.clone()
                    },
                    None => MlaSpec {
                        q_lora_rank: None,
                        kv_lora_rank: rank,
                        qk_nope_head_dim: a.head_dim,
                        qk_rope_head_dim: MLA_ROPE_DIM,
                        v_head_dim: a.v_dim(),
                    },
                };
                AttentionSpec {
                    num_heads: heads,
                    num_kv_heads: heads,
                    head_dim: mla.qk_nope_head_dim + mla.qk_rope_head_dim,
                    v_head_dim: Some(mla.v_head_dim),
                    qkv_bias: false,
                    o_bias: false,
                    qk_norm: false,
                    qk_norm_full_width: false,
                    output_gate: false,
                    sinks: false,
                    full_k_eq_v: false,
                    mla: Some(mla),
                }
            }
        };
        let mut m = model.clone();
        m.attention = attention;
        m.display_name = format!("{} (what-if {})", model.display_name, self.label(&m));
        m.validate("--attention")
            .map_err(|e| Error::input("attention", format!("{}: {e}", self.flag())))?;
        Ok(m)
    }

    /// Short label of the resulting attention ("GQA 128/8", "MLA 512+64").
    fn label(&self, transformed: &ModelSpec) -> String {
        let a = &transformed.attention;
        match (&a.mla, self) {
            (Some(m), _) => format!("MLA {}+{}", m.kv_lora_rank, m.qk_rope_head_dim),
            (None, AttentionVariant::Mha) => format!("MHA {}/{}", a.num_heads, a.num_kv_heads),
            (None, AttentionVariant::Mqa) => format!("MQA {}/1", a.num_heads),
            (None, _) => format!("GQA {}/{}", a.num_heads, a.num_kv_heads),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Catalog;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            AttentionVariant::parse("MHA").unwrap(),
            AttentionVariant::Mha
        );
        assert_eq!(
            AttentionVariant::parse("gqa:8").unwrap(),
            AttentionVariant::Gqa(8)
        );
        assert_eq!(
            AttentionVariant::parse("mqa").unwrap(),
            AttentionVariant::Mqa
        );
        assert_eq!(
            AttentionVariant::parse("mla:256").unwrap(),
            AttentionVariant::Mla(256)
        );
        assert_eq!(
            AttentionVariant::parse("mla").unwrap(),
            AttentionVariant::Mla(512)
        );
        for bad in [
            "gqa", "gqa:0", "gqa:x", "mha:4", "mqa:2", "sparse", "mla:-1",
        ] {
            let e = AttentionVariant::parse(bad).unwrap_err();
            assert_eq!(e.field(), Some("attention"), "{bad}: {e}");
        }
    }

    #[test]
    fn deepseek_v3_kv_shapes() {
        // DeepSeek-V3 config: 128 heads, v_head_dim 128, kv_lora_rank 512, rope 64, 61 layers.
        let c = Catalog::builtin().unwrap();
        let m = c.model("deepseek-v3").unwrap();
        let mha = AttentionVariant::Mha.apply(m).unwrap();
        assert!(mha.attention.mla.is_none());
        assert_eq!(
            (mha.attention.num_kv_heads, mha.attention.head_dim),
            (128, 128)
        );
        let g = AttentionVariant::Gqa(8).apply(m).unwrap();
        assert_eq!(g.attention.num_kv_heads, 8);
        let e = AttentionVariant::Gqa(48).apply(m).unwrap_err().to_string();
        assert!(
            e.starts_with("attention: gqa:48") && e.contains("gqa:64"),
            "{e}"
        );
        let r = AttentionVariant::Mla(256).apply(m).unwrap();
        assert_eq!(r.attention.mla.as_ref().unwrap().latent_dim(), 256 + 64);
        assert!(
            r.display_name.contains("what-if MLA 256+64"),
            "{}",
            r.display_name
        );
    }

    #[test]
    fn llama_to_mla_keeps_head_width() {
        let c = Catalog::builtin().unwrap();
        let m = c.model("llama-3.1-70b").unwrap();
        let r = AttentionVariant::Mla(512).apply(m).unwrap();
        let mla = r.attention.mla.unwrap();
        assert_eq!(
            (mla.qk_nope_head_dim, mla.qk_rope_head_dim, mla.v_head_dim),
            (128, 64, 128)
        );
        assert_eq!(mla.q_lora_rank, None);
        let mqa = AttentionVariant::Mqa.apply(m).unwrap();
        assert_eq!(mqa.attention.num_kv_heads, 1);
    }
}
