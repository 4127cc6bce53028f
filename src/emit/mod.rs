//! `--emit vllm|sglang|trtllm`: the launch command(s) for a deployment kvplan
//! planned, in the argument names of one engine release, next to the
//! start-up lines kvplan expects that engine to log (KV pool, tokens,
//! concurrency) and a benchmark command at the plan's lengths and
//! concurrency. Pure: builds text from a Scenario and its Estimate.
//!
//! Every emitted engine command is checked against the flags its release
//! defines (`args`, copied from the engines' sources at release tags); a
//! flag that is not there, or a deployment the engine cannot express
//! (a weight format that needs another checkpoint, a parallel layout the
//! engine has no flags for), is reported in `problems`, never hidden.

pub mod args;

use crate::error::{Error, Result};
use crate::estimate::{estimate, Estimate};
use crate::perf::Efficiency;
use crate::scenario::Scenario;
use crate::spec::dtype::{KvDtype, WeightFormat};
use serde::Serialize;

/// The engine to emit for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// vLLM (`vllm serve`).
    Vllm,
    /// SGLang (`python -m sglang.launch_server`).
    Sglang,
    /// TensorRT-LLM (`trtllm-serve`, PyTorch backend).
    Trtllm,
}

impl Target {
    /// Parse `--emit`.
    pub fn parse(t: &str) -> Result<Self> {
        match t.trim().to_ascii_lowercase().as_str() {
            "vllm" => Ok(Target::Vllm),
            "sglang" => Ok(Target::Sglang),
            "trtllm" | "trt-llm" | "tensorrt-llm" => Ok(Target::Trtllm),
            o => Err(Error::input(
                "emit",
                format!("unknown engine '{o}'; valid: vllm, sglang, trtllm"),
            )),
        }
    }

    /// The profile version whose release the emitted flags are checked
    /// against (vLLM: the 0.11.0 argument list → `vllm@0.11`), so that the
    /// expected log lines follow the same release's arithmetic; `None`
    /// where the newest profile matches a carried list.
    pub fn checked_version(self) -> Option<&'static str> {
        match self {
            Target::Vllm => Some("0.11"),
            Target::Sglang | Target::Trtllm => None,
        }
    }

    /// The engine profile id (`--engine`) whose arithmetic the expected log lines follow.
    pub fn name(self) -> &'static str {
        match self {
            Target::Vllm => "vllm",
            Target::Sglang => "sglang",
            Target::Trtllm => "trtllm",
        }
    }
}

/// Choices the plan itself does not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitOptions {
    /// Benchmark prompt tokens (default: the context minus the output).
    pub input_len: Option<u64>,
    /// Benchmark output tokens (default: min(1,024, context / 4)).
    pub output_len: Option<u64>,
    /// Address of the first node as the other nodes reach it (shell text).
    pub head_address: String,
    /// HTTP port of the (first) server.
    pub port: u16,
}

impl Default for EmitOptions {
    /// `$HEAD_IP` (a shell variable the operator sets) and port 8000.
    fn default() -> Self {
        EmitOptions {
            input_len: None,
            output_len: None,
            head_address: "$HEAD_IP".into(),
            port: 8000,
        }
    }
}

/// One command to run on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeCommand {
    /// Node index (0 = the head node).
    pub node: u64,
    /// What it is for ("head", "worker", "ray head", "replica 1", …).
    pub role: String,
    /// Environment assignments (`CUDA_VISIBLE_DEVICES=0,1`).
    pub env: Vec<String>,
    /// The program and its subcommand/positional words (`vllm serve MODEL`).
    pub program: Vec<String>,
    /// Flags and their values, in order.
    pub args: Vec<String>,
    /// The argument list these flags were checked against (None: not an engine command).
    pub checked_against: Option<String>,
    /// The whole command as shell text, one flag per line.
    pub shell: String,
}

/// A file the commands read (TensorRT-LLM's LLM-API YAML).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigFile {
    /// File name the command refers to.
    pub name: String,
    /// Contents.
    pub text: String,
}

/// A start-up log line kvplan predicts, with the number in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedLine {
    /// What the number is (`kv_cache_tokens`, `available_kv_gib`, …).
    pub quantity: String,
    /// The number.
    pub value: f64,
    /// The line as the engine prints it (per GPU or per replica as noted).
    pub line: String,
}

/// Everything `--emit` gives for one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Launch {
    /// Engine id.
    pub engine: String,
    /// Engine release whose argument names are used.
    pub engine_version: String,
    /// Where that release's argument list comes from.
    pub args_source: String,
    /// False when the engine cannot run this deployment as planned (see `problems`).
    pub expressible: bool,
    /// What the engine cannot express, or flags missing from its argument list.
    pub problems: Vec<String>,
    /// The launch commands, one per node (or per replica).
    pub commands: Vec<NodeCommand>,
    /// Files the commands read.
    pub files: Vec<ConfigFile>,
    /// Start-up lines kvplan expects the engine to log.
    pub expected_log: Vec<ExpectedLine>,
    /// A benchmark at the plan's lengths and concurrency.
    pub benchmark: Vec<NodeCommand>,
    /// Assumptions and choices made while emitting.
    pub notes: Vec<String>,
}

