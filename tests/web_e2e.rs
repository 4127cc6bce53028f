//! The web page in a real headless Chromium (Debian's chromium +
//! chromedriver, driven over WebDriver by a std-only client): start
//! `kvplan serve` on a free port, change the inputs as a user would (type a
//! model, a GPU, counts, a context; pick a weight format; move the context
//! slider with the keyboard; open a shared link; run the plan search and
//! apply its best row; paste a config.json), wait
//! for the results, and check that every number the page shows
//! (`data-field` / `data-value`) equals the CLI's `--format json` for the same
//! inputs. Skips with a clear message where Chromium is not installed.
#![cfg(feature = "server")]

#[path = "e2e/http.rs"]
mod http;
#[path = "e2e/webdriver.rs"]
mod webdriver;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use webdriver::{missing_tools, Browser, KillOnDrop};

/// Start `kvplan serve` on port 0 and read the URL it prints.
fn start_server() -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kvplan serve");
    let stdout = child.stdout.take().unwrap();
    let guard = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (guard, url)
}

/// Run the CLI and parse its JSON.
fn cli_json(args: &[String], dir: Option<&std::path::Path>) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvplan"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    // Exit 0 fits / meets the constraints, 1 does not; both print the JSON.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "kvplan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // serde_json's default float parser may be one ulp off; JSON is YAML,
    // and the YAML reader parses floats with Rust's correctly rounded
    // `str::parse`, so the CLI's numbers arrive exactly.
    let text = String::from_utf8(out.stdout).unwrap();
    kvplan::yaml::from_str(&text, "kvplan --format json").unwrap()
}

/// The CLI arguments for a request the page sent (API fields = CLI flags).
fn cli_args(req: &Value, model_arg: &str) -> Vec<String> {
    cli_args_for("estimate", req, model_arg)
}

/// The same for any subcommand (`plan` takes users/objective/top too).
fn cli_args_for(cmd: &str, req: &Value, model_arg: &str) -> Vec<String> {
    let mut v = vec![cmd.to_string(), model_arg.to_string()];
    for (k, x) in req.as_object().unwrap() {
        if k == "model" || k == "config" {
            continue;
        }
        v.push(format!("--{}", k.replace('_', "-")));
        match x {
            Value::Bool(true) => {}
            Value::String(s) => v.push(s.clone()),
            other => v.push(other.to_string()),
        }
    }
    v.extend(["--format".into(), "json".into()]);
    v
}

/// Wait until the page shows results for a request that contains `want`
/// (all its keys and values); returns the request it sent.
fn wait_ready(b: &Browser, want: &Value) -> Value {
    let script = "const r = document.getElementById('results');
        if (r.dataset.state !== 'ready' || !r.dataset.request) return null;
        const req = JSON.parse(r.dataset.request), want = arguments[0];
        for (const k of Object.keys(want)) if (JSON.stringify(req[k]) !== JSON.stringify(want[k])) return null;
        return req;";
    b.wait_for(&format!("results for {want}"), script, json!([want]), 30)
}

