#!/usr/bin/env python3
"""hf_validate.py -- measure what Hugging Face transformers really allocates and how
fast it decodes, for kvplan's validation (memory and decode-speed predictions).

What it measures (one JSON file, bytes as integers, times in milliseconds):

* ``environment`` (once per run): GPU name, total memory, torch / transformers / CUDA /
  driver versions, SDPA back-end switches, device-to-device copy bandwidth (bytes read +
  written per second, 4 GiB buffer, median of 10) and the bf16 matmul rate (8192^3, random
  normal data, median of 10), allocated vs reserved memory.
* per case (a model built from its config.json with RANDOM weights -- nothing is
  downloaded): parameter count (sum of numel over ``model.parameters()``, tied weights
  counted once), parameter bytes, buffer bytes, ``torch.cuda.memory_allocated()`` before
  and after the build, the attention and experts implementations transformers picked, and
  any parameter that came out all-zero (refilled with N(0, 0.02) so nothing is timed on
  zeros).
* per point (batch B x prompt length S, random token ids):
  - ``full_forward``: a plain ``model(input_ids)`` (default arguments: all-position logits,
    use_cache from the config, i.e. a DynamicCache is filled too): peak allocated memory
    above what was allocated before, the absolute peak, wall time, logits bytes.
  - ``prefill``: the prefill as ``generate()`` does it: ``model(input_ids,
    past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)``
    (generate() sets logits_to_keep=1 for models that accept it): peak above base, absolute
    peak, wall time, and the memory the cache holds afterwards (allocated after minus
    before, with the logits freed).
  - ``kv_after_prefill`` / ``kv_after_decode``: every cache tensor: total logical bytes
    (numel x element size), total bytes of the distinct storages behind them (a view
    can keep a larger tensor alive), per-layer sequence lengths, and the shape/dtype of the
    key and value tensors of layer 0 and of the first layer of every kind (full / sliding;
    for MLA models the "key" is the compressed latent and the "value" the rotary key).
  - ``decode_eager``: regime (a), the default eager loop: ``model(input_ids=next_tok,
    past_key_values=cache, use_cache=True)`` + greedy argmax, DynamicCache. Warm-up steps,
    then >= 20 timed steps: median wall time per step (host clock, synchronised after each
    step) and median GPU time per step from CUDA events around the step; the peak memory of
    one decode step; and, from torch.profiler, the sum of GPU kernel time per step and the
    top kernels (shows which SDPA back-end -- flash / cuDNN / efficient / math -- runs).
  - ``decode_graph``: regime (b), launch overhead removed: StaticCache(max_cache_len =
    S + 64) filled with random normal K/V, its position set to S, one decode step (forward +
    argmax written back into the static input) captured by hand into a torch.cuda.CUDAGraph,
    median replay time (CUDA events) and back-to-back replay wall time. ``torch.tensor``
    constants created inside the step (e.g. the index of StaticSlidingWindowLayer's roll
    path) are served from a cache filled during the warm-up, because a host-to-device copy
    is not allowed while a stream captures; if capture still fails a second attempt passes
    pre-built attention masks; the outcome (and any error) is recorded.

How to rerun (H200 machine, python3 with torch 2.11 + transformers 5.17, no internet):

    NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 python3 validation/hf_validate.py \
        --out "$OUT" --budget-s 450   # all 8 cases need ~410 s of script time

``--cases a,b`` runs a subset (names from CASES below); ``--list`` prints them. The configs
used are read from validation/configs/<case>.json, exactly as run; ``--write-configs
tests/fixtures/hf-configs`` regenerates them from the reference copies (applying the
documented edits). CPU debugging: ``python3 validation/hf_validate.py --cpu-smoke --out
/tmp/smoke`` builds tiny (2-4 layer, hidden 64) variants of every case and runs every code
path except CUDA-only timing/capture, and lists host-sync hazards seen in one StaticCache
decode step.
"""

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(HERE, "configs")

STD_POINTS = [(1, 1024), (8, 2048), (1, 8192), (16, 4096)]

# name -> where its config comes from (relative to the reference hf-configs folder), edits
# applied on top (None deletes a key), points (batch, prompt length), note.
CASES = [
    dict(name="qwen2.5-0.5b-instruct", source="Qwen--Qwen2.5-0.5B-Instruct.json",
         edits={}, points=STD_POINTS, note="small dense GQA 14/2, tied embeddings"),
    dict(name="llama-3.1-8b", source="meta-llama--Meta-Llama-3.1-8B.json",
         edits={}, points=STD_POINTS, note="dense GQA 32/8, rope llama3"),
    dict(name="mistral-7b-v0.1", source="mistralai--Mistral-7B-v0.1.json",
         edits={}, points=STD_POINTS + [(4, 8192)],
         note="sliding window 4096 on every layer"),
    dict(name="gemma-2-9b", source="google--gemma-2-9b.json",
         edits={}, points=[(1, 1024), (8, 2048), (1, 7680), (16, 4096), (4, 7680)],
         note="alternating local (4096) / global layers; contexts kept below "
              "max_position_embeddings 8192 (7680 > 4096 so the window matters)"),
    dict(name="deepseek-v2-lite", source="partial/deepseek-ai--DeepSeek-V2-Lite-Chat.transformers-log-printout.json",
         edits={"auto_map": None},
         points=STD_POINTS,
         note="MLA kv_lora 512 + rope 64, q_lora_rank null, 27 layers, 64 routed + 2 shared experts, "
              "top-6, first layer dense; auto_map removed (native DeepseekV2 class, no remote code); "
              "numbers agree with deepseek-official-inference/config_16B.json"),
    dict(name="mixtral-8x7b", source="mistralai--Mixtral-8x7B-v0.1.json",
         edits={}, points=STD_POINTS, note="MoE 8 experts top-2, all 32 layers (46.7B, ~93 GB bf16)"),
    dict(name="qwen2.5-7b", source="Qwen--Qwen2.5-7B.json",
         edits={}, points=STD_POINTS, note="mid dense GQA 28/4"),
    dict(name="deepseek-v3-4layers", source="deepseek-ai--DeepSeek-V3.json",
         edits={"auto_map": None, "quantization_config": None, "num_hidden_layers": 4},
         points=[(1, 1024), (8, 2048), (1, 8192), (16, 4096)],
         note="DeepSeek-V3 SHRUNK to 4 layers (first_k_dense_replace 3 kept: 3 dense + 1 MoE layer "
              "with 256 routed + 1 shared experts, top-8); fp8 quantization_config removed (bf16 "
              "weights); auto_map removed"),
]

