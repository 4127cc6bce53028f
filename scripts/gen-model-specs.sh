#!/usr/bin/env bash
# Regenerates model-specs/*.yaml from the config.json files in tests/fixtures
# with `kvplan import`. Each spec records the config it came from.
# Usage: scripts/gen-model-specs.sh   (needs a built kvplan: cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
KV=${KVPLAN:-${CARGO_TARGET_DIR:-target}/debug/kvplan}
F=tests/fixtures/hf-configs
D=tests/fixtures/derived-configs
gen() { # name display repo config [extra args...]
  local name=$1 display=$2 repo=$3 cfg=$4; shift 4
  "$KV" import "$cfg" --name "$name" --display-name "$display" --hf-repo "$repo" \
    --source "$cfg ($(grep -o '"_kvplan_source": "[^"]*"' "$cfg" | cut -d'"' -f4 || true))" "$@" \
    --out "model-specs/$name.yaml"
  sed -i 's/ ()$//' "model-specs/$name.yaml"
}
gen deepseek-v3 DeepSeek-V3 deepseek-ai/DeepSeek-V3 $F/deepseek-ai--DeepSeek-V3.json --alias dsv3 --alias deepseek-v3-0324
gen deepseek-v3.1 DeepSeek-V3.1 deepseek-ai/DeepSeek-V3.1 $F/deepseek-ai--DeepSeek-V3.1.json
gen deepseek-r1 DeepSeek-R1 deepseek-ai/DeepSeek-R1 $F/deepseek-ai--DeepSeek-R1.json --alias r1
gen deepseek-v2 DeepSeek-V2 deepseek-ai/DeepSeek-V2 $D/deepseek-ai--DeepSeek-V2.json --max-context 131072
gen deepseek-v2-lite DeepSeek-V2-Lite deepseek-ai/DeepSeek-V2-Lite $D/deepseek-ai--DeepSeek-V2-Lite.json --alias deepseek-v2-lite-chat --max-context 32768
gen deepseek-r1-distill-qwen-32b DeepSeek-R1-Distill-Qwen-32B deepseek-ai/DeepSeek-R1-Distill-Qwen-32B $F/deepseek-ai--DeepSeek-R1-Distill-Qwen-32B.json --alias r1-distill-qwen-32b
gen deepseek-r1-distill-llama-70b DeepSeek-R1-Distill-Llama-70B deepseek-ai/DeepSeek-R1-Distill-Llama-70B $D/deepseek-ai--DeepSeek-R1-Distill-Llama-70B.json --alias r1-distill-llama-70b
gen qwen2.5-0.5b Qwen2.5-0.5B-Instruct Qwen/Qwen2.5-0.5B-Instruct $F/Qwen--Qwen2.5-0.5B-Instruct.json --alias qwen2.5-0.5b-instruct
gen qwen2.5-1.5b Qwen2.5-1.5B Qwen/Qwen2.5-1.5B $F/Qwen--Qwen2.5-1.5B.json --alias qwen2.5-1.5b-instruct
gen qwen2.5-3b Qwen2.5-3B Qwen/Qwen2.5-3B $F/Qwen--Qwen2.5-3B.json --alias qwen2.5-3b-instruct
gen qwen2.5-7b Qwen2.5-7B Qwen/Qwen2.5-7B $F/Qwen--Qwen2.5-7B.json --alias qwen2.5-7b-instruct
gen qwen2.5-14b Qwen2.5-14B Qwen/Qwen2.5-14B $F/Qwen--Qwen2.5-14B.json --alias qwen2.5-14b-instruct
gen qwen2.5-32b Qwen2.5-32B Qwen/Qwen2.5-32B $F/Qwen--Qwen2.5-32B.json --alias qwen2.5-32b-instruct
gen qwen2.5-72b Qwen2.5-72B Qwen/Qwen2.5-72B $F/Qwen--Qwen2.5-72B.json --alias qwen2.5-72b-instruct
gen qwen2.5-coder-32b Qwen2.5-Coder-32B-Instruct Qwen/Qwen2.5-Coder-32B-Instruct $D/Qwen--Qwen2.5-Coder-32B-Instruct.json --alias qwen2.5-coder-32b-instruct
gen qwen2.5-math-72b Qwen2.5-Math-72B Qwen/Qwen2.5-Math-72B $D/Qwen--Qwen2.5-Math-72B.json
gen qwen2-72b Qwen2-72B Qwen/Qwen2-72B $D/Qwen--Qwen2-72B.json
gen qwen3-8b Qwen3-8B Qwen/Qwen3-8B $F/Qwen--Qwen3-8B.json
gen qwen3-32b Qwen3-32B Qwen/Qwen3-32B $F/Qwen--Qwen3-32B.json
gen qwen3-32b-fp8 Qwen3-32B-FP8 Qwen/Qwen3-32B-FP8 $F/Qwen--Qwen3-32B-FP8.json
gen qwen3-30b-a3b Qwen3-30B-A3B Qwen/Qwen3-30B-A3B $F/Qwen--Qwen3-30B-A3B.json
gen qwen3-235b-a22b Qwen3-235B-A22B Qwen/Qwen3-235B-A22B $F/Qwen--Qwen3-235B-A22B.json
gen qwen3-235b-a22b-fp8 Qwen3-235B-A22B-FP8 Qwen/Qwen3-235B-A22B-FP8 $F/Qwen--Qwen3-235B-A22B-FP8.json
gen llama-2-7b Llama-2-7B meta-llama/Llama-2-7b-hf $F/meta-llama--Llama-2-7b-hf.json --alias llama2-7b
gen llama-2-70b Llama-2-70B meta-llama/Llama-2-70b-hf $F/meta-llama--Llama-2-70b-hf.json --alias llama2-70b
gen llama-3.1-8b Llama-3.1-8B meta-llama/Meta-Llama-3.1-8B $F/meta-llama--Meta-Llama-3.1-8B.json --alias llama3.1-8b --alias llama-3.1-8b-instruct
gen llama-3.1-70b Llama-3.1-70B meta-llama/Meta-Llama-3.1-70B $F/meta-llama--Meta-Llama-3.1-70B.json --alias llama3.1-70b --alias llama-3.1-70b-instruct
gen llama-3.1-405b Llama-3.1-405B meta-llama/Meta-Llama-3.1-405B $F/meta-llama--Meta-Llama-3.1-405B.json --alias llama3.1-405b
gen llama-3.3-70b Llama-3.3-70B-Instruct meta-llama/Llama-3.3-70B-Instruct $F/meta-llama--Llama-3.3-70B-Instruct.json --alias llama3.3-70b
gen mistral-7b Mistral-7B-v0.1 mistralai/Mistral-7B-v0.1 $F/mistralai--Mistral-7B-v0.1.json --alias mistral-7b-v0.1
gen mixtral-8x7b Mixtral-8x7B-v0.1 mistralai/Mixtral-8x7B-v0.1 $F/mistralai--Mixtral-8x7B-v0.1.json --alias mixtral-8x7b-instruct
gen mixtral-8x22b Mixtral-8x22B-v0.1 mistralai/Mixtral-8x22B-v0.1 $F/mistralai--Mixtral-8x22B-v0.1.json
gen yi-34b Yi-34B 01-ai/Yi-34B $D/01-ai--Yi-34B.json
gen yi-1.5-9b Yi-1.5-9B 01-ai/Yi-1.5-9B $D/01-ai--Yi-1.5-9B.json
gen yi-1.5-34b Yi-1.5-34B 01-ai/Yi-1.5-34B $F/01-ai--Yi-1.5-34B.json
gen gemma-2-2b gemma-2-2b google/gemma-2-2b $F/google--gemma-2-2b.json --alias gemma-2-2b-it
gen gemma-2-9b gemma-2-9b google/gemma-2-9b $F/google--gemma-2-9b.json --alias gemma-2-9b-it
gen gemma-2-27b gemma-2-27b google/gemma-2-27b $F/google--gemma-2-27b.json --alias gemma-2-27b-it
gen gemma-3-27b gemma-3-27b-it google/gemma-3-27b-it $D/google--gemma-3-27b-it.json --alias gemma-3-27b-it
gen kimi-k2 Kimi-K2-Instruct moonshotai/Kimi-K2-Instruct $F/moonshotai--Kimi-K2-Instruct.json --alias kimi-k2-instruct
gen gpt-oss-20b gpt-oss-20b openai/gpt-oss-20b $F/openai--gpt-oss-20b.json
gen gpt-oss-120b gpt-oss-120b openai/gpt-oss-120b $F/openai--gpt-oss-120b.json
echo "wrote $(ls model-specs/*.yaml | wc -l) specs"
