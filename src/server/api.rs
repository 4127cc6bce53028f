//! The JSON API's handlers. Each one parses the body into the core's
//! `EstimateRequest` (plus the few fields only the API has), runs the same
//! calls as the CLI subcommand of the same name, and returns its JSON.

use super::{blocking, ApiError, AppState, Shared};
use crate::calibration::{
    builtin_profile, builtin_profile_names, efficiency_from_profile, Calibration,
};
use crate::error::Error;
use crate::memory::weights::param_counts;
use crate::ops::{self, Env, EstimatePrepared, PlanPrepared, PlanRequest};
use crate::perf::Efficiency;
use crate::plan::Objective;
use crate::request::{Count, EstimateRequest, Tokens};
use crate::scenario::Scenario;
use crate::serving::{ServingRequest, ServingWorkload};
use crate::spec::dtype::{KvDtype, WeightFormat};
use crate::spec::model::ModelSpec;
use crate::spec::{model_from_file_text, Catalog};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The name a pasted config.json is resolved under; it looks like a path,
/// so the core asks our loader for it instead of the catalogue.
const CONFIG_NAME: &str = "config.json";

/// Largest parallel degree accepted before the core sees it (the core's own
/// arithmetic multiplies degrees; this keeps every product far from u64's end).
const MAX_DEGREE: u64 = 65_536;

/// Most tokens in flight (ctx × batch) accepted: 10^11 is orders of
/// magnitude beyond any cluster's memory, and keeps byte counts
/// (≤ ~10 MB per token) well inside u64.
const MAX_TOKENS_IN_FLIGHT: u64 = 100_000_000_000;

/// Most points in one sweep, and most candidates one plan returns.
const MAX_POINTS: usize = 64;
const MAX_TOP: u64 = 1000;

/// A request body: a JSON object.
type Body = Map<String, Value>;

/// The catalogue listings, serialised once at start (they never change).
#[derive(Debug)]
pub(crate) struct Listings {
    models: String,
    gpus: String,
    engines: String,
    formats: String,
    profiles: String,
}

impl Listings {
    /// Render the listings of `c`: the same JSON as `kvplan models|gpus|engines
    /// --format json`, models with their parameter counts added for the pickers.
    pub(crate) fn new(c: &Catalog) -> crate::Result<Self> {
        let models: Vec<Value> = c
            .models
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
                let p = param_counts(m);
                if let Value::Object(o) = &mut v {
                    o.insert("params_total".into(), p.total.into());
                    o.insert("params_active".into(), p.active.into());
                    o.insert("attention_label".into(), m.attention_label().into());
                }
                v
            })
            .collect();
        let formats = json!({
            "weights": WeightFormat::ALL.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "kv_dtypes": KvDtype::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        });
        let profiles = builtin_profile_names()
            .iter()
            .filter_map(|name| builtin_profile(name).map(|(path, body)| (name, path, body)))
            .map(|(name, path, body)| {
                let c: Calibration = crate::yaml::from_str(body, path)?;
                Ok(json!({"name": name, "gpu": c.gpu, "device_name": c.device_name, "date": c.date}))
            })
            .collect::<crate::Result<Vec<Value>>>()?;
        Ok(Listings {
            profiles: text(&profiles)?,
            models: text(&models)?,
            gpus: text(&c.gpus)?,
            engines: text(&c.engines)?,
            formats: text(&formats)?,
        })
    }
}

/// JSON text of a listing (a failure would be a bug in a spec type).
fn text<T: serde::Serialize>(v: &T) -> crate::Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Environment(e.to_string()))
}

/// A 200 with a JSON body.
fn json_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Turn a handler's result into a response.
fn respond(r: Result<String, ApiError>) -> Response {
    match r {
        Ok(body) => json_ok(body),
        Err(e) => e.into_response(),
    }
}

/// `GET /healthz`: liveness for load balancers and tests.
pub(crate) async fn healthz() -> Response {
    json_ok(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}).to_string())
}

/// `GET /api/models`.
pub(crate) async fn models(State(st): State<Shared>) -> Response {
    json_ok(st.listings.models.clone())
}

/// `GET /api/gpus`.
pub(crate) async fn gpus(State(st): State<Shared>) -> Response {
    json_ok(st.listings.gpus.clone())
}

/// `GET /api/engines`.
pub(crate) async fn engines(State(st): State<Shared>) -> Response {
    json_ok(st.listings.engines.clone())
}

/// `GET /api/formats`: the weight formats and KV dtypes, for the selects.
pub(crate) async fn formats(State(st): State<Shared>) -> Response {
    json_ok(st.listings.formats.clone())
}