MARGIN = 64          # extra StaticCache slots beyond the prompt
WARM_STEPS = 5       # eager decode warm-up steps
TIMED_STEPS = 20     # eager decode timed steps
PROF_STEPS = 3       # profiled eager decode steps
GRAPH_WARM = 3
GRAPH_REPLAYS = 25   # 5 warm-up replays + 20 timed


# ----------------------------------------------------------------------------- helpers

def now():
    return time.perf_counter()


class Ctx:
    """What the run needs everywhere: device, torch, flags."""

    def __init__(self, args):
        import torch
        self.torch = torch
        self.args = args
        self.cpu = args.cpu_smoke
        self.dev = torch.device("cpu") if self.cpu else torch.device("cuda")

    def sync(self):
        if not self.cpu:
            self.torch.cuda.synchronize()

    def alloc(self):
        return 0 if self.cpu else int(self.torch.cuda.memory_allocated())

    def reserved(self):
        return 0 if self.cpu else int(self.torch.cuda.memory_reserved())

    def reset_peak(self):
        if not self.cpu:
            self.torch.cuda.reset_peak_memory_stats()

    def peak(self):
        return 0 if self.cpu else int(self.torch.cuda.max_memory_allocated())

    def free(self):
        gc.collect()
        if not self.cpu:
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()


def err_record(e):
    return {"error": f"{type(e).__name__}: {e}"[:2000],
            "traceback": traceback.format_exc()[-3000:]}


def median(xs):
    return float(statistics.median(xs)) if xs else None


class Writer:
    def __init__(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "measurements.json")
        self.data = {"schema": "kvplan-hf-validate/1", "environment": None, "cases": []}

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)


# ----------------------------------------------------------------------------- configs

def write_configs(ref_dir):
    os.makedirs(CONFIG_DIR, exist_ok=True)
    for case in CASES:
        with open(os.path.join(ref_dir, case["source"])) as f:
            cfg = json.load(f)
        for k, v in case["edits"].items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        path = os.path.join(CONFIG_DIR, case["name"] + ".json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        print("wrote", path)


def load_config(name):
    with open(os.path.join(CONFIG_DIR, name + ".json")) as f:
        return json.load(f)


def tiny_config(cfg):
    """Shrink a config for the CPU smoke test (structure kept: GQA, sliding, MoE, MLA)."""
    c = copy.deepcopy(cfg)
    mt = c["model_type"]
    c.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=512,
             num_hidden_layers=2, max_position_embeddings=4096)
    if mt in ("deepseek_v2", "deepseek_v3"):
        c.update(num_key_value_heads=4, kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16,
                 v_head_dim=16, moe_intermediate_size=32, n_shared_experts=1)
        if mt == "deepseek_v2":
            c.update(n_routed_experts=8, num_experts_per_tok=2, first_k_dense_replace=1)
        else:
            c.update(num_hidden_layers=3, first_k_dense_replace=2, n_routed_experts=16,
                     num_experts_per_tok=4, n_group=4, topk_group=2, q_lora_rank=24)
    else:
        c["num_key_value_heads"] = 2
    if "head_dim" in c:
        c["head_dim"] = 16
    if mt == "gemma2":
        c.update(query_pre_attn_scalar=16, sliding_window=16, sliding_window_size=16)
    if mt == "mistral":
        c["sliding_window"] = 16
    if mt == "mixtral":
        c.update(num_local_experts=4)
    if mt == "qwen2":
        c["sliding_window"] = 4096
    return c


SMOKE_POINTS = [(1, 8), (2, 24), (3, 40)]


# ----------------------------------------------------------------------------- environment

