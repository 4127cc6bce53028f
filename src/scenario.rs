//! A Scenario is everything one estimate needs: the model, the GPUs, how the
//! model is deployed on them (formats, parallelism, engine) and the workload.
//! It is plain data; `Scenario::validate` checks that the combination is
//! possible and says why not.

use crate::error::{Error, Result};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::spec::engine::EngineSpec;
use crate::spec::gpu::GpuSpec;
use crate::spec::model::ModelSpec;

/// The GPUs: `nodes × gpus_per_node` of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The GPU model.
    pub gpu: GpuSpec,
    /// Machines.
    pub nodes: u64,
    /// GPUs per machine.
    pub gpus_per_node: u64,
}

impl Cluster {
    /// All GPUs.
    pub fn total_gpus(&self) -> u64 {
        self.nodes * self.gpus_per_node
    }
}

/// How the model is laid out and served.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Weight storage format.
    pub weights: WeightFormat,
    /// KV cache element type.
    pub kv_dtype: KvDtype,
    /// Tensor-parallel degree (attention and dense layers).
    pub tp: u64,
    /// Pipeline-parallel stages.
    pub pp: u64,
    /// Expert-parallel degree (1 = experts split by TP inside each replica).
    pub ep: u64,
    /// Data-parallel replicas of attention (with `ep > 1` on an MoE model the
    /// replicas share one expert pool: DP attention).
    pub dp: u64,
    /// The serving engine's behaviour (memory fraction, block size…).
    pub engine: EngineSpec,
    /// Load the multi-token-prediction module for speculative decoding.
    pub mtp: bool,
    /// Probability that one MTP draft token is accepted (used when `mtp`;
    /// `perf::speculative` turns it into tokens per decode iteration).
    pub mtp_acceptance: f64,
    /// Draft tokens per decode iteration with MTP (0: one per MTP module of
    /// the checkpoint; more re-apply the last module, as engines allow).
    pub mtp_draft_tokens: u64,
    /// Decode context parallelism (`-dcp`): ranks of a TP group that split
    /// each sequence's KV cache by token position (1 = none).
    pub dcp: u64,
}

/// What the GPUs must serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Tokens per sequence (prompt + generated), the context to plan for.
    pub context: u64,
    /// Concurrent sequences (whole deployment).
    pub batch: u64,
}

/// One estimate's complete input.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The model.
    pub model: ModelSpec,
    /// The GPUs.
    pub cluster: Cluster,
    /// The layout.
    pub deployment: Deployment,
    /// The load.
    pub workload: Workload,
}