/// `GET /api/profiles`: the built-in calibration profiles (`profile` field).
pub(crate) async fn profiles(State(st): State<Shared>) -> Response {
    json_ok(st.listings.profiles.clone())
}

/// A built-in profile's name: its file stem ("profiles/gpus/H200.yaml" → "H200").
/// Efficiencies as `--profile NAME` gives them: the defaults, or a built-in
/// calibration profile measured by `kvplan probe` (never a path: the server
/// reads no files).
fn efficiency(profile: Option<&str>, s: &Scenario) -> crate::Result<Efficiency> {
    let Some(p) = profile.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(Efficiency::default());
    };
    let Some((origin, text)) = builtin_profile(p) else {
        return Err(Error::input(
            "profile",
            format!(
                "unknown calibration profile '{p}'; built-in: {} (the server reads no files)",
                builtin_profile_names().join(", ")
            ),
        ));
    };
    efficiency_from_profile(text, origin, s)
}

/// Read a POST body as a JSON object: 415 unless it is declared JSON (which
/// also makes browsers preflight cross-site posts), 413 when too large, 400
/// with serde's line/column when malformed.
fn body_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let bytes = body.map_err(|rej| {
        let status = rej.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "request body too large (limit 256 KiB by default); a config.json is a few KiB",
            )
        } else {
            ApiError::new(
                status,
                format!("cannot read the request body: {}", rej.body_text()),
            )
        }
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            // serde's message ends with "at line L column C".
            format!("invalid JSON: {e}"),
        )
    })?;
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object like {\"model\": \"llama-3.1-8b\", \"gpus\": \"H100\"}",
        )),
    }
}

/// Remove an API-only field from the body and parse it; null counts as absent.
fn take<T: DeserializeOwned>(
    obj: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| ApiError::bad(key, e.to_string())),
    }
}

/// The rest of the body as an `EstimateRequest` (unknown fields refused),
/// with the field at fault named in any error.
fn estimate_request(
    mut obj: Map<String, Value>,
    has_config: bool,
) -> Result<EstimateRequest, ApiError> {
    if has_config {
        match obj.get("model") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().is_empty() => {}
            Some(_) => {
                return Err(ApiError::bad(
                    "model",
                    "give either a built-in `model` or a pasted `config`, not both",
                ))
            }
        }
        obj.insert("model".into(), CONFIG_NAME.into());
    }
    EstimateRequest::deserialize(Value::Object(obj.clone())).map_err(|e| {
        let msg = e.to_string();
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| msg.strip_prefix(p))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        // Otherwise find the culprit by parsing each field on its own.
        let field = named.or_else(|| {
            obj.iter().find_map(|(k, v)| {
                let mut probe = Map::new();
                probe.insert("model".into(), "m".into());
                probe.insert("gpus".into(), "g".into());
                probe.insert(k.clone(), v.clone());
                EstimateRequest::deserialize(Value::Object(probe))
                    .is_err()
                    .then(|| k.clone())
            })
        });
        match field {
            Some(f) => ApiError::bad(&f, msg),
            None => ApiError::new(StatusCode::BAD_REQUEST, msg),
        }
    })
}

/// Parse a pasted config.json (a JSON object) as the CLI parses a file.
fn parse_config(config: &Value) -> Result<ModelSpec, ApiError> {
    if !config.is_object() {
        return Err(ApiError::bad(
            "config",
            "must be the JSON object of a Hugging Face config.json",
        ));
    }
    Ok(model_from_file_text(CONFIG_NAME, &config.to_string())?)
}

/// Input ranges the core's arithmetic relies on, checked before it runs.
fn check_ranges(req: &EstimateRequest) -> Result<(), ApiError> {
    for (f, v) in [
        ("tp", req.tp),
        ("pp", req.pp),
        ("ep", req.ep),
        ("dp", req.dp),
    ] {
        if let Some(v) = v {
            if v == 0 || v > MAX_DEGREE {
                return Err(ApiError::bad(
                    f,
                    format!("{v} must be between 1 and 65,536"),
                ));
            }
        }
    }
    Ok(())
}

/// `ctx × batch` bounded so no byte count can overflow.
fn check_tokens_in_flight(context: u64, batch: u64) -> crate::Result<()> {
    match context.checked_mul(batch) {
        Some(t) if t <= MAX_TOKENS_IN_FLIGHT => Ok(()),
        _ => Err(Error::input(
            "batch",
            format!("ctx × batch = {context} × {batch} tokens in flight is beyond any deployment (limit 10^11)"),
        )),
    }
}

/// The server's models beyond the catalogue: the pasted config, and `hf:`
/// models already fetched through the server's Hub edge (it never reads paths).
struct ServerModels<'a> {
    catalog: &'a Catalog,
    config: Option<&'a ModelSpec>,
    from_hub: Option<&'a ModelSpec>,
}

