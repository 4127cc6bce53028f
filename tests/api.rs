//! The web API, end to end over real TCP: every route, the hardening (bad
//! JSON, unknown fields and names, out-of-range values, oversize bodies,
//! path traversal, timeouts) and — the point of a thin edge — that
//! `POST /api/estimate` and `/api/plan` return exactly what the CLI prints
//! with `--format json` for the same inputs.
#![cfg(feature = "server")]

#[path = "e2e/http.rs"]
mod http;

use http::{get, post_json, raw, request};
use kvplan::server::{self, Limits};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Start a server with `limits` on 127.0.0.1:0 in a background thread.
fn start(limits: Limits) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            server::serve(listener, server::router_with(limits).unwrap())
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("server started")
}

/// One shared server with the default limits.
fn addr() -> SocketAddr {
    static A: OnceLock<SocketAddr> = OnceLock::new();
    *A.get_or_init(|| start(Limits::default()))
}

/// Run the real binary and parse its JSON output.
fn cli_json(args: &[&str], dir: Option<&std::path::Path>) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvplan"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().expect("run kvplan");
    // Exit 0 when it fits / a plan meets the constraints, 1 when not; both print JSON.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "kvplan {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("CLI prints JSON");
    let verdict = v.get("fits").or_else(|| v.get("any_fits"));
    if let Some(ok) = verdict.and_then(Value::as_bool) {
        assert_eq!(out.status.code(), Some(if ok { 0 } else { 1 }), "{args:?}");
    }
    v
}

/// POST `body` and expect a 400 naming `field`; returns the message.
fn expect_400(path: &str, body: Value, field: &str) -> String {
    let r = post_json(addr(), path, &body.to_string());
    let j = r.json();
    assert_eq!(r.status, 400, "{body} → {}", r.text());
    assert_eq!(j["field"], field, "{body} → {j}");
    let msg = j["error"].as_str().expect("error text").to_string();
    assert!(!msg.is_empty());
    msg
}

#[test]
fn healthz_and_security_headers() {
    let r = get(addr(), "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[test]
fn page_and_assets_are_embedded() {
    let page = get(addr(), "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("<script src=\"/app.js\""), "{html}");
    // No third-party hosts: everything is served from this origin.
    assert!(!html.contains("http://") && !html.contains("https://"));
    for (path, ct) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/index.html", "text/html; charset=utf-8"),
    ] {
        let r = get(addr(), path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ct), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(!r.body.is_empty());
    }
    let js = get(addr(), "/app.js").text();
    assert!(!js.contains("innerHTML"), "the page must not inject HTML");
}

