//! The web edge (`kvplan serve`): an axum router that serves the calculator
//! page (web/, embedded in the binary) and a JSON API over the same core the
//! CLI uses. It holds no formulas: handlers translate JSON to an
//! `EstimateRequest`, call the core in `spawn_blocking`, and serialise the
//! core's `Report` back — so the page and `kvplan estimate --format json`
//! always agree.
//!
//! Hardening lives here too: a body-size limit, a per-request timeout that
//! also stops the computation (a deadline the plan search checks), an
//! in-flight cap weighted by each request's estimated cost (with half the
//! capacity kept for cheap requests), up-front refusal of requests that
//! would cost more than the timeout allows, a header read timeout and a
//! connection cap, a panic catch at the request boundary, JSON errors
//! naming the field at fault, and security headers (strict CSP, nosniff) on
//! every response. README "Server limits" lists the defaults.

mod api;
mod assets;
mod error;
mod hub;

pub use error::ApiError;
pub use hub::HubOptions;

use crate::error::Result;
use crate::spec::Catalog;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;

/// The protective limits of a server; tests shrink them to reach each path.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, bytes (larger: 413).
    pub body_bytes: usize,
    /// Longest time one request may take, queueing included (longer: 503).
    pub timeout: Duration,
    /// Computation slots (each `COST_UNITS_PER_SLOT` cost units); the work is
    /// CPU-bound, so more than a few per core only slows each one down. At
    /// most half of them run costly requests.
    pub max_in_flight: usize,
    /// Requests allowed to wait for a computation slot (more: 503 at once),
    /// so a flood cannot pile up unbounded work.
    pub max_queued: usize,
    /// Largest estimated cost of one request, in cost units (one unit ≈ one
    /// estimate of a model of up to 64 layers); costlier requests are
    /// refused up front (422) instead of running into the timeout.
    pub max_request_cost: u64,
    /// Longest wait for a request's headers (from the connection's start or
    /// the previous response); slower clients are disconnected.
    pub header_timeout: Duration,
    /// Open connections at once; more are closed at accept.
    pub max_connections: usize,
}

/// Cost units one computation slot stands for: cheap requests (a single
/// estimate) take 1..=this, costly ones (plans, sweeps, large models) more.
pub const COST_UNITS_PER_SLOT: u64 = 16;

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            body_bytes: 256 * 1024,
            timeout: Duration::from_secs(10),
            max_in_flight: cores * 2,
            max_queued: 512,
            max_request_cost: 200_000,
            header_timeout: Duration::from_secs(5),
            max_connections: 1024,
        }
    }
}

/// What every handler shares: the parsed catalogue (parsed once at start),
/// pre-rendered listings and the in-flight counter.
#[derive(Debug)]
pub(crate) struct AppState {
    catalog: Catalog,
    limits: Limits,
    /// Cost units in flight: `max_in_flight × COST_UNITS_PER_SLOT` permits.
    slots: Arc<Semaphore>,
    /// Half of `slots`: what costly requests may hold together, so cheap
    /// ones always find capacity while a burst of costly ones runs.
    heavy: Arc<Semaphore>,
    /// Requests waiting for a permit now.
    queued: AtomicUsize,
    listings: api::Listings,
    /// `hf:` models through the Hub, when `kvplan serve --allow-hub` asked for it.
    hub: Option<hub::HubEdge>,
}

/// Shared state handle.
type Shared = Arc<AppState>;

/// The API without HTTP: decode a request body for a route and run it on
/// the calling thread (no in-flight cap; the per-request cost cap and the
/// deadline of `limits.timeout` apply, as in the server). Exists for the fuzz targets (fuzz/) and the hostile-input
/// tests, which drive the decoder and the core end to end.
#[derive(Debug)]
pub struct SyncApi(Shared);

impl SyncApi {
    /// The API with the built-in catalogue and `limits`.
    pub fn new(limits: Limits) -> Result<Self> {
        let catalog = Catalog::builtin()?;
        let listings = api::Listings::new(&catalog)?;
        Ok(SyncApi(Arc::new(AppState {
            catalog,
            limits: limits.clone(),
            slots: Arc::new(Semaphore::new(1)),
            heavy: Arc::new(Semaphore::new(1)),
            queued: AtomicUsize::new(0),
            listings,
            hub: None,
        })))
    }

