//! One engine replica's scheduler, iteration by iteration.
//!
//! The loop forms each iteration's batch as the engine's scheduler does
//! (`SchedulerSpec`), asks the iteration-cost function how long it takes,
//! advances the clock and moves requests along. Running requests are kept
//! as aggregates (how many decode, the sum of their contexts, the sum of
//! their remaining outputs), so an iteration costs the same whatever the
//! batch size; per-request work happens only when a request is admitted,
//! finishes its prefill, completes or is preempted (ordered sets, log n).
//!
//! The replica knows nothing about models or GPUs: it takes a cost closure.
//! A disaggregated deployment is two of these (a prefill pool whose requests
//! have one output token, and a decode pool whose requests arrive with their
//! prompt already computed).

use crate::perf::{BatchComposition, Bound, IterationCost};
use crate::spec::scheduler::{BatchPolicy, KvAdmission, Preemption, SchedulerSpec};
use std::collections::{BTreeSet, VecDeque};

/// What one replica runs with.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// Scheduler policy.
    pub sched: SchedulerSpec,
    /// Token budget of one iteration (`max_num_batched_tokens`, `chunked_prefill_size`, `max_num_tokens`).
    pub max_num_batched_tokens: u64,
    /// Requests running at once (`max_num_seqs`, `max_running_requests`, `max_batch_size`).
    pub max_num_seqs: u64,
    /// Whether prompts are split into chunks of the token budget.
    pub chunked_prefill: bool,
    /// Tokens the replica's KV pool holds (the engine's start-up figure).
    pub kv_capacity_tokens: u64,
    /// Tokens per KV block (each running request wastes (block − 1)/2 on average).
    pub block_size: u64,
    /// The model's sliding window (`u64::MAX`: none).
    pub window: u64,
    /// DP replicas running in lockstep with this one (their tokens share the experts under EP).
    pub lockstep_replicas: f64,
    /// Stop with an error past this many iterations (bounded work).
    pub max_iterations: u64,
    /// Output tokens one decode iteration emits per sequence, on average
    /// (`perf::Speculation::tokens_per_step`; 1 without speculative decoding).
    pub decode_tokens_per_step: f64,
    /// Tokens per decode sequence that count against the iteration's token
    /// budget (k + 1 verified tokens with speculative decoding; 1 without).
    pub decode_budget_tokens: f64,
}

impl ReplicaConfig {
    /// Decode iterations a sequence needs for `tokens` more output tokens
    /// (⌈tokens ÷ tokens per step⌉; exactly `tokens` without speculation).
    fn decode_steps(&self, tokens: u64) -> u64 {
        (tokens as f64 / self.decode_tokens_per_step).ceil() as u64
    }

    /// Tokens a sequence has gained after `steps` decode iterations.
    fn decoded(&self, steps: u64) -> f64 {
        self.decode_tokens_per_step * steps as f64
    }
}

/// One request's lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSpec {
    /// Prompt tokens.
    pub prompt: u64,
    /// Output tokens to generate (≥ 1).
    pub output: u64,
    /// Prompt tokens already in the prefix cache (not computed, but read).
    pub cached: u64,
}

/// How requests reach the replica.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Closed loop: this many clients, each sending its next request when its
    /// last one completes (`vllm bench serve --max-concurrency` with all requests ready).
    Closed {
        /// Clients.
        concurrency: u64,
    },
    /// Open loop: requests arrive at these times (seconds, ascending); with a
    /// cap, at most that many are in flight and a request waits client-side
    /// for a slot (its latency is counted from when it is sent).
    Open {
        /// Arrival times.
        times: Vec<f64>,
        /// In-flight cap (`--max-concurrency`), if any.
        max_concurrency: Option<u64>,
    },
}

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    /// When it was sent, seconds.
    pub arrival: f64,
    /// When its first output token appeared.
    pub first_token: f64,
    /// When its last output token appeared.
    pub finish: f64,
    /// Prompt tokens.
    pub prompt: u64,
    /// Output tokens.
    pub output: u64,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Its position in the request list the run was given (so a caller
    /// that routes requests between runs can find each one's record).
    pub index: usize,
}

