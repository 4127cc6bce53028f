//! Hugging Face `config.json` → `ModelSpec`. Reads the common fields across
//! families, including the many encodings of the same idea that
//! docs/sources/models.md lists (sliding windows, head_dim overrides, expert
//! counts, MLA, MTP, quantization_config, nested `text_config`).

use super::dtype::{
    CheckpointLayout, DType, Keep16, KvDtype, ModulePart, TensorFormat, WeightFormat,
};
use super::model::{
    AttentionSpec, CompressedAttentionSpec, FfnType, HeadShape, IndexerSpec, LayerType,
    LinearAttentionSpec, LinearKind, MambaSpec, MlaSpec, MlpSpec, ModelSpec, MoeSpec, NormSpec,
    SparseIndexSpec, VisionEncoderSpec,
};
use crate::error::{Error, Result};
use serde_json::Value;

/// Parse config.json text; `origin` names the file in errors.
pub fn parse_config(text: &str, origin: &str) -> Result<ModelSpec> {
    let root = parse_json(text, origin)?;
    if !root.is_object() {
        return Err(Error::spec(origin, "config.json must be a JSON object"));
    }
    super::bounds::check_hf_format(&root, origin)?;
    let unknown_note = super::bounds::check_unknown_family(&root, origin)?;
    let mut spec = from_value(&root, origin)?;
    spec.validate(origin)?;
    if let Some(note) = unknown_note {
        spec.source = format!("{}; {note}", spec.source);
    }
    Ok(spec)
}

