//! The real binary: the seed case end to end, the JSON contract, the exit
//! codes (0 fits, 1 does not fit, 2 bad input, 3 environment), and bad
//! input — each a clear one-line error, never a panic.

use std::process::{Command, Output};

fn kvplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(args)
        .output()
        .expect("run kvplan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Assert a clean failure on bad input: exit 2, an `error:` line mentioning every `needles`, no panic.
fn fails_with(args: &[&str], needles: &[&str]) {
    fails_with_code(2, args, needles)
}

/// Assert a clean failure with exit `code`, an `error:` line mentioning every `needles`, no panic.
fn fails_with_code(code: i32, args: &[&str], needles: &[&str]) {
    let o = kvplan(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "args {args:?}: stderr {e}");
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "args {args:?}: expected '{n}' in: {e}");
    }
}

#[test]
fn seed_case_explains_fp8_does_not_fit() {
    let o = kvplan(&[
        "estimate",
        "deepseek-v3",
        "--ctx",
        "100k",
        "--gpus",
        "8xH800",
    ]);
    // It does not fit: exit 1 (scripts branch on the verdict), output as usual.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("DOES NOT FIT"), "{out}");
    assert!(out.contains("fp8-block"), "{out}");
    assert!(out.contains("exceed the engine's budget"), "{out}");
    assert!(out.contains("recommendations"), "{out}");
    assert!(out.contains("2 nodes"), "{out}");
}

#[test]
fn json_contract_keys() {
    let o = kvplan(&[
        "estimate",
        "deepseek-v3",
        "--ctx",
        "100k",
        "--gpus",
        "8xH800",
        "--format",
        "json",
    ]);
    // The seed case does not fit: exit 1, the JSON printed all the same.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for path in [
        "/model/params_total",
        "/model/params_active",
        "/kv_cache/bytes_per_token",
        "/memory_per_gpu/weights_bytes",
        "/memory_per_gpu/kv_cache_bytes",
        "/memory_per_gpu/activation_bytes",
        "/memory_per_gpu/overhead_bytes",
        "/memory_per_gpu/total_bytes",
        "/memory_per_gpu/capacity_bytes",
        "/fits",
        "/limits/max_batch",
        "/limits/max_context",
        "/limits/kv_cache_tokens",
        "/performance/decode_step_seconds",
        "/performance/decode_tokens_per_second",
        "/performance/prefill_seconds",
        "/deployment/weights_dtype",
        "/deployment/kv_dtype",
        "/deployment/tp",
        "/deployment/pp",
        "/deployment/ep",
        "/deployment/dp",
        "/deployment/engine",
        "/recommendations",
    ] {
        assert!(v.pointer(path).is_some(), "missing {path}");
    }
    // Independent figures: 671,026,419,200 params (see golden.rs derivation); 61 × 576 × 2 B/token.
    assert_eq!(
        v.pointer("/model/params_total").unwrap().as_u64(),
        Some(671_026_419_200)
    );
    assert_eq!(
        v.pointer("/kv_cache/bytes_per_token").unwrap().as_u64(),
        Some(70_272)
    );
    assert_eq!(v.pointer("/fits").unwrap().as_bool(), Some(false));
    // H800 80 GB: physical 80 GiB.
    assert_eq!(
        v.pointer("/memory_per_gpu/capacity_bytes")
            .unwrap()
            .as_u64(),
        Some(80 << 30)
    );
    assert!(!v
        .pointer("/recommendations")
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn fitting_case_and_formats() {
    for f in ["json", "yaml", "markdown", "table"] {
        let o = kvplan(&[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--ctx",
            "8k",
            "--batch",
            "8",
            "--format",
            f,
        ]);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
    }
    let o = kvplan(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--batch",
        "8",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["fits"], true);
    // 8 sequences × 8,000 tokens (vLLM rounds to 16-token blocks: 8,000 is a multiple) × 131,072 B.
    assert_eq!(
        v["memory_per_gpu"]["kv_cache_bytes"].as_u64(),
        Some(8 * 8000 * 131_072)
    );
}

#[test]
fn config_json_path_works_as_model() {
    let cfg = format!(
        "{}/tests/fixtures/hf-configs/Qwen--Qwen2.5-7B.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = kvplan(&[
        "estimate", &cfg, "--gpus", "L40S", "--ctx", "4k", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kv_cache"]["bytes_per_token"].as_u64(), Some(57_344)); // docs/sources/models.md
}

#[test]
fn listings() {
    for cmd in ["models", "gpus", "engines"] {
        let o = kvplan(&[cmd]);
        assert!(o.status.success());
    }
    let o = kvplan(&["models", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 40);
}

#[test]
fn plan_runs_and_ranks() {
    let o = kvplan(&[
        "plan",
        "deepseek-v3",
        "--gpus",
        "2x8xH800",
        "--ctx",
        "32k",
        "--users",
        "64",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["any_fits"], true);
    let c = v["candidates"].as_array().unwrap();
    assert!(c[0]["fits"].as_bool().unwrap());
}

#[test]
fn unknown_names_suggest_nearest() {
    fails_with(
        &["estimate", "deepsek-v3", "--gpus", "H100"],
        &["unknown model", "deepseek-v3"],
    );
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "8xH80"],
        &["unknown GPU", "H800"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--engine",
            "vlm",
        ],
        &["unknown engine"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--weights",
            "int3",
        ],
        &["weights", "int4"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--kv-dtype",
            "int2",
        ],
        &["kv-dtype"],
    );
}

#[test]
fn impossible_sizes() {
    fails_with(&["estimate", "llama-3.1-8b", "--gpus", "0xH100"], &["gpus"]);
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "H100", "--ctx", "0"],
        &["ctx"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--ctx",
            "lots",
        ],
        &["ctx"],
    );
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "H100", "--batch", "0"],
        &["batch"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--ctx",
            "999999999999",
        ],
        &["ctx"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--gpu-memory-utilization",
            "1.5",
        ],
        &["gpu-memory-utilization"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--block-size",
            "0",
        ],
        &["block-size"],
    );
}