def measure_environment(ctx):
    torch = ctx.torch
    import transformers
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_smoke": ctx.cpu,
    }
    try:
        import accelerate  # noqa: F401
        env["accelerate"] = accelerate.__version__
    except Exception:
        pass
    if ctx.cpu:
        return env
    p = torch.cuda.get_device_properties(0)
    env.update(gpu_name=p.name, total_memory=int(p.total_memory),
               multiprocessors=p.multi_processor_count,
               capability=f"{p.major}.{p.minor}",
)
    for k in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "cudnn_sdp_enabled", "math_sdp_enabled"):
        f = getattr(torch.backends.cuda, k, None)
        env["sdpa_" + k] = f() if f else None
    try:
        free, total = torch.cuda.mem_get_info()
        env["mem_get_info_free_at_start"] = int(free)
        env["mem_get_info_total"] = int(total)
    except Exception as e:
        env["mem_get_info_error"] = str(e)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name,memory.total,clocks.sm,clocks.mem",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        env["nvidia_smi"] = out.stdout.strip()
        env["driver_version"] = out.stdout.strip().split(",")[0].strip()
    except Exception as e:
        env["nvidia_smi_error"] = str(e)
    # device-to-device copy bandwidth
    try:
        n = 4 * 1024 ** 3
        a = torch.empty(n, dtype=torch.uint8, device="cuda")
        a.random_(0, 255)
        b = torch.empty_like(a)
        for _ in range(3):
            b.copy_(a)
        ts = []
        for _ in range(10):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); b.copy_(a); e1.record(); e1.synchronize()
            ts.append(e0.elapsed_time(e1) / 1e3)
        env["d2d_copy"] = {"buffer_bytes": n, "median_s": median(ts),
                           "bytes_per_s_read_plus_write": int(2 * n / median(ts))}
        del a, b
    except Exception as e:
        env["d2d_copy"] = err_record(e)
    # bf16 matmul rate
    try:
        m = 8192
        x = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
        for _ in range(3):
            z = x @ y
        ts = []
        for _ in range(10):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); z = x @ y; e1.record(); e1.synchronize()
            ts.append(e0.elapsed_time(e1) / 1e3)
        env["bf16_matmul_8192"] = {"median_s": median(ts), "flop_per_s": 2 * m ** 3 / median(ts)}
        del x, y, z
    except Exception as e:
        env["bf16_matmul_8192"] = err_record(e)
    ctx.free()
    env["memory_allocated_after_env"] = ctx.alloc()
    env["memory_reserved_after_env"] = ctx.reserved()
    return env


# ----------------------------------------------------------------------------- build

def build_model(ctx, cfg_dict):
    torch = ctx.torch
    from transformers import AutoConfig, AutoModelForCausalLM
    info = {}
    cfg = AutoConfig.for_model(**copy.deepcopy(cfg_dict))
    ctx.free()
    before = ctx.alloc()
    t0 = now()
    with torch.device(ctx.dev):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.eval()
    ctx.sync()
    info["build_s"] = now() - t0
    info["class"] = type(model).__name__
    info["config_class"] = type(model.config).__name__
    info["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
    info["experts_implementation"] = getattr(model.config, "_experts_implementation", None)
    info["layer_types"] = getattr(model.config, "layer_types", None)
    info["sliding_window"] = getattr(model.config, "sliding_window", None)
    # refill all-zero parameters (so nothing is timed on zeros); record which
    zero = []
    t1 = now()
    with torch.no_grad():
        named = list(model.named_parameters())
        if named:
            maxes = torch.stack([p.detach().abs().amax().float() for _, p in named]).cpu()
            for (n, p), mx in zip(named, maxes.tolist()):
                if mx == 0.0:
                    zero.append(n)
                    p.normal_(0.0, 0.02)
        devs = sorted({str(p.device) for _, p in named})
    info["zero_params_refilled"] = zero
    info["param_devices"] = devs
    info["zero_check_s"] = now() - t1
    params = list(model.parameters())  # tied weights once
    info["param_count"] = int(sum(p.numel() for p in params))
    info["param_bytes"] = int(sum(p.numel() * p.element_size() for p in params))
    info["param_dtypes"] = sorted({str(p.dtype) for p in params})
    bufs = list(model.named_buffers())
    info["buffer_bytes"] = int(sum(b.numel() * b.element_size() for _, b in bufs))
    info["buffers"] = [{"name": n, "shape": list(b.shape), "dtype": str(b.dtype)} for n, b in bufs[:8]]
    info["buffer_count"] = len(bufs)
    info["weights_bytes"] = info["param_bytes"] + info["buffer_bytes"]
    try:
        info["tied_embeddings"] = (model.get_input_embeddings().weight.data_ptr()
                                   == model.get_output_embeddings().weight.data_ptr())
    except Exception:
        pass
    ctx.sync()
    info["memory_allocated_before_build"] = before
    info["memory_allocated_after_build"] = ctx.alloc()
    info["memory_reserved_after_build"] = ctx.reserved()
    if not ctx.cpu:
        free, total = torch.cuda.mem_get_info()
        info["device_used_after_build"] = int(total - free)
        info["device_used_minus_reserved_after_build"] = int(total - free) - ctx.reserved()
    return model, info


# ----------------------------------------------------------------------------- cache

def tinfo(t):
    if t is None:
        return None
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
            "bytes": int(t.numel() * t.element_size()),
            "storage_bytes": int(t.untyped_storage().nbytes())}