/// JSON text as HF writes it (NaN/Infinity allowed), parsed; errors name the
/// file, line and column.
fn parse_json(text: &str, origin: &str) -> Result<Value> {
    serde_json::from_str(&replace_non_finite(text)).map_err(|e| {
        Error::spec(
            origin,
            format!(
                "line {}, column {}: invalid JSON: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Python's `json.dump` writes `Infinity`, `-Infinity` and `NaN` (Nemotron-H's
/// `time_step_limit`), which JSON does not allow. Replace those bare tokens —
/// outside strings — with `null`; no field kvplan sizes a model with can
/// hold them, so a sizing field that did would then be reported as missing.
fn replace_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    if !(text.contains("Infinity") || text.contains("NaN")) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_str = true;
        } else {
            let token = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t));
            if let Some(t) = token {
                out.push_str("null");
                rest = &rest[t.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

fn get<'a>(c: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| c.get(*k).filter(|v| !v.is_null()))
}

fn get_u64(c: &Value, keys: &[&str]) -> Option<u64> {
    get(c, keys).and_then(|v| {
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
    })
}

fn need_u64(c: &Value, keys: &[&str], origin: &str) -> Result<u64> {
    get_u64(c, keys).ok_or_else(|| {
        Error::spec(
            origin,
            format!(
                "missing or non-integer field '{}' (needed to size the model)",
                keys[0]
            ),
        )
    })
}

fn get_bool(c: &Value, key: &str) -> Option<bool> {
    c.get(key).and_then(Value::as_bool)
}

/// Translate a parsed config into a spec.
fn from_value(root: &Value, origin: &str) -> Result<ModelSpec> {
    // Multimodal wrappers (Gemma-3, Llama-4) keep the LM under text_config.
    let c = root
        .get("text_config")
        .filter(|v| v.is_object())
        .unwrap_or(root);
    let family = c
        .get("model_type")
        .or_else(|| root.get("model_type"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let fam = family.as_str();
    refuse_unmodelled(c, origin)?;
    let is_gemma = fam.starts_with("gemma");
    let is_gemma3 = fam.starts_with("gemma3");
    let hidden = need_u64(c, &["hidden_size", "n_embd", "d_model"], origin)?;
    // Newer Nemotron-H configs give the blocks as a list and no layer count.
    let layers = match get_u64(c, &["num_hidden_layers", "n_layer", "num_layers"]) {
        Some(l) => l,
        None => match c.get("layers_block_type").and_then(Value::as_array) {
            Some(a) => a.len() as u64,
            None => need_u64(c, &["num_hidden_layers", "n_layer", "num_layers"], origin)?,
        },
    };
    // Patterns below are built per layer: bound the count first (spec/bounds.rs).
    super::bounds::check_count(origin, "num_layers", layers, super::bounds::LAYERS)?;
    let heads = need_u64(c, &["num_attention_heads", "n_head"], origin)?;
    // Nemotron-NAS (DeciLM): every layer says its own blocks in block_configs.
    let nas = match c.get("block_configs") {
        Some(b) if !b.is_null() => Some(nas_blocks(b, heads, hidden, layers, origin)?),
        _ => None,
    };
    let kv_heads = match &nas {
        Some(n) => n.kv_heads,
        None => get_u64(c, &["num_key_value_heads", "n_head_kv", "num_kv_heads"]).unwrap_or(heads),
    };
    let vocab = match get_u64(c, &["vocab_size"]) {
        Some(v) => v,
        // Gemma3TextConfig's class default (the real file omits it).
        None if is_gemma3 => 262_208,
        None => return Err(Error::spec(origin, "missing field 'vocab_size'")),
    };
    let head_dim = get_u64(c, &["head_dim"]).unwrap_or(hidden / heads.max(1));
    // DeepSeek-V4: per-layer compress ratios over one shared K=V head.
    let compressed = compressed_spec(c, layers, origin)?;
    if compressed.is_some() {
        if kv_heads != 1 {
            return Err(Error::spec(
                origin,
                format!("field 'num_key_value_heads' = {kv_heads}: DeepSeek-V4's compressed attention (compress_ratios) has one shared K=V head; a config with more is not modelled"),
            ));
        }
        need_u64(c, &["head_dim"], origin)?;
    }
    // Absent is "missing"; a stated 0 reaches the bounds check, which names it.
    let max_context = get_u64(
        c,
        &[
            "max_position_embeddings",
            "n_positions",
            "max_sequence_length",
        ],
    )
    .or(is_gemma3.then_some(131_072))
    .ok_or_else(|| Error::spec(origin, "missing field 'max_position_embeddings'"))?;
    let dtype_name = get(c, &["torch_dtype", "dtype"])
        .or_else(|| get(root, &["torch_dtype", "dtype"]))
        .and_then(Value::as_str);
    let native_dtype = dtype_name
        .and_then(DType::from_torch)
        .unwrap_or(DType::Bf16);
    // tie_word_embeddings: Gemma's config classes default to true, the
    // others kvplan knows default to false (LlamaConfig, Qwen2Config, …).
    let tie = get_bool(c, "tie_word_embeddings")
        .or_else(|| get_bool(root, "tie_word_embeddings"))
        .unwrap_or(is_gemma);

    // --- attention
    let mla = match get_u64(c, &["kv_lora_rank"]) {
        Some(kv_lora_rank) => Some(MlaSpec {
            q_lora_rank: get_u64(c, &["q_lora_rank"]).filter(|r| *r > 0),
            kv_lora_rank,
            qk_nope_head_dim: need_u64(c, &["qk_nope_head_dim"], origin)?,
            qk_rope_head_dim: need_u64(c, &["qk_rope_head_dim"], origin)?,
            v_head_dim: need_u64(c, &["v_head_dim"], origin)?,
        }),
        None => None,
    };
    let attention_bias = get_bool(c, "attention_bias").unwrap_or(false);
    // Qwen2-style attention: biases on q/k/v only (MiMo keeps Qwen2's layout
    // and says so with attention_bias: true).
    let qwen2_bias = matches!(fam, "qwen2" | "qwen2_moe");
    let qkv_only_bias = fam == "mimo";
    let qk_norm = matches!(
        fam,
        "qwen3"
            | "qwen3_moe"
            | "gemma3"
            | "gemma3_text"
            | "olmo2"
            | "qwen3_next"
            | "qwen3_vl_text"
            | "qwen3_vl_moe_text"
            | "qwen3_5_text"
            | "qwen3_5_moe_text"
            | "gemma4_text"
    ) || (matches!(fam, "minimax_m2" | "minimax_m3" | "minimax_m3_vl")
        && get_bool(c, "use_qk_norm").unwrap_or(false));
    let qwen_hybrid = matches!(fam, "qwen3_next" | "qwen3_5_text" | "qwen3_5_moe_text");
    // Gemma-4 (HF modular_gemma4.py): full-attention layers have their own head size
    // (`global_head_dim`) and, with `attention_k_eq_v`, their own KV heads
    // (`num_global_key_value_heads`); a dense MLP runs beside every MoE block.
    let gemma4 = fam.starts_with("gemma4");
    let gemma4_moe = gemma4 && get_bool(c, "enable_moe_block") == Some(true);
    let attention = AttentionSpec {
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim: mla
            .as_ref()
            .map(|m| m.qk_nope_head_dim.saturating_add(m.qk_rope_head_dim))
            .unwrap_or(head_dim),
        v_head_dim: mla.as_ref().map(|m| m.v_head_dim),
        qkv_bias: (attention_bias || qwen2_bias) && mla.is_none(),
        o_bias: attention_bias && !qkv_only_bias && mla.is_none(),
        qk_norm,
        qk_norm_full_width: qk_norm
            && get(c, &["qk_norm_type"]).and_then(Value::as_str) == Some("per_layer"),
        // Qwen3-Next's attention is always gated; Qwen3.5 says so explicitly;
        // Kimi-K3's MLA has its own g_proj gate (`mla_use_output_gate`).
        output_gate: get_bool(c, "attn_output_gate").unwrap_or(fam == "qwen3_next")
            || (mla.is_some() && get_bool(c, "mla_use_output_gate") == Some(true)),
        sinks: fam == "gpt_oss",
        full_k_eq_v: gemma4 && get_bool(c, "attention_k_eq_v") == Some(true),
        mla,
    };

    // --- layer pattern
    let window = get_u64(c, &["sliding_window", "sliding_window_size"]);
    let (layer_pattern, ffn_pattern, sliding_window) = if let Some(n) = &nas {
        (compress_pattern(&n.mixers), compress_ffn(&n.ffns), None)
    } else if fam == "nemotron_h" {
        let (l, f) = nemotron_pattern(c, layers, origin)?;
        (l, f, None)
    } else if qwen_hybrid && c.get("layer_types").is_none() {
        // Qwen3-Next: every `full_attention_interval`-th layer is full attention.
        let every = get_u64(c, &["full_attention_interval"]).unwrap_or(4).max(1);
        let types: Vec<LayerType> = (0..layers)
            .map(|i| {
                if (i + 1) % every == 0 {
                    LayerType::Full
                } else {
                    LayerType::Linear
                }
            })
            .collect();
        (compress_pattern(&types), Vec::new(), None)
    } else if compressed.is_some() {
        // DeepSeek-V4: every layer attends (its window lives in
        // `compressed_attention`); every layer is MoE.
        (vec![LayerType::Full], Vec::new(), None)
    } else if let Some(l) = c.get("linear_attn_config").filter(|v| v.is_object()) {
        // Kimi-Linear / Kimi-K3: KDA and MLA layers listed by number.
        (
            kimi_pattern(l, layers, origin)?,
            ffn_types(c, layers, origin)?,
            None,
        )
    } else {
        let (l, w) = layer_pattern(c, fam, layers, window, origin)?;
        (l, ffn_types(c, layers, origin)?, w)
    };
    let linear_attention = if layer_pattern.contains(&LayerType::Linear) {
        Some(linear_spec(c, fam, native_dtype, origin)?)
    } else {
        None
    };
    let mamba = if layer_pattern.contains(&LayerType::Mamba) {
        Some(mamba_spec(c, native_dtype, origin)?)
    } else {
        None
    };
    let indexer = match get_u64(c, &["index_n_heads"]) {
        None => None,
        Some(n) => Some(IndexerSpec {
            num_heads: n,
            head_dim: need_u64(c, &["index_head_dim"], origin)?,
            topk: need_u64(c, &["index_topk"], origin)?,
            shared_layers: c
                .get("indexer_types")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .filter(|(_, v)| v.as_str() == Some("shared"))
                        .map(|(i, _)| i as u64)
                        .collect()
                })
                .unwrap_or_default(),
        }),
    };
    // Per-kind head shapes: Gemma-4 `global_head_dim` / `num_global_key_value_heads`.
    let full_attention_shape: Option<HeadShape> = match get_u64(c, &["global_head_dim"]) {
        Some(d) if gemma4 => Some(HeadShape {
            num_kv_heads: if attention.full_k_eq_v {
                need_u64(c, &["num_global_key_value_heads"], origin)?
            } else {
                kv_heads
            },
            head_dim: d,
        }),
        _ => None,
    };

    // --- MLP / MoE
    let inter = get_u64(c, &["intermediate_size", "ffn_hidden_size", "n_inner"])
        .unwrap_or(hidden.saturating_mul(4));
    let num_experts =
        get_u64(c, &["n_routed_experts", "num_local_experts", "num_experts"]).filter(|e| *e > 1);
    let moe = match num_experts {
        None => None,
        Some(e) => {
            let top_k = need_u64(
                c,
                &[
                    "num_experts_per_tok",
                    "num_experts_per_token",
                    "experts_per_token",
                    "moe_topk",
                    "top_k_experts",
                ],
                origin,
            )?;
            let expert_inter = get_u64(c, &["moe_intermediate_size"]).unwrap_or(inter);
            // Llama-4 MoE layers always add one shared expert of the expert width.
            let n_shared = get_u64(c, &["n_shared_experts", "num_shared_experts"])
                .unwrap_or(u64::from(fam.starts_with("llama4")));
            let shared_inter = get_u64(
                c,
                &[
                    "shared_expert_intermediate_size",
                    "moe_shared_expert_intermediate_size",
                    "shared_intermediate_size",
                ],
            )
            // Gemma-4: the dense MLP beside each MoE block is an always-on expert.
            .unwrap_or(if gemma4_moe {
                inter
            } else {
                n_shared.saturating_mul(expert_inter)
            });
            let mut first_dense = get_u64(c, &["first_k_dense_replace"]).unwrap_or(0);
            let mut step = get_u64(c, &["moe_layer_freq", "decoder_sparse_step"])
                .unwrap_or(1)
                .max(1);
            // Llama-4: layer i is MoE when (i + 1) % interleave_moe_layer_step == 0.
            if let Some(st) = get_u64(c, &["interleave_moe_layer_step"]).filter(|s| *s > 1) {
                first_dense = st - 1;
                step = st;
            }
            let mlp_only = c
                .get("mlp_only_layers")
                .and_then(Value::as_array)
                .map(|a| a.len())
                .unwrap_or(0);
            if mlp_only > 0 {
                return Err(Error::spec(origin, "mlp_only_layers is not supported yet; remove it or list the layers as dense in a YAML spec"));
            }
            Some(MoeSpec {
                hash_layers: get_u64(c, &["num_hash_layers"]).unwrap_or(0),
                num_experts: e,
                experts_per_token: top_k,
                expert_intermediate_size: expert_inter,
                shared_intermediate_size: shared_inter,
                shared_expert_gate: matches!(fam, "qwen2_moe" | "qwen3_next" | "qwen3_5_moe_text")
                    && shared_inter > 0,
                first_dense_layers: first_dense,
                layer_step: step,
                router_bias: fam == "gpt_oss",
                router_score_bias: get(c, &["topk_method"]).and_then(Value::as_str)
                    == Some("noaux_tc")
                    || get_bool(c, "use_routing_bias") == Some(true)
                    || fam == "nemotron_h",
                expert_bias: fam == "gpt_oss",
                router_scales: gemma4,
                // Nemotron-3 `moe_latent_size`; Kimi-K3 `routed_expert_hidden_size`.
                latent_size: get_u64(c, &["moe_latent_size", "routed_expert_hidden_size"])
                    .filter(|l| *l > 0),
                latent_norm: get_bool(c, "latent_moe_use_norm").unwrap_or(false),
            })
        }
    };
    // Mixtral/gpt-oss name the expert width `intermediate_size` and have no dense layers.
    let has_dense_layers = match &moe {
        None => true,
        Some(_) if !ffn_pattern.is_empty() => ffn_pattern.contains(&FfnType::Dense),
        Some(m) => m.first_dense_layers > 0 || m.layer_step > 1,
    };
    // Llama-4 names the dense layers' width `intermediate_size_mlp`, MiniMax-M3
    // `dense_intermediate_size`.
    let dense_inter =
        get_u64(c, &["intermediate_size_mlp", "dense_intermediate_size"]).unwrap_or(inter);
    // Nemotron-H's MLPs and experts are two-matrix squared-ReLU blocks.
    let act = get(c, &["mlp_hidden_act", "hidden_act"]).and_then(Value::as_str);
    // Nemotron-NAS: the widest layer's width (the activation peak); each
    // layer's own width is in ffn_widths.
    let dense_inter = match &nas {
        Some(n) => n.widths.iter().copied().max().unwrap_or(0),
        None => dense_inter,
    };
    let mlp = MlpSpec {
        intermediate_size: if has_dense_layers { dense_inter } else { 0 },
        gated: !matches!(act, Some("relu2")),
        bias: get_bool(c, "mlp_bias").unwrap_or(false),
    };
    let norm = NormSpec {
        per_layer: if gemma4_moe {
            // input, post-attention, pre/post feed-forward, plus the MoE block's
            // pre_feedforward_layernorm_2 and post_feedforward_layernorm_1/_2.
            7
        } else if matches!(fam, "gemma2" | "gemma3" | "gemma3_text" | "gemma4_text") {
            4
        } else if fam == "nemotron_h" {
            // One pre-norm per block: each Nemotron-H layer is one mixer or one FFN.
            1
        } else {
            2
        },
        bias: false,
        scalars_per_layer: u64::from(gemma4),
        skip_absent: nas.is_some(),
        attention_residuals: get_u64(c, &["attn_res_block_size"]).is_some_and(|b| b > 0),
    };
    let quant = match quant_format(root, origin)? {
        Some(q) => Some(q),
        None if !std::ptr::eq(c, root) => quant_format(c, origin)?,
        None => None,
    };
    let quant = match &compressed {
        Some(_) => v4_expert_format(c, root, quant, layers, origin)?,
        None => quant,
    };
    let (checkpoint_format, checkpoint_layout) = match quant {
        Some((f, l)) => (Some(f), Some(l)),
        None => (None, None),
    };
    // MiniMax: `num_mtp_modules` modules of `mtp_transformer_layers` layers, the
    // checkpoint's own count of its draft modules (SGLang `minimax_m3.py`
    // `get_spec_layer_idx_from_weight_name`: "M3 checkpoints emit MTP weights as
    // model.mtp.layers.{i}.*" for i < num_mtp_modules) — ahead of MiniMax-M3's
    // `num_nextn_predict_layers`; MiniMax-M2 gates it on `use_mtp`.
    let minimax_mtp = (get_bool(c, "use_mtp") != Some(false))
        .then(|| get_u64(c, &["num_mtp_modules"]))
        .flatten()
        .filter(|n| *n > 0)
        .map(|n| n.saturating_mul(get_u64(c, &["mtp_transformer_layers"]).unwrap_or(1)));
    let mtp_layers = minimax_mtp
        .or_else(|| {
            get_u64(c, &["num_nextn_predict_layers", "mtp_num_hidden_layers"]).filter(|n| *n > 0)
        })
        .unwrap_or(0);
    let vision = qwen3_vl_family_vision(root, origin)?;
    let name_hint = root
        .get("_name_or_path")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(ModelSpec {
        name: String::new(),
        display_name: name_hint.clone().unwrap_or_else(|| family.clone()),
        hf_repo: name_hint,
        aliases: vec![],
        source: origin.to_string(),
        family,
        hidden_size: hidden,
        num_layers: layers,
        vocab_size: vocab,
        tie_word_embeddings: tie,
        max_context,
        native_dtype,
        attention,
        layer_pattern,
        sliding_window,
        mlp,
        moe,
        norm,
        mtp_layers,
        linear_state_bytes_per_layer: 0,
        checkpoint_format,
        checkpoint_layout,
        ffn_pattern,
        linear_attention,
        mamba,
        indexer,
        full_attention_shape,
        hyper_connection_streams: if compressed.is_some() {
            get_u64(c, &["hc_mult"]).unwrap_or(0)
        } else {
            0
        },
        compressed_attention: compressed,
        sparse_index: sparse_index_spec(c, layers, origin)?,
        ffn_widths: nas
            .map(|n| {
                let w = compress_widths(&n.widths);
                if w.len() == 1 {
                    Vec::new()
                } else {
                    w
                }
            })
            .unwrap_or_default(),
        vision_encoder: vision.clone(),
        vision_tower_uncounted: vision.is_none() && has_vision_tower(root),
        vision_tower_shape: vision_tower_shape(root),
    })
}

/// The vision tower's depth and width under SGLang's names
/// (`num_hidden_layers`, `hidden_size` of `vision_config`), each defaulting
/// as SGLang's `getattr` does (24, 1024); Kimi's MoonViT config spells them
/// `vt_num_hidden_layers` / `vt_hidden_size`, which SGLang's Kimi config
/// class exposes under those names (a Kimi-K2.5 launch logs the fraction
/// they give). None unless the config names at least one of them.
fn vision_tower_shape(root: &Value) -> Option<crate::spec::model::VisionTowerShape> {
    let v = ["vision_config", "vision_tower_config"]
        .iter()
        .find_map(|k| root.get(*k).and_then(Value::as_object))?;
    let get = |names: [&str; 2]| names.iter().find_map(|n| v.get(*n).and_then(Value::as_u64));
    let layers = get(["num_hidden_layers", "vt_num_hidden_layers"]);
    let width = get(["hidden_size", "vt_hidden_size"]);
    let vit_l14 = crate::spec::model::VisionTowerShape::VIT_L14;
    (layers.is_some() || width.is_some()).then(|| crate::spec::model::VisionTowerShape {
        num_hidden_layers: layers.unwrap_or(vit_l14.num_hidden_layers),
        hidden_size: width.unwrap_or(vit_l14.hidden_size),
    })
}

/// Whether a multimodal wrapper config carries a vision tower (a non-empty
/// `vision_config`, or Kimi / MiniMax-VL style `vision_tower` settings).
fn has_vision_tower(root: &Value) -> bool {
    ["vision_config", "vision_tower_config"].iter().any(|k| {
        root.get(*k)
            .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
    })
}

/// The vision tower of Qwen3-VL (HF transformers `modeling_qwen3_vl.py`
/// `Qwen3VLVisionModel`) and of Qwen3.5 / Qwen3.6 (`modular_qwen3_5.py`
/// `Qwen3_5VisionModel`: the same tower with the DeepStack mergers deleted;
/// its configs list no `deepstack_visual_indexes`), from `vision_config`;
/// None for other families. A config of these families whose
/// `vision_config` lacks a size is refused naming it.
fn qwen3_vl_family_vision(root: &Value, origin: &str) -> Result<Option<VisionEncoderSpec>> {
    let wrapper = root.get("model_type").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        wrapper,
        "qwen3_vl" | "qwen3_vl_moe" | "qwen3_5" | "qwen3_5_moe"
    ) {
        return Ok(None);
    }
    let Some(v) = root.get("vision_config").filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let need = |k: &str| -> Result<u64> {
        get_u64(v, &[k]).ok_or_else(|| {
            Error::spec(
                origin,
                format!(
                    "missing or non-integer field 'vision_config.{k}' (needed to size the Qwen3-VL / Qwen3.5 vision tower)"
                ),
            )
        })
    };
    Ok(Some(VisionEncoderSpec {
        depth: need("depth")?,
        hidden_size: need("hidden_size")?,
        intermediate_size: need("intermediate_size")?,
        in_channels: get_u64(v, &["in_channels"]).unwrap_or(3),
        patch_size: need("patch_size")?,
        temporal_patch_size: need("temporal_patch_size")?,
        num_position_embeddings: need("num_position_embeddings")?,
        spatial_merge_size: need("spatial_merge_size")?,
        out_hidden_size: need("out_hidden_size")?,
        deepstack_mergers: v
            .get("deepstack_visual_indexes")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u64),
    }))
}

/// Per-layer blocks of a Nemotron-NAS (DeciLM) config.
struct NasBlocks {
    mixers: Vec<LayerType>,
    ffns: Vec<FfnType>,
    /// Dense MLP width per layer (0 where the FFN is a no-op).
    widths: Vec<u64>,
    /// KV heads of the attention layers (one value for all).
    kv_heads: u64,
}

/// Nemotron-NAS `block_configs` (vLLM/SGLang `nemotron_nas.py`,
/// `DeciLMDecoderLayer`): per layer, attention is a no-op or GQA with
/// `num_attention_heads / n_heads_in_group` KV heads; the FFN is a no-op or a
/// gated MLP of `_ffn_mult_to_intermediate_size(ffn_mult, hidden)` =
/// `int(2·ffn_mult·hidden/3)` rounded up to a multiple of 256. Parts kvplan
/// does not model (linear replacements, windows, sinks, Mamba blocks, KV
/// heads that differ between layers) are refused by field.
fn nas_blocks(b: &Value, heads: u64, hidden: u64, layers: u64, origin: &str) -> Result<NasBlocks> {
    let list = b.as_array().ok_or_else(|| {
        Error::spec(
            origin,
            "field 'block_configs' must be a list with one entry per layer",
        )
    })?;
    if list.len() as u64 != layers {
        return Err(Error::spec(
            origin,
            format!(
                "block_configs lists {} layers but num_hidden_layers is {layers}",
                list.len()
            ),
        ));
    }
    let refuse = |i: usize, field: &str, why: &str| {
        Err(Error::spec(
            origin,
            format!("field 'block_configs[{i}].{field}': {why} is not modelled; write a kvplan YAML spec for this model"),
        ))
    };
    let set = |v: &Value, k: &str| {
        v.get(k)
            .is_some_and(|x| !x.is_null() && x != &Value::Bool(false))
    };
    let mut out = NasBlocks {
        mixers: Vec::new(),
        ffns: Vec::new(),
        widths: Vec::new(),
        kv_heads: 0,
    };
    for (i, blk) in list.iter().enumerate() {
        let a = blk
            .get("attention")
            .filter(|v| v.is_object())
            .ok_or_else(|| {
                Error::spec(
                    origin,
                    format!("field 'block_configs[{i}].attention' is missing"),
                )
            })?;
        let f = blk.get("ffn").filter(|v| v.is_object()).ok_or_else(|| {
            Error::spec(origin, format!("field 'block_configs[{i}].ffn' is missing"))
        })?;
        if blk.get("parallel_blocks").is_some_and(|v| !v.is_null()) {
            return refuse(i, "parallel_blocks", "a parallel attention + Mamba block");
        }
        for k in [
            "replace_with_linear",
            "sparsify",
            "window_length",
            "num_sink_tokens",
            "mamba",
            "llama4",
        ] {
            if set(a, k) {
                return refuse(i, &format!("attention.{k}"), "this attention variant");
            }
        }
        if get_bool(a, "no_op") == Some(true) {
            out.mixers.push(LayerType::None);
        } else {
            let group = match get_u64(a, &["n_heads_in_group"]) {
                Some(g) if g > 0 && heads % g == 0 => g,
                _ => {
                    return Err(Error::spec(
                        origin,
                        format!("field 'block_configs[{i}].attention.n_heads_in_group' must divide num_attention_heads ({heads})"),
                    ))
                }
            };
            let kv = heads / group;
            if out.kv_heads != 0 && out.kv_heads != kv {
                return refuse(
                    i,
                    "attention.n_heads_in_group",
                    "KV heads that differ between layers",
                );
            }
            out.kv_heads = kv;
            out.mixers.push(LayerType::Full);
        }
        for k in ["replace_with_linear", "sparsify", "moe"] {
            if set(f, k) {
                return refuse(i, &format!("ffn.{k}"), "this FFN variant");
            }
        }
        if get_bool(f, "no_op") == Some(true) {
            out.ffns.push(FfnType::None);
            out.widths.push(0);
            continue;
        }
        let width = match (
            f.get("ffn_mult").and_then(Value::as_f64),
            get_u64(f, &["intermediate_size"]),
        ) {
            (Some(mult), _) if mult > 0.0 && mult < 1e4 => {
                let w = (2.0 * mult * hidden as f64 / 3.0) as u64;
                w.div_ceil(256) * 256
            }
            (None, Some(w)) if w > 0 => w,
            _ => {
                return Err(Error::spec(
                    origin,
                    format!(
                    "field 'block_configs[{i}].ffn.ffn_mult' is missing or not a positive number"
                ),
                ))
            }
        };
        out.ffns.push(FfnType::Dense);
        out.widths.push(width);
    }
    if out.kv_heads == 0 {
        out.kv_heads = heads;
    }
    Ok(out)
}

/// Shortest repeating period of a per-layer FFN list.
fn compress_ffn(types: &[FfnType]) -> Vec<FfnType> {
    let p = period(types);
    // All dense: the plain rule says so already.
    if p == [FfnType::Dense] {
        Vec::new()
    } else {
        p
    }
}

/// Shortest repeating period of a per-layer width list.
fn compress_widths(w: &[u64]) -> Vec<u64> {
    period(w)
}

fn period<T: PartialEq + Clone>(v: &[T]) -> Vec<T> {
    for p in 1..=v.len() {
        if v.len() % p == 0 && v.chunks(p).all(|ch| ch == &v[..p]) {
            return v[..p].to_vec();
        }
    }
    v.to_vec()
}

/// MiniMax-M3's `sparse_attention_config` (an object, or a string holding
/// one as JSON): index heads and size, block size and top-k blocks, the
/// per-layer `sparse_attention_freq` and `sparse_disable_index_value` lists.
/// None when absent or `use_sparse_attention` is false.
fn sparse_index_spec(c: &Value, layers: u64, origin: &str) -> Result<Option<SparseIndexSpec>> {
    let Some(raw) = c.get("sparse_attention_config").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let parsed;
    let sc = match raw {
        Value::String(t) => {
            parsed = serde_json::from_str::<Value>(t).map_err(|e| {
                Error::spec(
                    origin,
                    format!("field 'sparse_attention_config' is a string that is not a JSON object ({e}); write it as an object"),
                )
            })?;
            &parsed
        }
        v => v,
    };
    if !sc.is_object() {
        return Err(Error::spec(
            origin,
            "field 'sparse_attention_config' must be an object",
        ));
    }
    if get_bool(sc, "use_sparse_attention") == Some(false) {
        return Ok(None);
    }
    let f = |k: &str| format!("sparse_attention_config.{k}");
    let need = |k: &str| {
        get_u64(sc, &[k]).ok_or_else(|| {
            Error::spec(
                origin,
                format!(
                    "missing or non-integer field '{}' (needed to size the sparse index)",
                    f(k)
                ),
            )
        })
    };
    let flags = |k: &str, required: bool| -> Result<Vec<bool>> {
        match sc.get(k).and_then(Value::as_array) {
            None if !required => Ok(vec![false; layers as usize]),
            None => Err(Error::spec(
                origin,
                format!("missing field '{}': kvplan needs one 0/1 per layer", f(k)),
            )),
            Some(a) if a.len() as u64 != layers => Err(Error::spec(
                origin,
                format!(
                    "field '{}' lists {} layers but num_hidden_layers is {layers}",
                    f(k),
                    a.len()
                ),
            )),
            Some(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v.as_u64() {
                    Some(0) => Ok(false),
                    Some(1) => Ok(true),
                    _ => Err(Error::spec(
                        origin,
                        format!("field '{}[{i}]' = {v} is not 0 or 1", f(k)),
                    )),
                })
                .collect(),
        }
    };
    let sparse = flags("sparse_attention_freq", true)?;
    let no_value = flags("sparse_disable_index_value", false)?;
    let layers_of = |keep: &dyn Fn(usize) -> bool| -> Vec<u64> {
        (0..layers as usize)
            .filter(|&i| keep(i))
            .map(|i| i as u64)
            .collect()
    };
    Ok(Some(SparseIndexSpec {
        num_heads: need("sparse_num_index_heads")?,
        head_dim: need("sparse_index_dim")?,
        block_size: need("sparse_block_size")?,
        topk_blocks: need("sparse_topk_blocks")?,
        layers: layers_of(&|i| sparse[i]),
        value_layers: layers_of(&|i| sparse[i] && !no_value[i]),
    }))
}

/// DeepSeek-V4's compressed attention from `compress_ratios` (one per decoder
/// layer, plus trailing entries for the MTP layers that vLLM does not read),
/// `sliding_window`, `qk_rope_head_dim`, `q_lora_rank`, `o_groups`,
/// `o_lora_rank`; None when the config has no `compress_ratios`.
fn compressed_spec(
    c: &Value,
    layers: u64,
    origin: &str,
) -> Result<Option<CompressedAttentionSpec>> {
    let Some(v) = c.get("compress_ratios").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list = v.as_array().ok_or_else(|| {
        Error::spec(
            origin,
            "field 'compress_ratios' must be a list with one ratio per layer",
        )
    })?;
    let mtp = get_u64(c, &["num_nextn_predict_layers"]).unwrap_or(0);
    let n = list.len() as u64;
    if n != layers && n != layers + mtp {
        return Err(Error::spec(
            origin,
            format!("field 'compress_ratios' lists {n} layers but num_hidden_layers is {layers} (+ {mtp} MTP)"),
        ));
    }
    let mut ratios = Vec::new();
    for (i, r) in list.iter().take(layers as usize).enumerate() {
        match r.as_u64() {
            Some(r @ (0 | 1 | 4 | 128)) => ratios.push(r),
            _ => {
                return Err(Error::spec(
                    origin,
                    format!("field 'compress_ratios[{i}]' = {r}: only 0/1 (window only), 4 (compressed sparse attention) and 128 (heavily compressed attention) are modelled, as vLLM and SGLang run them"),
                ))
            }
        }
    }
    Ok(Some(CompressedAttentionSpec {
        compress_ratios: ratios,
        window: need_u64(c, &["sliding_window"], origin)?,
        rope_head_dim: need_u64(c, &["qk_rope_head_dim"], origin)?,
        q_lora_rank: need_u64(c, &["q_lora_rank"], origin)?,
        o_groups: need_u64(c, &["o_groups"], origin)?,
        o_lora_rank: need_u64(c, &["o_lora_rank"], origin)?,
    }))
}

/// DeepSeek-V4's checkpoint: `quantization_config` says fp8 with 128×128
/// blocks, and `expert_dtype: fp4` puts the routed experts in MXFP4 (e2m1 +
/// one ue8m0 scale per 32 inputs: vLLM `DeepseekV4FP8Config` →
/// `Mxfp4MoEMethod`, `DeepseekV4MegaMoEExperts` scales of `hidden // 32`);
/// attention and shared experts stay fp8 block. NVIDIA's NVFP4 copies add
/// ModelOpt's `moe_quant_algo: NVFP4` to that fp8 config (`ignore` lists
/// attention, shared experts and head, which keep the fp8 / 16-bit they had):
/// the routed experts are NVFP4. Without `expert_dtype` (or `fp8`) the
/// experts are fp8 block like the rest.
fn v4_expert_format(
    c: &Value,
    root: &Value,
    quant: Option<(WeightFormat, CheckpointLayout)>,
    layers: u64,
    origin: &str,
) -> Result<Option<(WeightFormat, CheckpointLayout)>> {
    let q = root
        .get("quantization_config")
        .or_else(|| c.get("quantization_config"));
    let experts = match q.and_then(|q| q.get("moe_quant_algo")).and_then(Value::as_str) {
        None => c.get("expert_dtype").and_then(Value::as_str),
        Some("NVFP4") => Some("nvfp4"),
        Some(other) => {
            return Err(Error::spec(
                origin,
                format!("field 'quantization_config.moe_quant_algo' = '{other}': only NVFP4 experts beside DeepSeek-V4's fp8 layers are modelled; pass --weights to size it in one format"),
            ))
        }
    };
    match experts {
        None | Some("fp8") => Ok(quant),
        Some(e @ ("fp4" | "nvfp4")) => match quant {
            Some((WeightFormat::Fp8Block, mut lay)) if lay.keep_16bit.is_empty() => {
                let all: Vec<u64> = (0..layers).collect();
                let entry = |part, format| TensorFormat {
                    part,
                    tensor: String::new(),
                    layers: all.clone(),
                    format,
                };
                let (f, what) = if e == "nvfp4" {
                    (WeightFormat::Nvfp4, "moe_quant_algo NVFP4: routed experts NVFP4")
                } else {
                    (WeightFormat::Mxfp4, "expert_dtype fp4: routed experts MXFP4")
                };
                lay.read_from = format!("fp8 block 128×128 (quantization_config) + {what}");
                lay.mixed = vec![
                    entry(ModulePart::Attention, WeightFormat::Fp8Block),
                    entry(ModulePart::SharedExperts, WeightFormat::Fp8Block),
                    entry(ModulePart::RoutedExperts, f),
                ];
                // `expert_dtype: fp4` checkpoints store the fp8 block scales as
                // ue8m0 bytes (vLLM `DeepseekV4FP8Config.is_scale_e8m0`: "FP4
                // checkpoints store FP8 linear scales as e8m0fnu; FP8 expert
                // checkpoints (Flash-Base) store them as float32"); NVIDIA's copy
                // keeps that config (`expert_dtype: fp4`, `scale_fmt: ue8m0`).
                lay.ue8m0_block_scales = c.get("expert_dtype").and_then(Value::as_str)
                    == Some("fp4")
                    && q.and_then(|q| q.get("scale_fmt")).and_then(Value::as_str) == Some("ue8m0");
                Ok(Some((f, lay)))
            }
            _ => Err(Error::spec(
                origin,
                format!("field 'expert_dtype' = '{e}' is modelled only beside an fp8 block quantization_config without modules_to_not_convert (DeepSeek-V4's checkpoints); pass --weights to size it in one format"),
            )),
        },
        Some(other) => Err(Error::spec(
            origin,
            format!("field 'expert_dtype' = '{other}': DeepSeek-V4 experts are fp4 or fp8 (vLLM `_DEEPSEEK_V4_EXPERT_DTYPES`)"),
        )),
    }
}

/// Fields of architectures kvplan does not model yet. A config that sets one
/// is refused with the field's name and why, rather than sized wrongly.
fn refuse_unmodelled(c: &Value, origin: &str) -> Result<()> {
    let set = |k: &str| {
        c.get(k)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
    };
    // Hyper-connections and grouped output projections are modelled with
    // DeepSeek-V4's compressed attention only.
    let v4 = c.get("compress_ratios").is_some_and(|v| !v.is_null());
    let checks: [(&str, &str); 5] = [
        (if v4 { "" } else { "hc_mult" }, "hyper-connections (hc_mult) without DeepSeek-V4's compressed attention (compress_ratios) are not modelled"),
        (if v4 { "" } else { "o_groups" }, "a grouped output projection (o_groups) without DeepSeek-V4's compressed attention (compress_ratios) is not modelled"),
        ("num_kv_shared_layers", "layers that reuse an earlier layer's KV (num_kv_shared_layers, Gemma-4 E2B/E4B) are not modelled yet"),
        ("use_double_wide_mlp", "double-width MLPs on KV-shared layers (use_double_wide_mlp) are not modelled yet"),
        ("hidden_size_per_layer_input", "per-layer input embeddings (hidden_size_per_layer_input) are not modelled yet"),
    ];
    for (k, why) in checks {
        let trivial = c.get(k).and_then(Value::as_u64) == Some(0);
        if set(k) && !trivial {
            return Err(Error::spec(
                origin,
                format!("field '{k}': {why}; write a kvplan YAML spec for this model, or pick a built-in one (kvplan models)"),
            ));
        }
    }
    Ok(())
}

/// Nemotron-H blocks: `hybrid_override_pattern` (`M` Mamba2, `*` attention,
/// `E` MoE, `-` MLP) or the newer `layers_block_type` list. Each block is one
/// mixer or one feed-forward, so both patterns are returned.
fn nemotron_pattern(
    c: &Value,
    layers: u64,
    origin: &str,
) -> Result<(Vec<LayerType>, Vec<FfnType>)> {
    let kinds: Vec<String> = if let Some(p) =
        c.get("hybrid_override_pattern").and_then(Value::as_str)
    {
        p.chars().map(|ch| ch.to_string()).collect()
    } else if let Some(a) = c.get("layers_block_type").and_then(Value::as_array) {
        a.iter()
            .map(|v| v.as_str().unwrap_or("?").to_string())
            .collect()
    } else {
        return Err(Error::spec(
            origin,
            "nemotron_h config has neither 'hybrid_override_pattern' nor 'layers_block_type'; kvplan needs one to know which blocks are Mamba2, attention, MLP or MoE",
        ));
    };
    if kinds.len() as u64 != layers {
        return Err(Error::spec(
            origin,
            format!(
                "hybrid_override_pattern / layers_block_type lists {} blocks but num_hidden_layers is {layers}",
                kinds.len()
            ),
        ));
    }
    let mut l = Vec::new();
    let mut f = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        let (lt, ft) = match k.as_str() {
            "M" | "mamba" => (LayerType::Mamba, FfnType::None),
            "*" | "attention" => (LayerType::Full, FfnType::None),
            "E" | "moe" => (LayerType::None, FfnType::Moe),
            "-" | "mlp" => (LayerType::None, FfnType::Dense),
            other => {
                return Err(Error::spec(
                    origin,
                    format!("hybrid_override_pattern block {i} = '{other}' is not one of M (mamba), * (attention), E (moe), - (mlp)"),
                ))
            }
        };
        l.push(lt);
        f.push(ft);
    }
    Ok((l, f))
}

/// Per-layer FFN kinds from `mlp_layer_types` (GLM: dense/sparse) or a list
/// `moe_layer_freq` (0/1 per layer); empty when the config has neither.
fn ffn_types(c: &Value, layers: u64, origin: &str) -> Result<Vec<FfnType>> {
    let list = c
        .get("mlp_layer_types")
        .and_then(Value::as_array)
        .map(|a| ("mlp_layer_types", a))
        .or_else(|| {
            c.get("moe_layer_freq")
                .and_then(Value::as_array)
                .map(|a| ("moe_layer_freq", a))
        });
    let Some((key, a)) = list else {
        return Ok(Vec::new());
    };
    if a.len() as u64 != layers {
        return Err(Error::spec(
            origin,
            format!(
                "{key} lists {} layers but num_hidden_layers is {layers}",
                a.len()
            ),
        ));
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| match (v.as_str(), v.as_u64()) {
            (Some("dense"), _) | (_, Some(0)) => Ok(FfnType::Dense),
            (Some("sparse"), _) | (Some("moe"), _) | (_, Some(1)) => Ok(FfnType::Moe),
            _ => Err(Error::spec(
                origin,
                format!("{key}[{i}] = {v} is not dense/sparse (or 0/1)"),
            )),
        })
        .collect()
}

fn dtype_field(c: &Value, keys: &[&str], default: DType, origin: &str) -> Result<DType> {
    match get(c, keys).and_then(Value::as_str) {
        None => Ok(default),
        Some(n) => DType::from_torch(n).ok_or_else(|| {
            Error::spec(
                origin,
                format!(
                    "field '{}' = '{n}' is not a dtype kvplan knows (float32, bfloat16, float16)",
                    keys[0]
                ),
            )
        }),
    }
}

/// Gated DeltaNet shapes (Qwen3-Next, Qwen3.5/3.6: `linear_*` fields) or
/// Kimi Delta Attention (`linear_attn_config`).
fn linear_spec(c: &Value, fam: &str, native: DType, origin: &str) -> Result<LinearAttentionSpec> {
    if let Some(l) = c.get("linear_attn_config").filter(|v| v.is_object()) {
        let heads = need_u64(l, &["num_heads"], origin)?;
        let d = need_u64(l, &["head_dim"], origin)?;
        return Ok(LinearAttentionSpec {
            kind: LinearKind::Kda,
            num_key_heads: heads,
            num_value_heads: heads,
            key_head_dim: d,
            value_head_dim: d,
            conv_kernel: get_u64(l, &["short_conv_kernel_size"]).unwrap_or(4),
            state_dtype: dtype_field(c, &["mamba_ssm_dtype"], DType::Fp32, origin)?,
            full_rank_gate: get_bool(l, "use_full_rank_gate").unwrap_or(false),
        });
    }
    if get_u64(c, &["linear_num_value_heads"]).is_none() {
        return Err(Error::spec(
            origin,
            format!("{fam}: layer_types has linear_attention layers but 'linear_num_value_heads' is missing; kvplan needs linear_num_key_heads, linear_num_value_heads, linear_key_head_dim, linear_value_head_dim and linear_conv_kernel_dim to size their state"),
        ));
    }
    Ok(LinearAttentionSpec {
        kind: LinearKind::GatedDeltaNet,
        num_key_heads: need_u64(c, &["linear_num_key_heads"], origin)?,
        num_value_heads: need_u64(c, &["linear_num_value_heads"], origin)?,
        key_head_dim: need_u64(c, &["linear_key_head_dim"], origin)?,
        value_head_dim: need_u64(c, &["linear_value_head_dim"], origin)?,
        conv_kernel: need_u64(c, &["linear_conv_kernel_dim"], origin)?,
        // No mamba_ssm_dtype (Qwen3-Next): the state is kept in the model dtype.
        state_dtype: dtype_field(c, &["mamba_ssm_dtype"], native, origin)?,
        full_rank_gate: false,
    })
}

/// Mamba2 shapes (Nemotron-H).
fn mamba_spec(c: &Value, native: DType, origin: &str) -> Result<MambaSpec> {
    let heads = need_u64(c, &["mamba_num_heads"], origin)?;
    Ok(MambaSpec {
        num_heads: heads,
        head_dim: need_u64(c, &["mamba_head_dim"], origin)?,
        state_size: need_u64(c, &["ssm_state_size"], origin)?,
        n_groups: get_u64(c, &["n_groups"]).unwrap_or(1),
        conv_kernel: need_u64(c, &["conv_kernel"], origin)?,
        conv_bias: get_bool(c, "use_conv_bias").unwrap_or(true),
        state_dtype: dtype_field(
            c,
            &["mamba_ssm_cache_dtype", "mamba_ssm_dtype"],
            native,
            origin,
        )?,
    })
}

/// Kimi-Linear / Kimi-K3 layer kinds from `linear_attn_config`: the KDA
/// layers are listed in `kda_layers` and the MLA layers in
/// `full_attn_layers`, both numbered from 1 (ml-explore/mlx-lm
/// `mlx_lm/models/kimi_k3.py`: `is_linear = (layer_idx + 1) in kda_layers`).
/// Together they must name every layer exactly once.
fn kimi_pattern(l: &Value, layers: u64, origin: &str) -> Result<Vec<LayerType>> {
    let list = |key: &str| -> Result<Vec<u64>> {
        let a = l.get(key).and_then(Value::as_array).ok_or_else(|| {
            Error::spec(
                origin,
                format!("field 'linear_attn_config.{key}' is missing or not a list; kvplan needs kda_layers and full_attn_layers (1-based layer numbers) to know which layers are KDA and which MLA"),
            )
        })?;
        a.iter()
            .map(|v| {
                v.as_u64().filter(|n| (1..=layers).contains(n)).ok_or_else(|| {
                    Error::spec(
                        origin,
                        format!("field 'linear_attn_config.{key}': entry {v} is not a layer number in 1..={layers} (the lists are 1-based)"),
                    )
                })
            })
            .collect()
    };
    let kda = list("kda_layers")?;
    let full = list("full_attn_layers")?;
    let mut types = vec![None; layers as usize];
    for (key, nums, t) in [
        ("kda_layers", &kda, LayerType::Linear),
        ("full_attn_layers", &full, LayerType::Full),
    ] {
        for &n in nums {
            let slot = &mut types[(n - 1) as usize];
            if slot.is_some() {
                return Err(Error::spec(
                    origin,
                    format!("field 'linear_attn_config.{key}': layer {n} is listed twice (kda_layers and full_attn_layers must name each layer once)"),
                ));
            }
            *slot = Some(t);
        }
    }
    if let Some(i) = types.iter().position(Option::is_none) {
        return Err(Error::spec(
            origin,
            format!("field 'linear_attn_config': layer {} (1-based) is in neither kda_layers nor full_attn_layers", i + 1),
        ));
    }
    let types: Vec<LayerType> = types.into_iter().flatten().collect();
    Ok(compress_pattern(&types))
}

/// Shortest repeating period of a layer list.
fn compress_pattern(types: &[LayerType]) -> Vec<LayerType> {
    for p in 1..=types.len() {
        if types.len() % p == 0 && types.chunks(p).all(|ch| ch == &types[..p]) {
            return types[..p].to_vec();
        }
    }
    types.to_vec()
}

fn layer_pattern(
    c: &Value,
    fam: &str,
    layers: u64,
    window: Option<u64>,
    origin: &str,
) -> Result<(Vec<LayerType>, Option<u64>)> {
    // 1. Explicit per-layer list (gpt-oss, newer Gemma/Qwen configs).
    if let Some(list) = c.get("layer_types").and_then(Value::as_array) {
        super::bounds::check_count(
            origin,
            "layer_types length",
            list.len() as u64,
            super::bounds::LAYERS,
        )?;
        let mut types = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let t = match v.as_str() {
                Some("full_attention")
                | Some("attention")
                | Some("global")
                | Some("deepseek_sparse_attention") => LayerType::Full,
                Some("sliding_attention") | Some("local") | Some("chunked_attention") => {
                    LayerType::Sliding
                }
                Some("linear_attention") | Some("linear") => LayerType::Linear,
                Some("mamba") => LayerType::Mamba,
                other => {
                    return Err(Error::spec(origin, format!("layer_types[{i}] = {other:?} is not a known layer type (full_attention, sliding_attention, linear_attention, mamba, deepseek_sparse_attention)")));
                }
            };
            types.push(t);
        }
        if types.len() as u64 != layers {
            return Err(Error::spec(
                origin,
                format!(
                    "layer_types lists {} layers but num_hidden_layers is {layers}",
                    types.len()
                ),
            ));
        }
        let has_sliding = types.contains(&LayerType::Sliding);
        return Ok((
            compress_pattern(&types),
            if has_sliding { window } else { None },
        ));
    }
    let window = window.filter(|w| *w > 0);
    match fam {
        // Gemma-2: even layers local, odd layers global.
        "gemma2" => Ok((vec![LayerType::Sliding, LayerType::Full], window)),
        // Llama-4: chunked local attention (attention_chunk_size) on 3 of every 4
        // layers, every 4th a global NoPE layer (Llama4TextConfig no_rope_layer_interval
        // 4). A chunked layer never holds more than one chunk, so it caches like a
        // sliding window of the chunk size (vLLM's ChunkedLocalAttentionSpec).
        f if f.starts_with("llama4") && get_u64(c, &["attention_chunk_size"]).is_some() => Ok((
            vec![
                LayerType::Sliding,
                LayerType::Sliding,
                LayerType::Sliding,
                LayerType::Full,
            ],
            get_u64(c, &["attention_chunk_size"]),
        )),
        // Gemma-3: `sliding_window_pattern` (default 6): 5 local then 1 global.
        "gemma3" | "gemma3_text" => {
            let p = get_u64(c, &["sliding_window_pattern"]).unwrap_or(6).max(1);
            // Bounded before the pattern is built (2^63 would be 9 EB).
            super::bounds::check_count(
                origin,
                "sliding_window_pattern",
                p,
                super::bounds::PATTERN_LEN,
            )?;
            let mut v = vec![LayerType::Sliding; (p - 1) as usize];
            v.push(LayerType::Full);
            Ok((v, Some(window.unwrap_or(1024))))
        }
        // Qwen2/2.5/3 carry a sliding_window value but ignore it unless use_sliding_window.
        "qwen2" | "qwen2_moe" | "qwen3" | "qwen3_moe" => {
            if get_bool(c, "use_sliding_window") == Some(true) {
                let mwl = get_u64(c, &["max_window_layers"]).unwrap_or(layers);
                if mwl >= layers {
                    return Ok((vec![LayerType::Full], None));
                }
                return Err(Error::spec(origin, "use_sliding_window with max_window_layers < num_hidden_layers is not supported yet"));
            }
            Ok((vec![LayerType::Full], None))
        }
        // Mistral and others: a window applies to every layer.
        _ => match window {
            Some(w) if w < get_u64(c, &["max_position_embeddings"]).unwrap_or(u64::MAX) => {
                Ok((vec![LayerType::Sliding], Some(w)))
            }
            _ => Ok((vec![LayerType::Full], None)),
        },
    }
}

