//! Rebuild a calibration profile from saved `kvplan probe --report` files
//! (offline; no GPU), e.g. to merge several probe runs of one GPU:
//!
//! ```text
//! cargo run --release --example calibrate_from_reports -- H200 4.8e12 989e12 \
//!     probe/validation/llama.json probe/validation/moe.json probe/validation/mla-fused.json > profiles/gpus/H200.yaml
//! ```
//! Arguments: GPU name (as in gpu-specs), datasheet bandwidth (B/s), datasheet
//! dense bf16 FLOP/s, then the report files.

use kvplan::calibration::Calibration;
use kvplan::measure::ProbeRun;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: calibrate_from_reports GPU BANDWIDTH_B_PER_S BF16_FLOPS REPORT.json...");
        std::process::exit(2);
    }
    let num = |s: &str| -> f64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("error: '{s}' is not a number");
            std::process::exit(2)
        })
    };
    let (bw, flops) = (num(&args[1]), num(&args[2]));
    let mut reports = Vec::new();
    for path in &args[3..] {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("error: cannot read {path}: {e}");
            std::process::exit(2)
        });
        let runs: Vec<ProbeRun> = serde_json::from_str(&text).unwrap_or_else(|e| {
            eprintln!(
                "error: {path}: line {}, column {}: {e}",
                e.line(),
                e.column()
            );
            std::process::exit(2)
        });
        reports.extend(runs.into_iter().map(|r| r.report));
    }
    let mut cal = Calibration::from_reports(&reports, bw, flops);
    cal.gpu = args[0].clone();
    let body = kvplan::yaml::to_string(&cal).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    println!(
        "# Calibration profile rebuilt offline from {} probe reports:\n#   {}\n{body}",
        reports.len(),
        args[3..].join(" ")
    );
}