#[test]
fn non_dividing_parallelism() {
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "8xH100", "--tp", "3"],
        &["tp"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--tp",
            "4",
            "--pp",
            "4",
        ],
        &["tp × pp × dp"],
    );
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "8xH100", "--ep", "2"],
        &["dense model"],
    );
    fails_with(
        &["estimate", "deepseek-v3", "--gpus", "8xH100", "--ep", "3"],
        &["ep"],
    );
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "H100", "--mtp"],
        &["multi-token"],
    );
}

#[test]
fn malformed_spec_files_name_file_and_line() {
    let dir = std::env::temp_dir().join(format!("kvplan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bad.json");
    std::fs::write(
        &json,
        "{\n  \"hidden_size\": 4096,\n  \"num_hidden_layers\": 32,\n  oops\n}",
    )
    .unwrap();
    fails_with(
        &["estimate", json.to_str().unwrap(), "--gpus", "H100"],
        &["bad.json", "line 4"],
    );
    let yaml = dir.join("bad.yaml");
    std::fs::write(&yaml, "name: x\nhidden_size: [1, 2\n").unwrap();
    fails_with(
        &["estimate", yaml.to_str().unwrap(), "--gpus", "H100"],
        &["bad.yaml", "line"],
    );
    let zero = dir.join("zero.json");
    std::fs::write(&zero, r#"{"model_type":"llama","hidden_size":0,"num_hidden_layers":2,"num_attention_heads":2,"vocab_size":10,"max_position_embeddings":10}"#).unwrap();
    fails_with(
        &["estimate", zero.to_str().unwrap(), "--gpus", "H100"],
        &["zero.json", "hidden_size"],
    );
    // A file that is not there is the environment's problem (exit 3).
    fails_with_code(
        3,
        &["estimate", "/no/such/config.json", "--gpus", "H100"],
        &["cannot read"],
    );
}

#[test]
fn calibration_profile_is_used_and_checked() {
    let o = kvplan(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H200",
        "--ctx",
        "1k",
        "--profile",
        "H200",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["performance"]["efficiency_source"]
        .as_str()
        .unwrap()
        .contains("calibration profile"));
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--profile",
            "H200",
        ],
        &["profile", "measured on H200"],
    );
    fails_with_code(
        3,
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--profile",
            "/no/such.yaml",
        ],
        &["profile", "cannot read"],
    );
}