/// A replica's whole run.
#[derive(Debug, Clone, Default)]
pub struct ReplicaRun {
    /// Completed requests, in completion order.
    pub records: Vec<RequestRecord>,
    /// Inter-token latencies: (seconds, number of tokens that waited that long).
    pub itl: Vec<(f64, f64)>,
    /// Iterations run.
    pub iterations: u64,
    /// Time the replica was running an iteration, seconds.
    pub busy_seconds: f64,
    /// First arrival and last completion, seconds.
    pub start_seconds: f64,
    /// Last completion.
    pub end_seconds: f64,
    /// Σ running requests × iteration time (for the time-averaged batch).
    pub running_seconds: f64,
    /// Preemptions (recompute).
    pub preemptions: u64,
    /// Iteration time by what bound it: memory, compute, communication, overhead.
    pub bound_seconds: [f64; 4],
    /// Most KV tokens in use at once.
    pub peak_kv_tokens: f64,
    /// Iterations in which a waiting request could not be admitted for lack of KV.
    pub kv_blocked_iterations: u64,
    /// Iterations in which a waiting request could not be admitted for lack of a sequence slot.
    pub seq_blocked_iterations: u64,
    /// Iterations with prefill work in them.
    pub prefill_iterations: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Waiting,
    Prefilling,
    Decoding,
    Done,
}

#[derive(Debug, Clone)]
struct Req {
    spec: RequestSpec,
    arrival: f64,
    first_token: f64,
    /// Tokens generated so far (while decoding: at `k0`).
    generated: u64,
    /// Tokens the current prefill must hold when done (prompt + generated).
    to_compute: u64,
    /// Of those, in the KV cache now.
    computed: u64,
    /// First decode iteration.
    k0: u64,
    order: u64,
    state: State,
    preemptions: u32,
    last_token: f64,
}

fn bound_index(b: Bound) -> usize {
    match b {
        Bound::Memory => 0,
        Bound::Compute => 1,
        Bound::Communication => 2,
        Bound::Overhead => 3,
    }
}

/// The scheduler state of one replica.
struct Sim<'c> {
    cfg: &'c ReplicaConfig,
    reqs: Vec<Req>,
    waiting: VecDeque<usize>,
    prefilling: Vec<usize>,
    /// (admission order, request) of every running request.
    running: BTreeSet<(u64, usize)>,
    /// (finishing iteration, request) of every decoding request.
    completions: BTreeSet<(u64, usize)>,
    next_order: u64,
    /// KV tokens held by prefilling requests.
    prefill_kv: f64,
    /// Decoders: count, Σ (prompt + g0 − t·k0), Σ (output − g0 + t·k0),
    /// t = output tokens per decode step (1 without speculation).
    n_dec: f64,
    sum_base: f64,
    sum_rem_base: f64,
    /// Σ (prompt + output) of running requests (reserve-full admission).
    committed: f64,
    new_token_ratio: f64,
    /// Decode steps run so far: decoders advance only in iterations that
    /// decode (a prefill-only batch leaves them waiting).
    dk: u64,
    /// Decode tokens already scheduled in the iteration being formed.
    step_decode_tokens: f64,
    /// Attention-DP balancing (`SchedulerSpec::adp_balance`): iterations the
    /// waiting requests have been held for want of a request on every rank,
    /// and iterations of the batching wait after that.
    adp_waited: u64,
    adp_batching_waited: u64,
    /// SGLang's receive skipper (`SchedulerSpec::recv_interval`): weight
    /// of the iterations since the scheduler last took new requests.
    recv_counter: u64,
    now: f64,
    run: ReplicaRun,
}