/// The checkpoint's weight format and layout from `quantization_config`
/// (in config.json or, for multimodal wrappers, in `text_config`).
fn quant_format(root: &Value, origin: &str) -> Result<Option<(WeightFormat, CheckpointLayout)>> {
    let Some(q) = root.get("quantization_config").filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
    let bits = get_u64(q, &["bits", "w_bit"]);
    if let Some(b) = bits.filter(|_| matches!(method, "awq" | "gptq")) {
        if !(b == 4 || (b == 8 && method == "gptq")) {
            let supported = if method == "gptq" { "4 or 8" } else { "4" };
            return Err(Error::spec(
                origin,
                format!("quantization_config.bits = {b}: {method} checkpoints kvplan reads use {supported} bits; fix the config or pass --weights to choose a format"),
            ));
        }
    }
    let plain = |f: WeightFormat, what: &str| (f, layout(what, &[], None));
    let (f, mut lay) = match method {
        "fp8" => {
            let f = if q.get("weight_block_size").is_some_and(|v| !v.is_null()) {
                WeightFormat::Fp8Block
            } else {
                WeightFormat::Fp8
            };
            let skip = string_list(q, "modules_to_not_convert");
            (
                f,
                layout(
                    &format!("fp8 {} (quantization_config)", f.name()),
                    &skip,
                    None,
                ),
            )
        }
        "mxfp4" => {
            let skip = string_list(q, "modules_to_not_convert");
            (
                WeightFormat::Mxfp4,
                layout("mxfp4 (quantization_config)", &skip, None),
            )
        }
        "awq" if bits.unwrap_or(4) == 4 => plain(WeightFormat::Int4, "AWQ int4 group 128"),
        "gptq" if bits.unwrap_or(4) == 4 => plain(WeightFormat::Int4Gptq, "GPTQ int4 group 128"),
        "gptq" if bits == Some(8) => plain(WeightFormat::Int8, "GPTQ int8"),
        "bitsandbytes" => {
            if get_bool(q, "load_in_4bit") == Some(true) {
                plain(WeightFormat::Nf4, "bitsandbytes nf4")
            } else {
                plain(WeightFormat::Int8, "bitsandbytes int8")
            }
        }
        "compressed-tensors" => compressed_tensors(q, origin)?,
        // ModelOpt writes its own quantization_config (quant_method "modelopt",
        // or no method at all next to quant_algo).
        "modelopt" | "" if q.get("quant_algo").is_some() => {
            let algo = q.get("quant_algo").and_then(Value::as_str).unwrap_or("");
            let kv = q
                .get("kv_cache_scheme")
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            if algo.eq_ignore_ascii_case("MIXED_PRECISION") {
                let kv = kv
                    .filter(|k| k.contains("FP8") || k.contains("\"num_bits\":8"))
                    .map(|_| KvDtype::Fp8);
                return modelopt_mixed(q, "quantization_config", kv, origin).map(Some);
            }
            let f = modelopt_format(algo, "quantization_config.quant_algo", origin)?;
            let skip = string_list(q, "ignore");
            let kv = kv.filter(|k| k.contains("FP8") || k.contains("\"num_bits\":8"));
            (
                f,
                layout(
                    &format!("ModelOpt {algo} (quantization_config)"),
                    &skip,
                    kv.map(|_| KvDtype::Fp8),
                ),
            )
        }
        other => {
            return Err(Error::spec(
                origin,
                format!("quantization_config.quant_method '{other}' is not supported; pass --weights to choose a format"),
            ))
        }
    };
    if lay.read_from.is_empty() {
        lay.read_from = f.name().to_string();
    }
    Ok(Some((f, lay)))
}