#[test]
fn listings_match_the_cli() {
    for (route, cmd) in [("/api/gpus", "gpus"), ("/api/engines", "engines")] {
        let api = get(addr(), route).json();
        assert_eq!(api, cli_json(&[cmd, "--format", "json"], None), "{route}");
    }
    // Models: the CLI's specs plus parameter counts for the picker.
    let api = get(addr(), "/api/models").json();
    let cli = cli_json(&["models", "--format", "json"], None);
    let (api, cli) = (api.as_array().unwrap(), cli.as_array().unwrap());
    assert_eq!(api.len(), cli.len());
    for (a, c) in api.iter().zip(cli) {
        for (k, v) in c.as_object().unwrap() {
            assert_eq!(&a[k], v, "{k} of {}", c["name"]);
        }
        assert!(a["params_total"].as_u64().unwrap() >= a["params_active"].as_u64().unwrap());
        assert!(a["attention_label"].is_string());
    }
    let v3 = api.iter().find(|m| m["name"] == "deepseek-v3").unwrap();
    // DeepSeek-V3's 671B parameters (model card), MTP excluded.
    assert_eq!(v3["params_total"].as_u64().unwrap() / 1_000_000_000, 671);
    let f = get(addr(), "/api/formats").json();
    assert!(f["weights"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "fp8-block"));
    assert!(f["kv_dtypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "fp8"));
}

/// CLI flags for a request body (the fields are named like the flags).
fn flags(body: &Value) -> Vec<String> {
    let o = body.as_object().unwrap();
    let mut v = vec![
        "estimate".to_string(),
        o["model"].as_str().unwrap().to_string(),
    ];
    for (k, x) in o {
        if k == "model" {
            continue;
        }
        let text = match x {
            Value::String(s) => s.clone(),
            Value::Bool(true) => {
                v.push(format!("--{}", k.replace('_', "-")));
                continue;
            }
            other => other.to_string(),
        };
        v.push(format!("--{}", k.replace('_', "-")));
        v.push(text);
    }
    v.extend(["--format".into(), "json".into()]);
    v
}

#[test]
fn estimate_equals_the_cli_json() {
    let cases = [
        json!({"model": "deepseek-v3", "gpus": "8xH800", "ctx": "100k"}),
        json!({"model": "llama-3.1-70b", "gpus": "4xH100", "ctx": 32768, "batch": 16, "weights": "fp8", "kv_dtype": "fp8"}),
        json!({"model": "qwen3-30b-a3b", "gpus": "2x8xA100-80GB", "ctx": "128Ki", "batch": 64, "engine": "sglang", "tp": 8, "pp": 2}),
        json!({"model": "gemma-3-27b", "gpus": "H100", "ctx": "8k", "gpu_memory_utilization": 0.8, "block_size": 32}),
        json!({"model": "llama-3.1-8b", "gpus": "L40S"}),
        json!({"model": "deepseek-v3", "gpus": "2x8xH800", "ctx": "32k", "batch": 32, "mtp": true, "tp": 8, "dp": 2, "ep": 16, "pp": 1}),
        // What-if attention and a measured calibration profile, as --attention / --profile.
        json!({"model": "llama-3.1-70b", "gpus": "4xH100", "ctx": "32k", "attention": "mla:512"}),
        json!({"model": "qwen3-30b-a3b", "gpus": "H200", "ctx": "16k", "batch": 8, "profile": "H200"}),
    ];
    for body in cases {
        let r = post_json(addr(), "/api/estimate", &body.to_string());
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let api = r.json();
        let args = flags(&body);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cli = cli_json(&args, None);
        assert_eq!(api, cli, "API and CLI differ for {body}");
        // The contract's keys are there.
        for k in [
            "weights_bytes",
            "kv_cache_bytes",
            "activation_bytes",
            "overhead_bytes",
            "total_bytes",
            "capacity_bytes",
        ] {
            assert!(api["memory_per_gpu"][k].is_u64(), "{k}");
        }
    }
}

#[test]
fn plan_equals_the_cli_json() {
    let body = json!({"model": "llama-3.1-70b", "gpus": "8xH100", "ctx": "32k", "users": 64, "max_tpot_ms": 60, "objective": "latency", "top": 5});
    let r = post_json(addr(), "/api/plan", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let api = r.json();
    let cli = cli_json(
        &[
            "plan",
            "llama-3.1-70b",
            "--gpus",
            "8xH100",
            "--ctx",
            "32k",
            "--users",
            "64",
            "--max-tpot-ms",
            "60",
            "--objective",
            "latency",
            "--top",
            "5",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(api, cli);
    assert!(api["candidates"].as_array().unwrap().len() <= 5);
    // Pinned parallelism and a format restriction, default objective.
    let body = json!({"model": "deepseek-v3", "gpus": "2x8xH800", "ctx": "32k", "weights": "fp8-block", "tp": 8});
    let api = post_json(addr(), "/api/plan", &body.to_string()).json();
    let cli = cli_json(
        &[
            "plan",
            "deepseek-v3",
            "--gpus",
            "2x8xH800",
            "--ctx",
            "32k",
            "--weights",
            "fp8-block",
            "--tp",
            "8",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(api, cli);
    for c in api["candidates"].as_array().unwrap() {
        assert_eq!(c["tp"], 8);
        assert_eq!(c["weights_dtype"], "fp8-block");
    }
}

#[test]
fn calibration_profiles_are_built_in_only() {
    let list = get(addr(), "/api/profiles").json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "H200" && p["gpu"] == "H200"),
        "{list}"
    );
    let m = expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "profile": "H200"}),
        "profile",
    );
    assert!(m.contains("H200") && m.contains("H100"), "{m}");
    for p in ["H999", "profiles/gpus/H200.yaml", "/etc/passwd"] {
        let m = expect_400(
            "/api/estimate",
            json!({"model": "llama-3.1-8b", "gpus": "H200", "profile": p}),
            "profile",
        );
        assert!(m.contains("reads no files"), "{m}");
    }
    // The plan search honours the profile like `kvplan plan --profile`.
    let body = json!({"model": "llama-3.1-8b", "gpus": "2xH200", "ctx": "8k", "profile": "H200", "top": 3});
    let api = post_json(addr(), "/api/plan", &body.to_string()).json();
    let cli = cli_json(
        &[
            "plan",
            "llama-3.1-8b",
            "--gpus",
            "2xH200",
            "--ctx",
            "8k",
            "--profile",
            "H200",
            "--top",
            "3",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(api, cli);
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "attention": "gqa:3"}),
        "attention",
    );
}

#[test]
fn plan_input_errors() {
    let base = || json!({"model": "llama-3.1-8b", "gpus": "2xH100", "ctx": "8k"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    expect_400("/api/plan", with("users", json!(0)), "users");
    expect_400("/api/plan", with("objective", json!("cheap")), "objective");
    expect_400("/api/plan", with("max_tpot_ms", json!(-1)), "max_tpot_ms");
    expect_400(
        "/api/plan",
        with("max_ttft_ms", json!("soon")),
        "max_ttft_ms",
    );
    expect_400("/api/plan", with("top", json!(5000)), "top");
    let mut both = with("users", json!(4));
    both["batch"] = json!(4);
    expect_400("/api/plan", both, "users");
    expect_400("/api/plan", with("tp", json!(3)), "tp");
    expect_400("/api/plan", with("bogus", json!(1)), "bogus");
}

/// A real HF config.json from the fixtures, pasted into the API, gives what
/// the CLI gives for the same file.
#[test]
fn pasted_config_equals_the_cli_on_the_file() {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf-configs/Qwen--Qwen2.5-7B-Instruct.json"
    );
    let text = std::fs::read_to_string(src).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    let dir = std::env::temp_dir().join(format!("kvplan-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), &text).unwrap();

    let body = json!({"config": config, "gpus": "2xL40S", "ctx": "32k", "batch": 8});
    let r = post_json(addr(), "/api/estimate", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let cli = cli_json(
        &[
            "estimate",
            "config.json",
            "--gpus",
            "2xL40S",
            "--ctx",
            "32k",
            "--batch",
            "8",
            "--format",
            "json",
        ],
        Some(&dir),
    );
    assert_eq!(r.json(), cli);

    // /api/config describes the same model.
    let d = post_json(addr(), "/api/config", &text).json();
    assert_eq!(d["params_total"], cli["model"]["params_total"]);
    assert_eq!(d["layers"], 28); // num_hidden_layers in the config

    // A config and a built-in name at once is ambiguous.
    let both = json!({"config": config, "model": "qwen2.5-7b", "gpus": "H100"});
    expect_400("/api/estimate", both, "model");
    // A config that is not an HF config names the field.
    expect_400(
        "/api/estimate",
        json!({"config": {"hello": 1}, "gpus": "H100"}),
        "config",
    );
    expect_400(
        "/api/estimate",
        json!({"config": [1, 2], "gpus": "H100"}),
        "config",
    );
    let r = post_json(addr(), "/api/config", r#"{"hidden_size": 8}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "config");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sweep_points_equal_single_estimates() {
    let body = json!({"model": "llama-3.1-8b", "gpus": "H100", "batch": 4, "ctx": "16k", "contexts": [4096, "32Ki"]});
    let r = post_json(addr(), "/api/sweep", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let sw = r.json();
    let pts = sw["points"].as_array().unwrap();
    let ctxs: Vec<u64> = pts.iter().map(|p| p["context"].as_u64().unwrap()).collect();
    assert_eq!(ctxs, [4096, 16000, 32768]);
    for p in pts {
        let one = json!({"model": "llama-3.1-8b", "gpus": "H100", "batch": 4, "ctx": p["context"]});
        let est = post_json(addr(), "/api/estimate", &one.to_string()).json();
        assert_eq!(p["memory_per_gpu"], est["memory_per_gpu"]);
        assert_eq!(p["fits"], est["fits"]);
        assert_eq!(p["max_batch"], est["limits"]["max_batch"]);
    }
    // Memory grows with context (property from docs/sources/design.md).
    let totals: Vec<u64> = pts
        .iter()
        .map(|p| p["memory_per_gpu"]["total_bytes"].as_u64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    // Default points: powers of two up to the model's maximum.
    let d = post_json(
        addr(),
        "/api/sweep",
        r#"{"model": "llama-3.1-8b", "gpus": "H100"}"#,
    )
    .json();
    let n = d["points"].as_array().unwrap().len();
    assert!((5..=40).contains(&n), "{n}");
    let many: Vec<u64> = (1..=65).map(|i| i * 1000).collect();
    expect_400(
        "/api/sweep",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "contexts": many}),
        "contexts",
    );
    expect_400(
        "/api/sweep",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "contexts": [0]}),
        "contexts",
    );
}

#[test]
fn bad_json_is_400_with_line_and_column() {
    let r = post_json(
        addr(),
        "/api/estimate",
        "{\"model\": \"llama-3.1-8b\",\n \"gpus\": }",
    );
    assert_eq!(r.status, 400);
    let e = r.json()["error"].as_str().unwrap().to_string();
    assert!(e.contains("line 2") && e.contains("column"), "{e}");
    for body in ["", "[]", "null", "42", "\"x\"", "{\"model\": \"a\""] {
        let r = post_json(addr(), "/api/estimate", body);
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
}

#[test]
fn unknown_names_suggest_the_nearest() {
    let m = expect_400(
        "/api/estimate",
        json!({"model": "deepseek-v9", "gpus": "8xH800"}),
        "model",
    );
    assert!(
        m.contains("did you mean") && m.contains("deepseek-v3"),
        "{m}"
    );
    let m = expect_400(
        "/api/estimate",
        json!({"model": "qwen2.5-73b", "gpus": "H100"}),
        "model",
    );
    assert!(m.contains("qwen2.5-72b"), "{m}");
    let m = expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "8xH80"}),
        "gpus",
    );
    assert!(m.contains("H800"), "{m}");
    let m = expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "engine": "vllmm"}),
        "engine",
    );
    assert!(m.contains("vllm"), "{m}");
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "weights": "int3"}),
        "weights",
    );
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "kv_dtype": "fp7"}),
        "kv_dtype",
    );
    expect_400(
        "/api/estimate",
        json!({"model": "", "gpus": "H100"}),
        "model",
    );
    expect_400("/api/estimate", json!({"gpus": "H100"}), "model");
    expect_400("/api/estimate", json!({"model": "llama-3.1-8b"}), "gpus");
}