impl Sim<'_> {
    fn waste(&self) -> f64 {
        (self.cfg.block_size.max(1) - 1) as f64 / 2.0
    }

    fn running_count(&self) -> f64 {
        self.running.len() as f64
    }

    /// KV tokens in use, counting the decode tokens of the iteration being formed.
    fn used_kv(&self) -> f64 {
        self.prefill_kv + self.sum_base + self.n_dec * self.cfg.decoded(self.dk) - self.n_dec
            + self.step_decode_tokens
            + self.running_count() * self.waste()
    }

    fn capacity(&self) -> f64 {
        self.cfg.kv_capacity_tokens as f64
    }

    /// Σ remaining output tokens of decoders.
    fn remaining_output(&self) -> f64 {
        (self.sum_rem_base - self.n_dec * self.cfg.decoded(self.dk)).max(0.0)
    }

    /// Whether the request at the head of the queue may be admitted with a first chunk of `chunk`.
    fn admissible(&self, idx: usize, chunk: u64) -> bool {
        let r = &self.reqs[idx];
        let cap = self.capacity();
        match self.cfg.sched.kv_admission {
            KvAdmission::OnDemand => {
                self.used_kv() + (r.computed + chunk) as f64 + self.waste() <= cap
            }
            KvAdmission::ReserveFullOutput => {
                self.committed + (r.spec.prompt + r.spec.output) as f64 + self.waste() <= cap
            }
            KvAdmission::ReserveOutputRatio => {
                // SGLang PrefillAdder: the prompt plus its (clipped) whole output must
                // fit beside `new_token_ratio` × what running requests still generate.
                let clip = self
                    .cfg
                    .sched
                    .new_token_ratio
                    .map_or(u64::MAX, |n| n.clip_max_new_tokens);
                let own = (r.spec.output - r.generated).min(clip) as f64;
                let reserved =
                    self.new_token_ratio * self.remaining_output().min(self.n_dec * clip as f64);
                self.used_kv() + reserved + r.to_compute as f64 + own <= cap
            }
        }
    }

    /// Preempt the most recently admitted running request (recompute).
    fn preempt_latest(&mut self) -> bool {
        let Some(&(order, idx)) = self.running.iter().next_back() else {
            return false;
        };
        self.running.remove(&(order, idx));
        let k = self.dk;
        let r = &mut self.reqs[idx];
        match r.state {
            State::Decoding => {
                let g0 = r.generated;
                let cfg = self.cfg;
                let g = g0 + (cfg.decoded(k - r.k0).floor() as u64).min(r.spec.output - g0 - 1);
                self.n_dec -= 1.0;
                self.sum_base -= (r.spec.prompt + g0) as f64 - cfg.decoded(r.k0);
                self.sum_rem_base -= (r.spec.output - g0) as f64 + cfg.decoded(r.k0);
                let finish = r.k0 + cfg.decode_steps(r.spec.output - g0) - 1;
                self.completions.remove(&(finish, idx));
                r.generated = g;
                r.to_compute = r.spec.prompt + g;
            }
            State::Prefilling => {
                self.prefill_kv -= r.computed as f64;
                self.prefilling.retain(|&i| i != idx);
            }
            _ => unreachable!("only running requests are preempted"),
        }
        let r = &mut self.reqs[idx];
        r.computed = r.spec.cached.min(r.to_compute.saturating_sub(1));
        r.state = State::Waiting;
        r.preemptions += 1;
        r.last_token = self.now;
        self.committed -= (r.spec.prompt + r.spec.output) as f64;
        self.waiting.push_front(idx);
        self.run.preemptions += 1;
        if let Some(n) = self.cfg.sched.new_token_ratio {
            self.new_token_ratio = n.init;
        }
        true
    }

    /// Make room for `need` more KV tokens by preempting (where the engine does).
    fn ensure_room(&mut self, need: impl Fn(&Self) -> f64) -> bool {
        while self.used_kv() + need(self) > self.capacity() {
            if self.cfg.sched.preemption != Preemption::Recompute || !self.preempt_latest() {
                return false;
            }
        }
        true
    }

    /// Schedule a chunk of request `idx`, return the tokens scheduled.
    fn schedule_chunk(&mut self, idx: usize, budget: u64, comp: &mut BatchComposition) -> u64 {
        let r = &mut self.reqs[idx];
        let rem = r.to_compute - r.computed;
        let chunk = rem.min(budget);
        if chunk == 0 {
            return 0;
        }
        comp.add_prefill_chunk(chunk, r.computed, self.cfg.window);
        r.computed += chunk;
        self.prefill_kv += chunk as f64;
        chunk
    }

    /// Whether TensorRT-LLM's attention-DP balancing lets waiting requests
    /// start this iteration (always, without it or without DP ranks). The
    /// replica stands for every rank of its lockstep group (they see the
    /// same load): every rank holds a context request once the slowest of
    /// them has received one, the maximum of `ranks` equal waits, whose mean
    /// is H(ranks) = 1 + 1/2 + … + 1/ranks of one rank's inter-arrival times
    /// (exponential waits) — so the gate opens when H(ranks) requests wait
    /// here. Counters follow `_balance_adp_requests`: one per held iteration,
    /// reset on release.
    fn adp_gate_open(&mut self) -> bool {
        let Some(b) = self.cfg.sched.adp_balance else {
            return true;
        };
        let ranks = self.cfg.lockstep_replicas;
        if ranks <= 1.0 || self.waiting.is_empty() {
            return true;
        }
        if self.n_dec <= 0.0 {
            // A rank with no generation requests: released at once.
            self.adp_waited = 0;
            self.adp_batching_waited = 0;
            return true;
        }
        let harmonic: f64 = (1..=ranks.round() as u64).map(|i| 1.0 / i as f64).sum();
        if self.waiting.len() as f64 >= harmonic {
            self.adp_waited = 0;
            if self.adp_batching_waited < b.batching_wait_iterations {
                self.adp_batching_waited += 1;
                return false;
            }
            self.adp_batching_waited = 0;
            return true;
        }
        self.adp_waited += 1;
        if self.adp_waited >= b.timeout_iterations {
            self.adp_waited = 0;
            return true;
        }
        false
    }

    /// Admit waiting requests into `comp` while the budget, the sequence cap
    /// and the KV pool allow.
    fn admit(&mut self, budget: &mut u64, comp: &mut BatchComposition) {
        if !self.adp_gate_open() {
            return;
        }
        let partial_cap = self.cfg.sched.max_partial_prefills;
        while *budget > 0 {
            let Some(&idx) = self.waiting.front() else {
                break;
            };
            if self.running.len() as u64 >= self.cfg.max_num_seqs {
                self.run.seq_blocked_iterations += 1;
                break;
            }
            let partial_now = self
                .prefilling
                .iter()
                .filter(|&&i| self.reqs[i].computed < self.reqs[i].to_compute)
                .count() as u64;
            if partial_cap > 0 && partial_now >= partial_cap {
                break;
            }
            let r = &self.reqs[idx];
            let rem = r.to_compute - r.computed;
            if !self.cfg.chunked_prefill && rem > *budget {
                break;
            }
            let chunk = rem.min(*budget);
            if !self.admissible(idx, chunk) {
                self.run.kv_blocked_iterations += 1;
                break;
            }
            self.waiting.pop_front();
            let order = self.next_order;
            self.next_order += 1;
            let r = &mut self.reqs[idx];
            r.order = order;
            r.state = State::Prefilling;
            self.prefill_kv += r.computed as f64;
            self.committed += (r.spec.prompt + r.spec.output) as f64;
            self.running.insert((order, idx));
            self.prefilling.push(idx);
            let used = self.schedule_chunk(idx, *budget, comp);
            *budget -= used;
        }
    }

    /// Continue requests that are mid-prefill, oldest first.
    fn continue_prefills(&mut self, budget: &mut u64, comp: &mut BatchComposition) {
        // Scheduling a chunk leaves the list as it is: walk it by position.
        for i in 0..self.prefilling.len() {
            let idx = self.prefilling[i];
            if *budget == 0 {
                break;
            }
            if self.reqs[idx].state != State::Prefilling {
                continue;
            }
            let rem = self.reqs[idx].to_compute - self.reqs[idx].computed;
            let chunk = rem.min(*budget) as f64;
            if self.used_kv() + chunk > self.capacity() {
                // No room for the next chunk: wait (the loop preempts when nothing runs).
                self.run.kv_blocked_iterations += 1;
                break;
            }
            let used = self.schedule_chunk(idx, *budget, comp);
            *budget -= used;
        }
    }

    /// Add every decoder to `comp` (after making room for their new tokens).
    fn add_decodes(&mut self, comp: &mut BatchComposition) -> bool {
        if self.n_dec <= 0.0 {
            return true;
        }
        let ok = self.ensure_room(|s| s.n_dec * s.cfg.decode_tokens_per_step);
        if self.n_dec > 0.0 {
            self.step_decode_tokens = self.n_dec * self.cfg.decode_tokens_per_step;
            let ctx = self.sum_base + self.n_dec * self.cfg.decoded(self.dk);
            // Σ min(ctx, window): exact when all contexts lie on one side of the window.
            let win = if self.cfg.window == u64::MAX {
                ctx
            } else {
                self.n_dec * (ctx / self.n_dec).min(self.cfg.window as f64)
            };
            comp.add_decodes(self.n_dec, ctx, win);
        }
        ok
    }

    /// Form one iteration's batch.
    fn form_batch(&mut self) -> BatchComposition {
        self.step_decode_tokens = 0.0;
        let mut comp = BatchComposition {
            replicas: self.cfg.lockstep_replicas.max(1.0),
            ..BatchComposition::default()
        };
        let token_budget = self.cfg.max_num_batched_tokens.max(1);
        match self.cfg.sched.batch_policy {
            BatchPolicy::Mixed => {
                self.add_decodes(&mut comp);
                let mut budget = token_budget
                    .saturating_sub((comp.decode_sequences * self.cfg.decode_budget_tokens) as u64);
                self.continue_prefills(&mut budget, &mut comp);
                self.admit(&mut budget, &mut comp);
            }
            BatchPolicy::PrefillFirst => {
                let mut budget = match self.cfg.sched.max_prefill_tokens {
                    0 => token_budget,
                    m => token_budget.min(m),
                };
                if self.cfg.sched.mixed_chunk {
                    self.add_decodes(&mut comp);
                    budget = budget.saturating_sub(
                        (comp.decode_sequences * self.cfg.decode_budget_tokens) as u64,
                    );
                }
                self.continue_prefills(&mut budget, &mut comp);
                self.admit(&mut budget, &mut comp);
                if comp.prefill_tokens <= 0.0 && !self.cfg.sched.mixed_chunk {
                    self.add_decodes(&mut comp);
                }
                if comp.prefill_tokens <= 0.0 && comp.decode_sequences > 0.0 {
                    if let Some(n) = self.cfg.sched.new_token_ratio {
                        let min = n.init * n.min_factor;
                        let decay = (n.init - min) / n.decay_steps.max(1) as f64;
                        self.new_token_ratio = (self.new_token_ratio - decay).max(min);
                    }
                }
            }
        }
        comp
    }

    /// After an iteration ending at `self.now`: prefills that finished emit
    /// their token, decoders that reached their output length complete.
    fn finish_iteration(&mut self, dt: f64, decoded: f64, on_complete: &mut dyn FnMut(f64)) {
        self.step_decode_tokens = 0.0;
        if decoded > 0.0 {
            self.run.itl.push((dt, decoded));
            // Decoders whose last token came from this decode step complete.
            let step = self.dk;
            while let Some(&(finish, idx)) = self.completions.first() {
                if finish > step {
                    break;
                }
                self.completions.pop_first();
                let r = &self.reqs[idx];
                let (order, g0, k0) = (r.order, r.generated, r.k0);
                self.running.remove(&(order, idx));
                self.n_dec -= 1.0;
                self.sum_base -= (r.spec.prompt + g0) as f64 - self.cfg.decoded(k0);
                self.sum_rem_base -= (r.spec.output - g0) as f64 + self.cfg.decoded(k0);
                self.reqs[idx].generated = self.reqs[idx].spec.output;
                self.complete(idx, on_complete);
            }
            self.dk += 1;
        }
        let k = self.dk;
        let mut i = 0;
        while i < self.prefilling.len() {
            let idx = self.prefilling[i];
            let r = &self.reqs[idx];
            if r.computed < r.to_compute {
                i += 1;
                continue;
            }
            self.prefilling.swap_remove(i);
            let now = self.now;
            let r = &mut self.reqs[idx];
            r.generated += 1;
            if r.first_token.is_nan() {
                r.first_token = now;
            } else {
                self.run.itl.push((now - r.last_token, 1.0));
            }
            self.prefill_kv -= r.to_compute as f64;
            if r.generated >= r.spec.output {
                let order = r.order;
                self.running.remove(&(order, idx));
                self.complete(idx, on_complete);
                continue;
            }
            let r = &mut self.reqs[idx];
            r.state = State::Decoding;
            // Its first decode is the next decode step.
            r.k0 = k;
            let g0 = r.generated;
            let cfg = self.cfg;
            self.n_dec += 1.0;
            self.sum_base += (r.spec.prompt + g0) as f64 - cfg.decoded(r.k0);
            self.sum_rem_base += (r.spec.output - g0) as f64 + cfg.decoded(r.k0);
            let finish = r.k0 + cfg.decode_steps(r.spec.output - g0) - 1;
            self.completions.insert((finish, idx));
        }
    }

    /// The pure-decode composition `j` steps from now (what `form_batch`
    /// builds when nothing waits or prefills).
    fn decode_comp(&self, j: u64) -> BatchComposition {
        let mut comp = BatchComposition {
            replicas: self.cfg.lockstep_replicas.max(1.0),
            ..BatchComposition::default()
        };
        let n = self.n_dec;
        let ctx = self.sum_base + n * self.cfg.decoded(self.dk + j);
        let win = if self.cfg.window == u64::MAX {
            ctx
        } else {
            n * (ctx / n).min(self.cfg.window as f64)
        };
        comp.add_decodes(n, ctx, win);
        comp
    }

    /// Fast-forward a run of pure-decode iterations: nothing waits or
    /// prefills, no request completes, arrives (before `horizon`) or runs out
    /// of KV room in it, so each step is the previous one with every context
    /// one token longer. The cost of such a step is piecewise linear and
    /// convex in the context (max of a memory and a compute line plus
    /// constants); when the step at the run's midpoint costs the mean of its
    /// two ends and the three share one bound, it is linear over the whole
    /// run, and the steps between are interpolated instead of costed one by
    /// one — the same times up to rounding. Returns whether it ran any step
    /// (otherwise the caller takes the ordinary path).
    fn fast_decode<F>(&mut self, horizon: f64, iterations_left: u64, cost: &mut F) -> bool
    where
        F: FnMut(&BatchComposition) -> IterationCost,
    {
        let n = self.n_dec;
        let Some(&(finish_min, _)) = self.completions.first() else {
            return false;
        };
        let used0 = self.used_kv();
        let cap = self.capacity();
        // KV tokens the decoders add per step.
        let t = self.cfg.decode_tokens_per_step;
        let grow = n * t;
        if n <= 0.0 || used0 + grow > cap {
            return false;
        }
        // Steps before the first completing one; steps with room for the new tokens.
        let mut k = finish_min.saturating_sub(self.dk);
        k = k.min(((cap - used0 - grow) / grow).floor() as u64 + 1);
        k = k.min(iterations_left);
        if self.cfg.window != u64::MAX {
            // Mean context grows t tokens per step: keep the run on one side of the window.
            let c0 = self.sum_base / n + self.cfg.decoded(self.dk);
            let w = self.cfg.window as f64;
            if c0 <= w {
                k = k.min(((w - c0) / t).floor() as u64 + 1);
            }
        }
        if k % 2 == 0 {
            k = k.saturating_sub(1);
        }
        let (first, last) = loop {
            if k < 5 {
                return false;
            }
            let a = cost(&self.decode_comp(0));
            let b = cost(&self.decode_comp(k - 1));
            let m = cost(&self.decode_comp((k - 1) / 2));
            let mean = (a.seconds + b.seconds) / 2.0;
            if (m.seconds - mean).abs() <= 1e-9 * a.seconds.max(b.seconds)
                && a.bound == b.bound
                && m.bound == a.bound
            {
                break (a, b);
            }
            // A kink inside: try the first half.
            k = k.div_ceil(2);
            if k % 2 == 0 {
                k -= 1;
            }
        };
        let running = self.running_count();
        let bound = bound_index(first.bound);
        let span = (k - 1) as f64;
        let decay = self
            .cfg
            .sched
            .new_token_ratio
            .filter(|_| self.cfg.sched.batch_policy == BatchPolicy::PrefillFirst);
        for j in 0..k {
            if j > 0 && self.now >= horizon {
                break;
            }
            let dt = first.seconds + (last.seconds - first.seconds) * (j as f64) / span;
            if let Some(nr) = decay {
                let min = nr.init * nr.min_factor;
                let step = (nr.init - min) / nr.decay_steps.max(1) as f64;
                self.new_token_ratio = (self.new_token_ratio - step).max(min);
            }
            self.step_decode_tokens = grow;
            let used = self.used_kv();
            self.step_decode_tokens = 0.0;
            self.run.peak_kv_tokens = self.run.peak_kv_tokens.max(used);
            self.run.running_seconds += running * dt;
            self.run.busy_seconds += dt;
            self.run.bound_seconds[bound] += dt;
            self.run.iterations += 1;
            self.now += dt;
            self.run.itl.push((dt, n));
            self.dk += 1;
        }
        true
    }

    fn complete(&mut self, idx: usize, on_complete: &mut dyn FnMut(f64)) {
        let now = self.now;
        let r = &mut self.reqs[idx];
        r.state = State::Done;
        self.committed -= (r.spec.prompt + r.spec.output) as f64;
        self.run.records.push(RequestRecord {
            arrival: r.arrival,
            first_token: r.first_token,
            finish: now,
            prompt: r.spec.prompt,
            output: r.spec.output,
            preemptions: r.preemptions,
            index: idx,
        });
        on_complete(now);
    }
}

