//! Hostile input against the real binary: every class of issue 11 (bounded
//! work, bounded reads, printing, config validation, engine flags,
//! deficits). Each case runs under a wall-clock limit and a 2 GiB address
//! space limit (`ulimit -v`), and must end with a clear one-line error and
//! exit code 2 (3 for a failed write), never a panic, a hang or an abort.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a bounded run returned.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run kvplan with `args` under `limit` seconds and 2 GiB of address space;
/// stdout goes to `stdout` (a pipe when None). Panics (failing the test) if
/// the limit passes: that is a hang.
fn run_with(args: &[&str], limit: u64, stdout: Option<Stdio>) -> Run {
    let bin = env!("CARGO_BIN_EXE_kvplan");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let piped = stdout.is_none();
    cmd.stdout(stdout.unwrap_or_else(Stdio::piped));
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn kvplan");
    let mut out = child.stdout.take();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(limit) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kvplan {args:?} ran past {limit} s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t.elapsed();
    let stdout = if piped {
        reader.join().unwrap()
    } else {
        String::new()
    };
    Run {
        code: status.code(),
        stdout,
        stderr: err_reader.join().unwrap(),
        took,
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, 10, None)
}

/// A clean bad-input failure: exit 2, one `error:` line naming every needle,
/// within 5 s.
fn refused(args: &[&str], needles: &[&str]) -> String {
    let r = run(args);
    let e = r.stderr.clone();
    assert_eq!(r.code, Some(2), "{args:?}: exit {:?}, stderr {e}", r.code);
    assert!(e.starts_with("error: "), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("memory allocation"),
        "{e}"
    );
    assert!(
        r.took < Duration::from_secs(5),
        "{args:?} took {:?}",
        r.took
    );
    for n in needles {
        assert!(e.contains(n), "{args:?}: expected '{n}' in: {e}");
    }
    e
}

/// A scratch folder for this test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kvplan-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write `text` to `name` in a scratch folder; its path.
fn file(name: &str, text: &str) -> String {
    let p = scratch(name).join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().to_string()
}

/// A small, valid Llama-style config with `extra` fields merged in.
fn llama_config(extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
        "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16"
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

// --- files: regular files only, size-limited

#[test]
fn devices_are_refused_at_once() {
    refused(
        &["estimate", "/dev/zero", "--gpus", "H100"],
        &["/dev/zero", "character device"],
    );
    refused(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--profile",
            "/dev/zero",
        ],
        &["profile", "character device"],
    );
    refused(
        &["import", "/dev/zero", "--name", "x"],
        &["character device"],
    );
    refused(&["estimate", "/tmp/", "--gpus", "H100"], &["directory"]);
}

#[test]
fn a_fifo_does_not_block() {
    let d = scratch("fifo");
    let p = d.join("config.json");
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path in our scratch folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused(
        &["estimate", &p.to_string_lossy(), "--gpus", "H100"],
        &["FIFO"],
    );
}

#[test]
fn a_huge_file_is_refused_without_reading_it() {
    let d = scratch("huge");
    let p = d.join("config.json");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(8 << 30).unwrap(); // 8 GiB, sparse
    refused(
        &["estimate", &p.to_string_lossy(), "--gpus", "H100"],
        &["larger than"],
    );
}

#[test]
fn deeply_nested_yaml_is_refused_quickly() {
    let deep = format!("name: {}x{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = file("deep.yaml", &deep);
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &["nest deeper than 64"],
    );
}

// --- printing

#[test]
fn a_full_disk_is_one_line_and_exit_3() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let r = run_with(&["models"], 10, Some(Stdio::from(full)));
    assert_eq!(r.code, Some(3), "stderr: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("No space left"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim_end().lines().count(), 1);
}

#[test]
fn a_closed_pipe_is_quiet() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["models"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.is_empty(), "closed pipe must be quiet: {e}");
}

// --- bounded work: sizes are bounded before the work they cause

#[test]
fn a_pattern_of_2_pow_63_is_refused_not_allocated() {
    let cfg = serde_json::json!({
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 34,
            "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
            "intermediate_size": 10240, "vocab_size": 262208, "max_position_embeddings": 131072,
            "sliding_window": 1024, "sliding_window_pattern": 9_223_372_036_854_775_807u64
        }
    });
    let p = file("pattern.json", &cfg.to_string());
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &[
            "sliding_window_pattern = 9,223,372,036,854,775,807",
            "1–1,024",
        ],
    );
}