#[test]
#[cfg(feature = "gpu")]
fn probe_without_gpu_fails_cleanly() {
    // CI machines have no NVIDIA driver: a clear message and exit 3 (environment),
    // never a panic or hang; bad arguments are still exit 2.
    if std::path::Path::new("/dev/nvidiactl").exists() {
        eprintln!(
            "skipping: this machine has an NVIDIA GPU; the no-driver path is tested elsewhere"
        );
        return;
    }
    fails_with_code(3, &["probe", "--list"], &["NVIDIA driver"]);
    fails_with_code(
        3,
        &[
            "probe",
            "llama-3.1-8b",
            "--gpus",
            "H200",
            "--points",
            "1x1k",
        ],
        &["NVIDIA driver"],
    );
    fails_with(&["probe"], &["give a model"]);
    fails_with(
        &["probe", "llama-3.1-8b", "--gpus", "H200", "--points", "16"],
        &["points"],
    );
}

/// A build without the edges (`--no-default-features`) keeps every
/// subcommand, checks its arguments as usual, and names the feature it lacks.
#[test]
#[cfg(not(all(feature = "gpu", feature = "server", feature = "plot", feature = "hub")))]
fn commands_without_their_feature_say_which_feature() {
    #[cfg(not(feature = "gpu"))]
    {
        fails_with_code(3, &["probe", "--list"], &["`gpu` feature"]);
        fails_with(&["probe"], &["give a model"]);
    }
    #[cfg(not(feature = "server"))]
    fails_with_code(3, &["serve"], &["`server` feature"]);
    #[cfg(not(feature = "plot"))]
    fails_with_code(
        3,
        &[
            "plot",
            "memory",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--out",
            "m.png",
        ],
        &["`plot` feature"],
    );
    #[cfg(not(feature = "hub"))]
    fails_with_code(
        3,
        &["estimate", "hf:Qwen/Qwen2.5-7B", "--gpus", "H100"],
        &["`hub` feature"],
    );
}

/// Exit codes as `kvplan --help` documents them: 0 fits / a plan meets the
/// constraints, 1 does not fit / nothing meets them, 2 bad input, 3 environment.
#[test]
fn exit_codes_carry_the_verdict() {
    let code = |args: &[&str]| kvplan(args).status.code();
    // Llama-3.1-8B bf16 (16 GB of weights) at 8k on one 80 GB H100 fits.
    let fits = ["estimate", "llama-3.1-8b", "--gpus", "H100", "--ctx", "8k"];
    assert_eq!(code(&fits), Some(0));
    assert_eq!(code(&[&fits[..], &["--format", "json"]].concat()), Some(0));
    // Llama-3.1-405B bf16 (~810 GB of weights) cannot fit on one 80 GB H100.
    let too_big = [
        "estimate",
        "llama-3.1-405b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
    ];
    assert_eq!(code(&too_big), Some(1));
    let plan_ok = ["plan", "llama-3.1-8b", "--gpus", "H100", "--ctx", "8k"];
    assert_eq!(code(&plan_ok), Some(0));
    // Nothing, at any format or layout, puts 405B parameters on one 24 GB L4.
    let plan_none = ["plan", "llama-3.1-405b", "--gpus", "L4", "--ctx", "8k"];
    assert_eq!(code(&plan_none), Some(1));
    assert_eq!(
        code(&["estimate", "no-such-model", "--gpus", "H100"]),
        Some(2)
    );
    assert_eq!(
        code(&["estimate", "llama-3.1-8b", "--gpus", "H100", "--ctx", "0"]),
        Some(2)
    );
    assert_eq!(code(&["models"]), Some(0));
    let help = String::from_utf8_lossy(&kvplan(&["--help"]).stdout).to_string();
    for line in [
        "Exit codes:",
        "0  it fits",
        "1  it does not fit",
        "2  bad input",
        "3  environment",
    ] {
        assert!(help.contains(line), "--help lacks '{line}':\n{help}");
    }
}