#[test]
fn the_server_never_reads_files_named_by_the_client() {
    for name in [
        "/etc/passwd",
        "../Cargo.toml",
        "./tests/fixtures/hf-configs/Qwen--Qwen2.5-7B-Instruct.json",
        "model-specs/llama-3.1-8b.yaml",
        "hf:meta-llama/Llama-3.1-8B",
        "config.json",
    ] {
        let m = expect_400(
            "/api/estimate",
            json!({"model": name, "gpus": "H100"}),
            "model",
        );
        assert!(m.contains("`config`"), "{name}: {m}");
        assert!(!m.contains("root:"), "{m}");
    }
}

#[test]
fn out_of_range_values_are_400_naming_the_field() {
    let base = || json!({"model": "llama-3.1-8b", "gpus": "8xH100", "ctx": "8k"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("ctx", json!(0), "ctx"),
        ("ctx", json!("0"), "ctx"),
        ("ctx", json!("abc"), "ctx"),
        ("ctx", json!(-5), "ctx"),
        ("ctx", json!(1.5), "ctx"),
        ("ctx", json!("1e30"), "ctx"),
        ("ctx", json!(u64::MAX), "ctx"),
        ("ctx", json!(true), "ctx"),
        ("batch", json!(0), "batch"),
        ("batch", json!(-1), "batch"),
        ("batch", json!(u64::MAX), "batch"),
        ("batch", json!("many"), "batch"),
        ("tp", json!(3), "tp"),
        ("tp", json!(0), "tp"),
        ("tp", json!(u64::MAX), "tp"),
        ("pp", json!(0), "pp"),
        // pp 1000 does not divide the 8 GPUs: the error names pp.
        ("pp", json!(1000), "pp"),
        ("pp", json!(9), "pp"),
        ("dp", json!(0), "dp"),
        ("dp", json!(99_999_999), "dp"),
        ("ep", json!(2), "ep"),
        ("ep", json!(0), "ep"),
        (
            "gpu_memory_utilization",
            json!(1.5),
            "gpu_memory_utilization",
        ),
        ("gpu_memory_utilization", json!(0), "gpu_memory_utilization"),
        (
            "gpu_memory_utilization",
            json!(-0.5),
            "gpu_memory_utilization",
        ),
        ("mem_fraction_static", json!(2), "mem_fraction_static"),
        ("block_size", json!(0), "block_size"),
        ("block_size", json!(4096), "block_size"),
        ("max_num_batched_tokens", json!(0), "max_num_batched_tokens"),
        ("max_model_len", json!("4k"), "ctx"),
        ("mtp", json!(true), "mtp"),
        ("mtp", json!("yes"), "mtp"),
        ("mtp_acceptance", json!(2), "mtp_acceptance"),
        ("gpus", json!("0xH100"), "gpus"),
        ("gpus", json!("200000xH100"), "gpus"),
        ("gpus", json!("8x"), "gpus"),
        ("gpus", json!(8), "gpus"),
        ("model", json!(5), "model"),
        ("weights", json!(["fp8"]), "weights"),
    ];
    for (k, v, field) in cases {
        let mut b = base();
        b[k] = v;
        expect_400("/api/estimate", b, field);
    }
    // Absurd sizes come back as 400, not as wrapped numbers.
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "ctx": 100_000_000, "batch": 10_000_000}),
        "batch",
    );
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "ctx": 100_000_001}),
        "ctx",
    );
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "batch": 10_000_001}),
        "batch",
    );
}

