//! The inputs of an estimate as users type them (CLI flags, web form/API
//! JSON fields of the same names), and their resolution into a Scenario.
//! Shared by the CLI and the server so both give the same numbers.

use crate::error::{Error, Result};
use crate::scenario::{Cluster, Deployment, Scenario, Workload};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::spec::engine_id::EngineId;
use crate::spec::model::ModelSpec;
use crate::spec::whatif::AttentionVariant;
use crate::spec::Catalog;
use crate::units;
use serde::{Deserialize, Deserializer, Serialize};

/// A token count given as a number (32768) or text ("32k").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Tokens {
    /// Exact number.
    Number(u64),
    /// Text such as "100k" or "128Ki".
    Text(String),
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Number(n) => whole_number(&n).map(Tokens::Number).ok_or_else(|| {
                serde::de::Error::custom("must be a positive whole number or text like \"32k\"")
            }),
            serde_json::Value::String(s) => Ok(Tokens::Text(s)),
            _ => Err(serde::de::Error::custom(
                "must be a number or text like \"32k\"",
            )),
        }
    }
}

/// A JSON number that is a non-negative whole count: `1000`, and also
/// `1e3` or `1000.0` (JSON writers emit those for the same value), so the
/// API takes counts the way the CLI does. `None` for fractions, negatives
/// and values beyond 10^12 (no deployment counts that far).
fn whole_number(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= 1e12).then_some(f as u64)
}

/// `Org/Name` that is no file is most likely a Hugging Face id typed
/// without `hf:` (issue 17: "No such file" helped nobody): say so, and name
/// the nearest built-in models. Other load errors pass through.
fn hub_id_hint(e: Error, name: &str, catalog: &Catalog) -> Error {
    let n = name.trim();
    let hub_like = matches!(e, Error::Environment(_))
        && n.matches('/').count() == 1
        && !n.starts_with(['.', '/', '~'])
        && !n.starts_with("hf:")
        && ![".json", ".yaml", ".yml"]
            .iter()
            .any(|x| n.to_ascii_lowercase().ends_with(x));
    if !hub_like {
        return e;
    }
    let repo = n.split('/').nth(1).unwrap_or(n);
    let names: Vec<&str> = catalog
        .models
        .iter()
        .flat_map(|m| std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str)))
        .collect();
    let near = crate::error::nearest_names(repo, names);
    let built_in = if near.is_empty() {
        "`kvplan models` lists the built-in names".to_string()
    } else {
        format!("built in: {} (`kvplan models` lists all)", near.join(", "))
    };
    Error::input(
        "model",
        format!("'{n}' is not a built-in name or a file here; for the Hugging Face Hub write hf:{n}; {built_in}"),
    )
}

/// A count as the API takes it (`users`, `top`): a whole JSON number
/// (`64`, `1e3`) or text (`"1k"`), as the CLI flags of the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        de_count(d)?
            .map(Count)
            .ok_or_else(|| serde::de::Error::custom("must be a number"))
    }
}

/// Optional counts in requests (`batch`, `max_num_seqs`, …): a whole JSON
/// number (`64`, `1e3`) or the CLI's text (`"1k"`, `"1Ki"`).
fn de_count<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => whole_number(&n).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("{n} must be a positive whole number"))
        }),
        Some(serde_json::Value::String(s)) => units::parse_tokens(&s, "count")
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.message())),
        Some(_) => Err(serde::de::Error::custom(
            "must be a number or text like \"1k\"",
        )),
    }
}

impl Tokens {
    /// Resolve to a count; `field` names the option in errors.
    pub fn resolve(&self, field: &str) -> Result<u64> {
        match self {
            Tokens::Number(n) => Ok(*n),
            Tokens::Text(t) => units::parse_tokens(t, field),
        }
    }
}

