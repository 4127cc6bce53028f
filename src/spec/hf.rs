//! Hugging Face `config.json` → `ModelSpec`. Reads the common fields across
//! families, including the many encodings of the same idea that
//! docs/sources/models.md lists (sliding windows, head_dim overrides, expert
//! counts, MLA, MTP, quantization_config, nested `text_config`).

use super::dtype::{DType, WeightFormat};
use super::model::{AttentionSpec, LayerType, MlaSpec, MlpSpec, ModelSpec, MoeSpec, NormSpec};
use crate::error::{Error, Result};
use serde_json::Value;

/// Parse config.json text; `origin` names the file in errors.
pub fn parse_config(text: &str, origin: &str) -> Result<ModelSpec> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        Error::spec(
            origin,
            format!(
                "line {}, column {}: invalid JSON: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !root.is_object() {
        return Err(Error::spec(origin, "config.json must be a JSON object"));
    }
    let spec = from_value(&root, origin)?;
    spec.validate(origin)?;
    Ok(spec)
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
    let is_gemma = fam.starts_with("gemma");
    let is_gemma3 = fam.starts_with("gemma3");
    let hidden = need_u64(c, &["hidden_size", "n_embd", "d_model"], origin)?;
    let layers = need_u64(c, &["num_hidden_layers", "n_layer", "num_layers"], origin)?;
    let heads = need_u64(c, &["num_attention_heads", "n_head"], origin)?;
    let kv_heads =
        get_u64(c, &["num_key_value_heads", "n_head_kv", "num_kv_heads"]).unwrap_or(heads);
    let vocab = match get_u64(c, &["vocab_size"]) {
        Some(v) => v,
        // Gemma3TextConfig's class default (the real file omits it).
        None if is_gemma3 => 262_208,
        None => return Err(Error::spec(origin, "missing field 'vocab_size'")),
    };
    let head_dim = get_u64(c, &["head_dim"]).unwrap_or(hidden / heads.max(1));
    let max_context = get_u64(
        c,
        &[
            "max_position_embeddings",
            "n_positions",
            "max_sequence_length",
        ],
    )
    .unwrap_or(if is_gemma3 { 131_072 } else { 0 });
    if max_context == 0 {
        return Err(Error::spec(
            origin,
            "missing field 'max_position_embeddings'",
        ));
    }
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
    let qwen2_bias = matches!(fam, "qwen2" | "qwen2_moe");
    let attention = AttentionSpec {
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim: mla
            .as_ref()
            .map(|m| m.qk_nope_head_dim + m.qk_rope_head_dim)
            .unwrap_or(head_dim),
        v_head_dim: mla.as_ref().map(|m| m.v_head_dim),
        qkv_bias: (attention_bias || qwen2_bias) && mla.is_none(),
        o_bias: attention_bias && mla.is_none(),
        qk_norm: matches!(
            fam,
            "qwen3" | "qwen3_moe" | "gemma3" | "gemma3_text" | "olmo2" | "qwen3_next"
        ),
        sinks: fam == "gpt_oss",
        mla,
    };

    // --- layer pattern
    let window = get_u64(c, &["sliding_window", "sliding_window_size"]);
    let (layer_pattern, sliding_window) = layer_pattern(c, fam, layers, window, origin)?;

    // --- MLP / MoE
    let inter =
        get_u64(c, &["intermediate_size", "ffn_hidden_size", "n_inner"]).unwrap_or(4 * hidden);
    let num_experts =
        get_u64(c, &["n_routed_experts", "num_local_experts", "num_experts"]).filter(|e| *e > 1);
    let moe = match num_experts {
        None => None,
        Some(e) => {
            let top_k = need_u64(
                c,
                &["num_experts_per_tok", "experts_per_token", "moe_topk"],
                origin,
            )?;
            let expert_inter = get_u64(c, &["moe_intermediate_size"]).unwrap_or(inter);
            // Llama-4 MoE layers always add one shared expert of the expert width.
            let n_shared =
                get_u64(c, &["n_shared_experts"]).unwrap_or(u64::from(fam.starts_with("llama4")));
            let shared_inter =
                get_u64(c, &["shared_expert_intermediate_size"]).unwrap_or(n_shared * expert_inter);
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
                num_experts: e,
                experts_per_token: top_k,
                expert_intermediate_size: expert_inter,
                shared_intermediate_size: shared_inter,
                shared_expert_gate: fam == "qwen2_moe" && shared_inter > 0,
                first_dense_layers: first_dense,
                layer_step: step,
                router_bias: fam == "gpt_oss",
                router_score_bias: get(c, &["topk_method"]).and_then(Value::as_str)
                    == Some("noaux_tc"),
                expert_bias: fam == "gpt_oss",
            })
        }
    };
    // Mixtral/gpt-oss name the expert width `intermediate_size` and have no dense layers.
    let has_dense_layers = match &moe {
        None => true,
        Some(m) => m.first_dense_layers > 0 || m.layer_step > 1,
    };
    // Llama-4 names the dense layers' width `intermediate_size_mlp`.
    let dense_inter = get_u64(c, &["intermediate_size_mlp"]).unwrap_or(inter);
    let mlp = MlpSpec {
        intermediate_size: if has_dense_layers { dense_inter } else { 0 },
        gated: true,
        bias: get_bool(c, "mlp_bias").unwrap_or(false),
    };
    let norm = NormSpec {
        per_layer: if matches!(fam, "gemma2" | "gemma3" | "gemma3_text") {
            4
        } else {
            2
        },
        bias: false,
    };
    let checkpoint_format = quant_format(root, origin)?;
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
        mtp_layers: get_u64(c, &["num_nextn_predict_layers"]).unwrap_or(0),
        linear_state_bytes_per_layer: 0,
        checkpoint_format,
    })
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
        let mut types = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let t = match v.as_str() {
                Some("full_attention") | Some("attention") | Some("global") => LayerType::Full,
                Some("sliding_attention") | Some("local") | Some("chunked_attention") => {
                    LayerType::Sliding
                }
                Some("linear_attention") | Some("mamba") | Some("linear") => LayerType::Linear,
                other => {
                    return Err(Error::spec(origin, format!("layer_types[{i}] = {other:?} is not a known layer type (full_attention, sliding_attention, linear_attention)")));
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
        if types.contains(&LayerType::Linear) {
            return Err(Error::spec(origin, "linear-attention layers need their state size; write a YAML spec with linear_state_bytes_per_layer"));
        }
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

/// The checkpoint's weight format from `quantization_config`.
fn quant_format(root: &Value, origin: &str) -> Result<Option<WeightFormat>> {
    let Some(q) = root.get("quantization_config").filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
    let bits = get_u64(q, &["bits", "w_bit"]);
    let f = match method {
        "fp8" => {
            if q.get("weight_block_size").is_some_and(|v| !v.is_null()) {
                WeightFormat::Fp8Block
            } else {
                WeightFormat::Fp8
            }
        }
        "mxfp4" => WeightFormat::Mxfp4,
        "awq" if bits.unwrap_or(4) == 4 => WeightFormat::Int4,
        "gptq" if bits.unwrap_or(4) == 4 => WeightFormat::Int4Gptq,
        "gptq" if bits == Some(8) => WeightFormat::Int8,
        "bitsandbytes" => {
            if get_bool(q, "load_in_4bit") == Some(true) {
                WeightFormat::Nf4
            } else {
                WeightFormat::Int8
            }
        }
        "modelopt" => match q.get("quant_algo").and_then(Value::as_str) {
            Some("FP8") => WeightFormat::Fp8,
            Some("NVFP4") => WeightFormat::Nvfp4,
            other => return Err(Error::spec(origin, format!("quantization_config: modelopt quant_algo {other:?} is not supported"))),
        },
        other => {
            return Err(Error::spec(
                origin,
                format!("quantization_config.quant_method '{other}' is not supported; pass --weights to choose a format"),
            ))
        }
    };
    Ok(Some(f))
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