#[test]
fn huge_counts_are_refused_with_field_value_and_range() {
    for (field, value, needle) in [
        (
            "num_hidden_layers",
            4_294_967_296u64,
            "num_layers = 4,294,967,296",
        ),
        ("num_hidden_layers", 16_777_216, "num_layers = 16,777,216"),
        ("vocab_size", 4_294_967_296, "vocab_size = 4,294,967,296"),
        ("max_position_embeddings", 0, "max_context = 0"),
    ] {
        let p = file(
            &format!("{field}-{value}.json"),
            &llama_config(serde_json::json!({ field: value })),
        );
        let e = refused(
            &["estimate", &p, "--gpus", "H100"],
            &[needle, "plausible range"],
        );
        assert!(!e.contains("missing"), "a stated value is not missing: {e}");
    }
    let moe = llama_config(
        serde_json::json!({"num_local_experts": 16_777_216u64, "num_experts_per_tok": 2}),
    );
    let p = file("experts.json", &moe);
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &["moe.num_experts = 16,777,216"],
    );
}

#[test]
fn a_million_mtp_layers_is_refused_fast() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf-configs/deepseek-ai--DeepSeek-V3.json"
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    v["num_nextn_predict_layers"] = 1_000_000.into();
    let p = file("mtp.json", &v.to_string());
    refused(
        &["estimate", &p, "--gpus", "8xH200", "--mtp", "--ctx", "8k"],
        &["mtp_layers = 1,000,000", "0–16"],
    );
}

#[test]
fn searches_and_clusters_are_bounded() {
    refused(
        &["estimate", "llama-3.1-8b", "--gpus", "100000x100000xH100"],
        &["GPUs in all is absurdly many"],
    );
    // Every node count from 1 to 120, each with its ~90 layouts × formats:
    // about 65,000 configurations (minutes of work), refused up front.
    refused(
        &[
            "plan",
            "llama-3.1-405b",
            "--gpus",
            "120x8xH100",
            "--objective",
            "gpus",
            "--ctx",
            "8k",
        ],
        &["configurations"],
    );
}

// --- config validation that knows what it reads

#[test]
fn a_tensorrt_llm_checkpoint_config_is_not_a_model() {
    let trt = serde_json::json!({
        "architecture": "LlamaForCausalLM", "dtype": "bfloat16", "num_hidden_layers": 80,
        "num_attention_heads": 64, "num_key_value_heads": 8, "hidden_size": 8192,
        "intermediate_size": 28672, "vocab_size": 128256, "max_position_embeddings": 131072,
        "position_embedding_type": "rope_gpt_neox", "hidden_act": "silu",
        "quantization": {"quant_algo": null}, "mapping": {"world_size": 8, "tp_size": 8, "pp_size": 1}
    });
    let p = file("trt.json", &trt.to_string());
    refused(
        &["estimate", &p, "--gpus", "8xH100"],
        &["TensorRT-LLM", "not a Hugging Face config.json"],
    );
}