def cache_summary(cache):
    layers = getattr(cache, "layers", None)
    if layers is None:
        return {"error": f"cache {type(cache).__name__} has no .layers"}
    total, storages, reps, per_layer, kinds = 0, {}, {}, [], {}
    for i, layer in enumerate(layers):
        k, v = getattr(layer, "keys", None), getattr(layer, "values", None)
        kind = f"{type(layer).__name__}" + (f"(window={layer.sliding_window})" if hasattr(layer, "sliding_window") else "")
        kinds[kind] = kinds.get(kind, 0) + 1
        seq = None
        for t in (k, v):
            if t is None or not hasattr(t, "untyped_storage"):
                continue
            total += t.numel() * t.element_size()
            st = t.untyped_storage()
            storages[st.data_ptr()] = st.nbytes()
        if k is not None and hasattr(k, "shape") and k.dim() >= 2:
            seq = int(k.shape[-2])
        per_layer.append(seq)
        if i == 0 or kind not in reps:
            reps.setdefault(kind, {"layer": i, "keys": tinfo(k), "values": tinfo(v)})
            if i == 0:
                reps["layer0"] = {"layer": 0, "kind": kind, "keys": tinfo(k), "values": tinfo(v)}
    return {"cache_class": type(cache).__name__, "num_layers": len(layers), "layer_kinds": kinds,
            "total_bytes": int(total), "storage_bytes": int(sum(storages.values())),
            "per_layer_seq_len": per_layer, "representative_layers": reps}


# ----------------------------------------------------------------------------- capture helpers

class ConstTensorCache:
    """TorchFunctionMode that serves torch.tensor(<python data>, device=cuda) from a cache:
    filled while warming up, reused while capturing a CUDA graph (where a host-to-device copy
    is illegal). Used only around the graph warm-up and capture."""

    def __init__(self, torch):
        from torch.overrides import TorchFunctionMode
        self.store, self.frozen, self.hits, self.misses = {}, False, 0, []
        outer = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func is torch.tensor and args and not isinstance(args[0], torch.Tensor):
                    dev = kwargs.get("device")
                    if dev is not None and torch.device(dev).type == "cuda":
                        key = (repr(args[0]), str(kwargs.get("dtype")), str(dev))
                        if key in outer.store:
                            outer.hits += 1
                            return outer.store[key]
                        if outer.frozen:
                            outer.misses.append(key)
                        t = func(*args, **kwargs)
                        outer.store[key] = t
                        return t
                return func(*args, **kwargs)

        self.mode = Mode


class HazardMode:
    """CPU smoke only: record calls that would synchronise the host or copy host->device in
    a CUDA-graph capture (item, __bool__, tolist, nonzero, torch.tensor, ...), with the
    transformers source line that made them."""

    NAMES = {"item", "__bool__", "tolist", "nonzero", "tensor", "cpu", "numpy", "unique",
             "__int__", "__float__", "masked_select", "repeat_interleave"}

    def __init__(self, torch):
        from torch.overrides import TorchFunctionMode
        self.seen = {}
        outer = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", str(func))
                if name in outer.NAMES:
                    import inspect
                    where = "?"
                    for fr in inspect.stack()[1:8]:
                        if "transformers" in fr.filename:
                            where = fr.filename.split("transformers/")[-1] + ":" + str(fr.lineno)
                            break
                    key = f"{name} @ {where}"
                    outer.seen[key] = outer.seen.get(key, 0) + 1
                return func(*args, **(kwargs or {}))

        self.mode = Mode


# ----------------------------------------------------------------------------- point

def profile_steps(ctx, step_fn, n):
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            step_fn()
        ctx.sync()
    ka = prof.key_averages()
    rows = []
    for e in ka:
        t = getattr(e, "self_device_time_total", None)
        if t is None:
            t = getattr(e, "self_cuda_time_total", 0)
        if t:
            rows.append((float(t), e.key, int(e.count)))
    rows.sort(reverse=True)
    total_us = sum(r[0] for r in rows)
    return {"steps": n, "kernel_sum_ms_per_step": total_us / 1e3 / n,
            "top_kernels": [{"name": k[:160], "ms_per_step": t / 1e3 / n, "calls_per_step": c / n}
                            for t, k, c in rows[:10]],
            "attention_kernel_hint": sorted({k[:80] for _, k, _ in rows
                                             if any(s in k.lower() for s in ("flash", "cudnn", "fmha", "attention", "sdpa", "efficient"))})[:8]}