fn string_list(q: &Value, key: &str) -> Vec<String> {
    q.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// ModelOpt `quant_algo` → format (MIXED_PRECISION is read by
/// `modelopt_mixed`). W4A16_NVFP4 stores weights as NVFP4 does (activations
/// stay 16-bit).
fn modelopt_format(algo: &str, field: &str, origin: &str) -> Result<WeightFormat> {
    match algo.to_ascii_uppercase().as_str() {
        "FP8" => Ok(WeightFormat::Fp8),
        "FP8_PB_WO" | "FP8_BLOCK" => Ok(WeightFormat::Fp8Block),
        "NVFP4" | "W4A16_NVFP4" => Ok(WeightFormat::Nvfp4),
        "MXFP8" => Ok(WeightFormat::Mxfp8),
        "W4A16_AWQ" => Ok(WeightFormat::Int4),
        other => Err(Error::spec(
            origin,
            format!("field '{field}' = '{other}': ModelOpt {other} (per-layer mixed formats) is not modelled; pass --weights to size it in one format"),
        )),
    }
}

/// Where a ModelOpt `quantized_layers` module path sits in kvplan's tensor
/// list: (part, kvplan tensor name or "" for the whole part, decoder layer).
/// `Ok(None)`: outside the language model (MTP, vision) and not counted.
fn mixed_place(path: &str, origin: &str) -> Result<Option<(ModulePart, String, Option<u64>)>> {
    let p = path.to_ascii_lowercase();
    if p.contains("mtp") || p.contains("visual") || p.contains("vision") {
        return Ok(None);
    }
    if p == "lm_head" || p.ends_with(".lm_head") {
        return Ok(Some((ModulePart::LmHead, String::new(), None)));
    }
    let bad = || {
        Error::spec(
            origin,
            format!("field 'quantized_layers': module '{path}' is not a linear layer kvplan can place (attention, linear attention, Mamba mixer, MLP, shared or routed experts, lm_head); pass --weights to size the checkpoint in one format"),
        )
    };
    let at = p.find("layers.").ok_or_else(bad)?;
    let rest = &p[at + 7..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let layer: u64 = digits.parse().map_err(|_| bad())?;
    let rest = rest[digits.len()..].trim_start_matches('.');
    let last = rest.rsplit('.').next().unwrap_or(rest);
    let proj = last.ends_with("_proj");
    let placed = if rest.contains("shared_expert") && proj {
        (ModulePart::SharedExperts, last.to_string())
    } else if rest.contains("experts") {
        (
            ModulePart::RoutedExperts,
            if proj {
                last.to_string()
            } else {
                String::new()
            },
        )
    } else if matches!(last, "in_proj_qkv" | "in_proj_z") {
        // Qwen3.5/3.6 split what kvplan counts as Qwen3-Next's fused in_proj_qkvz.
        (ModulePart::Attention, "in_proj_qkvz".to_string())
    } else if matches!(last, "in_proj_b" | "in_proj_a") {
        (ModulePart::Attention, "in_proj_ba".to_string())
    } else if matches!(last, "index_q_proj" | "index_k_proj" | "index_v_proj") {
        // MiniMax-M3's checkpoint splits what kvplan counts as SGLang's fused
        // `index_qkv_proj`.
        (ModulePart::Attention, "index_qkv_proj".to_string())
    } else if ["self_attn.", "mixer.", "linear_attn.", "attention."]
        .iter()
        .any(|s| rest.starts_with(s))
        && proj
    {
        (ModulePart::Attention, last.to_string())
    } else if rest.starts_with("mlp.") && proj {
        (ModulePart::DenseMlp, last.to_string())
    } else {
        return Err(bad());
    };
    Ok(Some((placed.0, placed.1, Some(layer))))
}

/// ModelOpt `MIXED_PRECISION`: every quantized linear layer is listed in
/// `quantized_layers` with its own `quant_algo` (FP8, W4A16_NVFP4 / NVFP4
/// group 16, …); the rest stays 16-bit. The checkpoint's format is the one of
/// its routed experts (else of its dense MLPs, else the most listed), which
/// holds most of the bytes; each other tensor is sized in its own format.
fn modelopt_mixed(
    q: &Value,
    at: &str,
    kv: Option<KvDtype>,
    origin: &str,
) -> Result<(WeightFormat, CheckpointLayout)> {
    let layers = q
        .get("quantized_layers")
        .and_then(Value::as_object)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            Error::spec(
                origin,
                format!("field '{at}.quantized_layers': MIXED_PRECISION needs the per-layer formats and they are missing"),
            )
        })?;
    use std::collections::BTreeMap;
    // (part, tensor, layer) -> format
    let mut each: BTreeMap<(ModulePart, String, Option<u64>), WeightFormat> = BTreeMap::new();
    for (path, entry) in layers {
        let algo = entry
            .get("quant_algo")
            .and_then(Value::as_str)
            .unwrap_or("");
        let f = modelopt_format(
            algo,
            &format!("{at}.quantized_layers.{path}.quant_algo"),
            origin,
        )?;
        if f == WeightFormat::Nvfp4 {
            if let Some(g) = get_u64(entry, &["group_size"]).filter(|g| *g != 16) {
                return Err(Error::spec(
                    origin,
                    format!("field '{at}.quantized_layers.{path}.group_size' = {g}: NVFP4 uses groups of 16"),
                ));
            }
        }
        let Some(key) = mixed_place(path, origin)? else {
            continue;
        };
        if let Some(prev) = each.insert(key.clone(), f) {
            if prev != f {
                return Err(Error::spec(
                    origin,
                    format!("field '{at}.quantized_layers': '{path}' is {} but the tensor kvplan counts it in ({} of layer {:?}) is also {} — a fused tensor in two formats is not modelled", f.name(), key.1, key.2, prev.name()),
                ));
            }
        }
    }
    // Group over layers.
    let mut groups: BTreeMap<(ModulePart, String, WeightFormat), Vec<u64>> = BTreeMap::new();
    for ((part, tensor, layer), f) in &each {
        let e = groups.entry((*part, tensor.clone(), *f)).or_default();
        if let Some(l) = layer {
            e.push(*l);
        }
    }
    let mixed: Vec<TensorFormat> = groups
        .into_iter()
        .map(|((part, tensor, format), layers)| TensorFormat {
            part,
            tensor,
            layers,
            format,
        })
        .collect();
    let of = |p: ModulePart| mixed.iter().find(|e| e.part == p).map(|e| e.format);
    let most = || {
        let mut n: BTreeMap<&'static str, (usize, WeightFormat)> = BTreeMap::new();
        for f in each.values() {
            n.entry(f.name()).or_insert((0, *f)).0 += 1;
        }
        n.into_values().max_by_key(|(c, _)| *c).map(|(_, f)| f)
    };
    let main = of(ModulePart::RoutedExperts)
        .or_else(|| of(ModulePart::DenseMlp))
        .or_else(most)
        .ok_or_else(|| {
            Error::spec(
                origin,
                format!("field '{at}.quantized_layers' lists no layer of the language model"),
            )
        })?;
    let file = if at == "quantization" {
        "hf_quant_config.json"
    } else {
        "config.json quantization_config"
    };
    let mut lay = layout(&format!("ModelOpt MIXED_PRECISION ({file})"), &[], kv);
    lay.mixed = mixed;
    Ok((main, lay))
}