#[test]
fn an_unknown_model_type_needs_every_size_and_says_which_it_used() {
    let partial = serde_json::json!({
        "model_type": "totally_new", "hidden_size": 4096, "num_hidden_layers": 32,
        "num_attention_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096
    });
    let p = file("new.json", &partial.to_string());
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &[
            "model_type 'totally_new'",
            "num_key_value_heads",
            "intermediate_size",
        ],
    );
    let full = llama_config(serde_json::json!({"model_type": "totally_new"}));
    let p = file("new-full.json", &full);
    let r = run(&[
        "estimate", &p, "--gpus", "H100", "--ctx", "4k", "--format", "json",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let src = v["model"]["source"].as_str().unwrap();
    assert!(
        src.contains("totally_new")
            && src.contains("hidden_size=4096")
            && src.contains("intermediate_size=14336"),
        "{src}"
    );
}

#[test]
fn zero_and_inconsistent_sizes_are_errors() {
    let mla = |extra: serde_json::Value| {
        let mut base = serde_json::json!({
            "model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61,
            "num_attention_heads": 128, "num_key_value_heads": 128, "intermediate_size": 18432,
            "vocab_size": 129280, "max_position_embeddings": 163840, "kv_lora_rank": 512,
            "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128
        });
        for (k, x) in extra.as_object().unwrap() {
            base[k] = x.clone();
        }
        base.to_string()
    };
    let p = file("lora0.json", &mla(serde_json::json!({"kv_lora_rank": 0})));
    refused(&["estimate", &p, "--gpus", "8xH200"], &["kv_lora_rank = 0"]);
    let p = file("v0.json", &mla(serde_json::json!({"v_head_dim": 0})));
    refused(&["estimate", &p, "--gpus", "8xH200"], &["v_head_dim = 0"]);
    let p = file(
        "kvheads.json",
        &llama_config(serde_json::json!({"num_key_value_heads": 64})),
    );
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &["num_kv_heads (64) exceeds num_heads (32)"],
    );
    let awq = llama_config(
        serde_json::json!({"quantization_config": {"quant_method": "awq", "bits": 0}}),
    );
    let p = file("awq0.json", &awq);
    refused(
        &["estimate", &p, "--gpus", "H100"],
        &["quantization_config.bits = 0"],
    );
}

#[test]
fn engine_flags_only_with_their_engine() {
    refused(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--mem-fraction-static",
            "0.8",
        ],
        &["SGLang's flag", "--gpu-memory-utilization"],
    );
    refused(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--engine",
            "sglang",
            "--gpu-memory-utilization",
            "0.8",
        ],
        &["vLLM's flag", "--mem-fraction-static"],
    );
    let r = run(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--engine",
        "trtllm",
        "--gpu-memory-utilization",
        "0.8",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("free_gpu_memory_fraction"),
        "mapped with a note"
    );
}

#[test]
fn parallel_degrees_beyond_the_gpus_say_so() {
    refused(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--tp",
            "8",
            "--dp",
            "8",
        ],
        &["tp × pp × dp = 8 × 1 × 8 = 64 GPUs", "gives 8"],
    );
}

// --- deficits are not quantities

#[test]
fn a_deficit_is_a_shortfall_not_a_negative_pool() {
    // Llama-3.1-70B in bf16 (2 bytes × 70.6 B parameters ≈ 131 GiB) cannot
    // load on one 80 GB H100 at all.
    let r = run(&[
        "estimate",
        "llama-3.1-70b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--format",
        "json",
    ]);
    assert_eq!(r.code.unwrap_or(-1) & !1, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let m = &v["memory_per_gpu"];
    assert_eq!(m["kv_budget_bytes"].as_u64(), Some(0), "{m}");
    let short = m["kv_shortfall_bytes"].as_u64().expect("integer shortfall");
    let fixed = ["weights_bytes", "activation_bytes", "overhead_bytes"]
        .iter()
        .map(|k| m[k].as_u64().unwrap())
        .sum::<u64>();
    // vLLM's pool is budget − weights − activations − non-torch memory
    // (gpu_worker.py; checked exactly in tests/properties.rs): the weights
    // alone exceed the budget, and the shortfall is at most the whole excess.
    let budget = m["budget_bytes"].as_u64().unwrap();
    let weights = m["weights_bytes"].as_u64().unwrap();
    assert!(short >= weights - budget && short <= fixed - budget, "{m}");
    for st in v["stages"].as_array().unwrap() {
        assert!(
            st["kv_budget_bytes"].as_u64().is_some() && st["kv_shortfall_bytes"].as_u64().is_some()
        );
    }
    let t = run(&["estimate", "llama-3.1-70b", "--gpus", "H100", "--ctx", "8k"]);
    let gib = format!("short by {:.2} GiB", short as f64 / (1u64 << 30) as f64);
    assert!(t.stdout.contains(&gib), "{gib} in:\n{}", t.stdout);
    let words: Vec<&str> = t.stdout.split_whitespace().collect();
    let negative = words
        .windows(2)
        .find(|w| w[1] == "GiB" && w[0].starts_with('-'));
    assert!(negative.is_none(), "a negative quantity: {negative:?}");
}