#[test]
fn unknown_fields_are_refused() {
    let m = expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "contxt": "8k"}),
        "contxt",
    );
    assert!(m.contains("ctx"), "the valid names are listed: {m}");
    // API-only fields of one route are unknown on another.
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "users": 4}),
        "users",
    );
}

#[test]
fn json_content_type_is_required() {
    let body = br#"{"model": "llama-3.1-8b", "gpus": "H100"}"#;
    for headers in [
        vec![],
        vec![("Content-Type", "text/plain")],
        vec![("Content-Type", "application/x-www-form-urlencoded")],
    ] {
        let r = request(addr(), "POST", "/api/estimate", &headers, body);
        assert_eq!(r.status, 415, "{headers:?}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json"));
    }
    let r = request(
        addr(),
        "POST",
        "/api/estimate",
        &[("Content-Type", "application/json; charset=utf-8")],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn oversize_bodies_are_413() {
    // 300 KiB of valid JSON: too large however well-formed.
    let pad = "x".repeat(300 * 1024);
    let body = format!(r#"{{"model": "llama-3.1-8b", "gpus": "H100", "pad": "{pad}"}}"#);
    for path in ["/api/estimate", "/api/config", "/api/plan", "/api/sweep"] {
        let r = post_json(addr(), path, &body);
        assert_eq!(r.status, 413, "{path}: {}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains("too large"));
    }
    // Chunked upload without a length hits the same limit.
    let mut raw_req = b"POST /api/estimate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        raw_req.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
        raw_req.extend_from_slice(&[b' '; 8192]);
        raw_req.extend_from_slice(b"\r\n");
    }
    raw_req.extend_from_slice(b"0\r\n\r\n");
    let r = raw(addr(), &raw_req);
    assert_eq!(r.status, 413, "{}", r.text());
}

#[test]
fn path_traversal_finds_nothing() {
    let paths = [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2e%2e%2fCargo.toml",
        "/..%2fCargo.toml",
        "/app.js/../../Cargo.toml",
        "/web/../Cargo.toml",
        "/web/index.html",
        "/Cargo.toml",
        "/src/main.rs",
        "//etc/passwd",
        "/static/..%5c..%5cCargo.toml",
        "/.git/config",
        "/app.js%00.css",
    ];
    for p in paths {
        let req = format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = raw(addr(), req.as_bytes());
        assert_eq!(r.status, 404, "{p}");
        let t = r.text();
        assert!(
            !t.contains("[package]") && !t.contains("fn main") && !t.contains("root:"),
            "{p}: {t}"
        );
    }
    let r = get(addr(), "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not found");
}

#[test]
fn wrong_methods_are_refused() {
    assert_eq!(get(addr(), "/api/estimate").status, 405);
    assert_eq!(post_json(addr(), "/api/models", "{}").status, 405);
    assert_eq!(request(addr(), "DELETE", "/", &[], b"").status, 405);
}

#[test]
fn slow_requests_time_out_with_503() {
    let a = start(Limits {
        timeout: Duration::from_nanos(1),
        ..Limits::default()
    });
    let body =
        json!({"model": "deepseek-v3", "gpus": "2x8xH800", "ctx": "32k", "objective": "gpus"});
    let r = post_json(a, "/api/plan", &body.to_string());
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("longer than"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn too_many_computations_at_once_is_503() {
    let a = start(Limits {
        max_in_flight: 0,
        max_queued: 0,
        ..Limits::default()
    });
    let r = post_json(
        a,
        "/api/estimate",
        r#"{"model": "llama-3.1-8b", "gpus": "H100"}"#,
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("busy"));
    // Cheap routes still answer.
    assert_eq!(get(a, "/healthz").status, 200);
}

#[test]
fn requests_wait_for_a_free_slot() {
    let a = start(Limits {
        max_in_flight: 1,
        max_queued: 16,
        ..Limits::default()
    });
    let threads: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                let body = json!({"model": "deepseek-v3", "gpus": "8xH800", "batch": i + 1});
                post_json(a, "/api/estimate", &body.to_string()).status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
}

/// A grid of extreme values over several models: every answer is a 200 or a
/// 400 with a JSON error naming a field — never a 5xx, a panic or a hang.
#[test]
fn extreme_inputs_never_fail_the_server() {
    let big = [0u64, 1, 3, 1 << 20, u32::MAX as u64, u64::MAX];
    let mut n = 0;
    for model in ["deepseek-v3", "gemma-3-27b", "gpt-oss-20b", "qwen3-30b-a3b"] {
        for (i, &x) in big.iter().enumerate() {
            let y = big[(i * 5 + 1) % big.len()];
            let bodies = [
                json!({"model": model, "gpus": "8xH100", "ctx": x, "batch": y}),
                json!({"model": model, "gpus": "2x8xH100", "tp": x, "pp": y}),
                json!({"model": model, "gpus": "8xH100", "ep": x, "dp": y}),
                json!({"model": model, "gpus": "H100", "max_num_batched_tokens": x, "block_size": y}),
                json!({"model": model, "gpus": "4xH100", "max_model_len": x, "ctx": y}),
            ];
            for b in bodies {
                let r = post_json(addr(), "/api/estimate", &b.to_string());
                n += 1;
                match r.status {
                    200 => assert!(r.json()["memory_per_gpu"]["total_bytes"].is_u64()),
                    400 => assert!(r.json()["field"].is_string(), "{b} → {}", r.text()),
                    s => panic!("{b} → {s}: {}", r.text()),
                }
            }
        }
    }
    assert_eq!(n, 4 * 6 * 5);
}

/// The serving chart's route (issue 13 item 4): each point of
/// `/api/serving-sweep` is what `/api/estimate` says for that concurrency,
/// and the points are the powers of two up to the top, as `kvplan plot
/// serving` draws them.
#[test]
fn serving_sweep_points_equal_single_estimates() {
    let base = json!({"model": "llama-3.1-8b", "gpus": "H100"});
    let mut body = base.clone();
    body["serving"] = json!({"isl": 1000, "osl": 100});
    body["max_concurrency"] = json!(12);
    let r = post_json(addr(), "/api/serving-sweep", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let sw = r.json();
    let pts = sw["points"].as_array().unwrap();
    let cs: Vec<u64> = pts
        .iter()
        .map(|p| p["concurrency"].as_u64().unwrap())
        .collect();
    assert_eq!(cs, [1, 2, 4, 8, 12]);
    assert_eq!(sw["percentile"], "p90");
    for p in pts {
        let mut one = base.clone();
        one["serving"] = json!({"isl": 1000, "osl": 100, "concurrency": p["concurrency"]});
        let est = post_json(addr(), "/api/estimate", &one.to_string());
        assert_eq!(est.status, 200, "{}", est.text());
        assert_eq!(
            p["serving"],
            est.json()["serving"],
            "at {}",
            p["concurrency"]
        );
    }
    // More clients, more output per GPU (until the pool or the sequence
    // limit binds: 12 clients are far below both on an H100 with 8B).
    let tps: Vec<f64> = pts
        .iter()
        .map(|p| {
            p["serving"]["output_tokens_per_second_per_gpu"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(tps.windows(2).all(|w| w[0] < w[1]), "{tps:?}");
    // The top defaults to serving.concurrency.
    let mut by_conc = base.clone();
    by_conc["serving"] = json!({"isl": 1000, "osl": 100, "concurrency": 4, "percentile": "p99"});
    let d = post_json(addr(), "/api/serving-sweep", &by_conc.to_string()).json();
    assert_eq!(d["max_concurrency"], 4);
    assert_eq!(d["points"].as_array().unwrap().len(), 3);
    assert_eq!(d["percentile"], "p99");
}

#[test]
fn serving_sweep_input_errors_name_the_field() {
    let with = |serving: Value, extra: Value| {
        let mut b = json!({"model": "llama-3.1-8b", "gpus": "H100", "serving": serving});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let ok = json!({"isl": 1000, "osl": 100});
    let path = "/api/serving-sweep";
    expect_400(
        path,
        json!({"model": "llama-3.1-8b", "gpus": "H100"}),
        "serving",
    );
    expect_400(
        path,
        with(
            json!({"isl": 1000, "osl": 100, "request_rate": 2.0}),
            json!({}),
        ),
        "request_rate",
    );
    for top in [json!(0), json!(100_000)] {
        expect_400(
            path,
            with(ok.clone(), json!({"max_concurrency": top})),
            "max_concurrency",
        );
    }
    expect_400(
        path,
        with(
            json!({"isl": 1000, "osl": 100, "percentile": "p75"}),
            json!({}),
        ),
        "percentile",
    );
    expect_400(path, with(json!({"isl": 1000, "osl": 0}), json!({})), "osl");
    expect_400(
        path,
        with(json!({"isl": 1000, "osl": 100, "users": 3}), json!({})),
        "serving",
    );
    expect_400(
        path,
        with(
            json!({"isl": 1000, "osl": 100, "num_requests": 50_000}),
            json!({}),
        ),
        "serving.num_requests",
    );
    // The workload longer than the model's context: the prompt is at fault.
    expect_400(
        path,
        with(json!({"isl": 200_000, "osl": 100}), json!({})),
        "isl",
    );
    expect_400(path, with(ok.clone(), json!({"gpus": "H1000"})), "gpus");
}

/// The simulations are counted in the server's cost units like the
/// searches: a server with a small per-request cap refuses a large sweep
/// (and a large serving estimate) up front with a 422, and still answers a
/// small one.
#[test]
fn serving_work_counts_against_the_cost_cap() {
    let a = start(Limits {
        max_request_cost: 50,
        ..Limits::default()
    });
    // 20,000 requests of 1,000 output tokens one at a time: 2·10^7
    // iterations, 10,000 units at 2,000 iterations per unit.
    let big = json!({"model": "llama-3.1-8b", "gpus": "H100",
        "serving": {"isl": 100, "osl": 999, "concurrency": 1, "num_requests": 20_000}});
    for path in ["/api/serving-sweep", "/api/estimate"] {
        let r = post_json(a, path, &big.to_string());
        assert_eq!(r.status, 422, "{path}: {}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("units of work"));
    }
    let small = json!({"model": "llama-3.1-8b", "gpus": "H100",
        "serving": {"isl": 100, "osl": 20, "concurrency": 4}});
    for path in ["/api/serving-sweep", "/api/estimate"] {
        let r = post_json(a, path, &small.to_string());
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
}

/// A simulation the server no longer waits for stops at the request's
/// deadline (the simulator checks it), instead of holding a core until it
/// ends: this one runs ~2·10^7 iterations (minutes in a debug build), and
/// stops within the generous bound below once its 200 ms have passed.
#[test]
fn a_serving_simulation_stops_at_the_deadline() {
    let api = server::SyncApi::new(Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    })
    .unwrap();
    let body = json!({"model": "llama-3.1-8b", "gpus": "H100",
        "serving": {"isl": 100, "osl": 999, "concurrency": 1, "num_requests": 20_000}});
    let t0 = std::time::Instant::now();
    let r = api.call("/api/estimate", body.to_string().as_bytes());
    let took = t0.elapsed();
    let e = r.expect_err("stopped");
    assert!(
        e.error.contains("serving simulation ran past its deadline"),
        "{e:?}"
    );
    assert!(
        took < Duration::from_secs(30),
        "stopped only after {took:?}"
    );
}

/// The launch command for a chosen engine (the page's copy button): the
/// estimate with `emit` and a serving workload returns both the serving
/// section and the launch, exactly as `kvplan estimate --emit vllm --isl
/// --osl --concurrency --format json` prints them.
#[test]
fn estimate_with_emit_and_serving_equals_the_cli() {
    let body = json!({"model": "llama-3.1-8b", "gpus": "H100", "emit": "vllm",
        "serving": {"isl": 1000, "osl": 100, "concurrency": 8}});
    let r = post_json(addr(), "/api/estimate", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let api = r.json();
    let cli = cli_json(
        &[
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--emit",
            "vllm",
            "--isl",
            "1000",
            "--osl",
            "100",
            "--concurrency",
            "8",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(api, cli);
    let shell = api["launch"]["commands"][0]["shell"].as_str().unwrap();
    assert!(shell.contains("vllm serve"), "{shell}");
    assert!(api["serving"]["ttft_ms"]["p90"].is_f64());
    expect_400(
        "/api/estimate",
        json!({"model": "llama-3.1-8b", "gpus": "H100", "emit": "ollama"}),
        "emit",
    );
}