impl crate::request::ModelSource for ServerModels<'_> {
    fn load(&self, name: &str) -> crate::Result<ModelSpec> {
        match (self.config, self.from_hub) {
            (Some(m), _) if name == CONFIG_NAME => Ok(m.clone()),
            (_, Some(m)) if name.trim().starts_with("hf:") => Ok(m.clone()),
            _ => Err(match self.catalog.model(name).err() {
                Some(e) => e.with_hint(self.alternatives()),
                None => Error::input(
                    "model",
                    "the server does not read files; send the config.json in the `config` field",
                ),
            }),
        }
    }
    fn alternatives(&self) -> &str {
        "For a model that is not built in, send its config.json in the `config` field."
    }
}

/// Run `op` in the server's operation environment: the only model "file"
/// is the pasted config (the server never reads paths, and fetches `hf:`
/// models only through its Hub edge, `--allow-hub`), only built-in
/// calibration profiles, and the bounds on the work of one request
/// (parallel degrees, tokens in flight).
fn with_env<T>(
    app: &AppState,
    req: &EstimateRequest,
    config: Option<&ModelSpec>,
    profile: Option<&str>,
    op: impl FnOnce(&Env<'_>) -> crate::Result<T>,
) -> Result<T, ApiError> {
    check_ranges(req)?;
    let from_hub = match (req.model.trim().strip_prefix("hf:"), &app.hub) {
        (Some(id), Some(edge)) if config.is_none() => Some(edge.load(id)?),
        (Some(_), None) if config.is_none() => {
            return Err(ApiError::bad(
                "model",
                "this server does not fetch models from the Hugging Face Hub: start it with `kvplan serve --allow-hub`, or send the model's config.json in the `config` field (on the page: paste it)",
            ))
        }
        _ => None,
    };
    let models = ServerModels {
        catalog: &app.catalog,
        config,
        from_hub: from_hub.as_ref(),
    };
    let eff = |s: &Scenario| efficiency(profile, s);
    let admit = |s: &Scenario| check_tokens_in_flight(s.workload.context, s.workload.batch);
    let env = Env {
        catalog: &app.catalog,
        models: &models,
        efficiency: &eff,
        admit: &admit,
    };
    Ok(op(&env)?)
}

/// Body, API-only `config`, and the request: the common start of the POSTs.
fn parse_common(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    api_fields: &mut dyn FnMut(&mut Body) -> Result<(), ApiError>,
) -> Result<Common, ApiError> {
    let mut obj = body_object(headers, body)?;
    let config: Option<Value> = take(&mut obj, "config")?;
    let profile: Option<String> = take(&mut obj, "profile")?;
    api_fields(&mut obj)?;
    let req = estimate_request(obj, config.is_some())?;
    Ok(Common {
        req,
        config,
        profile,
    })
}

/// What every POST shares: the core's request and the two API-only inputs
/// that stand for CLI things the server cannot do (read a config file,
/// read a profile file).
struct Common {
    /// The fields the CLI's flags also give.
    req: EstimateRequest,
    /// A pasted HF config.json (instead of a model file path).
    config: Option<Value>,
    /// A built-in calibration profile name (`--profile`).
    profile: Option<String>,
}

/// Single-scenario estimates (of a model of up to 64 layers, ~20 µs each)
/// per cost unit: one unit is about 1 ms of one core.
const ESTIMATES_PER_UNIT: u64 = 64;

/// Cost units of `estimates` estimates of a model of `layers` layers
/// (MTP modules included): the core's work is linear in the layers.
fn units_of(estimates: u64, layers: u64) -> u64 {
    estimates
        .saturating_mul(layers.div_ceil(64).max(1))
        .div_ceil(ESTIMATES_PER_UNIT)
        .max(1)
}

/// Serving-simulator iterations per cost unit. One iteration costs about
/// 0.2–0.3 µs of one core whatever the batch (measured on the release
/// build: 2,000,000 iterations, llama-3.1-8b on one H100 and deepseek-v3 on
/// 8×H200 at concurrency 1, in 0.39 s and 0.56 s of user time); 2,000 per
/// unit (0.5 µs each) leaves margin for slower cores.
const ITERATIONS_PER_UNIT: u64 = 2_000;

/// Most iterations one simulated replica load runs (the simulator's own
/// `max_iterations`; past it the simulation is an input error).
const MAX_SIMULATED_ITERATIONS: u64 = 20_000_000;

/// About how many iterations the serving simulator runs for `w` on `s`:
/// per simulated replica load, every request's output tokens spread over
/// the batch it runs in (the clients per replica, capped by the engine's
/// sequence limit and by how many of the longest requests the KV pool
/// holds), plus its prompt's prefill chunks. An open loop is taken at its
/// in-flight cap (the engine's sequence limit when none is given); lower
/// rates run smaller batches and more iterations than this, and the
/// simulator stops at the request's deadline (`crate::deadline`) whatever
/// this says.
fn serving_iterations(s: &Scenario, w: &ServingWorkload) -> u64 {
    use crate::serving::Arrival;
    let d = &s.deployment;
    let dp = d.dp.max(1);
    let pool = crate::memory::plan(s).kv_cache_tokens / dp;
    let fit = (pool / w.max_sequence_tokens().max(1)).max(1);
    let (clients, loads) = match w.arrival {
        // Clients split over the replicas: at most two distinct loads.
        Arrival::Concurrency(c) => (c.div_ceil(dp), if c % dp == 0 { 1 } else { 2 }),
        Arrival::Rate {
            max_concurrency, ..
        } => (
            max_concurrency.map_or(d.engine.max_num_seqs, |c| c.div_ceil(dp)),
            1,
        ),
    };
    let batch = clients.min(d.engine.max_num_seqs).min(fit).max(1);
    let requests = w.requests().div_ceil(dp);
    let chunks = w.isl.div_ceil(d.engine.max_num_batched_tokens.max(1));
    let per_load = requests
        .saturating_mul(w.osl)
        .div_ceil(batch)
        .saturating_add(requests.saturating_mul(chunks))
        .min(MAX_SIMULATED_ITERATIONS);
    per_load.saturating_mul(loads)
}

/// Cost units of one serving simulation of `w` on `s`.
fn serving_units(s: &Scenario, w: &ServingWorkload) -> u64 {
    serving_iterations(s, w)
        .div_ceil(ITERATIONS_PER_UNIT)
        .max(1)
}

/// Layers of the request's model, read from the built-in spec or the pasted
/// config's own numbers before it is parsed (clamped to the bounds: larger
/// numbers are refused by the parse itself, in one unit of work).
fn request_layers(app: &AppState, c: &Common) -> u64 {
    match &c.config {
        Some(cfg) => {
            let lm = cfg
                .get("text_config")
                .filter(|v| v.is_object())
                .unwrap_or(cfg);
            let n = |k: &str| lm.get(k).and_then(Value::as_u64).unwrap_or(0);
            let layers = n("num_hidden_layers")
                .max(n("n_layer"))
                .max(n("num_layers"));
            let mtp = if c.req.mtp == Some(true) {
                n("num_nextn_predict_layers")
            } else {
                0
            };
            layers.min(*crate::spec::bounds::LAYERS.end())
                + mtp.min(*crate::spec::bounds::MTP_LAYERS.end())
        }
        None => app
            .catalog
            .model(&c.req.model)
            .map_or(64, |m| m.num_layers + m.mtp_layers),
    }
}

/// Layers the core walks for scenario `s` (MTP modules when loaded).
fn scenario_layers(s: &Scenario) -> u64 {
    s.model.num_layers
        + if s.deployment.mtp {
            s.model.mtp_layers
        } else {
            0
        }
}

/// `POST /api/estimate`: the same Report JSON as `kvplan estimate --format json`.
pub(crate) async fn estimate(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let mut ef = EmitFields::default();
        let c = parse_common(&headers, body, &mut |obj| ef.take_from(obj))?;
        // Phase 1 (one unit): parse, resolve, and count the work; phase 2:
        // the estimate and its recommendation search, weighed by that count.
        let p = blocking(&st, 1, move |app| estimate_prepare(app, &c, &ef)).await?;
        let cost = estimate_units(&p);
        blocking(&st, cost, move |_| estimate_run(p)).await
    };
    respond(r.await)
}

