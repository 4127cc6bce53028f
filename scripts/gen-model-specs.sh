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
gen deepseek-r1 DeepSeek-R1 deepseek-ai/DeepSeek-R1 $F/deepseek-ai--DeepSeek-R1.json --alias r1 \
  --alias deepseek-r1-0528 --alias deepseek-ai/DeepSeek-R1-0528 --alias nvidia/DeepSeek-R1-NVFP4 --alias nvidia/DeepSeek-R1-0528-NVFP4
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
gen qwen3-32b Qwen3-32B Qwen/Qwen3-32B $F/Qwen--Qwen3-32B.json --alias nvidia/Qwen3-32B-NVFP4
gen qwen3-32b-fp8 Qwen3-32B-FP8 Qwen/Qwen3-32B-FP8 $F/Qwen--Qwen3-32B-FP8.json
gen qwen3-30b-a3b Qwen3-30B-A3B Qwen/Qwen3-30B-A3B $F/Qwen--Qwen3-30B-A3B.json
gen qwen3-235b-a22b Qwen3-235B-A22B Qwen/Qwen3-235B-A22B $F/Qwen--Qwen3-235B-A22B.json
gen qwen3-235b-a22b-fp8 Qwen3-235B-A22B-FP8 Qwen/Qwen3-235B-A22B-FP8 $F/Qwen--Qwen3-235B-A22B-FP8.json
gen llama-2-7b Llama-2-7B meta-llama/Llama-2-7b-hf $F/meta-llama--Llama-2-7b-hf.json --alias llama2-7b
gen llama-2-70b Llama-2-70B meta-llama/Llama-2-70b-hf $F/meta-llama--Llama-2-70b-hf.json --alias llama2-70b \
  --alias llama-2-70b-chat --alias meta-llama/Llama-2-70b-chat-hf
gen llama-3.1-8b Llama-3.1-8B meta-llama/Meta-Llama-3.1-8B $F/meta-llama--Meta-Llama-3.1-8B.json --alias llama3.1-8b --alias llama-3.1-8b-instruct \
  --alias meta-llama/Llama-3.1-8B --alias meta-llama/Llama-3.1-8B-Instruct --alias meta-llama/Meta-Llama-3.1-8B-Instruct
gen llama-3.1-70b Llama-3.1-70B meta-llama/Meta-Llama-3.1-70B $F/meta-llama--Meta-Llama-3.1-70B.json --alias llama3.1-70b --alias llama-3.1-70b-instruct \
  --alias meta-llama/Llama-3.1-70B --alias meta-llama/Llama-3.1-70B-Instruct --alias meta-llama/Meta-Llama-3.1-70B-Instruct
gen llama-3.1-405b Llama-3.1-405B meta-llama/Meta-Llama-3.1-405B $F/meta-llama--Meta-Llama-3.1-405B.json --alias llama3.1-405b \
  --alias meta-llama/Llama-3.1-405B --alias meta-llama/Llama-3.1-405B-FP8 --alias meta-llama/Llama-3.1-405B-Instruct-FP8
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
# Aliases above that name another checkpoint of the same architecture (nvidia/*-NVFP4, *-FP8,
# -0528) let the serving runs of docs/silicon.md resolve; their weight format comes from --weights.