def run_point(ctx, model, B, S, res, deadline):
    torch = ctx.torch
    from transformers import DynamicCache
    cfg = model.config
    vocab = cfg.vocab_size
    gen = torch.Generator(device=ctx.dev).manual_seed(1234 + B * 100000 + S)
    ids = torch.randint(0, vocab, (B, S), device=ctx.dev, generator=gen)

    # 1. plain full forward (all-position logits; default use_cache -> DynamicCache filled too)
    try:
        ctx.free()
        base = ctx.alloc(); ctx.reset_peak(); t0 = now()
        with torch.no_grad():
            out = model(input_ids=ids)
        ctx.sync()
        r = {"call": "model(input_ids=ids)  # all-position logits, use_cache=config.use_cache",
             "wall_s": now() - t0, "base_allocated": base, "peak_allocated_abs": ctx.peak()}
        r["peak_minus_base"] = r["peak_allocated_abs"] - base
        r["logits_shape"] = list(out.logits.shape)
        r["logits_dtype"] = str(out.logits.dtype)
        r["logits_bytes"] = int(out.logits.numel() * out.logits.element_size())
        r["returned_cache"] = type(out.past_key_values).__name__ if getattr(out, "past_key_values", None) is not None else None
        del out
        res["full_forward"] = r
    except Exception as e:
        res["full_forward"] = err_record(e)
        out = None
    ctx.free()

    # 2. generate-style prefill
    cache = DynamicCache(config=cfg)
    ctx.free()
    base = ctx.alloc(); ctx.reset_peak(); t0 = now()
    with torch.no_grad():
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    ctx.sync()
    r = {"call": "model(input_ids=ids, past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)",
         "wall_s": now() - t0, "base_allocated": base, "peak_allocated_abs": ctx.peak()}
    r["peak_minus_base"] = r["peak_allocated_abs"] - base
    r["logits_shape"] = list(out.logits.shape)
    next_tok = out.logits[:, -1:].argmax(-1)
    del out
    ctx.free()
    r["allocated_after_minus_base"] = ctx.alloc() - base   # ~ cache + next_tok (B*8 bytes, rounded)
    r["reserved_after"] = ctx.reserved()
    res["prefill"] = r
    res["kv_after_prefill"] = cache_summary(cache)
    del ids

    # 3. eager decode loop (DynamicCache)
    d = {"regime": "eager loop, DynamicCache: model(input_ids=next_tok, past_key_values=cache, use_cache=True) + argmax",
         "warmup_steps": WARM_STEPS, "timed_steps": TIMED_STEPS}
    try:
        state = {"tok": next_tok}

        def step():
            with torch.no_grad():
                o = model(input_ids=state["tok"], past_key_values=cache, use_cache=True)
            state["tok"] = o.logits[:, -1:].argmax(-1)

        n_warm = 1 if ctx.cpu else WARM_STEPS
        n_timed = 3 if ctx.cpu else TIMED_STEPS
        for _ in range(n_warm):
            step()
        ctx.sync()
        walls, gpus = [], []
        for _ in range(n_timed):
            if ctx.cpu:
                t0 = now(); step(); walls.append((now() - t0) * 1e3)
                continue
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = now(); e0.record(); step(); e1.record(); torch.cuda.synchronize()
            walls.append((now() - t0) * 1e3); gpus.append(e0.elapsed_time(e1))
        d["wall_ms_median"] = median(walls)
        d["wall_ms_min"] = min(walls)
        d["gpu_event_ms_median"] = median(gpus)
        d["wall_ms_all"] = [round(x, 4) for x in walls]
        # peak of one decode step
        ctx.free()
        base = ctx.alloc(); ctx.reset_peak()
        step(); ctx.sync()
        d["step_peak_minus_base"] = ctx.peak() - base
        d["step_peak_abs"] = ctx.peak()
        steps_done = n_warm + n_timed + 1
        if not ctx.cpu and now() < deadline:
            try:
                d["profile"] = profile_steps(ctx, step, PROF_STEPS)
                steps_done += PROF_STEPS
            except Exception as e:
                d["profile"] = err_record(e)
        # same loop with cuDNN removed from SDPA's choices (docs/sources/engines.md: cuDNN decode attention
        # had a high host cost on Hopper); default SDPA choice is what the numbers above use
        if not ctx.cpu and now() < deadline:
            try:
                from torch.nn.attention import sdpa_kernel, SDPBackend
                nc = {}
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
                    for _ in range(2):
                        step()
                    torch.cuda.synchronize()
                    w2, g2 = [], []
                    for _ in range(10):
                        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        t0 = now(); e0.record(); step(); e1.record(); torch.cuda.synchronize()
                        w2.append((now() - t0) * 1e3); g2.append(e0.elapsed_time(e1))
                steps_done += 12
                nc["wall_ms_median"] = median(w2)
                nc["gpu_event_ms_median"] = median(g2)
                d["no_cudnn_sdpa"] = nc
            except Exception as e:
                d["no_cudnn_sdpa"] = err_record(e)
        d["steps_done"] = steps_done
        ctx.free()
        res["kv_after_decode"] = cache_summary(cache)
        res["kv_after_decode"]["decode_steps"] = steps_done
        res["kv_after_decode"]["allocated_minus_weights"] = ctx.alloc() - res["_weights_alloc"]
    except Exception as e:
        d.update(err_record(e))
    res["decode_eager"] = d
    cache = next_tok = None
    state = None
    ctx.free()

    # 4. StaticCache + CUDA graph
    if now() > deadline:
        res["decode_graph"] = {"skipped": "time budget"}
        return
    res["decode_graph"] = static_graph(ctx, model, B, S)
    ctx.free()


