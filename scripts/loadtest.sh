#!/usr/bin/env bash
# Load test of the web API on loopback: `kvplan serve` on a free port of
# 127.0.0.1, then wrk POSTs one estimate body for a bounded time and prints
# requests/s, latency percentiles (p99) and the error count. Not part of
# `cargo test` (timing depends on the machine); run it by hand:
#
#   scripts/loadtest.sh                         # 10 s, 2 threads, 32 connections
#   DURATION=5s CONNECTIONS=8 scripts/loadtest.sh
#   BODY='{"model":"llama-3.1-8b","gpus":"H100","ctx":"8k"}' scripts/loadtest.sh
#
# Needs wrk (apt-get install wrk). Only ever targets 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
BODY=${BODY:-'{"model":"deepseek-v3","gpus":"8xH800","ctx":"100k"}'}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/kvplan"

work=$(mktemp -d)
"$BIN" serve --addr 127.0.0.1:0 >"$work/serve.out" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  url=$(grep -o 'http://[^ ]*' "$work/serve.out" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "server did not start: $(cat "$work/serve.out")" >&2; exit 1; }

# One sanity request first: the body must be valid, or every request would be a 400.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$BODY" "${url}api/estimate")
[ "$code" = 200 ] || { echo "sanity request answered $code" >&2; exit 1; }

# Lua: the POST, and a summary line with p99 and all errors (non-2xx included).
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$BODY]]
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("summary: %d requests in %.1f s = %.0f req/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d (connect %d, read %d, write %d, non-2xx %d, timeout %d)\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    errors, e.connect, e.read, e.write, e.status, e.timeout))
end
LUA
echo "POST ${url}api/estimate for $DURATION, $THREADS threads, $CONNECTIONS connections, body $BODY"
timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 15s --latency -s "$work/post.lua" "${url}api/estimate"