impl Launch {
    /// The launch as shell text: commands, files, expected lines, benchmark, notes.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "# launch with {} {} (flags checked against {})\n",
            self.engine, self.engine_version, self.args_source
        ));
        for p in &self.problems {
            o.push_str(&format!("# CANNOT EXPRESS AS PLANNED: {p}\n"));
        }
        for f in &self.files {
            o.push_str(&format!(
                "\n# file {} :\ncat > {} <<'EOF'\n{}EOF\n",
                f.name, f.name, f.text
            ));
        }
        for c in &self.commands {
            o.push_str(&format!("\n# node {} ({})\n{}\n", c.node, c.role, c.shell));
        }
        if !self.expected_log.is_empty() {
            o.push_str("\n# the engine should log (kvplan's prediction):\n");
            for l in &self.expected_log {
                o.push_str(&format!("#   {}\n", l.line));
            }
        }
        for c in &self.benchmark {
            o.push_str(&format!("\n# benchmark ({})\n{}\n", c.role, c.shell));
        }
        for n in &self.notes {
            o.push_str(&format!("# note: {n}\n"));
        }
        o
    }
}

/// Emit the launch of scenario `s` on `target`. The scenario's engine
/// profile should be the target's (its arithmetic gives the expected
/// lines); the max-num-seqs the command sets (the planned batch per
/// replica) is put into the profile before estimating, so the expected
/// lines follow the command as written.
pub fn emit(
    s: &Scenario,
    eff: &Efficiency,
    tokens_per_step: f64,
    target: Target,
    opts: &EmitOptions,
) -> Result<Launch> {
    let mut s = s.clone();
    let mut notes = Vec::new();
    if s.deployment.engine.name != target.name() {
        notes.push(format!(
            "expected log lines follow kvplan's {} profile, not {}'s: estimate with --engine {} for the engine's own start-up arithmetic",
            s.deployment.engine.name,
            target.name(),
            target.name()
        ));
    }
    let per_replica = s.batch_per_replica().max(1);
    s.deployment.engine.max_num_seqs = per_replica;
    let est = estimate(&s, eff, tokens_per_step)?;
    let ctx = s.workload.context;
    let output_len = opts.output_len.unwrap_or_else(|| (ctx / 4).clamp(1, 1024));
    let input_len = opts.input_len.unwrap_or(ctx.saturating_sub(output_len));
    let mut problems = Vec::new();
    if input_len == 0 || output_len == 0 {
        return Err(Error::input(
            "output-len",
            format!("benchmark lengths {input_len} + {output_len} tokens: both must be at least 1 (context {ctx})"),
        ));
    }
    if input_len + output_len > ctx {
        problems.push(format!(
            "benchmark prompt {input_len} + output {output_len} tokens exceed the planned context of {ctx}: the engine would reject the requests; lower --output-len/--input-len or raise --ctx"
        ));
    }
    notes.push(format!(
        "benchmark lengths: prompt {input_len} + output {output_len} tokens (the plan's context {ctx} is prompt + output; choose them with --input-len/--output-len)"
    ));
    let mut b = Builder {
        s: &s,
        est: &est,
        opts,
        problems,
        notes,
        commands: Vec::new(),
        files: Vec::new(),
        expected: Vec::new(),
        bench: Vec::new(),
        version: "",
        input_len,
        output_len,
    };
    match target {
        Target::Vllm => b.vllm(),
        Target::Sglang => b.sglang(),
        Target::Trtllm => b.trtllm(),
    }
    let version = b.version;
    let list = args::list(target.name(), version, launch_command(target));
    // Check every engine command's flags against the release's list.
    if let Some(l) = list {
        for c in &mut b.commands {
            if c.checked_against.is_some() {
                for f in args::unknown_flags(l, &c.args) {
                    b.problems
                        .push(format!("{f} is not a flag of {} {}", l.command, l.version));
                }
                c.checked_against = Some(format!("{} {}", l.command, l.version));
            }
        }
    }
    for c in &b.bench {
        if let Some(name) = &c.checked_against {
            if let Some(l) = args::ARG_LISTS
                .iter()
                .find(|a| format!("{} {}", a.command, a.version) == *name)
            {
                for f in args::unknown_flags(l, &c.args) {
                    b.problems
                        .push(format!("{f} is not a flag of {} {}", l.command, l.version));
                }
            }
        }
    }
    Ok(Launch {
        engine: target.name().into(),
        engine_version: version.into(),
        args_source: list.map(|l| l.source().to_string()).unwrap_or_default(),
        expressible: b.problems.is_empty(),
        problems: b.problems,
        commands: b.commands,
        files: b.files,
        expected_log: b.expected,
        benchmark: b.bench,
        notes: b.notes,
    })
}

/// The scenario of a plan candidate: `base` with the candidate's formats,
/// parallel degrees, GPUs and batch.
pub fn scenario_of_candidate(base: &Scenario, c: &crate::plan::Candidate) -> Result<Scenario> {
    let mut s = base.clone();
    s.deployment.weights = c.weights_dtype;
    s.deployment.kv_dtype = c.kv_dtype;
    s.deployment.tp = c.tp;
    s.deployment.pp = c.pp;
    s.deployment.dp = c.dp;
    s.deployment.ep = c.ep;
    s.cluster.nodes = c.nodes.max(1);
    s.cluster.gpus_per_node = c.gpus / c.nodes.max(1);
    s.workload.batch = c.batch.max(1);
    s.validate()?;
    Ok(s)
}