def static_graph(ctx, model, B, S):
    torch = ctx.torch
    from transformers import StaticCache
    cfg = model.config
    g = {"regime": "StaticCache + one decode step (forward + argmax) captured by hand in torch.cuda.CUDAGraph",
         "max_cache_len": S + MARGIN}
    cache = StaticCache(config=cfg, max_cache_len=S + MARGIN)
    static_ids = torch.randint(0, cfg.vocab_size, (B, 1), device=ctx.dev)
    with torch.no_grad():  # lazy init of every layer at position 0
        model(input_ids=static_ids, position_ids=torch.zeros((B, 1), dtype=torch.long, device=ctx.dev),
              past_key_values=cache, use_cache=True)
    ctx.sync()
    n_steps_max = GRAPH_WARM + GRAPH_REPLAYS + 8
    layer_kinds = {}

    def set_positions():
        for layer in cache.layers:
            layer.keys.normal_(); layer.values.normal_()
            L = int(layer.max_cache_len)
            if hasattr(layer, "cumulative_length_int"):   # StaticSlidingWindowLayer
                if S + n_steps_max >= L:     # full (or filling within the run): roll path
                    layer.cumulative_length_int = max(S, L)
                    layer.cumulative_length.fill_(L)
                else:
                    layer.cumulative_length_int = S
                    layer.cumulative_length.fill_(S)
            else:
                layer.cumulative_length.fill_(S)

    def reset_full_positions():
        for layer in cache.layers:
            if not hasattr(layer, "cumulative_length_int"):
                layer.cumulative_length.fill_(S)
            elif layer.cumulative_length_int < layer.max_cache_len:
                layer.cumulative_length.fill_(S)

    with torch.no_grad():
        set_positions()
    for layer in cache.layers:
        k = f"{type(layer).__name__}(max_cache_len={int(layer.max_cache_len)})"
        layer_kinds[k] = layer_kinds.get(k, 0) + 1
    g["layer_kinds"] = layer_kinds
    g["static_cache_bytes"] = cache_summary(cache)["total_bytes"]
    static_pos = torch.full((B, 1), S, dtype=torch.long, device=ctx.dev)

    def make_step(masks):
        def step():
            kw = {}
            if masks is not None:
                kw["attention_mask"] = masks
            with torch.no_grad():
                o = model(input_ids=static_ids, position_ids=static_pos, past_key_values=cache,
                          use_cache=True, **kw)
                static_ids.copy_(o.logits[:, -1:].argmax(-1))
        return step

    if ctx.cpu:
        # exercise the static path eagerly, and list host-sync hazards of one step
        hz = HazardMode(torch)
        with hz.mode():
            make_step(None)()
        g["cpu_static_step_ok"] = True
        try:  # exercise the pre-built-mask variant too
            masks = prebuilt_masks(model, static_ids, static_pos, cache)
            make_step(masks)()
            g["cpu_prebuilt_masks_ok"] = type(masks).__name__
        except Exception as e:
            g["cpu_prebuilt_masks"] = err_record(e)
        g["capture_hazards_seen_on_cpu"] = hz.seen
        return g

    import contextlib
    attempts = []
    variants = ["plain", "prebuilt_masks", "no_cudnn_sdpa"]
    if ctx.args.compile_fallback:
        variants.append("compile_reduce_overhead")
    for variant in variants:
        a = {"variant": variant}
        try:
            masks = None
            if variant == "prebuilt_masks":
                masks = prebuilt_masks(model, static_ids, static_pos, cache)
                a["mask_kind"] = type(masks).__name__
            if variant == "compile_reduce_overhead":
                attempts.append(compiled_step(ctx, make_step(None), reset_full_positions, a))
                if a.get("ok"):
                    break
                continue
            kern = contextlib.nullcontext
            if variant == "no_cudnn_sdpa":
                from torch.nn.attention import sdpa_kernel, SDPBackend
                kern = lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                                            SDPBackend.MATH])
            step = make_step(masks)
            consts = ConstTensorCache(torch)
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s), consts.mode(), kern():
                for _ in range(GRAPH_WARM):
                    step()
            torch.cuda.current_stream().wait_stream(s)
            torch.cuda.synchronize()
            reset_full_positions()
            graph = torch.cuda.CUDAGraph()
            consts.frozen = True
            base = torch.cuda.memory_allocated()
            with consts.mode(), kern():
                with torch.cuda.graph(graph):
                    step()
            torch.cuda.synchronize()
            a["const_tensor_cache_hits_during_capture"] = consts.hits
            a["const_tensor_cache_misses"] = [str(m) for m in consts.misses]
            a["allocated_after_capture_minus_before"] = torch.cuda.memory_allocated() - base
            reset_full_positions()
            ts = []
            for i in range(GRAPH_REPLAYS):
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record(); graph.replay(); e1.record(); e1.synchronize()
                if i >= 5:
                    ts.append(e0.elapsed_time(e1))
            reset_full_positions()
            torch.cuda.synchronize()
            t0 = now()
            for _ in range(20):
                graph.replay()
            torch.cuda.synchronize()
            a["replay_ms_median"] = median(ts)
            a["replay_ms_min"] = min(ts)
            a["replay_wall_ms_back_to_back"] = (now() - t0) * 1e3 / 20
            a["ok"] = True
            attempts.append(a)
            del graph
            break
        except Exception as e:
            a.update(err_record(e)); a["ok"] = False
            attempts.append(a)
            try:
                torch.cuda.synchronize()
            except Exception as e2:
                a["sync_after_error"] = str(e2)[:500]
            # state of python-side counters may have advanced: reset
            with torch.no_grad():
                set_positions()
    g["attempts"] = attempts
    ok = [a for a in attempts if a.get("ok")]
    if ok:
        g["replay_ms_median"] = ok[0]["replay_ms_median"]
        g["variant_used"] = ok[0]["variant"]
    cache = None
    return g


