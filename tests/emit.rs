//! `--emit`: the launch commands use only flags the engine release defines.
//! The flag lists are the engines' own (tests/fixtures/engine-args/, each
//! file naming its source repository, path and tag); this test reads them
//! itself rather than trusting the copy compiled into kvplan.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn kvplan_json(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run kvplan");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

/// The flags listed in a fixture file (comment lines skipped).
fn flags(file: &str) -> BTreeSet<String> {
    let path = format!(
        "{}/tests/fixtures/engine-args/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect(&path);
    assert!(
        text.lines().next().unwrap().contains("github.com/"),
        "{file} names its source"
    );
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

/// Every flag of every engine command in `launch` is in `allowed`; returns all flags used.
fn assert_flags_listed(launch: &Value, allowed: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let cmds = launch["commands"].as_array().expect("commands");
    assert!(!cmds.is_empty());
    for c in cmds {
        if c["checked_against"].is_null() {
            continue; // `ray start`
        }
        for a in c["args"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            if a.starts_with('-') {
                let f = a.split('=').next().unwrap();
                assert!(allowed.contains(f), "{f} is not a flag of that release");
                used.insert(f.to_string());
            }
        }
    }
    used
}

fn arg_after<'a>(cmd: &'a Value, flag: &str) -> Option<&'a str> {
    let a = cmd["args"].as_array()?;
    let i = a.iter().position(|x| x == flag)?;
    a.get(i + 1)?.as_str()
}