/// Requests one API call may simulate (the CLI has no such limit).
const MAX_API_SERVING_REQUESTS: u64 = 20_000;

/// The serving workload of a body, within the API's bounds (the operation
/// defaults the context to the workload's longest request).
fn serving_workload(
    sv: Option<&ServingRequest>,
    req: &EstimateRequest,
) -> Result<Option<ServingWorkload>, ApiError> {
    let Some(sv) = sv else {
        return Ok(None);
    };
    let w = sv.workload(req.batch.unwrap_or(1));
    if w.requests() > MAX_API_SERVING_REQUESTS {
        return Err(ApiError::bad(
            "serving.num_requests",
            format!(
                "{} requests: the API simulates at most {MAX_API_SERVING_REQUESTS} (use the CLI for more)",
                w.requests()
            ),
        ));
    }
    Ok(Some(w))
}

/// The API's `emit`, `input_len` and `output_len` fields (the CLI's `--emit` flags).
#[derive(Debug, Default)]
struct EmitFields {
    emit: Option<String>,
    input_len: Option<u64>,
    output_len: Option<u64>,
    /// The `serving` workload (`/api/estimate`: the report's serving
    /// section; `/api/plan`: plan to the SLA).
    serving: Option<ServingRequest>,
    /// The `disagg` deployment (`/api/estimate`: prefill and decode pools).
    disagg: Option<crate::serving::disagg::DisaggRequest>,
}