/// Every `data-field` the page shows, compared with the CLI's JSON.
fn assert_page_equals(b: &Browser, cli: &Value, req: &Value) -> usize {
    let fields = b.js(
        "return Array.from(document.querySelectorAll('#results [data-field]'))
           .map(e => [e.dataset.field, e.dataset.value, e.textContent]);",
        json!([]),
    );
    let fields = fields.as_array().unwrap();
    assert!(fields.len() >= 25, "too few fields on the page: {fields:?}");
    let mut bad = Vec::new();
    for f in fields {
        let (path, shown, text) = (
            f[0].as_str().unwrap(),
            f[1].as_str().unwrap(),
            f[2].as_str().unwrap(),
        );
        let want = path.split('.').fold(cli, |v, k| &v[k]);
        let ok = match want {
            Value::Number(n) if n.is_u64() => shown.parse::<u64>().ok() == n.as_u64(),
            Value::Number(n) if n.is_i64() => shown.parse::<i64>().ok() == n.as_i64(),
            // Shortest round-trip text on both sides: exact equality.
            Value::Number(n) => shown.parse::<f64>().ok() == n.as_f64(),
            Value::String(s) => shown == s,
            other => panic!("{path}: unexpected {other}"),
        };
        if !ok {
            bad.push(format!(
                "{path}: page shows {shown:?} ({text}), CLI says {want}"
            ));
        }
    }
    assert!(bad.is_empty(), "for {req}:\n{}", bad.join("\n"));
    // The formatted text too, for one figure: GiB with two decimals.
    let w = cli["memory_per_gpu"]["weights_bytes"].as_u64().unwrap();
    let text = b.js(
        "return document.querySelector('[data-field=\"memory_per_gpu.weights_bytes\"]').textContent",
        json!([]),
    );
    assert_eq!(text, format!("{:.2} GiB", w as f64 / (1u64 << 30) as f64));
    // Verdict and recommendations.
    let fits = b.js(
        "return document.getElementById('verdict').dataset.fits",
        json!([]),
    );
    assert_eq!(fits, cli["fits"].to_string());
    let n_recs = b.js(
        "return document.querySelectorAll('#recommendations li button').length",
        json!([]),
    );
    assert_eq!(n_recs, cli["recommendations"].as_array().unwrap().len());
    fields.len()
}