/// The launch of the best configuration the engine can express: the first
/// fitting candidate (in rank order) whose launch has no problems, else the
/// first fitting one with its problems. Returns the candidate's index too.
pub fn emit_best(
    base: &Scenario,
    candidates: &[crate::plan::Candidate],
    eff: &Efficiency,
    tokens_per_step: f64,
    target: Target,
    opts: &EmitOptions,
) -> Result<(usize, Launch)> {
    let mut first: Option<(usize, Launch)> = None;
    let mut skipped = Vec::new();
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.fits) {
        let s = scenario_of_candidate(base, c)?;
        let mut l = emit(&s, eff, tokens_per_step, target, opts)?;
        if l.expressible {
            if !skipped.is_empty() {
                l.notes.insert(
                    0,
                    format!(
                        "configuration #{} is the best that {} can express as planned; skipped: {}",
                        i + 1,
                        target.name(),
                        skipped.join("; ")
                    ),
                );
            }
            return Ok((i, l));
        }
        skipped.push(format!("#{} ({})", i + 1, l.problems.join(", ")));
        if first.is_none() {
            first = Some((i, l));
        }
        if skipped.len() >= 50 {
            break;
        }
    }
    first.ok_or_else(|| {
        Error::input(
            "emit",
            "no configuration fits these GPUs under these constraints, so there is no launch to emit; run without --emit to see what would fit",
        )
    })
}

fn launch_command(t: Target) -> &'static str {
    match t {
        Target::Vllm => "vllm serve",
        Target::Sglang => "python -m sglang.launch_server",
        Target::Trtllm => "trtllm-serve",
    }
}