impl EmitFields {
    fn take_from(&mut self, obj: &mut Body) -> Result<(), ApiError> {
        self.emit = take(obj, "emit")?;
        self.input_len = take(obj, "input_len")?;
        self.output_len = take(obj, "output_len")?;
        self.serving = take(obj, "serving")?;
        self.disagg = take(obj, "disagg")?;
        Ok(())
    }

    fn target(&self) -> Result<Option<crate::emit::Target>, ApiError> {
        Ok(self
            .emit
            .as_deref()
            .map(crate::emit::Target::parse)
            .transpose()?)
    }

    /// What the operation does beyond the report (the engine follows `emit`
    /// there, as with `--emit`).
    fn extras(&self, req: &EstimateRequest) -> Result<ops::Extras, ApiError> {
        Ok(ops::Extras {
            emit: self.target()?.map(|target| ops::EmitRequest {
                target,
                options: crate::emit::EmitOptions {
                    input_len: self.input_len,
                    output_len: self.output_len,
                    ..Default::default()
                },
            }),
            deployment: None,
            serving: serving_workload(self.serving.as_ref(), req)?,
            disagg: self.disagg.clone(),
        })
    }
}

/// The checks of `/api/estimate`: parse, resolve, admit, efficiencies
/// (the first half of `ops::estimate_with`).
fn estimate_prepare(
    app: &AppState,
    c: &Common,
    ef: &EmitFields,
) -> Result<EstimatePrepared, ApiError> {
    let spec = c.config.as_ref().map(parse_config).transpose()?;
    let profile = c.profile.as_deref();
    let extras = ef.extras(&c.req)?;
    with_env(app, &c.req, spec.as_ref(), profile, |env| {
        ops::estimate_prepare(env, &c.req, &extras)
    })
}

/// Cost units of a prepared estimate: the estimate and its
/// recommendations, and the serving simulation when one is asked for.
fn estimate_units(p: &EstimatePrepared) -> u64 {
    let s = &p.resolved.scenario;
    let sim = p.serving.as_ref().map_or(0, |w| serving_units(s, w));
    units_of(p.search_cost(), scenario_layers(s)).saturating_add(sim)
}

/// The work of `/api/estimate` (what `kvplan estimate` does, minus printing).
fn estimate_run(p: EstimatePrepared) -> Result<String, ApiError> {
    to_json(&p.run()?.json()?)
}

/// JSON text, or a 500 if serialisation fails (it cannot for these types).
fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The API-only fields of `/api/plan` (the CLI's plan flags).
#[derive(Debug, Default)]
struct PlanFields {
    users: Option<u64>,
    max_tpot_ms: Option<f64>,
    max_ttft_ms: Option<f64>,
    objective: Option<Objective>,
    top: Option<u64>,
    gpu_prices: Vec<crate::plan::cost::Price>,
}

/// `POST /api/plan`: ranked candidates and the Pareto front, as `kvplan plan --format json`.
pub(crate) async fn plan(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let (c, pf, ef) = parse_plan(&headers, body)?;
        let top = pf.top.unwrap_or(10);
        // Phase 1 (one unit): check and resolve, and count the
        // configurations the search would evaluate.
        let p = blocking(&st, 1, move |app| plan_prepare(app, &c, &pf, &ef)).await?;
        // Phase 2: the search, weighed (or refused) by that count.
        let cost = plan_units(&p);
        blocking(&st, cost, move |_| plan_run(p, top)).await
    };
    respond(r.await)
}