/// Inputs of `estimate` (and the web API's `POST /api/estimate`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// Model name/alias, or a path to config.json / spec .yaml (CLI only).
    pub model: String,
    /// GPUs: "H100", "8xH800", "2x8xH100".
    pub gpus: String,
    /// Context tokens per sequence (default: the model's maximum).
    #[serde(default)]
    pub ctx: Option<Tokens>,
    /// Concurrent sequences (default 1).
    #[serde(default, deserialize_with = "de_count")]
    pub batch: Option<u64>,
    /// Weight format (default: the checkpoint's); any spelling `--weights` takes.
    #[serde(default, deserialize_with = "de_weights")]
    pub weights: Option<WeightFormat>,
    /// KV dtype (default: the model's 16-bit dtype); any spelling `--kv-dtype` takes.
    #[serde(default, deserialize_with = "de_kv_dtype")]
    pub kv_dtype: Option<KvDtype>,
    /// Engine profile, `name[@version]` (default vllm).
    #[serde(default)]
    pub engine: Option<EngineId>,
    /// Tensor parallel (default: GPUs per node).
    #[serde(default)]
    pub tp: Option<u64>,
    /// Pipeline parallel (default: nodes).
    #[serde(default)]
    pub pp: Option<u64>,
    /// Expert parallel (default 1).
    #[serde(default)]
    pub ep: Option<u64>,
    /// Data parallel (default: whatever tp × pp leaves).
    #[serde(default)]
    pub dp: Option<u64>,
    /// vLLM/TRT memory fraction.
    #[serde(default)]
    pub gpu_memory_utilization: Option<f64>,
    /// SGLang memory fraction.
    #[serde(default)]
    pub mem_fraction_static: Option<f64>,
    /// Prefill chunk.
    #[serde(default, deserialize_with = "de_count")]
    pub max_num_batched_tokens: Option<u64>,
    /// KV block size.
    #[serde(default)]
    pub block_size: Option<u64>,
    /// Engine's max model length (an alternative way to give ctx).
    #[serde(default)]
    pub max_model_len: Option<Tokens>,
    /// Load the MTP module and speculate with it.
    #[serde(default)]
    pub mtp: Option<bool>,
    /// Accepted draft tokens per step with MTP (expected extra tokens, 0–1 per draft).
    #[serde(default)]
    pub mtp_acceptance: Option<f64>,
    /// Draft tokens per decode step with MTP (vLLM `num_speculative_tokens`,
    /// SGLang `--speculative-num-steps`, TensorRT-LLM `num_nextn_predict_layers`);
    /// default: the checkpoint's MTP module count.
    #[serde(default)]
    pub mtp_draft_tokens: Option<u64>,
    /// Attention what-if: `mha`, `gqa:N`, `mqa` or `mla:RANK` replaces the
    /// model's attention shape (empty text: none).
    #[serde(
        default,
        deserialize_with = "de_attention",
        serialize_with = "ser_attention"
    )]
    pub attention: Option<AttentionVariant>,
    /// Decode context parallelism (vLLM `-dcp N`): KV capacity ×N, each
    /// GPU reads 1/N of a sequence's cache per step (default 1).
    #[serde(default)]
    pub dcp: Option<u64>,
    /// KV pool per GPU given directly (vLLM `--kv-cache-memory`), bytes or
    /// text such as "40GiB"; replaces the memory-fraction rule.
    #[serde(default)]
    pub kv_cache_memory: Option<Tokens>,
    /// Sequences in the engine's profile/sampler run (`--max-num-seqs`).
    #[serde(default, deserialize_with = "de_count")]
    pub max_num_seqs: Option<u64>,
    /// vLLM's top-k/top-p sampler (`flashinfer` or `pytorch`), which sizes
    /// the start-up sampler warm-up; default: the version profile's.
    #[serde(default, deserialize_with = "de_sampler")]
    pub sampler: Option<crate::spec::engine::Sampler>,
    /// SGLang `--scheduler-recv-interval` (default 1): while it decodes, the
    /// scheduler takes new requests only once every this many decode
    /// iterations, which the serving simulator counts in TTFT.
    #[serde(default, deserialize_with = "de_count")]
    pub scheduler_recv_interval: Option<u64>,
}

/// Read an optional text field with `parse`, so the API takes exactly the
/// spellings the CLI takes and says what is wrong in the same words.
fn de_parsed<'de, D, T>(
    d: D,
    parse: impl Fn(&str) -> Result<T>,
) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(t) => parse(&t)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.message())),
    }
}

fn de_weights<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<WeightFormat>, D::Error> {
    de_parsed(d, |t| WeightFormat::parse(t, "weights"))
}

fn de_sampler<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<crate::spec::engine::Sampler>, D::Error> {
    de_parsed(d, crate::spec::engine::Sampler::parse)
}