    /// `POST route` with `body`: the JSON text of a 200, or the error.
    pub fn call(&self, route: &str, body: &[u8]) -> std::result::Result<String, ApiError> {
        let deadline = std::time::Instant::now() + self.0.limits.timeout;
        crate::deadline::with_deadline(deadline, || api::call_sync(&self.0, route, body))
    }
}

/// The router with default limits, for `kvplan serve` and in-process tests.
pub fn router() -> Result<Router> {
    router_with(Limits::default())
}

/// The router with the given limits (tests use tiny ones to trigger 413/503).
pub fn router_with(limits: Limits) -> Result<Router> {
    router_with_hub(limits, None)
}

/// The router with the given limits and, when `hub` is given, `hf:` model
/// ids answered through the Hugging Face Hub (off unless asked for: a
/// server that downloads on behalf of anyone who can reach it is a choice).
pub fn router_with_hub(limits: Limits, hub: Option<HubOptions>) -> Result<Router> {
    let catalog = Catalog::builtin()?;
    let listings = api::Listings::new(&catalog)?;
    let state: Shared = Arc::new(AppState {
        catalog,
        limits: limits.clone(),
        slots: Arc::new(Semaphore::new(total_units(&limits) as usize)),
        heavy: Arc::new(Semaphore::new((total_units(&limits) / 2).max(1) as usize)),
        queued: AtomicUsize::new(0),
        listings,
        hub: hub.map(hub::HubEdge::new),
    });
    let mut r = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/models", get(api::models))
        .route("/api/gpus", get(api::gpus))
        .route("/api/engines", get(api::engines))
        .route("/api/formats", get(api::formats))
        .route("/api/profiles", get(api::profiles))
        .route("/api/estimate", post(api::estimate))
        .route("/api/plan", post(api::plan))
        .route("/api/sweep", post(api::sweep))
        .route("/api/serving-sweep", post(api::serving_sweep))
        .route("/api/config", post(api::config));
    // Static files: one explicit route per embedded file, so no request path
    // can name anything else (no traversal to handle at all).
    for a in assets::ASSETS {
        r = r.route(
            a.path,
            get(move |h: HeaderMap| async move { assets::respond(a, &h) }),
        );
    }
    Ok(r.fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        // gzip or brotli when the client offers it (the page's JSON and
        // scripts shrink 5-10×); outermost, so error answers shrink too.
        .layer(CompressionLayer::new())
        .with_state(state))
}

/// All cost units of the in-flight cap.
fn total_units(l: &Limits) -> u64 {
    (l.max_in_flight as u64).saturating_mul(COST_UNITS_PER_SLOT)
}

/// Serve `router` on an already bound listener until the process ends or
/// Ctrl-C, with the default connection limits; tests bind 127.0.0.1:0 and
/// pass the listener in.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    serve_with(listener, router, &Limits::default()).await
}

/// Serve with `limits`' connection settings: HTTP/1.1 with a header read
/// timeout (a client that sends only a request line is dropped after
/// `header_timeout`) and at most `max_connections` open connections.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &Limits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let conns = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let header_timeout = limits.header_timeout;
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of file descriptors and the like: wait, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let svc = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let _ = b.serve_connection(TokioIo::new(stream), svc).await;
            drop(permit);
        });
    }
}

/// 404 for every path that is not a route, as JSON.
async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not found").into_response()
}

/// Middleware on every request: the timeout and the panic catch, then the
/// security headers.
async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let run = CatchUnwind(Box::pin(next.run(req)));
    let mut resp = match tokio::time::timeout(st.limits.timeout, run).await {
        Ok(Ok(r)) => r,
        Ok(Err(())) => internal_error().into_response(),
        Err(_) => timed_out(&st.limits).into_response(),
    };
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Everything comes from this origin; no inline script or style, no
    // framing, no plugins. SVG charts are drawn with DOM calls (allowed).
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