#[test]
fn parallel_degrees_and_sizes_are_checked_before_use() {
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "H100", "--pp", "0"],
        &["pp", "at least 1"],
    );
    fails_with(
        &["estimate", "llama-3.1-8b", "--gpus", "8xH100", "--dp", "0"],
        &["dp", "at least 1"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--pp",
            "1000",
        ],
        &["pp = 1000", "8 GPUs"],
    );
    fails_with(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "8xH100",
            "--pp",
            "4",
            "--dp",
            "4",
        ],
        &["pp × dp"],
    );
    // 10^7 sequences × 10^8 tokens would overflow the byte counts.
    fails_with(
        &[
            "estimate",
            "deepseek-v3",
            "--gpus",
            "8xH100",
            "--ctx",
            "100000000",
            "--batch",
            "10000000",
        ],
        &["batch", "absurdly large"],
    );
}

#[test]
fn closed_pipe_is_not_a_panic() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["models"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -0`
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// MXFP4 routed experts sized in the engine's padded kernel shapes say so:
/// vLLM pads a DeepSeek-V4-Pro expert shard of 3,072 / 8 = 384 columns to
/// 512 on B200 (vllm `mxfp4.py` Mxfp4MoEMethod.create_weights, SM100 rule in
/// profiles/engines/vllm.yaml), a third more expert bytes, so the estimate
/// names the rule; NVIDIA's NVFP4 copy is not padded and does not.
#[test]
fn mxfp4_expert_padding_is_stated() {
    let o = kvplan(&[
        "estimate",
        "deepseek-v4-pro",
        "--gpus",
        "8xB200",
        "--ctx",
        "8k",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("MXFP4 routed experts in the shapes vllm@")
            && text.contains("rounded up to a multiple of 256"),
        "{text}"
    );
    let o = kvplan(&[
        "estimate",
        "deepseek-v4-pro-nvfp4",
        "--gpus",
        "8xB200",
        "--ctx",
        "8k",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("weights"), "{text}");
    assert!(
        !text.contains("MXFP4 routed experts in the shapes"),
        "{text}"
    );
}

/// Issue 12: `kvplan estimate` on a config of a family kvplan cannot model
/// exits non-zero (2, bad input) naming the field, never with a number. The
/// config is Kimi-K3's (which loads) with Gemma-4 E2B's per-layer input
/// embeddings added.
#[test]
fn unmodellable_family_exits_naming_the_field() {
    let src = format!(
        "{}/tests/fixtures/hf-configs/2026/moonshotai--Kimi-K3.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    let ok = kvplan(&["estimate", &src, "--gpus", "8xB300", "--ctx", "8k"]);
    assert!(
        !stderr(&ok).contains("error"),
        "Kimi-K3 itself must load: {}",
        stderr(&ok)
    );
    v["text_config"]["hidden_size_per_layer_input"] = serde_json::json!(256);
    let dir = std::env::temp_dir().join(format!("kvplan-cli-k3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, v.to_string()).unwrap();
    fails_with(
        &["estimate", path.to_str().unwrap(), "--gpus", "8xB300"],
        &["field 'hidden_size_per_layer_input'"],
    );
}