/// Quote a shell word unless it is plainly safe (`$VAR` stays expandable).
fn quote(w: &str) -> String {
    let safe = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+$".contains(c));
    if safe {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// Shell text: env, program, then each flag (with its value) on its own line.
fn shell(env: &[String], program: &[String], args: &[String]) -> String {
    let mut head: Vec<String> = env.iter().map(|e| quote(e)).collect();
    head.extend(program.iter().map(|p| quote(p)));
    let mut lines = vec![head.join(" ")];
    let mut i = 0;
    while i < args.len() {
        let mut l = quote(&args[i]);
        if i + 1 < args.len() && !args[i + 1].starts_with("--") {
            l.push(' ');
            l.push_str(&quote(&args[i + 1]));
            i += 1;
        }
        lines.push(l);
        i += 1;
    }
    lines.join(" \\\n    ")
}

/// A fraction as the engines take it (shortest exact decimal up to 4 places).
fn fraction(f: f64) -> String {
    let t = format!("{f:.4}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

/// Python's `f"{n:,}"`.
fn commas(n: u64) -> String {
    crate::units::thousands(n)
}

struct Builder<'a> {
    s: &'a Scenario,
    est: &'a Estimate,
    opts: &'a EmitOptions,
    problems: Vec<String>,
    notes: Vec<String>,
    commands: Vec<NodeCommand>,
    files: Vec<ConfigFile>,
    expected: Vec<ExpectedLine>,
    bench: Vec<NodeCommand>,
    version: &'static str,
    input_len: u64,
    output_len: u64,
}

/// How a weight format reaches the engine.
enum Quant {
    /// The checkpoint already is in this format (or it is its 16-bit dtype).
    AsIs,
    /// The engine quantizes at load with this method name.
    Online(&'static str),
    /// Needs another checkpoint (the reason).
    Checkpoint(String),
}

impl Builder<'_> {
    fn model_id(&mut self) -> String {
        match &self.s.model.hf_repo {
            Some(r) => r.clone(),
            None => {
                self.notes.push(format!(
                    "{} has no Hugging Face repository in its spec; the commands use its name — replace it with the checkpoint's path",
                    self.s.model.display_name
                ));
                self.s.model.name.clone()
            }
        }
    }

    /// How the planned weight format is loaded; `online` lists the formats
    /// this engine quantizes at load time, with its method name.
    fn quant(&self, online: &[(WeightFormat, &'static str)]) -> Quant {
        let m = &self.s.model;
        let w = self.s.deployment.weights;
        let native = m.native_dtype.as_weight_format();
        if Some(w) == m.checkpoint_format {
            return Quant::AsIs;
        }
        if let Some(cf) = m.checkpoint_format {
            return Quant::Checkpoint(format!(
                "{} weights need a {} checkpoint of {}; the published one is {} (the engine loads what the checkpoint holds)",
                w.name(),
                w.name(),
                m.display_name,
                cf.name()
            ));
        }
        if w == native || (native == WeightFormat::Fp32 && w == WeightFormat::Bf16) {
            return Quant::AsIs;
        }
        if matches!(w, WeightFormat::Bf16 | WeightFormat::Fp16) {
            return Quant::AsIs;
        }
        match online.iter().find(|(f, _)| *f == w) {
            Some((_, method)) => Quant::Online(method),
            None => Quant::Checkpoint(format!(
                "{} weights need a pre-quantized {} checkpoint of {} (this engine does not quantize to {} at load); point the model at one",
                w.name(),
                w.name(),
                m.display_name,
                w.name()
            )),
        }
    }

    fn dtype_flag(&self) -> Option<&'static str> {
        let w = self.s.deployment.weights;
        let native = self.s.model.native_dtype.as_weight_format();
        match w {
            WeightFormat::Bf16 if native != WeightFormat::Bf16 => Some("bfloat16"),
            WeightFormat::Fp16 if native != WeightFormat::Fp16 => Some("float16"),
            _ => None,
        }
    }

    fn cmd(
        &mut self,
        node: u64,
        role: &str,
        env: Vec<String>,
        program: Vec<String>,
        args: Vec<String>,
        checked: bool,
    ) {
        let checked_against = checked.then(|| "engine".to_string());
        self.commands.push(NodeCommand {
            node,
            role: role.into(),
            shell: shell(&env, &program, &args),
            env,
            program,
            args,
            checked_against,
        });
    }

    fn bench_cmd(&mut self, role: &str, program: Vec<String>, args: Vec<String>, list: &str) {
        self.bench.push(NodeCommand {
            node: 0,
            role: role.into(),
            shell: shell(&[], &program, &args),
            env: vec![],
            program,
            args,
            checked_against: Some(list.into()),
        });
    }

    fn tokens_per_replica(&self) -> u64 {
        self.est.memory.kv_cache_tokens / self.s.deployment.dp.max(1)
    }

    /// `vllm bench serve` against `base_url` at the whole deployment's concurrency.
    fn vllm_bench(&mut self, backend: &str, model: &str, base_url: &str) {
        let c = self.s.workload.batch.max(1);
        let args: Vec<String> = [
            "--backend",
            backend,
            "--base-url",
            base_url,
            "--model",
            model,
            "--dataset-name",
            "random",
            "--random-input-len",
            &self.input_len.to_string(),
            "--random-output-len",
            &self.output_len.to_string(),
            "--max-concurrency",
            &c.to_string(),
            "--num-prompts",
            &(c * 10).max(100).to_string(),
            "--ignore-eos",
            "--save-result",
            "--result-filename",
            "kvplan-bench.json",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        self.bench_cmd(
            "vllm bench serve, any OpenAI-compatible server",
            vec!["vllm".into(), "bench".into(), "serve".into()],
            args,
            "vllm bench serve 0.11.0",
        );
        self.notes.push(format!(
            "the benchmark sends {} requests at concurrency {c} (10 rounds, at least 100) with --ignore-eos so every request decodes the full output; `kvplan reconcile LOG --bench kvplan-bench.json` compares it with the plan",
            (c * 10).max(100)
        ));
    }

    fn mtp_note(&mut self) {
        if self.s.deployment.mtp {
            self.notes.push(format!(
                "MTP speculative decoding with {} draft token(s) per step (the checkpoint's MTP module)",
                crate::perf::Speculation::of(self.s).draft_tokens
            ));
        }
    }

    // ---------------------------------------------------------------- vLLM
    fn vllm(&mut self) {
        self.version = "0.11.0";
        let v = &self.s.deployment.engine.version;
        if v != "0.11" {
            self.notes.push(format!(
                "kvplan's vLLM profile follows {v}; the flags are checked against vLLM 0.11.0, the newest argument list kvplan carries"
            ));
        }
        let s = self.s;
        let d = &s.deployment;
        let e = &d.engine;
        let model = self.model_id();
        let (nodes, gpn) = (s.cluster.nodes, s.cluster.gpus_per_node);
        let moe = s.model.moe.is_some();
        let mut common: Vec<String> = vec![
            "--max-model-len".into(),
            s.workload.context.to_string(),
            "--gpu-memory-utilization".into(),
            fraction(self.est.memory.memory_fraction),
            "--max-num-seqs".into(),
            e.max_num_seqs.to_string(),
            "--max-num-batched-tokens".into(),
            e.max_num_batched_tokens.to_string(),
        ];
        if d.kv_dtype == KvDtype::Fp8 {
            common.extend(["--kv-cache-dtype".into(), "fp8".into()]);
        } else if d.kv_dtype == KvDtype::Bf16
            && self.s.model.native_dtype.as_weight_format() == WeightFormat::Fp16
        {
            common.extend(["--kv-cache-dtype".into(), "bfloat16".into()]);
        }
        match self.quant(&[
            (WeightFormat::Fp8, "fp8"),
            (WeightFormat::Nf4, "bitsandbytes"),
        ]) {
            Quant::AsIs => {}
            Quant::Online(m) => common.extend(["--quantization".into(), m.into()]),
            Quant::Checkpoint(why) => self.problems.push(why),
        }
        if let Some(t) = self.dtype_flag() {
            common.extend(["--dtype".into(), t.into()]);
        }
        if e.block_size != 16 {
            common.extend(["--block-size".into(), e.block_size.to_string()]);
        }
        if d.mtp {
            common.extend([
                "--speculative-config".into(),
                format!(
                    "{{\"method\":\"deepseek_mtp\",\"num_speculative_tokens\":{}}}",
                    crate::perf::Speculation::of(s).draft_tokens
                ),
            ]);
        }
        self.mtp_note();
        let port = self.opts.port;
        let head = self.opts.head_address.clone();
        let serve = |m: &str| vec!["vllm".to_string(), "serve".into(), m.to_string()];
        let tp_pp = |tp: u64, pp: u64| {
            let mut a = vec!["--tensor-parallel-size".to_string(), tp.to_string()];
            if pp > 1 {
                a.extend(["--pipeline-parallel-size".into(), pp.to_string()]);
            }
            a
        };
        let mut base_url = format!("http://{head}:{port}");
        if nodes == 1 {
            base_url = format!("http://localhost:{port}");
        }
        if d.ep > 1 || (d.dp > 1 && !moe) {
            // One engine with data-parallel ranks (DP attention + EP for MoE).
            if d.ep > 1 && d.ep != d.tp * d.dp {
                self.problems.push(format!(
                    "vLLM sets the expert-parallel size to TP × DP = {}; EP {} cannot be expressed",
                    d.tp * d.dp,
                    d.ep
                ));
            }
            if d.dp > 1 && d.pp > 1 {
                self.problems.push(
                    "kvplan does not emit vLLM data parallel together with pipeline parallel (vLLM 0.11's data-parallel deployment covers DP × TP); pin --pp 1 or --dp 1".into(),
                );
            }
            let mut a = tp_pp(d.tp, d.pp);
            if d.dp > 1 {
                a.extend(["--data-parallel-size".into(), d.dp.to_string()]);
            }
            if d.ep > 1 {
                a.push("--enable-expert-parallel".into());
            }
            if nodes == 1 || d.dp == 1 {
                if nodes > 1 {
                    self.ray(&model, a, common, port);
                } else {
                    a.extend(common);
                    a.extend(["--port".into(), port.to_string()]);
                    self.cmd(0, "server", vec![], serve(&model), a, true);
                }
            } else {
                if gpn % d.tp != 0 {
                    self.problems.push(format!(
                        "TP {} does not divide the {gpn} GPUs of a node: the data-parallel ranks cannot be placed per node",
                        d.tp
                    ));
                }
                let local = (gpn / d.tp).max(1);
                for node in 0..nodes {
                    let mut x = a.clone();
                    x.extend([
                        "--data-parallel-size-local".into(),
                        local.to_string(),
                        "--data-parallel-address".into(),
                        head.clone(),
                        "--data-parallel-rpc-port".into(),
                        "13345".into(),
                    ]);
                    if node > 0 {
                        x.extend([
                            "--data-parallel-start-rank".into(),
                            (node * local).to_string(),
                            "--headless".into(),
                        ]);
                    }
                    x.extend(common.iter().cloned());
                    if node == 0 {
                        x.extend(["--port".into(), port.to_string()]);
                    }
                    let role = if node == 0 {
                        "head: API server + DP ranks"
                    } else {
                        "worker: headless DP ranks"
                    };
                    self.cmd(node, role, vec![], serve(&model), x, true);
                }
            }
        } else if d.dp > 1 {
            // MoE replicas that each hold every expert: separate servers
            // (vLLM's --data-parallel-size would shard the experts over all ranks).
            self.replicas(&model, &common, port, tp_pp, serve);
            base_url = format!("http://{head}:{port}");
        } else if d.tp * d.pp > gpn || nodes > 1 {
            let a = tp_pp(d.tp, d.pp);
            self.ray(&model, a, common, port);
        } else {
            let mut a = tp_pp(d.tp, d.pp);
            a.extend(common);
            a.extend(["--port".into(), port.to_string()]);
            self.cmd(0, "server", vec![], serve(&model), a, true);
        }
        // Expected lines, per GPU / per engine replica.
        let b = self.est.memory.binding_stage();
        let tokens = self.tokens_per_replica();
        let ctx = s.workload.context;
        let conc = crate::memory::logged_max_concurrency(s, &self.est.memory, ctx);
        self.expected.push(ExpectedLine {
            quantity: "weights_gib".into(),
            value: gib(b.weights_bytes as f64),
            line: format!(
                "Model loading took {:.4} GiB (per GPU, the fullest stage)",
                gib(b.weights_bytes as f64)
            ),
        });
        self.expected.push(ExpectedLine {
            quantity: "available_kv_gib".into(),
            value: gib(b.kv_budget_bytes.max(0) as f64),
            line: format!(
                "Available KV cache memory: {:.2} GiB",
                gib(b.kv_budget_bytes.max(0) as f64)
            ),
        });
        self.expected.push(ExpectedLine {
            quantity: "kv_cache_tokens".into(),
            value: tokens as f64,
            line: format!("GPU KV cache size: {} tokens", commas(tokens)),
        });
        self.expected.push(ExpectedLine {
            quantity: "max_concurrency".into(),
            value: (conc * 100.0).floor() / 100.0,
            line: format!(
                "Maximum concurrency for {} tokens per request: {:.2}x",
                commas(ctx),
                conc
            ),
        });
        if d.dp > 1 {
            self.notes.push(format!(
                "each of the {} data-parallel ranks logs its own KV cache size; kvplan's total is {} tokens",
                d.dp,
                commas(self.est.memory.kv_cache_tokens)
            ));
        }
        let m = model.clone();
        self.vllm_bench("vllm", &m, &base_url);
        if d.dp > 1 && d.ep == 1 && moe {
            self.notes.push(format!(
                "the {} replicas are separate servers: put a load balancer in front of them, or run one benchmark per server with --max-concurrency {}",
                d.dp,
                s.batch_per_replica()
            ));
        }
    }

    /// Ray cluster over all nodes, then one `vllm serve` on the head.
    fn ray(&mut self, model: &str, mut a: Vec<String>, common: Vec<String>, port: u16) {
        let nodes = self.s.cluster.nodes;
        let head = self.opts.head_address.clone();
        for node in 0..nodes {
            let (role, args) = if node == 0 {
                ("ray head", vec!["--head".to_string(), "--port=6379".into()])
            } else {
                (
                    "ray worker",
                    vec![format!("--address={head}:6379"), "--block".into()],
                )
            };
            self.cmd(
                node,
                role,
                vec![],
                vec!["ray".into(), "start".into()],
                args,
                false,
            );
        }
        a.extend(["--distributed-executor-backend".into(), "ray".into()]);
        a.extend(common);
        a.extend(["--port".into(), port.to_string()]);
        self.cmd(
            0,
            "server (after every node joined the Ray cluster)",
            vec![],
            vec!["vllm".into(), "serve".into(), model.into()],
            a,
            true,
        );
        self.notes.push(format!(
            "multi-node vLLM runs on a Ray cluster: start Ray on all {nodes} nodes first (same vLLM version, model files reachable on every node), then `vllm serve` on the head only"
        ));
    }

    /// Independent replicas, `tp × pp` GPUs each, packed onto nodes.
    fn replicas(
        &mut self,
        model: &str,
        common: &[String],
        port: u16,
        layout: impl Fn(u64, u64) -> Vec<String>,
        program: impl Fn(&str) -> Vec<String>,
    ) {
        let d = &self.s.deployment;
        let gpn = self.s.cluster.gpus_per_node;
        let per = d.tp * d.pp;
        if per > gpn || gpn % per != 0 {
            self.problems.push(format!(
                "a replica needs {per} GPUs, which does not pack onto nodes of {gpn}: kvplan emits independent replicas only when they fit inside a node"
            ));
            return;
        }
        let per_node = gpn / per;
        for r in 0..d.dp {
            let node = r / per_node;
            let slot = r % per_node;
            let gpus: Vec<String> = (slot * per..(slot + 1) * per)
                .map(|g| g.to_string())
                .collect();
            let mut a = layout(d.tp, d.pp);
            a.extend(common.iter().cloned());
            a.extend(["--port".into(), (port as u64 + slot).to_string()]);
            self.cmd(
                node,
                &format!("replica {} of {}", r + 1, d.dp),
                vec![format!("CUDA_VISIBLE_DEVICES={}", gpus.join(","))],
                program(model),
                a,
                true,
            );
        }
        self.notes.push(format!(
            "{} independent replicas of {} GPUs each (every replica holds all the weights); put a load balancer in front of their ports",
            d.dp, per
        ));
    }

    // -------------------------------------------------------------- SGLang
    fn sglang(&mut self) {
        let s = self.s;
        let d = &s.deployment;
        let e = &d.engine;
        self.version = if e.version.starts_with("0.4") {
            "0.4.10.post2"
        } else {
            "0.5.3"
        };
        let model = self.model_id();
        let nodes = s.cluster.nodes;
        let dp_attention = d.ep > 1 && d.dp > 1;
        let mut a: Vec<String> = vec![
            "--model-path".into(),
            model.clone(),
            "--tp-size".into(),
            if dp_attention { d.tp * d.dp } else { d.tp }.to_string(),
        ];
        if d.dp > 1 {
            a.extend(["--dp-size".into(), d.dp.to_string()]);
        }
        if dp_attention {
            a.push("--enable-dp-attention".into());
        }
        if d.ep > 1 {
            a.extend(["--ep-size".into(), d.ep.to_string()]);
            if d.dp == 1 && d.ep != d.tp {
                self.problems.push(format!(
                    "SGLang's EP group is the TP group ({}); EP {} cannot be expressed",
                    d.tp, d.ep
                ));
            }
        }
        if d.pp > 1 {
            a.extend(["--pp-size".into(), d.pp.to_string()]);
        }
        if d.dp > 1 && !dp_attention && nodes > 1 {
            self.problems.push(
                "SGLang data-parallel replicas without DP attention across nodes are not emitted by kvplan; run one server per node".into(),
            );
        }
        a.extend([
            "--context-length".into(),
            s.workload.context.to_string(),
            "--mem-fraction-static".into(),
            fraction(self.est.memory.memory_fraction),
            "--max-running-requests".into(),
            s.workload.batch.max(1).to_string(),
            "--chunked-prefill-size".into(),
            e.max_num_batched_tokens.to_string(),
        ]);
        if d.kv_dtype == KvDtype::Fp8 {
            a.extend(["--kv-cache-dtype".into(), "fp8_e4m3".into()]);
        }
        match self.quant(&[(WeightFormat::Fp8, "fp8")]) {
            Quant::AsIs => {}
            Quant::Online(m) => a.extend(["--quantization".into(), m.into()]),
            Quant::Checkpoint(why) => self.problems.push(why),
        }
        if let Some(t) = self.dtype_flag() {
            a.extend(["--dtype".into(), t.into()]);
        }
        if e.block_size != 1 {
            a.extend(["--page-size".into(), e.block_size.to_string()]);
        }
        let recv = e
            .scheduler_on(s.cluster.gpu.memory_bytes, d.tp)
            .recv_interval;
        if recv > 1 {
            a.extend(["--scheduler-recv-interval".into(), recv.to_string()]);
        }
        if d.mtp {
            let steps = crate::perf::Speculation::of(s).draft_tokens.max(1);
            a.extend([
                "--speculative-algorithm".into(),
                "EAGLE".into(),
                "--speculative-num-steps".into(),
                steps.to_string(),
                "--speculative-eagle-topk".into(),
                "1".into(),
                "--speculative-num-draft-tokens".into(),
                (steps + 1).to_string(),
            ]);
        }
        self.mtp_note();
        let port = self.opts.port;
        let head = self.opts.head_address.clone();
        a.extend([
            "--host".into(),
            "0.0.0.0".into(),
            "--port".into(),
            port.to_string(),
        ]);
        let program = vec![
            "python3".to_string(),
            "-m".into(),
            "sglang.launch_server".into(),
        ];
        if nodes == 1 {
            self.cmd(0, "server", vec![], program, a, true);
        } else {
            for node in 0..nodes {
                let mut x = a.clone();
                x.extend([
                    "--nnodes".into(),
                    nodes.to_string(),
                    "--node-rank".into(),
                    node.to_string(),
                    "--dist-init-addr".into(),
                    format!("{head}:5000"),
                ]);
                let role = if node == 0 {
                    "head (serves HTTP)"
                } else {
                    "worker"
                };
                self.cmd(node, role, vec![], program.clone(), x, true);
            }
        }
        let tokens = self.tokens_per_replica();
        let b = self.est.memory.binding_stage();
        self.expected.push(ExpectedLine {
            quantity: "weights_gib".into(),
            value: gib(b.weights_bytes as f64),
            line: format!(
                "Load weight end. … mem usage={:.2} GB (per GPU; SGLang's GB are GiB)",
                gib(b.weights_bytes as f64)
            ),
        });
        self.expected.push(ExpectedLine {
            quantity: "kv_cache_tokens".into(),
            value: tokens as f64,
            line: format!("KV Cache is allocated. #tokens: {tokens}"),
        });
        self.expected.push(ExpectedLine {
            quantity: "max_total_num_tokens".into(),
            value: tokens as f64,
            line: format!(
                "max_total_num_tokens={tokens}, chunked_prefill_size={}, …, context_len={}",
                e.max_num_batched_tokens, s.workload.context
            ),
        });
        if d.dp > 1 {
            self.notes.push(format!(
                "each of the {} DP ranks logs its own pool; kvplan's total is {} tokens",
                d.dp,
                commas(self.est.memory.kv_cache_tokens)
            ));
        }
        let base_url = if nodes == 1 {
            format!("http://localhost:{port}")
        } else {
            format!("http://{head}:{port}")
        };
        let m = model.clone();
        self.vllm_bench("openai", &m, &base_url);
        let c = s.workload.batch.max(1);
        let bench_list = format!("python -m sglang.bench_serving {}", self.version);
        let sg: Vec<String> = [
            "--backend",
            "sglang",
            "--base-url",
            &base_url,
            "--dataset-name",
            "random",
            "--random-input-len",
            &self.input_len.to_string(),
            "--random-output-len",
            &self.output_len.to_string(),
            "--random-range-ratio",
            "1",
            "--max-concurrency",
            &c.to_string(),
            "--num-prompts",
            &(c * 10).max(100).to_string(),
            "--output-file",
            "kvplan-bench.jsonl",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        self.bench_cmd(
            "SGLang's own benchmark",
            vec!["python3".into(), "-m".into(), "sglang.bench_serving".into()],
            sg,
            &bench_list,
        );
    }

    // ---------------------------------------------------------- TensorRT-LLM
    fn trtllm(&mut self) {
        self.version = "1.x (00209af)";
        let s = self.s;
        let d = &s.deployment;
        let e = &d.engine;
        let model = self.model_id();
        let moe = s.model.moe.is_some();
        let adp = d.ep > 1 && d.dp > 1;
        let (nodes, gpn) = (s.cluster.nodes, s.cluster.gpus_per_node);
        match self.quant(&[]) {
            Quant::AsIs => {}
            Quant::Online(_) => {}
            Quant::Checkpoint(why) => self.problems.push(why),
        }
        let mut yaml = String::new();
        if adp {
            yaml.push_str("enable_attention_dp: true\n");
        }
        yaml.push_str("kv_cache_config:\n");
        if d.kv_dtype == KvDtype::Fp8 {
            yaml.push_str("  dtype: fp8\n");
        }
        yaml.push_str(&format!(
            "  free_gpu_memory_fraction: {}\n",
            fraction(self.est.memory.memory_fraction)
        ));
        if e.block_size != 32 {
            yaml.push_str(&format!("  tokens_per_block: {}\n", e.block_size));
        }
        // Decode graphs for every batch up to the executor's max batch, padded
        // to the next captured size: what the trtllm profile models (its
        // scheduler block says why).
        let max_batch = if adp {
            s.batch_per_replica().max(1)
        } else {
            s.workload.batch.max(1)
        };
        yaml.push_str(&format!(
            "cuda_graph_config:\n  enable_padding: true\n  max_batch_size: {max_batch}\n"
        ));
        if d.mtp {
            yaml.push_str(&format!(
                "speculative_config:\n  decoding_type: MTP\n  num_nextn_predict_layers: {}\n",
                crate::perf::Speculation::of(s).draft_tokens.max(1)
            ));
        }
        self.mtp_note();
        // Every YAML key must be a listed LLM-API key.
        if let Some(l) = args::list("trtllm", self.version, "trtllm-serve") {
            let mut section = String::new();
            for line in yaml.lines() {
                let key = line.trim().split(':').next().unwrap_or("").to_string();
                let full = if line.starts_with("  ") {
                    format!("{section}.{key}")
                } else {
                    section = key.clone();
                    key.clone()
                };
                let value_follows = line.trim_end().ends_with(':');
                if !value_follows && !l.has(&format!("yaml:{full}")) {
                    self.problems.push(format!(
                        "{full} is not a TensorRT-LLM LLM-API key kvplan has checked"
                    ));
                }
            }
        }
        let file = "extra-llm-api-config.yml".to_string();
        self.files.push(ConfigFile {
            name: file.clone(),
            text: yaml,
        });
        let port = self.opts.port;
        let mut a: Vec<String> = vec![
            "--backend".into(),
            "pytorch".into(),
            "--tp_size".into(),
            if adp { d.tp * d.dp } else { d.tp }.to_string(),
        ];
        if d.pp > 1 {
            a.extend(["--pp_size".into(), d.pp.to_string()]);
        }
        if d.ep > 1 {
            a.extend(["--ep_size".into(), d.ep.to_string()]);
        }
        a.extend([
            "--max_batch_size".into(),
            max_batch.to_string(),
            "--max_num_tokens".into(),
            e.max_num_batched_tokens.to_string(),
            "--max_seq_len".into(),
            s.workload.context.to_string(),
            "--kv_cache_free_gpu_memory_fraction".into(),
            fraction(self.est.memory.memory_fraction),
            "--extra_llm_api_options".into(),
            file,
        ]);
        let program = |m: &str| vec!["trtllm-serve".to_string(), m.to_string()];
        let world = if adp { d.tp * d.dp * d.pp } else { d.tp * d.pp };
        if d.dp > 1 && !adp {
            let _ = moe;
            let mut common = a.clone();
            common.extend(["--host".into(), "0.0.0.0".into()]);
            // Per-replica commands: drop the layout flags the closure adds.
            let layout = |tp: u64, pp: u64| {
                let _ = (tp, pp);
                Vec::new()
            };
            self.replicas(&model, &common, port, layout, program);
        } else if nodes == 1 {
            a.extend([
                "--host".into(),
                "0.0.0.0".into(),
                "--port".into(),
                port.to_string(),
            ]);
            self.cmd(0, "server", vec![], program(&model), a, true);
        } else {
            a.extend([
                "--host".into(),
                "0.0.0.0".into(),
                "--port".into(),
                port.to_string(),
            ]);
            let hosts: Vec<String> = (0..nodes).map(|n| format!("$NODE{n}_IP:{gpn}")).collect();
            let mut prog = vec![
                "mpirun".to_string(),
                "-H".into(),
                hosts.join(","),
                "-n".into(),
                world.to_string(),
                "trtllm-llmapi-launch".into(),
            ];
            prog.extend(program(&model));
            self.cmd(
                0,
                "all nodes, launched once from node 0 through MPI",
                vec![],
                prog,
                a,
                true,
            );
            self.notes.push(format!(
                "TensorRT-LLM spans nodes through MPI: one mpirun on node 0 starts all {world} ranks (passwordless SSH between nodes, the YAML file on every node)"
            ));
        }
        let tokens = self.tokens_per_replica();
        let per_token = self.est.memory.kv_bytes_per_token_gpu;
        self.expected.push(ExpectedLine {
            quantity: "kv_cache_tokens".into(),
            value: tokens as f64,
            line: format!(
                "[MemUsageChange] Allocated {:.2} GiB for max tokens in paged KV cache ({tokens}).",
                gib(tokens as f64 * per_token as f64)
            ),
        });
        let head = self.opts.head_address.clone();
        let base = if nodes == 1 {
            format!("http://localhost:{port}")
        } else {
            format!("http://{head}:{port}")
        };
        let m = model.clone();
        self.vllm_bench("openai", &m, &base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quotes_only_what_needs_it() {
        assert_eq!(quote("--max-model-len"), "--max-model-len");
        assert_eq!(quote("$HEAD_IP:5000"), "$HEAD_IP:5000");
        assert_eq!(
            quote("{\"method\":\"deepseek_mtp\"}"),
            "'{\"method\":\"deepseek_mtp\"}'"
        );
        assert_eq!(quote("it's"), "'it'\\''s'");
        let t = shell(
            &[],
            &["vllm".into(), "serve".into(), "m".into()],
            &[
                "--a".into(),
                "1".into(),
                "--b".into(),
                "--c".into(),
                "x".into(),
            ],
        );
        assert_eq!(t, "vllm serve m \\\n    --a 1 \\\n    --b \\\n    --c x");
        assert_eq!(fraction(0.9), "0.9");
        assert_eq!(fraction(0.8125), "0.8125");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("TRT-LLM").unwrap(), Target::Trtllm);
        assert_eq!(Target::parse("banana").unwrap_err().field(), Some("emit"));
    }
}