/// Why a replica run stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaError {
    /// A request can never be admitted: it needs more KV than the pool holds.
    DoesNotFit {
        /// KV tokens the request needs at admission.
        needs_tokens: u64,
        /// Tokens in the pool.
        pool_tokens: u64,
    },
    /// More iterations than `max_iterations`.
    TooLong {
        /// The limit.
        iterations: u64,
    },
    /// This thread's deadline ([`crate::deadline`]) passed: the server's
    /// request timeout, which stops a simulation it no longer waits for.
    PastDeadline,
}

/// Iterations between two deadline checks (a clock read per 256
/// iterations of ~0.3 µs each costs nothing measurable).
const DEADLINE_CHECK_ITERATIONS: u64 = 256;

/// Run `requests` (in send order) through one replica. `cost` gives the
/// iteration time of a batch composition. Runs of pure-decode iterations
/// are fast-forwarded where their cost is linear in the context (see
/// `run_replica_stepwise` for the reference that costs every iteration).
pub fn run_replica<F>(
    cfg: &ReplicaConfig,
    requests: &[RequestSpec],
    arrivals: &Arrivals,
    cost: F,
) -> Result<ReplicaRun, ReplicaError>
where
    F: FnMut(&BatchComposition) -> IterationCost,
{
    run(cfg, requests, arrivals, cost, true)
}