/// The body of `/api/plan`: the common fields, the plan's and `emit`'s.
fn parse_plan(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Common, PlanFields, EmitFields), ApiError> {
    let mut pf = PlanFields::default();
    let mut ef = EmitFields::default();
    let c = parse_common(headers, body, &mut |obj| {
        pf.users = take::<Count>(obj, "users")?.map(|c| c.0);
        pf.max_tpot_ms = take(obj, "max_tpot_ms")?;
        pf.max_ttft_ms = take(obj, "max_ttft_ms")?;
        pf.objective = take(obj, "objective")?;
        pf.top = take::<Count>(obj, "top")?.map(|c| c.0);
        pf.gpu_prices = match obj.remove("gpu_price") {
            None | Some(Value::Null) => vec![],
            // "H100=2.49,H200=3.5", as the CLI's --gpu-price.
            Some(Value::String(t)) => crate::plan::cost::parse_prices(&t, "gpu_price")
                .map_err(|e| ApiError::bad("gpu_price", e.message().to_string()))?,
            // {"H100": 2.49}
            Some(Value::Object(m)) => {
                let text: Vec<String> = m
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", v.as_f64().map_or("?".into(), |x| x.to_string()))
                    })
                    .collect();
                crate::plan::cost::parse_prices(&text.join(","), "gpu_price")
                    .map_err(|e| ApiError::bad("gpu_price", e.message().to_string()))?
            }
            Some(_) => {
                return Err(ApiError::bad(
                    "gpu_price",
                    r#"give {"H100": 2.49} or "H100=2.49" (US dollars per GPU-hour)"#,
                ))
            }
        };
        ef.take_from(obj)
    })?;
    Ok((c, pf, ef))
}

/// The checks of `/api/plan`, step for step what `kvplan plan` does
/// before its search (the first half of `ops::plan_with`).
fn plan_prepare(
    app: &AppState,
    c: &Common,
    pf: &PlanFields,
    ef: &EmitFields,
) -> Result<PlanPrepared, ApiError> {
    let (req, config, profile) = (&c.req, c.config.as_ref(), c.profile.as_deref());
    let top = pf.top.unwrap_or(10);
    if top == 0 {
        return Err(ApiError::bad(
            "top",
            "must be at least 1 (the number of candidates to return)",
        ));
    }
    if top > MAX_TOP {
        return Err(ApiError::bad(
            "top",
            format!("{top} must be at most {MAX_TOP}"),
        ));
    }
    let spec = config.map(parse_config).transpose()?;
    let extras = ef.extras(&c.req)?;
    with_env(app, req, spec.as_ref(), profile, |env| {
        ops::plan_prepare(
            env,
            &PlanRequest {
                request: req.clone(),
                users: pf.users,
                max_tpot_ms: pf.max_tpot_ms,
                max_ttft_ms: pf.max_ttft_ms,
                objective: pf.objective,
                serving: extras.serving.clone(),
                percentile: ef.serving.as_ref().and_then(|x| x.percentile.clone()),
                gpu_prices: pf.gpu_prices.clone(),
            },
            &extras,
        )
    })
}

/// Serving simulations of one deployment in an SLA plan: three prefill
/// budgets × two concurrency caps, and for an open loop up to seven replica
/// counts each (1, 2, 4 … 64 copies until the rate is kept up with).
fn plan_simulations_per_layout(w: &ServingWorkload) -> u64 {
    match w.arrival {
        crate::serving::Arrival::Concurrency(_) => 6,
        crate::serving::Arrival::Rate { .. } => 6 * 7,
    }
}

/// Cost units of a prepared plan: two estimates per configuration, and
/// for an SLA plan the serving simulations of each (sized on the base
/// deployment).
fn plan_units(p: &PlanPrepared) -> u64 {
    let search = units_of(p.search_cost().saturating_mul(2), scenario_layers(&p.base));
    let sim = p.serving.as_ref().map_or(0, |(w, _)| {
        // The SLA plan searches the layouts at batch 1 (the simulator
        // gives the load), as `serving::plan::plan` does.
        let mut layouts = p.constraints.clone();
        layouts.batch = Some(1);
        crate::plan::search_cost(&p.base, &layouts, Objective::Throughput)
            .saturating_mul(plan_simulations_per_layout(w))
            .saturating_mul(serving_units(&p.base, w))
    });
    search.saturating_add(sim)
}

/// The search of `/api/plan`, `top` candidates in the answer.
fn plan_run(p: PlanPrepared, top: u64) -> Result<String, ApiError> {
    to_json(&p.run()?.json(top as usize))
}

/// `POST /api/sweep`: per-GPU memory at several contexts (the page's chart).
/// Body: the estimate fields plus optional `contexts` (at most 64); by
/// default powers of two from 1Ki to the model's maximum, and the request's ctx.
pub(crate) async fn sweep(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let (c, contexts) = parse_sweep(&headers, body)?;
        // One estimate per point (at most 64 given, ~31 by default).
        let points = contexts.as_ref().map_or(32, |v| v.len() as u64 + 1);
        let cost = units_of(points, request_layers(&st, &c));
        blocking(&st, cost, move |app| sweep_json(app, &c, contexts)).await
    };
    respond(r.await)
}