#[test]
fn deepseek_v3_on_two_h800_nodes_uses_only_vllm_0_11_flags() {
    let allowed = flags("vllm-0.11.0-serve.txt");
    // The done-when case as typed.
    let v = kvplan_json(&[
        "plan",
        "deepseek-v3",
        "--gpus",
        "2x8xH800",
        "--ctx",
        "32k",
        "--emit",
        "vllm",
    ]);
    let l = &v["launch"];
    assert_eq!(l["engine_version"], "0.11.0");
    assert_flags_listed(l, &allowed);
    // The launch is of the best fitting configuration vLLM can express; the
    // ones above it that need another checkpoint are named in a note.
    assert_eq!(l["expressible"], true, "{:?}", l["problems"]);
    let best = &v["candidates"][0];
    if best["weights_dtype"] != "fp8-block" {
        assert!(
            l["notes"][0].as_str().unwrap().contains("skipped"),
            "{}",
            l["notes"]
        );
    }
    // Keeping the checkpoint's own format: expressible, one command per node.
    let v = kvplan_json(&[
        "plan",
        "deepseek-v3",
        "--gpus",
        "2x8xH800",
        "--ctx",
        "32k",
        "--weights",
        "fp8-block",
        "--pp",
        "1",
        "--emit",
        "vllm",
    ]);
    let l = &v["launch"];
    let best = &v["candidates"][0];
    assert_eq!(l["expressible"], true, "{:?}", l["problems"]);
    let used = assert_flags_listed(l, &allowed);
    for f in [
        "--tensor-parallel-size",
        "--max-model-len",
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--max-num-batched-tokens",
    ] {
        assert!(used.contains(f), "{f} missing: {used:?}");
    }
    let serve: Vec<&Value> = l["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["program"][0] == "vllm")
        .collect();
    let tp = best["tp"].as_u64().unwrap();
    assert_eq!(
        arg_after(serve[0], "--tensor-parallel-size"),
        Some(&*tp.to_string())
    );
    assert_eq!(arg_after(serve[0], "--max-model-len"), Some("32000"));
    assert_eq!(serve[0]["program"][2], "deepseek-ai/DeepSeek-V3");
    if best["pp"].as_u64() == Some(2) {
        // PP across nodes: Ray on both nodes, one vllm serve.
        assert_eq!(arg_after(serve[0], "--pipeline-parallel-size"), Some("2"));
        assert_eq!(
            arg_after(serve[0], "--distributed-executor-backend"),
            Some("ray")
        );
    } else {
        // DP across nodes: one command per node, the second headless.
        assert_eq!(serve.len(), 2);
        assert!(serve[1]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--headless"));
    }
    // The expected KV line is kvplan's own start-up figure per DP rank.
    let dp = best["dp"].as_u64().unwrap();
    let tokens = l["expected_log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["quantity"] == "kv_cache_tokens")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!(tokens > 0.0);
    let _ = dp;
    // The benchmark uses only `vllm bench serve` flags of the same release.
    let bench_allowed = flags("vllm-0.11.0-bench-serve.txt");
    for c in l["benchmark"].as_array().unwrap() {
        for a in c["args"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            if a.starts_with("--") {
                assert!(bench_allowed.contains(a), "{a}");
            }
        }
    }
}

#[test]
fn single_gpu_llama_uses_only_vllm_0_11_flags_and_the_plan_numbers() {
    let allowed = flags("vllm-0.11.0-serve.txt");
    let v = kvplan_json(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--batch",
        "64",
        "--max-num-seqs",
        "64",
        "--kv-dtype",
        "fp8",
        "--emit",
        "vllm",
    ]);
    let l = &v["launch"];
    assert_eq!(l["expressible"], true, "{:?}", l["problems"]);
    assert_flags_listed(l, &allowed);
    let c = &l["commands"][0];
    assert_eq!(arg_after(c, "--tensor-parallel-size"), Some("1"));
    assert_eq!(arg_after(c, "--max-num-seqs"), Some("64"));
    assert_eq!(arg_after(c, "--kv-cache-dtype"), Some("fp8"));
    assert_eq!(arg_after(c, "--max-model-len"), Some("8000"));
    // The expected KV tokens: the estimate's own figure (same engine, same max-num-seqs).
    let expected = l["expected_log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["quantity"] == "kv_cache_tokens")
        .unwrap()["value"]
        .as_u64()
        .or_else(|| {
            l["expected_log"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["quantity"] == "kv_cache_tokens")
                .unwrap()["value"]
                .as_f64()
                .map(|x| x as u64)
        })
        .unwrap();
    // The command sets --max-num-seqs to the batch (64), as the estimate was
    // told: the profile runs agree, so the expected line is the estimate's
    // figure exactly.
    assert_eq!(expected, v["limits"]["kv_cache_tokens"].as_u64().unwrap());
}

#[test]
fn sglang_multi_node_has_one_command_per_node_with_rank_flags() {
    for (file, engine_flag) in [
        ("sglang-0.4.10.post2-launch-server.txt", "sglang"),
        ("sglang-0.5.3-launch-server.txt", "sglang"),
    ] {
        let allowed = flags(file);
        let v = kvplan_json(&[
            "estimate",
            "deepseek-v3",
            "--gpus",
            "2x8xH800",
            "--ctx",
            "32k",
            "--tp",
            "8",
            "--dp",
            "2",
            "--ep",
            "16",
            "--emit",
            engine_flag,
        ]);
        let l = &v["launch"];
        if !file.contains(l["engine_version"].as_str().unwrap()) {
            continue; // the profile's version picks one of the two lists
        }
        assert_flags_listed(l, &allowed);
        let cmds = l["commands"].as_array().unwrap();
        assert_eq!(cmds.len(), 2);
        for (rank, c) in cmds.iter().enumerate() {
            assert_eq!(arg_after(c, "--nnodes"), Some("2"));
            assert_eq!(arg_after(c, "--node-rank"), Some(&*rank.to_string()));
            assert_eq!(arg_after(c, "--dist-init-addr"), Some("$HEAD_IP:5000"));
            assert_eq!(arg_after(c, "--tp-size"), Some("16"));
            assert_eq!(arg_after(c, "--dp-size"), Some("2"));
            assert!(c["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--enable-dp-attention"));
        }
    }
}

#[test]
fn trtllm_gets_its_yaml_and_mpi_launch() {
    let allowed = flags("trtllm-serve-00209af.txt");
    let v = kvplan_json(&[
        "estimate",
        "deepseek-v3",
        "--gpus",
        "8xH200",
        "--ctx",
        "32k",
        "--tp",
        "1",
        "--dp",
        "8",
        "--ep",
        "8",
        "--kv-dtype",
        "fp8",
        "--mtp",
        "--emit",
        "trtllm",
    ]);
    let l = &v["launch"];
    assert_eq!(l["expressible"], true, "{:?}", l["problems"]);
    assert_flags_listed(l, &allowed);
    let yaml = l["files"][0]["text"].as_str().unwrap();
    assert!(yaml.contains("enable_attention_dp: true"), "{yaml}");
    assert!(yaml.contains("dtype: fp8"), "{yaml}");
    assert!(yaml.contains("decoding_type: MTP"), "{yaml}");
    let c = &l["commands"][0];
    assert_eq!(arg_after(c, "--tp_size"), Some("8"));
    assert_eq!(arg_after(c, "--ep_size"), Some("8"));
}

#[test]
fn a_format_the_checkpoint_cannot_give_is_reported() {
    let v = kvplan_json(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--weights",
        "int4",
        "--emit",
        "vllm",
    ]);
    let l = &v["launch"];
    assert_eq!(l["expressible"], false);
    assert!(
        l["problems"][0].as_str().unwrap().contains("AWQ")
            || l["problems"][0].as_str().unwrap().contains("int4")
    );
    // fp8 is quantized at load by vLLM: expressible with --quantization fp8.
    let v = kvplan_json(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--weights",
        "fp8",
        "--emit",
        "vllm",
    ]);
    assert_eq!(v["launch"]["expressible"], true);
    assert_eq!(
        arg_after(&v["launch"]["commands"][0], "--quantization"),
        Some("fp8")
    );
}

#[test]
fn emit_errors_name_the_flag() {
    let e = llama_h100_refused(&["--emit", "ollama"]);
    assert!(
        e.contains("emit") && e.contains("vllm, sglang, trtllm"),
        "{e}"
    );
}

#[path = "e2e/http.rs"]
#[cfg(feature = "server")]
mod http;

/// `POST /api/estimate` and `/api/plan` with `"emit"` return the CLI's `launch`.
#[cfg(feature = "server")]
#[test]
fn api_returns_the_same_launch_as_the_cli() {
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
            kvplan::server::serve(listener, kvplan::server::router().unwrap())
                .await
                .unwrap();
        });
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    let body = r#"{"model":"llama-3.1-8b","gpus":"H100","ctx":"8k","batch":32,"emit":"sglang","output_len":512}"#;
    let r = http::post_json(addr, "/api/estimate", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let api = r.json();
    let cli = kvplan_json(&[
        "estimate",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--ctx",
        "8k",
        "--batch",
        "32",
        "--emit",
        "sglang",
        "--output-len",
        "512",
    ]);
    assert_eq!(api["launch"], cli["launch"]);
    assert_eq!(api["launch"]["engine"], "sglang");
    let body = r#"{"model":"deepseek-v3","gpus":"2x8xH800","ctx":"32k","weights":"fp8-block","emit":"vllm"}"#;
    let r = http::post_json(addr, "/api/plan", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let api = r.json();
    let cli = kvplan_json(&[
        "plan",
        "deepseek-v3",
        "--gpus",
        "2x8xH800",
        "--ctx",
        "32k",
        "--weights",
        "fp8-block",
        "--emit",
        "vllm",
    ]);
    assert_eq!(api["launch"], cli["launch"]);
    let r = http::post_json(
        addr,
        "/api/estimate",
        r#"{"model":"llama-3.1-8b","gpus":"H100","emit":"ollama"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "emit");
}

#[test]
fn sglang_launch_carries_the_recv_interval_it_was_planned_with() {
    // `--scheduler-recv-interval` is a flag of SGLang 0.5.3's launch_server
    // (tests/fixtures/engine-args/sglang-0.5.3-launch-server.txt); the
    // simulator counts it, so the emitted command must pass it on.
    let allowed = flags("sglang-0.5.3-launch-server.txt");
    let launch = |extra: &[&str]| {
        let mut args = vec![
            "estimate",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--engine",
            "sglang@0.5.3",
            "--emit",
            "sglang",
        ];
        args.extend_from_slice(extra);
        kvplan_json(&args)["launch"].clone()
    };
    let l = launch(&["--scheduler-recv-interval", "30"]);
    assert_flags_listed(&l, &allowed);
    assert_eq!(
        arg_after(&l["commands"][0], "--scheduler-recv-interval"),
        Some("30")
    );
    // Without the flag the default (1) is not written out.
    assert_eq!(
        arg_after(&launch(&[])["commands"][0], "--scheduler-recv-interval"),
        None
    );
    // Another engine's plan refuses it, naming the flag (exit 2).
    for (engine, n) in [("vllm", "30"), ("sglang", "0")] {
        let e = llama_h100_refused(&["--engine", engine, "--scheduler-recv-interval", n]);
        assert!(e.contains("scheduler-recv-interval"), "{engine} {n}: {e}");
    }
}

/// `kvplan estimate llama-3.1-8b --gpus H100 EXTRA…`, which must exit 2; its stderr.
fn llama_h100_refused(extra: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["estimate", "llama-3.1-8b", "--gpus", "H100"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{extra:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}