/// `run_replica` costing every iteration one by one (no fast-forward): the
/// reference the fast path is checked against.
pub fn run_replica_stepwise<F>(
    cfg: &ReplicaConfig,
    requests: &[RequestSpec],
    arrivals: &Arrivals,
    cost: F,
) -> Result<ReplicaRun, ReplicaError>
where
    F: FnMut(&BatchComposition) -> IterationCost,
{
    run(cfg, requests, arrivals, cost, false)
}

/// Weight of a non-decode iteration in SGLang's receive skipper
/// (`_DEFAULT_WEIGHT`, python/sglang/srt/managers/scheduler_recv_skipper.py):
/// above any receive interval in use, so a prefill is always followed by a
/// receive.
const RECV_WEIGHT_NOT_DECODE: u64 = 1000;

fn run<F>(
    cfg: &ReplicaConfig,
    requests: &[RequestSpec],
    arrivals: &Arrivals,
    mut cost: F,
    fast: bool,
) -> Result<ReplicaRun, ReplicaError>
where
    F: FnMut(&BatchComposition) -> IterationCost,
{
    let reqs: Vec<Req> = requests
        .iter()
        .map(|&spec| Req {
            spec,
            arrival: f64::NAN,
            first_token: f64::NAN,
            generated: 0,
            to_compute: spec.prompt,
            computed: spec.cached.min(spec.prompt.saturating_sub(1)),
            k0: 0,
            order: 0,
            state: State::Pending,
            preemptions: 0,
            last_token: 0.0,
        })
        .collect();
    let mut sim = Sim {
        cfg,
        reqs,
        waiting: VecDeque::new(),
        prefilling: Vec::new(),
        running: BTreeSet::new(),
        completions: BTreeSet::new(),
        next_order: 0,
        prefill_kv: 0.0,
        n_dec: 0.0,
        sum_base: 0.0,
        sum_rem_base: 0.0,
        committed: 0.0,
        new_token_ratio: cfg.sched.new_token_ratio.map_or(0.0, |n| n.init),
        dk: 0,
        step_decode_tokens: 0.0,
        adp_waited: 0,
        adp_batching_waited: 0,
        // The skipper starts full: the first request is taken at once.
        recv_counter: cfg.sched.recv_interval,
        now: 0.0,
        run: ReplicaRun::default(),
    };
    let n = requests.len();
    // Send order: `next` is the next request to send.
    let mut next = 0usize;
    let (closed, times, cap) = match arrivals {
        Arrivals::Closed { concurrency } => (true, &[][..], Some(*concurrency)),
        Arrivals::Open {
            times,
            max_concurrency,
        } => (false, &times[..], *max_concurrency),
    };
    let mut in_flight = 0u64;
    let mut freed = 0u64;
    // Sent requests on their way to the scheduler: (when it sees them,
    // request). Each spends the profile's request overhead (HTTP,
    // tokenisation) between being sent and being schedulable; its client's
    // slot is held meanwhile, so a closed loop's next request waits for it.
    let overhead = cfg.sched.request_overhead_seconds.max(0.0);
    let recv_interval = cfg.sched.recv_interval.max(1);
    let mut in_transit: VecDeque<(f64, usize)> = VecDeque::new();
    let mut next_deadline_check = 0u64;
    // Every request must fit alone, or it would be preempted forever.
    let waste = (cfg.block_size.max(1) - 1) as f64 / 2.0;
    if let Some(r) = requests
        .iter()
        .max_by_key(|r| r.prompt + r.output)
        .filter(|r| (r.prompt + r.output) as f64 + waste > cfg.kv_capacity_tokens as f64)
    {
        return Err(ReplicaError::DoesNotFit {
            needs_tokens: r.prompt + r.output,
            pool_tokens: cfg.kv_capacity_tokens,
        });
    }
    sim.run.start_seconds = if closed {
        0.0
    } else {
        times.first().copied().unwrap_or(0.0)
    };
    loop {
        // Requests sent by now.
        in_flight -= freed;
        freed = 0;
        while next < n {
            if cap.is_some_and(|c| in_flight >= c) {
                break;
            }
            let at = if closed { sim.now } else { times[next] };
            if at > sim.now {
                break;
            }
            sim.reqs[next].arrival = at;
            in_transit.push_back((at + overhead, next));
            next += 1;
            in_flight += 1;
        }
        // Send times only grow and the overhead is one constant, so the
        // queue is in order of when the scheduler sees them. With a receive
        // interval the scheduler takes them only at a receive point (an idle
        // scheduler polls at once).
        let idle = sim.waiting.is_empty() && sim.running.is_empty();
        if idle || sim.recv_counter >= recv_interval {
            while let Some(&(ready, idx)) = in_transit.front() {
                if ready > sim.now {
                    break;
                }
                in_transit.pop_front();
                sim.reqs[idx].state = State::Waiting;
                sim.waiting.push_back(idx);
            }
            // A poll resets the skipper (an idle replica polls whatever the counter).
            sim.recv_counter = 0;
        }
        if sim.waiting.is_empty() && sim.running.is_empty() {
            if let Some(&(ready, _)) = in_transit.front() {
                // Idle until the next request reaches the scheduler.
                sim.now = sim.now.max(ready);
                continue;
            }
            if next >= n {
                break;
            }
            // Idle until the next arrival.
            if !closed && cap.is_none_or(|c| in_flight < c) {
                sim.now = sim.now.max(times[next]);
                continue;
            }
            break;
        }
        if fast && sim.waiting.is_empty() && sim.prefilling.is_empty() && sim.n_dec > 0.0 {
            // The next event that could change the batch: a request reaching
            // the scheduler, or (open loop) the next arrival. A request that
            // is already there waits for the next receive point instead.
            let mut horizon = in_transit
                .front()
                .map_or(f64::INFINITY, |&(ready, _)| ready);
            let mut left = cfg.max_iterations.saturating_sub(sim.run.iterations);
            if recv_interval > 1 {
                // Stop at the next receive point, where the counter resets
                // (a request reaching the socket after it waits for the one
                // after); a request already there waits for that point.
                left = left.min(recv_interval.saturating_sub(sim.recv_counter).max(1));
                if horizon <= sim.now {
                    horizon = f64::INFINITY;
                }
            }
            if !closed && next < n && cap.is_none_or(|c| in_flight < c) {
                horizon = horizon.min(times[next]);
            }
            let steps_before = sim.dk;
            if sim.fast_decode(horizon, left, &mut cost) {
                sim.recv_counter += sim.dk - steps_before;
                continue;
            }
        }
        let comp = sim.form_batch();
        if comp.is_empty() {
            // Nothing schedulable: free room by preemption, or the head request can never fit.
            if !sim.running.is_empty() && sim.preempt_latest() {
                continue;
            }
            let idx = *sim.waiting.front().expect("waiting is non-empty");
            let r = &sim.reqs[idx];
            let needs = match cfg.sched.kv_admission {
                KvAdmission::ReserveFullOutput => r.spec.prompt + r.spec.output,
                _ => r.to_compute,
            };
            return Err(ReplicaError::DoesNotFit {
                needs_tokens: needs,
                pool_tokens: cfg.kv_capacity_tokens,
            });
        }
        if sim.run.iterations >= cfg.max_iterations {
            return Err(ReplicaError::TooLong {
                iterations: cfg.max_iterations,
            });
        }
        // Fast-forwarded runs advance the count by many at once: check once
        // every DEADLINE_CHECK_ITERATIONS, whatever the stride.
        if sim.run.iterations >= next_deadline_check {
            next_deadline_check = sim.run.iterations + DEADLINE_CHECK_ITERATIONS;
            if crate::deadline::passed() {
                return Err(ReplicaError::PastDeadline);
            }
        }
        let c = cost(&comp);
        let dt = c.seconds;
        let used = sim.used_kv();
        sim.run.peak_kv_tokens = sim.run.peak_kv_tokens.max(used);
        sim.run.running_seconds += sim.running_count() * dt;
        sim.run.busy_seconds += dt;
        sim.run.bound_seconds[bound_index(c.bound)] += dt;
        sim.run.iterations += 1;
        if comp.prefill_tokens > 0.0 {
            sim.run.prefill_iterations += 1;
        }
        sim.now += dt;
        // SGLang's skipper weighs a decode forward 1 and any other 1000.
        sim.recv_counter += if comp.prefill_tokens > 0.0 {
            RECV_WEIGHT_NOT_DECODE
        } else {
            1
        };
        sim.finish_iteration(dt, comp.decode_sequences, &mut |_| freed += 1);
    }
    sim.run.end_seconds = sim.now;
    Ok(sim.run)
}