/// The body of `/api/sweep`: the common fields and the contexts.
fn parse_sweep(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Common, Option<Vec<u64>>), ApiError> {
    let mut contexts: Option<Vec<Tokens>> = None;
    let c = parse_common(headers, body, &mut |obj| {
        contexts = take(obj, "contexts")?;
        Ok(())
    })?;
    let contexts = contexts
        .map(|v| {
            if v.len() > MAX_POINTS {
                return Err(ApiError::bad(
                    "contexts",
                    format!("at most {MAX_POINTS} points"),
                ));
            }
            v.iter()
                .map(|t| t.resolve("contexts").map_err(ApiError::from))
                .collect::<Result<Vec<u64>, _>>()
        })
        .transpose()?;
    Ok((c, contexts))
}

/// The work of `/api/sweep`: the memory chart's series, nothing else changed.
fn sweep_json(app: &AppState, c: &Common, contexts: Option<Vec<u64>>) -> Result<String, ApiError> {
    let spec = c.config.as_ref().map(parse_config).transpose()?;
    let profile = c.profile.as_deref();
    let sweep = with_env(app, &c.req, spec.as_ref(), profile, |env| {
        ops::sweep(env, &c.req, contexts)
    })?;
    to_json(&sweep)
}

/// Most clients the serving sweep goes up to (powers of two: at most 14 points).
const MAX_SWEEP_CONCURRENCY: u64 = 8192;

/// Top of the serving sweep when the body gives neither `max_concurrency`
/// nor `serving.concurrency` (as `kvplan plot serving`).
const DEFAULT_SWEEP_CONCURRENCY: u64 = 256;

/// A parsed `/api/serving-sweep` body.
struct ServingSweepBody {
    common: Common,
    /// The workload (closed loop; the arrival is replaced at each point).
    workload: ServingWorkload,
    /// Top of the sweep.
    max_concurrency: u64,
    /// The statistic the chart draws beside the median.
    percentile: String,
}

/// `POST /api/serving-sweep`: the serving chart's data, the simulation at
/// concurrencies from the DP degree up to `max_concurrency` (powers of
/// two, and the top itself), as `kvplan plot serving` draws it. Body: the
/// estimate fields, `serving` (required; `request_rate` refused: the sweep
/// is a closed loop) and optional `max_concurrency` (default
/// `serving.concurrency`, else 256; at most 8192). Each point equals
/// `/api/estimate` with that `serving.concurrency`.
pub(crate) async fn serving_sweep(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let b = parse_serving_sweep(&headers, body)?;
        // Phase 1 (one unit): resolve and count the simulations' iterations.
        let (b, cost) = blocking(&st, 1, move |app| {
            let cost = serving_sweep_units(app, &b)?;
            Ok((b, cost))
        })
        .await?;
        blocking(&st, cost, move |app| serving_sweep_json(app, &b)).await
    };
    respond(r.await)
}

