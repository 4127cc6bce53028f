//! `kvplan plot` end to end: the real binary draws every kind of chart to
//! PNG and SVG in a temporary folder; the files are checked for size, PNG
//! dimensions (read from the IHDR chunk by hand) and the SVG's text.
#![cfg(feature = "plot")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "kvplan-plot-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kvplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvplan"))
        .args(args)
        .output()
        .expect("run kvplan")
}

fn plot(kind: &str, scenario: &[&str], out: &Path) -> Output {
    let mut args = vec!["plot", kind];
    args.extend_from_slice(scenario);
    let out_s = out.to_str().unwrap();
    args.extend_from_slice(&["--out", out_s]);
    let o = kvplan(&args);
    assert!(
        o.status.success(),
        "kvplan {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Width and height from a PNG's IHDR chunk (PNG spec §11.2.2: the 8-byte
/// signature, then length (4) and type "IHDR" (4), then width and height as
/// big-endian u32 at bytes 16..20 and 20..24).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

/// Render `kind` to PNG and SVG; check both; return the SVG text.
fn render_both(kind: &str, scenario: &[&str]) -> String {
    let dir = TempDir::new(kind);
    let png = dir.0.join(format!("{kind}.png"));
    let svg = dir.0.join(format!("{kind}.svg"));
    plot(kind, scenario, &png);
    plot(kind, scenario, &svg);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1280, 760), "{kind}.png dimensions");
    // A chart with text and filled areas: tens of KB, well under a MB.
    assert!(
        (15_000..1_000_000).contains(&bytes.len()),
        "{kind}.png is {} bytes",
        bytes.len()
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{kind}.svg: {}", &text[..80]);
    assert!(text.trim_end().ends_with("</svg>"));
    assert!(
        (5_000..2_000_000).contains(&text.len()),
        "{kind}.svg is {} bytes",
        text.len()
    );
    text
}

fn assert_has(svg: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(svg.contains(w), "SVG lacks {w:?}");
    }
}

#[test]
fn memory_chart() {
    let svg = render_both(
        "memory",
        // Pinned to the vLLM release whose 90% budget this chart shows
        // (`--engine vllm` is the newest profile, 92%). Not 0.11: its 3.9 GiB
        // sampler warm-up peak leaves this bf16 70B no KV pool on 2 × H100.
        &[
            "llama-3.1-70b",
            "--gpus",
            "2xH100",
            "--ctx",
            "128k",
            "--engine",
            "vllm@0.10",
        ],
    );
    assert_has(
        &svg,
        &[
            "Llama-3.1-70B on 2 × H100 · weights bf16 · KV bf16 · TP2 · vllm",
            "context length (tokens per sequence)",
            "memory per GPU (GiB)",
            "weights: ",
            "KV cache: ",
            "activations (prefill peak)",
            "overhead (CUDA context, NCCL, graphs)",
            // The H100's CUDA-visible 79.18 GiB (its spec, from a vLLM log) and 90% of it.
            "GPU memory 79.18 GiB",
            "engine budget 71.26 GiB (90%)",
            "stops fitting at ",
        ],
    );
}

#[test]
fn attention_chart() {
    let svg = render_both(
        "attention",
        &["deepseek-v3", "--gpus", "8xH800", "--ctx", "128k"],
    );
    // KiB/token in the legend: MHA 2·128·128·61·2 B = 3,997,696 B = 3904.0 KiB;
    // MLA (512+64)·61·2 B = 70,272 B = 68.6 KiB (DeepSeek-V2 paper, Table 1).
    assert_has(
        &svg,
        &[
            "DeepSeek-V3: KV cache per sequence by attention kind",
            "context length (tokens per sequence, log)",
            "KV cache per sequence (GiB, log)",
            "MHA: 3904.0 KiB/token",
            "GQA 128/8: 244.0 KiB/token",
            "MQA: 30.5 KiB/token",
            "MLA (latent 512+64): 68.6",
        ],
    );
}

#[test]
fn batch_chart() {
    let svg = render_both("batch", &["qwen2.5-7b", "--gpus", "H100", "--ctx", "32k"]);
    assert_has(
        &svg,
        &[
            "Qwen2.5-7B on 1 × H100: max batch by weights and KV format",
            "max batch (sequences, log)",
            "context length (tokens per sequence, log)",
            "weights bf16 · KV bf16",
            "weights bf16 · KV fp8",
            "weights fp8 · KV bf16",
            "weights fp8 · KV fp8",
            "weights int4 · KV bf16",
            "weights int4 · KV fp8",
        ],
    );
}

#[test]
fn throughput_chart() {
    let svg = render_both(
        "throughput",
        &["llama-3.1-8b", "--gpus", "H100", "--ctx", "256"],
    );
    assert_has(
        &svg,
        &[
            "Llama-3.1-8B on 1 × H100",
            "batch (concurrent sequences, log)",
            "decode throughput (tok/s, all sequences)",
            "time per output token (ms)",
            "memory term (weights + KV read)",
            "compute term (FLOPs)",
            "memory-bound → compute-bound at batch ",
            "memory limit: batch ",
        ],
    );
}

#[test]
fn attention_what_if_reaches_the_chart() {
    let dir = TempDir::new("whatif");
    let svg = dir.0.join("m.svg");
    plot(
        "memory",
        &[
            "deepseek-v3",
            "--gpus",
            "8xH200",
            "--ctx",
            "32k",
            "--attention",
            "gqa:8",
        ],
        &svg,
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("DeepSeek-V3 (what-if GQA 128/8)"));
}

#[test]
fn bad_output_names_and_inputs_fail_clearly() {
    let dir = TempDir::new("bad");
    for name in ["chart.jpg", "chart"] {
        let out = dir.0.join(name);
        let o = kvplan(&[
            "plot",
            "memory",
            "llama-3.1-8b",
            "--gpus",
            "H100",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("out:") && err.contains(".png") && err.contains(".svg"),
            "{err}"
        );
        assert!(!out.exists());
    }
    let out = dir.0.join("x.png");
    let o = kvplan(&[
        "plot",
        "memory",
        "deepseek-v3",
        "--gpus",
        "8xH200",
        "--attention",
        "gqa:3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("attention: gqa:3"), "{err}");
    let o = kvplan(&[
        "plot",
        "pie",
        "llama-3.1-8b",
        "--gpus",
        "H100",
        "--out",
        "x.png",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("memory"));
}
