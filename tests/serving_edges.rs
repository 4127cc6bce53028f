//! The serving simulation at the edges: the CLI's flags, the JSON contract
//! names of issue 13, the API fields (`"serving": {...}`) returning exactly
//! what the CLI prints, the SLA plan, the chart, and bad input.

#![cfg(feature = "server")]

#[path = "e2e/http.rs"]
mod http;

use http::post_json;
use kvplan::server::{self, Limits};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

fn kvplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(args)
        .output()
        .expect("run kvplan")
}

fn json_of(args: &[&str]) -> Value {
    let o = kvplan(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = kvplan(args);
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    assert!(e.starts_with("error: ") && !e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "{args:?}: expected '{n}' in {e}");
    }
}

fn start() -> SocketAddr {
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
            server::serve(listener, server::router_with(Limits::default()).unwrap())
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

const ESTIMATE: &[&str] = &[
    "estimate",
    "llama-3.1-8b",
    "--gpus",
    "H100",
    "--isl",
    "1k",
    "--osl",
    "100",
    "--concurrency",
    "8",
];

#[test]
fn estimate_json_has_the_contract_names() {
    let mut args = ESTIMATE.to_vec();
    args.extend(["--format", "json"]);
    let j = json_of(&args);
    let s = &j["serving"];
    for k in ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"] {
        for p in ["mean", "p50", "p90", "p99"] {
            assert!(
                s[k][p].as_f64().is_some_and(|x| x > 0.0),
                "serving.{k}.{p}: {s}"
            );
        }
    }
    for k in [
        "output_tokens_per_second",
        "output_tokens_per_second_per_gpu",
        "output_tokens_per_second_per_user",
        "requests_per_second",
        "mean_running_batch",
    ] {
        assert!(s[k].as_f64().is_some_and(|x| x > 0.0), "serving.{k}");
    }
    assert!(s["preemptions"].is_u64());
    assert!(s["bound"].is_string());
    // The memory side was planned for the workload's requests (isl + osl).
    assert_eq!(j["workload"]["context"], 1100);
    // The table gets the section too.
    let o = kvplan(ESTIMATE);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("serving (simulated"), "{text}");
    assert!(text.contains("TTFT") && text.contains("TPOT"));
}

#[test]
fn api_serving_fields_equal_the_cli() {
    let addr = start();
    let body = json!({"model": "llama-3.1-8b", "gpus": "H100",
        "serving": {"isl": 1000, "osl": 100, "concurrency": 8}});
    let r = post_json(addr, "/api/estimate", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let mut args = ESTIMATE.to_vec();
    args.extend(["--format", "json"]);
    assert_eq!(r.json(), json_of(&args));
    // Unknown serving fields and bad values are 400s naming the field.
    let bad = json!({"model": "llama-3.1-8b", "gpus": "H100", "serving": {"isl": 1000, "osl": 100, "users": 3}});
    let r = post_json(addr, "/api/estimate", &bad.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    let bad = json!({"model": "llama-3.1-8b", "gpus": "H100", "serving": {"isl": 1000, "osl": 0}});
    let r = post_json(addr, "/api/estimate", &bad.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["field"], "osl");
    // The SLA plan through the API equals the CLI's.
    let body = json!({"model": "llama-3.1-8b", "gpus": "2xH100", "max_ttft_ms": 500, "max_tpot_ms": 30, "top": 5,
        "serving": {"isl": 2000, "osl": 200, "concurrency": 32, "percentile": "p90"}});
    let r = post_json(addr, "/api/plan", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let cli = json_of(&[
        "plan",
        "llama-3.1-8b",
        "--gpus",
        "2xH100",
        "--max-ttft-ms",
        "500",
        "--max-tpot-ms",
        "30",
        "--top",
        "5",
        "--isl",
        "2000",
        "--osl",
        "200",
        "--concurrency",
        "32",
        "--percentile",
        "p90",
        "--format",
        "json",
    ]);
    let mut api = r.json();
    // The CLI prints every candidate in JSON; the API keeps the top ones.
    let n = api["candidates"].as_array().unwrap().len();
    assert!(n <= 5);
    let mut cli = cli;
    cli["candidates"] = Value::Array(cli["candidates"].as_array().unwrap()[..n].to_vec());
    api["candidates"] = Value::Array(api["candidates"].as_array().unwrap()[..n].to_vec());
    assert_eq!(api, cli);
}

#[test]
fn sla_plan_ranks_and_says_what_comes_nearest() {
    let j = json_of(&[
        "plan",
        "llama-3.1-8b",
        "--gpus",
        "2xH100",
        "--isl",
        "2k",
        "--osl",
        "200",
        "--concurrency",
        "32",
        "--max-tpot-ms",
        "30",
        "--format",
        "json",
    ]);
    let c = j["candidates"].as_array().unwrap();
    assert!(j["any_meets"].as_bool().unwrap());
    // Best first: every SLA-meeting one before the rest, by tokens/s per GPU.
    let meets: Vec<f64> = c
        .iter()
        .take_while(|x| x["meets_sla"].as_bool().unwrap())
        .map(|x| x["output_tokens_per_second_per_gpu"].as_f64().unwrap())
        .collect();
    assert!(!meets.is_empty());
    assert!(meets.windows(2).all(|w| w[0] >= w[1]));
    assert!(c
        .iter()
        .all(|x| x["tpot_ms"].as_f64().unwrap() <= 30.0 || !x["meets_sla"].as_bool().unwrap()));
    assert!(!j["pareto"].as_array().unwrap().is_empty());
    // An SLA nothing meets: the nearest configuration and what would close the gap.
    let o = kvplan(&[
        "plan",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--isl",
        "4k",
        "--osl",
        "200",
        "--concurrency",
        "256",
        "--max-ttft-ms",
        "200",
    ]);
    // Exit 1: nothing meets the constraints (as for the classic plan).
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("nothing meets the SLA; nearest"), "{text}");
    assert!(
        text.contains("it meets the SLA up to concurrency"),
        "{text}"
    );
}

#[test]
#[cfg(feature = "plot")]
fn serving_chart_is_drawn() {
    let dir = std::env::temp_dir().join(format!("kvplan-serving-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("serving.svg");
    let o = kvplan(&[
        "plot",
        "serving",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--isl",
        "1k",
        "--osl",
        "128",
        "--concurrency",
        "64",
        "--num-requests",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("TTFT p50") && svg.contains("tokens/s per GPU"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_serving_input_is_a_clear_error() {
    let base = ["estimate", "llama-3.1-8b", "--gpus", "H100"];
    let with = |extra: &[&'static str]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    fails_with(&with(&["--isl", "1k", "--osl", "0"]), &["osl"]);
    fails_with(
        &with(&["--isl", "200k", "--osl", "1k"]),
        &["isl", "context"],
    );
    fails_with(
        &with(&["--isl", "1k", "--osl", "100", "--concurrency", "0"]),
        &["concurrency"],
    );
    fails_with(
        &with(&["--isl", "1k", "--osl", "100", "--request-rate", "-1"]),
        &["request-rate"],
    );
    fails_with(&with(&["--isl", "1k"]), &["osl"]);
    fails_with(&with(&["--concurrency", "8"]), &["--isl"]);
    fails_with(
        &[
            "plan",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--isl",
            "1k",
            "--osl",
            "100",
            "--percentile",
            "p95",
        ],
        &["percentile"],
    );
}