#[test]
fn page_shows_the_cli_numbers() {
    let chromium = std::env::var("KVPLAN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver =
        std::env::var("KVPLAN_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if let Some(why) = missing_tools(&chromium, &driver) {
        println!("skipping: {why}");
        return;
    }
    let (_server, url) = start_server();
    let b = Browser::start(&chromium, &driver).expect("browser");

    // 1. The default page.
    b.goto(&url);
    let req = wait_ready(&b, &json!({}));
    let cli = cli_json(&cli_args(&req, req["model"].as_str().unwrap()), None);
    assert_page_equals(&b, &cli, &req);

    // 2. A user types a model, a GPU, the counts and a context, picks a format.
    b.type_into("#model", "deepseek-v3");
    b.type_into("#gpu", "H800");
    b.type_into("#per-node", "8");
    b.type_into("#nodes", "2");
    b.type_into("#ctx", "100k");
    b.type_into("#batch", "8");
    b.click("#weights option[value='fp8-block']");
    let want = json!({"model": "deepseek-v3", "gpus": "2x8xH800", "ctx": "100k", "batch": 8, "weights": "fp8-block"});
    let req = wait_ready(&b, &want);
    let cli = cli_json(&cli_args(&req, "deepseek-v3"), None);
    assert_eq!(cli["gpus"]["count"], 16);
    let n = assert_page_equals(&b, &cli, &req);
    println!("{n} fields equal the CLI for {req}");
    // The chart has its four stacked areas; the state is in the URL.
    let areas = b.js(
        "return document.querySelectorAll('#chart path.area').length",
        json!([]),
    );
    assert_eq!(areas, 4);
    let href = b.js("return location.search", json!([])).to_string();
    for part in [
        "model=deepseek-v3",
        "gpus=2x8xH800",
        "ctx=100k",
        "weights=fp8-block",
    ] {
        assert!(href.contains(part), "{part} not in {href}");
    }

    // 3. The context slider, moved with the keyboard (ArrowLeft).
    b.keys("#ctx-range", "\u{E012}");
    let req = wait_ready(&b, &json!({"ctx": "65536"}));
    let cli = cli_json(&cli_args(&req, "deepseek-v3"), None);
    assert_page_equals(&b, &cli, &req);

    // 4. A shared link restores the state.
    b.goto(&format!(
        "{url}?model=qwen2.5-72b&gpus=4xA100-80GB&ctx=32768&batch=4&kv_dtype=fp8&engine=sglang&tp=4&pp=1&dp=1&ep=1"
    ));
    let req = wait_ready(
        &b,
        &json!({"model": "qwen2.5-72b", "gpus": "4xA100-80GB", "kv_dtype": "fp8", "engine": "sglang", "tp": 4}),
    );
    assert_eq!(
        b.js("return [document.getElementById('model').value, document.getElementById('par-manual').checked]", json!([])),
        json!(["qwen2.5-72b", true])
    );
    let cli = cli_json(&cli_args(&req, "qwen2.5-72b"), None);
    assert_page_equals(&b, &cli, &req);

    // 5. The plan search: the table lists the CLI's candidates, and "Try
    //    this" on the best one loads it into the form.
    b.click("#plan-panel summary");
    b.type_into("#users", "16");
    b.click("#plan-run");
    let plan_req = b.wait_for(
        "the plan table",
        "const t = document.getElementById('plan-table');
         return !t.hidden && t.dataset.request ? JSON.parse(t.dataset.request) : null;",
        json!([]),
        30,
    );
    assert_eq!(plan_req["users"], 16);
    let cli = cli_json(&cli_args_for("plan", &plan_req, "qwen2.5-72b"), None);
    let rows = b.js(
        "return Array.from(document.querySelectorAll('#plan-table tbody tr'))
           .map(r => [r.dataset.config, r.dataset.tps]);",
        json!([]),
    );
    let want: Vec<Value> = cli["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!([
                format!(
                    "{}/{}/{}/{}/{}/{}",
                    c["weights_dtype"].as_str().unwrap(),
                    c["kv_dtype"].as_str().unwrap(),
                    c["tp"],
                    c["pp"],
                    c["dp"],
                    c["ep"]
                ),
                c["tokens_per_second"].as_f64().unwrap().to_string()
            ])
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(rows, Value::Array(want), "plan rows differ from the CLI");
    let evaluated = b.js(
        "return document.getElementById('plan-table').dataset.evaluated",
        json!([]),
    );
    assert_eq!(evaluated, cli["evaluated"].to_string());
    b.click("#plan-table tbody tr:first-child button.apply");
    let best = &cli["candidates"][0];
    let req = wait_ready(
        &b,
        &json!({"tp": best["tp"], "pp": best["pp"], "dp": best["dp"], "ep": best["ep"],
                "weights": best["weights_dtype"], "kv_dtype": best["kv_dtype"]}),
    );
    let cli = cli_json(&cli_args(&req, "qwen2.5-72b"), None);
    assert_page_equals(&b, &cli, &req);

    // 6. A bad value: the field is marked and the error is shown.
    b.type_into("#ctx", "lots");
    b.wait_for(
        "the ctx error",
        "return document.getElementById('results').dataset.state === 'error'
            && document.getElementById('ctx').getAttribute('aria-invalid') === 'true'
            && !document.getElementById('error').hidden",
        json!([]),
        30,
    );
    let msg = b.js(
        "return document.getElementById('error').textContent",
        json!([]),
    );
    assert!(msg.as_str().unwrap().contains("ctx"), "{msg}");

    // 7. A pasted config.json (a model the page knows only from the paste).
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf-configs/Qwen--Qwen2.5-1.5B-Instruct.json"
    );
    let text = std::fs::read_to_string(src).unwrap();
    b.js(
        "document.getElementById('custom').open = true;
         const t = document.getElementById('config');
         t.value = arguments[0];
         t.dispatchEvent(new Event('input', {bubbles: true}));",
        json!([text]),
    );
    // The page checks the paste with /api/config, then locks the model picker.
    b.wait_for(
        "the pasted config to be accepted",
        "return document.getElementById('model').disabled",
        json!([]),
        30,
    );
    b.type_into("#ctx", "16k");
    let req = wait_ready(&b, &json!({"ctx": "16k"}));
    assert!(req["config"].is_object(), "the page sent the config: {req}");
    let dir = std::env::temp_dir().join(format!("kvplan-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), &text).unwrap();
    let cli = cli_json(&cli_args(&req, "config.json"), Some(&dir));
    assert_page_equals(&b, &cli, &req);
    std::fs::remove_dir_all(&dir).ok();
}
