#!/usr/bin/env bash
# Run kvplan's fuzz targets, each for a set time, with hard limits per input:
# 10 s (a slower input is a "hang" finding), 4 GiB RSS and 4 GiB per malloc
# (a larger allocation is a finding). Prints executions per target and the
# total; exits non-zero on any finding (crash inputs land in fuzz/artifacts/).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
#
# Uses `cargo fuzz` when installed; otherwise builds the same libFuzzer
# binaries with plain cargo and the coverage flags cargo-fuzz passes (no
# nightly toolchain needed: RUSTC_BOOTSTRAP=1 only lets libfuzzer-sys build).
# The corpus (fuzz/corpus/, not committed) is seeded each run from the
# repository's real inputs: tests/fixtures/hf-configs, model-specs, profiles,
# and the hand-written seeds in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-60}"
shift || true
ALL=(units hf_config yaml_spec api_request estimate_e2e)
TARGETS=("${@:-${ALL[@]}}")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

# --- seed the corpus from the repository's real inputs
for t in "${ALL[@]}"; do mkdir -p "corpus/$t" "artifacts/$t"; cp -f seeds/"$t"/* "corpus/$t/" 2>/dev/null || true; done
cp -f ../tests/fixtures/hf-configs/*.json corpus/hf_config/
cp -f ../model-specs/*.yaml ../profiles/*/*.yaml corpus/yaml_spec/ 2>/dev/null || true
# API bodies: each real config pasted into /api/config (route byte 1) and /api/estimate (0).
for f in ../tests/fixtures/hf-configs/*.json; do
  b="$(basename "$f" .json)"
  { printf '\001'; cat "$f"; } > "corpus/api_request/config-$b"
  { printf '\000{"gpus":"8xH100","ctx":"8k","config":'; cat "$f"; printf '}'; } > "corpus/api_request/estimate-$b"
done

# --- build
if cargo fuzz --version >/dev/null 2>&1; then
  cargo fuzz build -O --debug-assertions "${TARGETS[@]}"
  BIN="target/$TRIPLE/release"
else
  export RUSTC_BOOTSTRAP=1
  export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
  for t in "${TARGETS[@]}"; do BINS+=(--bin "$t"); done
  cargo build --release --target "$TRIPLE" "${BINS[@]}"
  BIN="target/$TRIPLE/release"
fi

# --- run
total=0
status=0
for t in "${TARGETS[@]}"; do
  log="artifacts/$t/last-run.log"
  set +e
  nice -n 19 "$BIN/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" "corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  n="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  n="${n:-0}"
  total=$((total + n))
  if [ $rc -ne 0 ]; then
    status=1
    echo "FINDING in $t (exit $rc) after $n executions; see fuzz/$log and fuzz/artifacts/$t/"
    grep -E "ERROR|panicked|timeout|out-of-memory|malloc" "$log" | head -5 || true
  else
    echo "$t: $n executions in ${SECS}s, no findings"
  fi
done
echo "total: $total executions across ${#TARGETS[@]} targets"
exit $status