/// compressed-tensors: one config group (the formats kvplan models) whose
/// `weights` say the format: `pack-quantized` int4/int8 by group,
/// `float-quantized` fp8, `nvfp4-pack-quantized`, `mxfp4-pack-quantized`.
fn compressed_tensors(q: &Value, origin: &str) -> Result<(WeightFormat, CheckpointLayout)> {
    let groups = q
        .get("config_groups")
        .and_then(Value::as_object)
        .filter(|g| !g.is_empty())
        .ok_or_else(|| {
            Error::spec(
                origin,
                "compressed-tensors quantization_config has no config_groups",
            )
        })?;
    if groups.len() > 1 {
        return Err(Error::spec(
            origin,
            format!("field 'quantization_config.config_groups': {} groups (per-layer mixed formats) are not modelled; pass --weights to size it in one format", groups.len()),
        ));
    }
    let (name, g) = groups.iter().next().expect("one group");
    let w = g
        .get("weights")
        .filter(|v| v.is_object())
        .ok_or_else(|| Error::spec(origin, format!("config_groups.{name}.weights is missing")))?;
    let targets = string_list(g, "targets");
    if !targets.is_empty() && targets.iter().any(|t| t != "Linear") {
        return Err(Error::spec(
            origin,
            format!("field 'config_groups.{name}.targets': module lists other than [\"Linear\"] are not modelled; pass --weights"),
        ));
    }
    let nbits = get_u64(w, &["num_bits"]).unwrap_or(0);
    let kind = w.get("type").and_then(Value::as_str).unwrap_or("int");
    let group = get_u64(w, &["group_size"]);
    let fmt = g
        .get("format")
        .or_else(|| q.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let symmetric = get_bool(w, "symmetric").unwrap_or(true);
    let f = match (kind, nbits, group, fmt) {
        ("int", 4, Some(32), "pack-quantized") if symmetric => WeightFormat::Int4G32,
        ("float", 4, Some(32), f) if f.starts_with("mxfp4") => WeightFormat::Mxfp4,
        ("float", 4, Some(16), _) => WeightFormat::Nvfp4,
        ("float", 8, _, _) if w.get("block_structure").is_some_and(|b| !b.is_null()) => {
            WeightFormat::Fp8Block
        }
        ("float", 8, _, _) => WeightFormat::Fp8,
        ("int", 8, _, _) => WeightFormat::Int8,
        _ => {
            return Err(Error::spec(
                origin,
                format!("field 'config_groups.{name}.weights': {kind} {nbits}-bit, group {group:?}, format '{fmt}' (symmetric {symmetric}) is not a layout kvplan models (int4 pack-quantized group 32, mxfp4/nvfp4, fp8, int8); pass --weights"),
            ))
        }
    };
    let kv = q
        .get("kv_cache_scheme")
        .filter(|v| !v.is_null())
        .and_then(|v| get_u64(v, &["num_bits"]))
        .filter(|b| *b == 8)
        .map(|_| KvDtype::Fp8);
    let what = format!(
        "compressed-tensors {} {kind}{nbits}{} (quantization_config)",
        if fmt.is_empty() { "quantized" } else { fmt },
        group.map(|g| format!(" group {g}")).unwrap_or_default()
    );
    Ok((f, layout(&what, &string_list(q, "ignore"), kv)))
}

/// ModelOpt's `hf_quant_config.json` (a sidecar of NVIDIA checkpoints whose
/// config.json may say nothing about quantization): set the spec's format,
/// its 16-bit parts and KV quantization. Returns a note for the source line.
pub fn apply_modelopt_sidecar(spec: &mut ModelSpec, text: &str, origin: &str) -> Result<String> {
    let v = parse_json(text, origin)?;
    let q = v.get("quantization").unwrap_or(&v);
    let algo = q.get("quant_algo").and_then(Value::as_str).unwrap_or("");
    if algo.is_empty() {
        return Ok(format!(
            "{origin}: no quant_algo; weights as in config.json"
        ));
    }
    let kv = match q.get("kv_cache_quant_algo").and_then(Value::as_str) {
        Some(k) if k.eq_ignore_ascii_case("FP8") => Some(KvDtype::Fp8),
        _ => None,
    };
    if algo.eq_ignore_ascii_case("MIXED_PRECISION") {
        let (f, lay) = modelopt_mixed(q, "quantization", kv, origin)?;
        let note = format!("weights {} from {origin} ({})", f.name(), lay.summary());
        spec.checkpoint_format = Some(f);
        spec.checkpoint_layout = Some(lay);
        return Ok(note);
    }
    let f = modelopt_format(algo, "quantization.quant_algo", origin)?;
    let lay = layout(
        &format!("ModelOpt {algo} (hf_quant_config.json)"),
        &string_list(q, "exclude_modules"),
        kv,
    );
    spec.checkpoint_format = Some(f);
    spec.checkpoint_layout = Some(lay);
    Ok(format!(
        "weights {} from {origin} (ModelOpt {algo})",
        f.name()
    ))
}

/// Turn exclusion patterns into the parts they keep 16-bit. Patterns name
/// modules by path (`model.layers.3.self_attn*`, `re:.*shared_experts.*`,
/// `*.mlp.shared_expert.*`); norms, biases, routers and the embedding are
/// 16-bit anyway; MTP modules are not counted in the model.
fn layout(read_from: &str, patterns: &[String], kv: Option<KvDtype>) -> CheckpointLayout {
    use std::collections::BTreeMap;
    let mut keep: BTreeMap<ModulePart, Option<Vec<u64>>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for raw in patterns {
        let p = raw.strip_prefix("re:").unwrap_or(raw).to_ascii_lowercase();
        let layer = p.find("layers.").and_then(|i| {
            let digits: String = p[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            digits.parse::<u64>().ok()
        });
        let after_layer = layer
            .and_then(|l| {
                p.find(&format!("layers.{l}"))
                    .map(|i| &p[i + 7 + l.to_string().len()..])
            })
            .unwrap_or("");
        let part = if p.contains("mtp") {
            continue;
        } else if p.contains("lm_head") || p == "head" || p.ends_with(".head") {
            Some(ModulePart::LmHead)
        } else if p.contains("embed") {
            Some(ModulePart::Embedding)
        } else if p.contains("norm")
            || p.contains("bias")
            || p.ends_with(".gate")
            || p.ends_with("mlp.gate")
            || p.contains("router")
            || p.contains("vision")
            || p.contains("mm_projector")
            || p.contains("multi_modal")
            || p.contains("patch_merge")
        {
            // 16-bit anyway, or outside the language model.
            continue;
        } else if p.contains("shared_expert") {
            Some(ModulePart::SharedExperts)
        } else if p.contains("experts") {
            Some(ModulePart::RoutedExperts)
        } else if p.contains("attn") || p.contains("mixer") {
            Some(ModulePart::Attention)
        } else if p.contains("mlp") {
            Some(ModulePart::DenseMlp)
        } else if layer.is_some()
            && (after_layer.is_empty() || after_layer == "*" || after_layer == ".*")
        {
            Some(ModulePart::Layer)
        } else {
            None
        };
        match part {
            None => unplaced.push(raw.clone()),
            Some(part) => {
                let e = keep.entry(part).or_insert_with(|| Some(Vec::new()));
                match (layer, e.as_mut()) {
                    (Some(l), Some(v)) => v.push(l),
                    (None, _) => *e = None,
                    (Some(_), None) => {}
                }
            }
        }
    }
    let keep_16bit = keep
        .into_iter()
        .map(|(part, layers)| {
            let mut layers = layers.unwrap_or_default();
            layers.sort_unstable();
            layers.dedup();
            Keep16 { part, layers }
        })
        .collect();
    CheckpointLayout {
        read_from: read_from.to_string(),
        keep_16bit,
        kv_cache_dtype: kv,
        unplaced_patterns: unplaced,
        mixed: Vec::new(),
        ue8m0_block_scales: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_names_line() {
        let e = parse_config("{\n \"hidden_size\": 4096,\n oops\n}", "cfg.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cfg.json: line 3"), "{e}");
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse_config("{\"hidden_size\": 64}", "c.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_hidden_layers"), "{e}");
    }

    #[test]
    fn pattern_compression() {
        use LayerType::*;
        assert_eq!(
            compress_pattern(&[Sliding, Full, Sliding, Full]),
            vec![Sliding, Full]
        );
        assert_eq!(compress_pattern(&[Full, Full]), vec![Full]);
    }
}