fn de_kv_dtype<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<KvDtype>, D::Error> {
    de_parsed(d, |t| KvDtype::parse(t, "kv-dtype"))
}

fn de_attention<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<AttentionVariant>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(t) if !t.trim().is_empty() => AttentionVariant::parse(&t)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(e.message())),
        _ => Ok(None),
    }
}

fn ser_attention<S: serde::Serializer>(
    v: &Option<AttentionVariant>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(a) => s.serialize_some(&a.flag()),
        None => s.serialize_none(),
    }
}

/// `--sampler`: which top-k/top-p path vLLM's V1 sampler warm-up runs at
/// start-up. FlashInfer's kernel leaves the logits as the warm-up's memory
/// (the vllm@0.10 arithmetic, checked on 0.10.1.1 logs that print "Using
/// FlashInfer for top-p & top-k sampling"); the PyTorch path sorts the whole
/// vocabulary and peaks as its own phase (`torch_sampler_logits_copies`).
fn apply_sampler(
    engine: &mut crate::spec::engine::EngineSpec,
    sampler: crate::spec::engine::Sampler,
    dense_runner: bool,
    notes: &mut Vec<String>,
) -> Result<()> {
    use crate::spec::engine::Sampler;
    let Some(torch_copies) = engine.torch_sampler_logits_copies else {
        return Err(Error::input(
            "sampler",
            format!(
                "--sampler picks vLLM's top-k/top-p sampler; engine {} has no such switch (drop the flag, or use --engine vllm)",
                engine.name
            ),
        ));
    };
    if dense_runner {
        // Model Runner V2's warm-up skips top-k/top-p (its profile_run NOTE),
        // so the sampler choice does not change its memory.
        notes.push(format!(
            "--sampler {}: no effect on the start-up memory of this model runner, whose warm-up samples without top-k/top-p",
            sampler.flag()
        ));
        return Ok(());
    }
    match sampler {
        Sampler::Flashinfer => {
            engine.sampler_logits_copies = None;
            notes.push("sampler warm-up: FlashInfer's top-k/top-p kernel (FlashInfer installed and used: the log says \"Using FlashInfer for top-p & top-k sampling\"), so the profile peak is the forward plus its logits".into());
        }
        Sampler::Pytorch => {
            if engine.sampler_logits_copies.is_none() {
                engine.sampler_logits_copies = Some(torch_copies);
            }
            notes.push(format!(
                "sampler warm-up: the PyTorch top-k/top-p path (the log says \"Falling back to the PyTorch-native implementation\", or FlashInfer's sampler is off): its peak of {} fp32 copies of max_num_seqs × vocabulary logits counts against the KV budget",
                engine.sampler_logits_copies.unwrap_or(torch_copies)
            ));
        }
    }
    Ok(())
}

/// What resolving a request yields.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The scenario.
    pub scenario: Scenario,
    /// Tokens produced per decode step (1 + accepted drafts).
    pub tokens_per_step: f64,
    /// Notes on defaults that were filled in.
    pub notes: Vec<String>,
}

/// Where an edge finds a model that is not built in (a path, an `hf:` id, a
/// pasted config), and what it tells the user they may give instead of a
/// built-in name. Any `Fn(&str) -> Result<ModelSpec>` is one, with no hint.
pub trait ModelSource {
    /// Turn `name` (not a built-in model) into a spec.
    fn load(&self, name: &str) -> Result<ModelSpec>;
    /// One sentence appended to "unknown model" errors, e.g. "A path to a
    /// config.json also works." (empty: nothing to add).
    fn alternatives(&self) -> &str {
        ""
    }
    /// Whether a dotted name with no `/` and no `.json`/`.yaml` ending
    /// ("qwen2.5-7b-instruc", "glm-4.6") may be a file this source reads;
    /// when not, it is a mistyped model name and the error says "did you
    /// mean …", not "No such file". Default: it may.
    fn may_be_file(&self, _name: &str) -> bool {
        true
    }
}

impl<F: Fn(&str) -> Result<ModelSpec>> ModelSource for F {
    fn load(&self, name: &str) -> Result<ModelSpec> {
        self(name)
    }
}