def compiled_step(ctx, step, reset, a):
    """Fallback (only with --compile-fallback): torch.compile(mode="reduce-overhead") of the
    same static-cache step (compile time is recorded; it is long)."""
    torch = ctx.torch
    try:
        t0 = now()
        cstep = torch.compile(step, mode="reduce-overhead")
        for _ in range(GRAPH_WARM):
            cstep()
        torch.cuda.synchronize()
        a["compile_and_warm_s"] = now() - t0
        reset()
        ts = []
        for i in range(GRAPH_REPLAYS):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); cstep(); e1.record(); e1.synchronize()
            if i >= 5:
                ts.append(e0.elapsed_time(e1))
        a["replay_ms_median"] = median(ts)
        a["replay_ms_min"] = min(ts)
        a["ok"] = True
    except Exception as e:
        a.update(err_record(e)); a["ok"] = False
    return a


def prebuilt_masks(model, static_ids, static_pos, cache):
    import inspect
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
    emb = model.get_input_embeddings()(static_ids)
    kw = dict(config=model.config, inputs_embeds=emb, attention_mask=None, past_key_values=cache,
              position_ids=static_pos)
    src = inspect.getsource(type(model.model).forward)
    if "causal_mask_mapping := attention_mask" in src:
        m = {"full_attention": create_causal_mask(**kw)}
        if "sliding_attention" in (getattr(model.config, "layer_types", None) or []):
            m["sliding_attention"] = create_sliding_window_causal_mask(**kw)
        return m
    if getattr(model.config, "sliding_window", None) is not None:
        return create_sliding_window_causal_mask(**kw)
    return create_causal_mask(**kw)


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(HERE, "out"))
    ap.add_argument("--cases", default="")
    ap.add_argument("--cpu-smoke", action="store_true")
    ap.add_argument("--budget-s", type=float, default=330.0,
                    help="stop starting new cases / points after this many seconds")
    ap.add_argument("--write-configs", metavar="REF_DIR")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--merge", nargs="+", metavar="MEASUREMENTS_JSON",
                    help="merge several runs' measurements.json into OUT/measurements.json "
                         "(a case skipped in one run is taken from the run that measured it)")
    ap.add_argument("--compile-fallback", action="store_true",
                    help="if every hand capture fails, try torch.compile(mode='reduce-overhead') (slow)")
    args = ap.parse_args()

    if args.write_configs:
        write_configs(args.write_configs)
        return
    if args.merge:
        merge_runs(args.merge, args.out)
        return
    if args.list:
        for c in CASES:
            print(c["name"], c["points"], "-", c["note"])
        return

    t_start = now()
    deadline_all = t_start + args.budget_s
    ctx = Ctx(args)
    torch = ctx.torch
    torch.manual_seed(0)
    w = Writer(args.out)
    w.data["command"] = " ".join(sys.argv)
    w.data["constants"] = {"margin": MARGIN, "warm_steps": WARM_STEPS, "timed_steps": TIMED_STEPS,
                           "graph_warm": GRAPH_WARM, "graph_replays": GRAPH_REPLAYS, "profile_steps": PROF_STEPS}
    try:
        w.data["environment"] = measure_environment(ctx)
    except Exception as e:
        w.data["environment"] = err_record(e)
    w.write()
    env = w.data["environment"]
    print("ENV", json.dumps({k: env.get(k) for k in ("gpu_name", "torch", "transformers", "torch_cuda",
                                                     "driver_version", "total_memory")}),
          "d2d", env.get("d2d_copy", {}).get("bytes_per_s_read_plus_write"),
          "mm", env.get("bf16_matmul_8192", {}).get("flop_per_s"))

    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    for case in CASES:
        if wanted and case["name"] not in wanted:
            continue
        cres = {"name": case["name"], "note": case["note"], "config_file": f"configs/{case['name']}.json",
                "points": []}
        w.data["cases"].append(cres)
        if now() > deadline_all - 20:
            cres["skipped"] = "time budget"
            w.write()
            print("SKIP", case["name"], "(time budget)")
            continue
        model = None
        try:
            cfg = load_config(case["name"])
            points = case["points"]
            if ctx.cpu:
                cfg = tiny_config(cfg)
                cres["smoke_config"] = cfg
                points = SMOKE_POINTS
            model, info = build_model(ctx, cfg)
            cres["build"] = info
            w.write()
            print(f"BUILD {case['name']}: {info['param_count']/1e9:.3f}B params, weights "
                  f"{info['weights_bytes']/2**30:.2f} GiB, alloc {info['memory_allocated_after_build']/2**30:.2f} GiB, "
                  f"{info['build_s']:.1f}s, attn={info['attn_implementation']} experts={info['experts_implementation']}"
                  f" zero={len(info['zero_params_refilled'])}")
            for (B, S) in points:
                pres = {"batch": B, "prompt_len": S, "_weights_alloc": info["memory_allocated_after_build"]}
                cres["points"].append(pres)
                if now() > deadline_all:
                    pres["skipped"] = "time budget"
                    continue
                t0 = now()
                try:
                    run_point(ctx, model, B, S, pres, deadline_all)
                except Exception as e:
                    pres.update(err_record(e))
                    print("ERROR", case["name"], B, S, pres["error"][:300])
                pres["point_wall_s"] = now() - t0
                pres.pop("_weights_alloc", None)
                ctx.free()
                w.write()
                print_point(case["name"], pres)
            cres["memory_allocated_end"] = ctx.alloc()
            cres["memory_reserved_end"] = ctx.reserved()
        except Exception as e:
            cres.update(err_record(e))
            print("CASE ERROR", case["name"], cres["error"][:500])
        finally:
            for p in cres["points"]:
                p.pop("_weights_alloc", None)
            del model
            ctx.free()
            cres["case_wall_s"] = now() - t_start
            w.write()
    w.data["total_wall_s"] = now() - t_start
    w.write()
    print_table(w.data)