# 2025–2026 configs (tests/fixtures/hf-configs/2026, provenance in its SOURCES.md). The specs of
# DeepSeek-V4 (and its FP8/NVFP4 copies), MiniMax-M3 (+NVFP4), Kimi-K3, Nemotron-NAS 49B,
# Nemotron-3.5-Lightning, Qwen3.6-27B/35B-A3B-NVFP4 and GLM-4.5-Air were imported with hand-written
# source notes (each spec's header names its config and sources); this script does not rewrite them.
N=$F/2026
gen26() { # name config-stem [extra args...]
  local name=$1 stem=$2; shift 2
  local cfg=$N/$stem.json src
  src="$cfg: ai-dynamo/aiconfigurator $(grep -F "| $stem.json |" $N/SOURCES.md | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$4); print $3 " @ " substr($4,1,10)}')"
  if [ -f "$N/$stem.hf_quant_config.json" ]; then
    src="$src; $stem.hf_quant_config.json: same repository, $(grep -F "| $stem.hf_quant_config.json |" $N/SOURCES.md | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$4); print $3 " @ " substr($4,1,10)}')"
  fi
  if grep -F "| $stem.json |" $N/SOURCES.md | grep -q -E 'TRIMMED|edited'; then src="$src (copy TRIMMED/edited by aiconfigurator: architecture numbers only)"; fi
  if grep -q '"vision_config"' "$cfg"; then
    case "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("model_type", ""))' "$cfg")" in
      qwen3_vl|qwen3_vl_moe) src="$src; vision tower counted from vision_config (HF modeling_qwen3_vl.py Qwen3VLVisionModel)" ;;
      qwen3_5|qwen3_5_moe) src="$src; vision tower counted from vision_config (HF modular_qwen3_5.py Qwen3_5VisionModel)" ;;
      *) src="$src; language model only (the vision tower is not counted)" ;;
    esac
  fi
  "$KV" import "$cfg" --name "$name" --display-name "${stem#*--}" --hf-repo "${stem%%--*}/${stem#*--}" --source "$src" "$@" --out "model-specs/$name.yaml"
}
gen26 qwen3.5-397b-a17b Qwen--Qwen3.5-397B-A17B --alias qwen3.5-397b
gen26 qwen3.5-397b-a17b-nvfp4 nvidia--Qwen3.5-397B-A17B-NVFP4
gen26 qwen3.5-122b-a10b Qwen--Qwen3.5-122B-A10B --alias qwen3.5-122b
gen26 qwen3.5-122b-a10b-nvfp4 nvidia--Qwen3.5-122B-A10B-NVFP4
gen26 qwen3.5-35b-a3b Qwen--Qwen3.5-35B-A3B --alias qwen3.5-35b
gen26 qwen3.6-35b-a3b Qwen--Qwen3.6-35B-A3B --alias qwen3.6-35b
gen26 qwen3.8-2.4t-a95b Qwen--Qwen3.8-2.4T-A95B
gen26 qwen3-next-80b-a3b Qwen--Qwen3-Next-80B-A3B-Thinking --alias qwen3-next-80b-a3b-thinking --alias qwen3-next
gen26 qwen3-coder-480b-a35b Qwen--Qwen3-Coder-480B-A35B-Instruct --alias qwen3-coder-480b
gen26 qwen3-vl-235b-a22b Qwen--Qwen3-VL-235B-A22B-Instruct
gen26 qwen3-vl-30b-a3b Qwen--Qwen3-VL-30B-A3B-Instruct
gen26 qwen3-vl-32b Qwen--Qwen3-VL-32B-Instruct --alias Qwen/Qwen3-VL-32B-Thinking
gen26 qwen3-vl-8b Qwen--Qwen3-VL-8B-Instruct
gen26 qwen3-vl-4b Qwen--Qwen3-VL-4B-Instruct
gen26 qwen3-vl-2b Qwen--Qwen3-VL-2B-Instruct
gen26 qwen3-0.6b Qwen--Qwen3-0.6B
gen26 qwen3-1.7b Qwen--Qwen3-1.7B
gen26 qwen3-32b-fp8-static Qwen--Qwen3-32B-FP8-Static-PerTensor
gen26 glm-5 zai-org--GLM-5 --alias zhipuai/GLM-5
gen26 glm-5-fp8 zai-org--GLM-5-FP8 --alias zhipuai/GLM-5-FP8
gen26 glm-5-nvfp4 nvidia--GLM-5-NVFP4
gen26 glm-5.1 zai-org--GLM-5.1 --alias zhipuai/GLM-5.1
gen26 glm-5.1-fp8 zai-org--GLM-5.1-FP8
gen26 glm-5.1-nvfp4 nvidia--GLM-5.1-NVFP4
gen26 glm-5.2 zai-org--GLM-5.2 --alias zhipuai/GLM-5.2
gen26 glm-5.2-fp8 zai-org--GLM-5.2-FP8
gen26 glm-5.2-nvfp4 nvidia--GLM-5.2-NVFP4
gen26 glm-5.3 zai-org--GLM-5.3
gen26 glm-4.7-fp8 zai-org--GLM-4.7-FP8 --alias glm-4.7
gen26 glm-4.7-flash zai-org--GLM-4.7-Flash
gen26 deepseek-v3.2 deepseek-ai--DeepSeek-V3.2
gen26 deepseek-v3.2-nvfp4 nvidia--DeepSeek-V3.2-NVFP4
gen26 deepseek-v3.1-nvfp4 nvidia--DeepSeek-V3.1-NVFP4
gen26 kimi-k2.5 moonshotai--Kimi-K2.5
# Kimi-K2-Thinking: the trimmed 2026 copy plus the published checkpoint's quantization_config.
gen kimi-k2-thinking Kimi-K2-Thinking moonshotai/Kimi-K2-Thinking $D/moonshotai--Kimi-K2-Thinking.json
gen26 kimi-k2.5-nvfp4 nvidia--Kimi-K2.5-NVFP4
gen26 kimi-k2.6-nvfp4 nvidia--Kimi-K2.6-NVFP4 --alias kimi-k2.6
gen26 kimi-k2.7-code-nvfp4 nvidia--Kimi-K2.7-Code-NVFP4 --alias kimi-k2.7-code
gen26 minimax-m2.5 MiniMaxAI--MiniMax-M2.5
gen26 minimax-m2.5-nvfp4 nvidia--MiniMax-M2.5-NVFP4
gen26 minimax-m2.7 MiniMaxAI--MiniMax-M2.7
gen26 minimax-m2.7-nvfp4 nvidia--MiniMax-M2.7-NVFP4
gen26 nemotron-3-nano-30b-a3b nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 --alias nvidia/Nemotron-3-Nano
gen26 nemotron-3-nano-30b-a3b-nvfp4 nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4
gen26 nemotron-3-super-120b-a12b-fp8 nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8 --alias nemotron-3-super-120b-a12b --alias nemotron-3-super
gen26 nemotron-3-super-120b-a12b-nvfp4 nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4
gen26 nemotron-3-ultra-550b-a55b nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16 --alias nemotron-3-ultra
gen26 nemotron-3-ultra-550b-a55b-fp8 nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-FP8
gen26 nemotron-3-ultra-550b-a55b-nvfp4 nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-NVFP4
gen26 mimo-7b XiaomiMiMo--MiMo-7B-Base --alias mimo-7b-base
gen26 gemma-4-26b-a4b google--gemma-4-26B-A4B --alias gemma-4-26b-a4b-it --alias google/gemma-4-26B-A4B-it
gen26 gemma-4-26b-a4b-nvfp4 nvidia--Gemma-4-26B-A4B-NVFP4
gen26 gemma-4-31b-it-nvfp4 nvidia--Gemma-4-31B-IT-NVFP4
echo "wrote $(ls model-specs/*.yaml | wc -l) specs"
# Issue 17 catalogue gaps (architectures from the model cards; grade C, see each config's _kvplan_source)
gen llama-3.2-1b Llama-3.2-1B-Instruct meta-llama/Llama-3.2-1B-Instruct $D/meta-llama--Llama-3.2-1B-Instruct.json --alias llama3.2-1b --alias llama-3.2-1b-instruct --alias meta-llama/Llama-3.2-1B
gen llama-3.2-3b Llama-3.2-3B-Instruct meta-llama/Llama-3.2-3B-Instruct $D/meta-llama--Llama-3.2-3B-Instruct.json --alias llama3.2-3b --alias llama-3.2-3b-instruct --alias meta-llama/Llama-3.2-3B
gen phi-4 Phi-4 microsoft/phi-4 $D/microsoft--phi-4.json --alias phi4 --alias microsoft/Phi-4
gen mistral-small-24b Mistral-Small-24B-Instruct-2501 mistralai/Mistral-Small-24B-Instruct-2501 $D/mistralai--Mistral-Small-24B-Instruct-2501.json --alias mistral-small --alias mistral-small-3 --alias mistral-small-24b-instruct-2501
gen mistral-large-123b Mistral-Large-Instruct-2411 mistralai/Mistral-Large-Instruct-2411 $D/mistralai--Mistral-Large-Instruct-2411.json --alias mistral-large --alias mistral-large-2411 --alias mistral-large-2