/// The quantization a model's name announces (`GLM-4.7-FP8`, `…-NVFP4`,
/// `…-AWQ`), when its config says nothing: the estimate then says it sized the
/// weights as the model dtype rather than silently taking the name's word or
/// the config's.
fn quantized_name_token(m: &crate::spec::model::ModelSpec) -> Option<String> {
    const TOKENS: [&str; 12] = [
        "fp8", "nvfp4", "fp4", "mxfp4", "awq", "gptq", "int4", "int8", "w4a16", "w8a8", "w4a8",
        "bnb",
    ];
    let names = [
        m.name.as_str(),
        m.display_name.as_str(),
        m.hf_repo.as_deref().unwrap_or(""),
        m.source.split(':').next().unwrap_or(""),
    ]
    .join(" ")
    .to_ascii_lowercase();
    names
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|piece| TOKENS.contains(piece))
        .map(|t| t.to_ascii_uppercase())
}

/// Resolve `req` against the catalogue. `load_model` turns a model name that
/// is not built in (a path, `hf:` id) into a spec; the edge supplies it.
/// The scenario is not validated here: the operation that runs the core does
/// that once (`Scenario::validate`).
pub fn resolve(
    req: &EstimateRequest,
    catalog: &Catalog,
    load_model: &dyn Fn(&str) -> Result<ModelSpec>,
) -> Result<Resolved> {
    resolve_with(req, catalog, &load_model)
}