/// The 503 of a request past its time limit.
fn timed_out(l: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the request took longer than {} ms; try a smaller search",
            l.timeout.as_millis()
        ),
    )
}

/// The 500 of a panic caught at the request boundary (a bug in kvplan).
fn internal_error() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error while computing this request (a bug: please report the inputs)",
    )
}

/// A future that turns a panic while polling into `Err(())`: the last line
/// of defence at the request boundary (the core returns errors; a panic is
/// a bug, and must cost one 500, not the connection or the process).
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, ()>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

/// Check a request's estimated cost (cost units) against the up-front cap.
pub(crate) fn check_cost(st: &AppState, cost: u64) -> std::result::Result<(), ApiError> {
    if cost > st.limits.max_request_cost {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "this request would cost about {} units of work, over this server's limit of {} per request; narrow it (pin tp/pp, fix weights and kv_dtype, fewer GPUs or contexts) or run `kvplan` locally",
                crate::units::thousands(cost),
                crate::units::thousands(st.limits.max_request_cost)
            ),
        ));
    }
    Ok(())
}

/// Run CPU work of estimated `cost` units off the async threads once the
/// in-flight cap has room for it (waiting in a bounded queue; the request
/// timeout bounds the wait). Cheap work takes its cost in units (a small
/// model's estimate 1, a 1,000-layer one 16); costly work (more than one
/// slot's units) takes a whole slot, and only from the costly half, so a
/// burst of plans never holds every slot while small estimates wait. The
/// work runs with the request's deadline set, so a search past it stops and
/// frees its slot; a panic in the core becomes a 500 JSON error.
async fn blocking<T, F>(st: &Shared, cost: u64, f: F) -> std::result::Result<T, ApiError>
where
    F: FnOnce(&AppState) -> std::result::Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let deadline = std::time::Instant::now() + st.limits.timeout;
    check_cost(st, cost)?;
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server busy: too many computations queued; retry shortly",
        )
    };
    let total = total_units(&st.limits);
    let heavy = cost > COST_UNITS_PER_SLOT;
    let cap = if heavy { (total / 2).max(1) } else { total };
    let units = cost.min(COST_UNITS_PER_SLOT).min(cap).max(1) as u32;
    let acquire = |sem: &Arc<Semaphore>| sem.clone().try_acquire_many_owned(units);
    let heavy_permit = if heavy {
        Some(match acquire(&st.heavy) {
            Ok(p) => p,
            Err(_) => {
                let _waiting = Queued::enter(st).ok_or_else(busy)?;
                st.heavy
                    .clone()
                    .acquire_many_owned(units)
                    .await
                    .map_err(|_| busy())?
            }
        })
    } else {
        None
    };
    let permit = match acquire(&st.slots) {
        Ok(p) => p,
        Err(_) => {
            let _waiting = Queued::enter(st).ok_or_else(busy)?;
            st.slots
                .clone()
                .acquire_many_owned(units)
                .await
                .map_err(|_| busy())?
        }
    };
    let st = st.clone();
    // The permits move into the task: they are released when the work ends,
    // not when a timed-out request is dropped, so they count real CPU work;
    // the deadline makes that end come soon after the timeout.
    tokio::task::spawn_blocking(move || {
        let r = crate::deadline::with_deadline(deadline, || f(&st));
        drop(permit);
        drop(heavy_permit);
        // Work stopped by the deadline answers as the timeout does (the
        // guard's timer may not have fired yet on a busy machine).
        match r {
            Err(_) if std::time::Instant::now() >= deadline => Err(timed_out(&st.limits)),
            r => r,
        }
    })
    .await
    .unwrap_or_else(|_| Err(internal_error()))
}

/// One place in the wait queue; leaves it when dropped (also on timeout).
struct Queued<'a>(&'a AppState);

impl<'a> Queued<'a> {
    /// Join the queue, or None when it is full.
    fn enter(st: &'a AppState) -> Option<Self> {
        let n = st.queued.fetch_add(1, Ordering::SeqCst);
        let q = Queued(st);
        (n < st.limits.max_queued).then_some(q)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::SeqCst);
    }
}