/// The body of `/api/serving-sweep`.
fn parse_serving_sweep(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ServingSweepBody, ApiError> {
    let mut serving: Option<ServingRequest> = None;
    let mut max: Option<u64> = None;
    let common = parse_common(headers, body, &mut |obj| {
        serving = take(obj, "serving")?;
        max = take::<Count>(obj, "max_concurrency")?.map(|c| c.0);
        Ok(())
    })?;
    let Some(sv) = serving else {
        return Err(ApiError::bad(
            "serving",
            r#"the serving sweep needs the workload: "serving": {"isl": 8000, "osl": 1000}"#,
        ));
    };
    if sv.request_rate.is_some() {
        return Err(ApiError::bad(
            "request_rate",
            "the serving sweep is over concurrency (closed loop); leave out request_rate",
        ));
    }
    let max_concurrency = max.or(sv.concurrency).unwrap_or(DEFAULT_SWEEP_CONCURRENCY);
    if max_concurrency == 0 || max_concurrency > MAX_SWEEP_CONCURRENCY {
        return Err(ApiError::bad(
            "max_concurrency",
            format!("{max_concurrency} must be between 1 and {MAX_SWEEP_CONCURRENCY} clients"),
        ));
    }
    let percentile = sv.percentile.clone().unwrap_or_else(|| "p90".into());
    if !["mean", "p50", "p90", "p99"].contains(&percentile.as_str()) {
        return Err(ApiError::bad(
            "percentile",
            format!("'{percentile}': use p50, p90, p99 or mean"),
        ));
    }
    let workload = serving_workload(Some(&sv), &common.req)?.expect("a workload was given");
    Ok(ServingSweepBody {
        common,
        workload,
        max_concurrency,
        percentile,
    })
}

/// The concurrencies of a sweep over `s`.
fn sweep_concurrencies(s: &Scenario, b: &ServingSweepBody) -> Vec<u64> {
    crate::report::series::concurrency_sweep(s.deployment.dp, b.max_concurrency)
}

/// Cost units of a serving sweep: its simulations, counted on the
/// resolved deployment (each point at most 20,000 requests, as /api/estimate).
fn serving_sweep_units(app: &AppState, b: &ServingSweepBody) -> Result<u64, ApiError> {
    let c = &b.common;
    let spec = c.config.as_ref().map(parse_config).transpose()?;
    let extras = ops::Extras {
        serving: Some(b.workload.clone()),
        ..Default::default()
    };
    let p = with_env(app, &c.req, spec.as_ref(), c.profile.as_deref(), |env| {
        ops::estimate_prepare(env, &c.req, &extras)
    })?;
    let s = &p.resolved.scenario;
    let mut units = 1u64;
    for conc in sweep_concurrencies(s, b) {
        let mut w = b.workload.clone();
        w.arrival = crate::serving::Arrival::Concurrency(conc);
        if w.requests() > MAX_API_SERVING_REQUESTS {
            return Err(ApiError::bad(
                "serving.num_requests",
                format!(
                    "{} requests: the API simulates at most {MAX_API_SERVING_REQUESTS} (use the CLI for more)",
                    w.requests()
                ),
            ));
        }
        units = units.saturating_add(serving_units(s, &w));
    }
    Ok(units)
}

/// The work of `/api/serving-sweep`.
fn serving_sweep_json(app: &AppState, b: &ServingSweepBody) -> Result<String, ApiError> {
    let c = &b.common;
    let spec = c.config.as_ref().map(parse_config).transpose()?;
    let sweep = with_env(app, &c.req, spec.as_ref(), c.profile.as_deref(), |env| {
        ops::serving_sweep(env, &c.req, &b.workload, b.max_concurrency, &b.percentile)
    })?;
    let points: Vec<Value> = sweep
        .points
        .iter()
        .map(|(conc, r)| json!({"concurrency": conc, "serving": r}))
        .collect();
    to_json(&json!({
        "title": sweep.figure.title,
        "subtitle": sweep.figure.subtitle,
        "percentile": b.percentile,
        "max_concurrency": b.max_concurrency,
        "points": points,
    }))
}

/// `POST /api/config`: parse a pasted HF config.json (the body itself) and
/// describe the model, so the page can confirm what it read.
pub(crate) async fn config(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let obj = body_object(&headers, body)?;
        blocking(&st, 1, move |_| {
            let m = parse_config(&Value::Object(obj))?;
            let p = param_counts(&m);
            to_json(&json!({
                "name": m.name,
                "display_name": m.display_name,
                "attention_label": m.attention_label(),
                "layers": m.num_layers,
                "max_context": m.max_context,
                "params_total": p.total,
                "params_active": p.active,
                "spec": m,
            }))
        })
        .await
    };
    respond(r.await)
}

/// The API's request handling without HTTP or the in-flight cap: decode
/// `body` as the handler of `route` does and run it on this thread. For the
/// fuzz targets and tests, which drive the decoder and the core end to end
/// millions of times; the server itself always goes through the handlers.
pub(crate) fn call_sync(app: &AppState, route: &str, body: &[u8]) -> Result<String, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = Ok(Bytes::copy_from_slice(body));
    match route {
        "/api/estimate" => {
            let mut ef = EmitFields::default();
            let c = parse_common(&headers, body, &mut |obj| ef.take_from(obj))?;
            let p = estimate_prepare(app, &c, &ef)?;
            super::check_cost(app, estimate_units(&p))?;
            estimate_run(p)
        }
        "/api/plan" => {
            let (c, pf, ef) = parse_plan(&headers, body)?;
            let p = plan_prepare(app, &c, &pf, &ef)?;
            super::check_cost(app, plan_units(&p))?;
            plan_run(p, pf.top.unwrap_or(10))
        }
        "/api/sweep" => {
            let (c, contexts) = parse_sweep(&headers, body)?;
            let points = contexts.as_ref().map_or(32, |v| v.len() as u64 + 1);
            super::check_cost(app, units_of(points, request_layers(app, &c)))?;
            sweep_json(app, &c, contexts)
        }
        "/api/serving-sweep" => {
            let b = parse_serving_sweep(&headers, body)?;
            super::check_cost(app, serving_sweep_units(app, &b)?)?;
            serving_sweep_json(app, &b)
        }
        "/api/config" => {
            let obj = body_object(&headers, body)?;
            let m = parse_config(&Value::Object(obj))?;
            to_json(&m)
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not found")),
    }
}