/// [`resolve`] with an edge's [`ModelSource`], whose hint completes
/// "unknown model" errors (the CLI: paths; the server: a pasted config).
pub fn resolve_with(
    req: &EstimateRequest,
    catalog: &Catalog,
    models: &dyn ModelSource,
) -> Result<Resolved> {
    let mut notes = Vec::new();
    if req.model.trim().is_empty() {
        return Err(Error::input(
            "model",
            "missing; give a model name (see `kvplan models`) or a config.json path",
        ));
    }
    let mut model = match catalog.model(&req.model) {
        Ok(m) => m.clone(),
        Err(e) => {
            let n = req.model.trim();
            let lower = n.to_ascii_lowercase();
            let looks_like_path = n.contains('/')
                || n.starts_with("hf:")
                || [".json", ".yaml", ".yml"]
                    .iter()
                    .any(|x| lower.ends_with(x))
                || (n.contains('.') && models.may_be_file(n));
            if looks_like_path {
                let m = models
                    .load(&req.model)
                    .map_err(|e| hub_id_hint(e, &req.model, catalog))?;
                notes.push(format!("model from {}", m.source));
                m
            } else {
                return Err(e.with_hint(models.alternatives()));
            }
        }
    };
    if let Some(variant) = req.attention {
        let before = model.attention_label();
        model = variant.apply(&model)?;
        notes.push(format!(
            "what-if --attention {}: {before} replaced by {}; weights, KV cache and speed follow the new shape",
            variant.flag(),
            model.attention_label()
        ));
    }
    if req.gpus.trim().is_empty() {
        return Err(Error::input(
            "gpus",
            "missing; e.g. --gpus 8xH800 (see `kvplan gpus`)",
        ));
    }
    let ct = units::parse_cluster(&req.gpus)?;
    let gpu = catalog.gpu(&ct.gpu_name)?.clone();
    let cluster = Cluster {
        gpu,
        nodes: ct.nodes,
        gpus_per_node: ct.gpus_per_node,
    };
    let n = cluster.total_gpus();

    let engine_id = req.engine.clone().unwrap_or_default();
    let (engine, platform_notes) = catalog
        .engine(&engine_id.to_string())?
        .for_platform(&cluster.gpu);
    notes.extend(platform_notes);
    let (mut engine, runner_note) = engine.for_model(&model);
    let dense_runner = runner_note.is_some();
    notes.extend(runner_note);
    if let Some(sampler) = req.sampler {
        apply_sampler(&mut engine, sampler, dense_runner, &mut notes)?;
    }
    if let Some(f) = req.gpu_memory_utilization.or(req.mem_fraction_static) {
        if req.gpu_memory_utilization.is_some() && req.mem_fraction_static.is_some() {
            return Err(Error::input("mem-fraction-static", "give either --gpu-memory-utilization (vLLM/TRT) or --mem-fraction-static (SGLang), not both"));
        }
        let field = if req.gpu_memory_utilization.is_some() {
            "gpu-memory-utilization"
        } else {
            "mem-fraction-static"
        };
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::input(field, format!("{f} must be in (0, 1]")));
        }
        // Each engine's flag only with that engine: the fractions mean
        // different things (SGLang's excludes what vLLM's includes).
        match (field, engine.name.as_str()) {
            ("mem-fraction-static", "sglang") | ("gpu-memory-utilization", "vllm") => {}
            ("mem-fraction-static", e) => {
                return Err(Error::input(
                    field,
                    format!("--mem-fraction-static is SGLang's flag; with --engine {e} use --gpu-memory-utilization (or add --engine sglang)"),
                ))
            }
            ("gpu-memory-utilization", "sglang") => {
                return Err(Error::input(
                    field,
                    "--gpu-memory-utilization is vLLM's flag; SGLang's is --mem-fraction-static",
                ))
            }
            (_, "trtllm") => notes.push(format!(
                "--gpu-memory-utilization {f} used as TensorRT-LLM's kv_cache_config.free_gpu_memory_fraction (a fraction of the memory left free after the weights)"
            )),
            (_, e) => notes.push(format!(
                "--gpu-memory-utilization {f} used as the fraction of GPU memory engine {e} may use"
            )),
        }
        engine.memory_fraction = f;
        engine.memory_fraction_by_tp.clear();
        engine.fraction_rule = crate::spec::engine::FractionRule::Fixed;
    }
    if let Some(k) = &req.kv_cache_memory {
        let b = match k {
            Tokens::Number(n) => *n,
            Tokens::Text(t) => units::parse_bytes(t, "kv-cache-memory")?,
        };
        if b == 0 || b > cluster.gpu.engine_memory_bytes() {
            return Err(Error::input(
                "kv-cache-memory",
                format!(
                    "{b} bytes must be more than 0 and at most the GPU's {} bytes",
                    cluster.gpu.engine_memory_bytes()
                ),
            ));
        }
        engine.kv_cache_memory_bytes = Some(b);
    }
    if let Some(n) = req.max_num_seqs {
        if n == 0 || n > 1_000_000 {
            return Err(Error::input(
                "max-num-seqs",
                format!("{n} must be between 1 and 1,000,000"),
            ));
        }
        engine.max_num_seqs = n;
    }
    if let Some(n) = req.scheduler_recv_interval {
        // A sanity bound, not an engine limit: launch scripts pass 10–30.
        if n == 0 || n > 10_000 {
            return Err(Error::input(
                "scheduler-recv-interval",
                format!("{n} must be between 1 and 10,000 decode iterations"),
            ));
        }
        if engine.name != "sglang" {
            return Err(Error::input(
                "scheduler-recv-interval",
                format!(
                    "--scheduler-recv-interval is SGLang's flag; engine {} takes new requests every iteration (add --engine sglang)",
                    engine.name
                ),
            ));
        }
        engine.override_scheduler(|sp| sp.recv_interval = n);
    }
    if let Some(b) = req.block_size {
        if b == 0 || b > 1024 {
            return Err(Error::input(
                "block-size",
                format!("{b} must be between 1 and 1024 tokens"),
            ));
        }
        engine.block_size = b;
    }
    if let Some(t) = req.max_num_batched_tokens {
        if t == 0 || t > 10_000_000 {
            return Err(Error::input(
                "max-num-batched-tokens",
                format!("{t} must be between 1 and 10,000,000"),
            ));
        }
        engine.max_num_batched_tokens = t;
    }

    let ctx = req.ctx.as_ref().map(|t| t.resolve("ctx")).transpose()?;
    let mml = req
        .max_model_len
        .as_ref()
        .map(|t| t.resolve("max-model-len"))
        .transpose()?;
    let context = match (ctx, mml) {
        (Some(c), Some(m)) if c > m => {
            return Err(Error::input(
                "ctx",
                format!("--ctx {c} exceeds --max-model-len {m}"),
            ));
        }
        (Some(c), _) => c,
        (None, Some(m)) => m,
        (None, None) => {
            notes.push(format!(
                "no --ctx given: planning for the model's maximum of {} tokens",
                units::thousands(model.max_context)
            ));
            model.max_context
        }
    };
    let batch = req.batch.unwrap_or(1);

    let weights = match req.weights {
        Some(w) => w,
        None => model
            .checkpoint_format
            .unwrap_or(match model.native_dtype.as_weight_format() {
                WeightFormat::Fp32 => WeightFormat::Bf16,
                f => f,
            }),
    };
    if req.weights.is_none() && model.checkpoint_format.is_none() {
        if let Some(token) = quantized_name_token(&model) {
            notes.push(format!(
                "checkpoint format unknown: the name says '{token}' but the config has no quantization_config (nor an hf_quant_config.json beside it), so the weights are sized as {} (the model dtype); pass --weights with the checkpoint's format (e.g. --weights fp8-block) to size it as shipped",
                weights.name()
            ));
        }
    }
    // DeepSeek-V4: vLLM and SGLang run its cache in the fp8 layout only (vLLM
    // `DeepseekV4MLAAttention` asserts an fp8 cache dtype, then uses fp8_ds_mla).
    let v4_fp8_only = model.compressed_attention.is_some() && !engine.name.starts_with("hf");
    let kv_dtype = match req.kv_dtype {
        Some(k) if v4_fp8_only && k != KvDtype::Fp8 => {
            return Err(Error::input(
                "kv-dtype",
                format!("{} caches DeepSeek-V4's compressed KV in fp8 only (fp8_ds_mla); use --kv-dtype fp8, or --engine hf for a 16-bit cache", engine.name),
            ))
        }
        Some(k) => k,
        None if v4_fp8_only => KvDtype::Fp8,
        // fp32 checkpoints are served in bf16 (weights default to bf16 too).
        None => match KvDtype::from_native(model.native_dtype) {
            KvDtype::Fp32 => KvDtype::Bf16,
            k => k,
        },
    };
    if kv_dtype == KvDtype::Fp32 && !engine.fp32_kv {
        return Err(Error::input(
            "kv-dtype",
            "fp32 KV is only modelled for --engine hf; use bf16, fp16 or fp8",
        ));
    }

    // Parallelism degrees the user gave must be usable before defaults are derived.
    for (field, v) in [
        ("tp", req.tp),
        ("pp", req.pp),
        ("dp", req.dp),
        ("ep", req.ep),
    ] {
        match v {
            Some(0) => return Err(Error::input(field, "must be at least 1")),
            Some(d) if field != "ep" && (d > n || n % d != 0) => {
                return Err(Error::input(
                    field,
                    format!(
                        "{field} = {d} does not divide the {n} GPUs of --gpus {}",
                        req.gpus
                    ),
                ));
            }
            _ => {}
        }
    }
    // Degrees that each divide the GPUs can still ask for more GPUs together.
    let given: Vec<(&str, u64)> = [("tp", req.tp), ("pp", req.pp), ("dp", req.dp)]
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| (f, v)))
        .collect();
    let product = given.iter().try_fold(1u64, |p, (_, v)| p.checked_mul(*v));
    if given.len() > 1 && product.is_none_or(|p| p > n || n % p != 0) {
        let shown = |v: Option<u64>| v.map_or("1".to_string(), |v| v.to_string());
        let total = product.map_or("more than 2^64".to_string(), |p| p.to_string());
        return Err(Error::input(
            given.last().map_or("tp", |(f, _)| *f),
            format!(
                "tp × pp × dp = {} × {} × {} = {total} GPUs, but --gpus {} gives {n}; choose degrees whose product divides {n}",
                shown(req.tp),
                shown(req.pp),
                shown(req.dp),
                req.gpus
            ),
        ));
    }
    if context > 100_000_000 {
        return Err(Error::input(
            "ctx",
            format!("{context} tokens is absurd (the limit is 100M)"),
        ));
    }
    if let Some(b) = req.batch {
        if b.checked_mul(context).is_none_or(|t| t > 100_000_000_000) {
            return Err(Error::input("batch", format!("batch {b} × context {context} tokens is absurdly large (over 10^11 cached tokens)")));
        }
    }
    // Parallelism defaults: TP inside a node, PP across nodes, DP fills the rest.
    let tp = req.tp.unwrap_or_else(|| {
        if req.pp.is_some() || req.dp.is_some() {
            n / req.pp.unwrap_or(1) / req.dp.unwrap_or(1)
        } else {
            cluster.gpus_per_node
        }
    });
    if tp == 0 {
        return Err(Error::input(
            "pp",
            format!("pp × dp exceeds the {n} GPUs of --gpus {}", req.gpus),
        ));
    }
    // With TP pinned, GPUs left over inside a node become data-parallel
    // replicas, not pipeline stages (an engineer adds PP only to span
    // nodes): `--tp 4` on 8 GPUs is TP4 DP2; on 2×8 GPUs TP4 PP2 DP2.
    let pp = req.pp.unwrap_or_else(|| {
        if req.dp.is_some() {
            n / tp / req.dp.unwrap_or(1)
        } else if req.tp.is_some() && tp > 0 && cluster.gpus_per_node % tp == 0 {
            cluster.nodes.max(1)
        } else {
            (n / tp).max(1)
        }
    });
    if pp == 0 {
        return Err(Error::input("pp", "must be at least 1"));
    }
    let dp = req.dp.unwrap_or_else(|| (n / tp / pp).max(1));
    let ep = req.ep.unwrap_or(1);
    let mtp = req.mtp.unwrap_or(false);
    let acceptance = req
        .mtp_acceptance
        .unwrap_or(crate::perf::speculative::DEFAULT_MTP_ACCEPTANCE);
    if !(0.0..=1.0).contains(&acceptance) {
        return Err(Error::input(
            "mtp-acceptance",
            format!("{acceptance} must be between 0 and 1"),
        ));
    }
    let draft_tokens = req.mtp_draft_tokens.unwrap_or(0);
    if req.mtp_draft_tokens.is_some()
        && !(1..=*crate::spec::bounds::MTP_LAYERS.end()).contains(&draft_tokens)
    {
        return Err(Error::input(
            "mtp-draft-tokens",
            format!(
                "{draft_tokens} draft tokens per step: choose 1 to {}",
                crate::spec::bounds::MTP_LAYERS.end()
            ),
        ));
    }
    let scenario = Scenario {
        model,
        cluster,
        deployment: Deployment {
            weights,
            kv_dtype,
            tp,
            pp,
            ep,
            dp,
            engine,
            mtp,
            mtp_acceptance: acceptance,
            mtp_draft_tokens: draft_tokens,
            dcp: req.dcp.unwrap_or(1),
        },
        workload: Workload { context, batch },
    };
    // Speculative decoding's tokens per step has one home (perf::speculative).
    let tokens_per_step = crate::perf::Speculation::of(&scenario).tokens_per_step();
    // Validation has one home: the operation that runs the core validates
    // the scenario once (`estimate::estimate`, `ops::plan`, `ops::sweep`).
    Ok(Resolved {
        scenario,
        tokens_per_step,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(model: &str, attention: Option<&str>) -> EstimateRequest {
        EstimateRequest {
            model: model.into(),
            gpus: "8xH100".into(),
            ctx: Some(Tokens::Text("8k".into())),
            attention: attention.map(|a| AttentionVariant::parse(a).unwrap()),
            ..Default::default()
        }
    }

    fn no_files(name: &str) -> Result<ModelSpec> {
        Err(Error::input("model", format!("no file {name}")))
    }

    #[test]
    fn attention_what_if_is_applied() {
        let c = Catalog::builtin().unwrap();
        let r = resolve(&req("llama-3.1-70b", Some("mla:512")), &c, &no_files).unwrap();
        let mla = r.scenario.model.attention.mla.as_ref().unwrap();
        assert_eq!(mla.latent_dim(), 576);
        assert!(r.notes.iter().any(|n| n.contains("--attention mla:512")));
        let r = resolve(&req("deepseek-v3", Some("gqa:8")), &c, &no_files).unwrap();
        assert!(r.scenario.model.attention.mla.is_none());
        assert_eq!(r.scenario.model.attention.num_kv_heads, 8);
        // Unchanged without the flag.
        let r = resolve(&req("deepseek-v3", None), &c, &no_files).unwrap();
        assert!(r.scenario.model.attention.mla.is_some());
    }

    #[test]
    fn attention_errors_name_the_field() {
        let c = Catalog::builtin().unwrap();
        for bad in ["gqa:3", "gqa:256", "banana", "gqa:"] {
            // Parsed at the edge (flag or JSON field), applied in resolve: both name the field.
            let e = AttentionVariant::parse(bad)
                .and_then(|v| {
                    let mut r = req("deepseek-v3", None);
                    r.attention = Some(v);
                    resolve(&r, &c, &no_files)
                })
                .unwrap_err();
            assert_eq!(e.field(), Some("attention"), "{bad}: {e}");
        }
    }
}
