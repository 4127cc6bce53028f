//! `estimate` end to end on structured random scenarios: any built-in
//! model, GPU, engine, format, parallelism and workload the fuzzer picks
//! is resolved like the CLI's flags; accepted ones run the whole core and
//! the report must hold finite, non-negative numbers that add up.
#![no_main]
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use kvplan::request::{resolve, EstimateRequest, Tokens};
use kvplan::spec::dtype::{KvDtype, WeightFormat};
use kvplan::spec::engine_id::EngineId;
use kvplan::spec::whatif::AttentionVariant;

#[derive(Debug, Arbitrary)]
struct Input {
    model: u8,
    gpu: u8,
    nodes: u8,
    per_node: u8,
    ctx: u32,
    batch: u16,
    weights: u8,
    kv: u8,
    engine: u8,
    tp: Option<u8>,
    pp: Option<u8>,
    ep: Option<u8>,
    dp: Option<u8>,
    fraction: Option<u8>,
    block: Option<u16>,
    mtp: bool,
    attention: Option<(u8, u16)>,
}

const WEIGHTS: [&str; 11] = [
    "bf16", "fp16", "fp8", "fp8-block", "int8", "int4", "int4-gptq", "nf4", "mxfp4", "nvfp4", "x",
];
const KV: [&str; 4] = ["bf16", "fp16", "fp8", "fp32"];
const ENGINES: [&str; 8] = [
    "vllm", "sglang", "trtllm", "hf", "vllm@0.10", "sglang@0.5.3", "vllm@0.21", "vllm@9",
];

fuzz_target!(|i: Input| {
    let c = common::catalog();
    let model = &c.models[i.model as usize % c.models.len()];
    let gpu = &c.gpus[i.gpu as usize % c.gpus.len()];
    let engine = ENGINES[i.engine as usize % ENGINES.len()];
    let attention = i.attention.map(|(k, n)| match k % 4 {
        0 => "mha".to_string(),
        1 => "mqa".to_string(),
        2 => format!("gqa:{n}"),
        _ => format!("mla:{n}"),
    });
    let fraction = i.fraction.map(|f| f as f64 / 255.0);
    // Typed inputs: a text that does not parse is the CLI's flag error
    // (exercised by the `units` target); only parsed values reach resolve.
    let Ok(weights) = WeightFormat::parse(WEIGHTS[i.weights as usize % WEIGHTS.len()], "weights")
    else {
        return;
    };
    let Ok(kv_dtype) = KvDtype::parse(KV[i.kv as usize % KV.len()], "kv-dtype") else {
        return;
    };
    let Ok(engine_id) = EngineId::parse(engine) else {
        return;
    };
    let attention = match attention.map(|a| AttentionVariant::parse(&a)).transpose() {
        Ok(a) => a,
        Err(_) => return,
    };
    let req = EstimateRequest {
        model: model.name.clone(),
        gpus: format!("{}x{}x{}", i.nodes.max(1) % 8 + 1, i.per_node % 16 + 1, gpu.name),
        ctx: Some(Tokens::Number(i.ctx as u64)),
        batch: Some(i.batch as u64),
        weights: Some(weights),
        kv_dtype: Some(kv_dtype),
        engine: Some(engine_id),
        tp: i.tp.map(u64::from),
        pp: i.pp.map(u64::from),
        ep: i.ep.map(u64::from),
        dp: i.dp.map(u64::from),
        gpu_memory_utilization: fraction.filter(|_| !engine.starts_with("sglang")),
        mem_fraction_static: fraction.filter(|_| engine.starts_with("sglang")),
        block_size: i.block.map(u64::from),
        mtp: Some(i.mtp),
        attention,
        ..Default::default()
    };
    let Ok(r) = resolve(&req, c, &|_| unreachable!("built-in names only")) else {
        return;
    };
    common::check(&r.scenario, r.tokens_per_step);
});