def merge_runs(paths, out_dir):
    merged = {"schema": "kvplan-hf-validate/1", "runs": [], "environment": None, "cases": []}
    by_name = {}
    for i, path in enumerate(paths, 1):
        with open(path) as f:
            d = json.load(f)
        merged["runs"].append({"run": i, "command": d.get("command"), "constants": d.get("constants"),
                               "total_wall_s": d.get("total_wall_s"), "environment": d.get("environment"),
                               "cases_measured": [c["name"] for c in d["cases"] if c.get("points")]})
        if merged["environment"] is None:
            merged["environment"] = d.get("environment")
        for c in d["cases"]:
            if c.get("points") or c["name"] not in by_name:
                c = dict(c, run=i)
                by_name[c["name"]] = c
    order = [c["name"] for c in CASES]
    merged["cases"] = sorted(by_name.values(), key=lambda c: order.index(c["name"]) if c["name"] in order else 99)
    merged["total_wall_s"] = sum(r["total_wall_s"] or 0 for r in merged["runs"])
    w = Writer(out_dir)
    w.data = merged
    w.write()
    print_table(merged)


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def fmt(x, scale=1.0, nd=1):
    return "-" if x is None else f"{x / scale:.{nd}f}"


def print_point(name, p):
    if "skipped" in p:
        print(f"POINT {name} B={p['batch']} S={p['prompt_len']}: skipped")
        return
    print(f"POINT {name} B={p['batch']} S={p['prompt_len']}: "
          f"kv={fmt(g(p, 'kv_after_prefill', 'total_bytes'), 2**20)}MiB "
          f"(storage {fmt(g(p, 'kv_after_prefill', 'storage_bytes'), 2**20)}) "
          f"kv_dec={fmt(g(p, 'kv_after_decode', 'total_bytes'), 2**20)}MiB "
          f"prefill_peak+={fmt(g(p, 'prefill', 'peak_minus_base'), 2**20)}MiB "
          f"full_fwd_peak+={fmt(g(p, 'full_forward', 'peak_minus_base'), 2**20)}MiB "
          f"eager={fmt(g(p, 'decode_eager', 'wall_ms_median'), 1, 2)}ms "
          f"(gpu {fmt(g(p, 'decode_eager', 'gpu_event_ms_median'), 1, 2)}, "
          f"kern {fmt(g(p, 'decode_eager', 'profile', 'kernel_sum_ms_per_step'), 1, 2)}) "
          f"graph={fmt(g(p, 'decode_graph', 'replay_ms_median'), 1, 2)}ms "
          f"[{p.get('point_wall_s', 0):.1f}s]"
          + (f" ERR {p['error'][:200]}" if 'error' in p else "")
          + (f" eagerERR {g(p, 'decode_eager', 'error')[:200]}" if g(p, 'decode_eager', 'error') else "")
          + (f" fullERR {g(p, 'full_forward', 'error')[:120]}" if g(p, 'full_forward', 'error') else "")
          + ("" if g(p, 'decode_graph', 'replay_ms_median') is not None or not g(p, 'decode_graph', 'attempts')
             else " graphERR " + str(g(p, 'decode_graph', 'attempts')[-1].get('error', ''))[:200]))


def print_table(data):
    print()
    print(f"{'case':24} {'B':>3} {'S':>6} {'weights GiB':>11} {'KV MiB':>9} {'KVstor MiB':>10} "
          f"{'prefill+ MiB':>12} {'fullfwd+ MiB':>12} {'eager ms':>8} {'evt ms':>7} {'kern ms':>7} {'graph ms':>8}")
    for c in data["cases"]:
        wb = g(c, "build", "weights_bytes")
        if not c["points"]:
            print(f"{c['name']:24} {c.get('skipped') or c.get('error', '')[:80]}")
        for p in c["points"]:
            print(f"{c['name']:24} {p['batch']:>3} {p['prompt_len']:>6} {fmt(wb, 2**30, 2):>11} "
                  f"{fmt(g(p, 'kv_after_prefill', 'total_bytes'), 2**20):>9} "
                  f"{fmt(g(p, 'kv_after_prefill', 'storage_bytes'), 2**20):>10} "
                  f"{fmt(g(p, 'prefill', 'peak_minus_base'), 2**20):>12} "
                  f"{fmt(g(p, 'full_forward', 'peak_minus_base'), 2**20):>12} "
                  f"{fmt(g(p, 'decode_eager', 'wall_ms_median'), 1, 2):>8} "
                  f"{fmt(g(p, 'decode_eager', 'gpu_event_ms_median'), 1, 2):>7} "
                  f"{fmt(g(p, 'decode_eager', 'profile', 'kernel_sum_ms_per_step'), 1, 2):>7} "
                  f"{fmt(g(p, 'decode_graph', 'replay_ms_median'), 1, 3):>8}"
                  + (" skipped" if p.get("skipped") else ""))
    print(f"total wall {data.get('total_wall_s', 0):.1f}s")


if __name__ == "__main__":
    main()