impl Scenario {
    /// Check that the deployment is possible for this model and cluster.
    pub fn validate(&self) -> Result<()> {
        let d = &self.deployment;
        let m = &self.model;
        let a = &m.attention;
        let w = &self.workload;
        for (f, v) in [("tp", d.tp), ("pp", d.pp), ("ep", d.ep), ("dp", d.dp)] {
            if v == 0 {
                return Err(Error::input(f, "must be at least 1"));
            }
        }
        if d.dcp == 0 {
            return Err(Error::input("dcp", "must be at least 1"));
        }
        if d.dcp > 1 {
            if d.tp % d.dcp != 0 {
                return Err(Error::input(
                    "dcp",
                    format!(
                        "decode context parallelism reuses the TP group: dcp = {} must divide tp = {}",
                        d.dcp, d.tp
                    ),
                ));
            }
            if d.dcp > d.engine.max_dcp {
                return Err(Error::input(
                    "dcp",
                    format!(
                        "{} {} does not support decode context parallelism{}; use --engine vllm (0.11 or newer) or drop --dcp",
                        d.engine.display_name,
                        d.engine.version,
                        if d.engine.max_dcp > 1 {
                            format!(" above {}", d.engine.max_dcp)
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
        }
        let gpus = self.cluster.total_gpus();
        if d.tp * d.pp * d.dp != gpus {
            return Err(Error::input(
                "tp",
                format!(
                    "tp × pp × dp = {} × {} × {} = {} but --gpus gives {} GPUs; choose degrees whose product is {}",
                    d.tp,
                    d.pp,
                    d.dp,
                    d.tp * d.pp * d.dp,
                    gpus,
                    gpus
                ),
            ));
        }
        if a.num_heads % d.tp != 0 {
            return Err(Error::input(
                "tp",
                format!(
                    "{} attention heads do not divide over tp = {}; use a tp that divides {}",
                    a.num_heads, d.tp, a.num_heads
                ),
            ));
        }
        if a.mla.is_none() && a.num_kv_heads % d.tp != 0 && d.tp % a.num_kv_heads != 0 {
            return Err(Error::input(
                "tp",
                format!(
                    "{} KV heads and tp = {}: one must divide the other",
                    a.num_kv_heads, d.tp
                ),
            ));
        }
        // Every dense layer's MLP width (Nemotron-NAS layers have their own).
        if let Some(w) = (0..m.num_layers)
            .filter(|&i| m.ffn_type(i) == crate::spec::model::FfnType::Dense)
            .map(|i| m.dense_width(i))
            .find(|w| *w > 0 && w % d.tp != 0)
        {
            return Err(Error::input(
                "tp",
                format!("MLP width {w} does not divide over tp = {}", d.tp),
            ));
        }
        if d.pp > m.num_layers {
            return Err(Error::input(
                "pp",
                format!("pp = {} exceeds the model's {} layers", d.pp, m.num_layers),
            ));
        }
        match &m.moe {
            None if d.ep > 1 => {
                return Err(Error::input(
                    "ep",
                    format!(
                        "{} is a dense model; expert parallelism needs an MoE model (use ep = 1)",
                        m.display_name
                    ),
                ));
            }
            Some(moe) => {
                let group = self.moe_group();
                if group % d.ep != 0 {
                    return Err(Error::input(
                        "ep",
                        format!("ep = {} must divide tp × dp = {}", d.ep, group),
                    ));
                }
                if d.ep > moe.num_experts {
                    return Err(Error::input(
                        "ep",
                        format!("ep = {} exceeds the {} experts", d.ep, moe.num_experts),
                    ));
                }
                let moe_tp = self.moe_tp();
                if moe.expert_intermediate_size % moe_tp != 0 {
                    return Err(Error::input(
                        "ep",
                        format!("expert width {} does not divide over the {} GPUs that split each expert (tp·dp/ep)", moe.expert_intermediate_size, moe_tp),
                    ));
                }
            }
            None => {}
        }
        if w.context == 0 {
            return Err(Error::input("ctx", "context must be at least 1 token"));
        }
        if w.batch == 0 {
            return Err(Error::input("batch", "batch must be at least 1 sequence"));
        }
        if w.batch > 10_000_000 {
            return Err(Error::input(
                "batch",
                format!("{} sequences is absurd", w.batch),
            ));
        }
        if w.context > 100_000_000 {
            return Err(Error::input(
                "ctx",
                format!("{} tokens is absurd", w.context),
            ));
        }
        let f = d.engine.memory_fraction;
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::input(
                "gpu-memory-utilization",
                format!("memory fraction {f} must be in (0, 1]"),
            ));
        }
        if d.engine.block_size == 0 {
            return Err(Error::input(
                "block-size",
                "block size must be at least 1 token",
            ));
        }
        if d.engine.max_num_batched_tokens == 0 {
            return Err(Error::input("max-num-batched-tokens", "must be at least 1"));
        }
        if d.mtp && m.mtp_layers == 0 {
            return Err(Error::input(
                "mtp",
                format!("{} has no multi-token-prediction module", m.display_name),
            ));
        }
        Ok(())
    }

    /// GPUs that share one pool of experts: tp × dp with expert parallelism
    /// (DP attention), else the tp ranks of one replica.
    pub fn moe_group(&self) -> u64 {
        let d = &self.deployment;
        if d.ep > 1 {
            d.tp * d.dp
        } else {
            d.tp
        }
    }

    /// How many GPUs split each expert's matrices (MoE tensor parallelism).
    pub fn moe_tp(&self) -> u64 {
        self.moe_group() / self.deployment.ep
    }

    /// Sequences one attention replica serves.
    pub fn batch_per_replica(&self) -> u64 {
        self.workload.batch.div_ceil(self.deployment.dp)
    }
}
