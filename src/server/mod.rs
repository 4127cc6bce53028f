//! The web edge (`kvplan serve`): an axum router that serves the calculator
//! page (web/, embedded in the binary) and a JSON API over the same core the
//! CLI uses. It holds no formulas: handlers translate JSON to an
//! `EstimateRequest`, call the core in `spawn_blocking`, and serialise the
//! core's `Report` back — so the page and `kvplan estimate --format json`
//! always agree.
//!
//! Hardening lives here too: a body-size limit, a per-request timeout, a cap
//! on concurrent computations, JSON errors naming the field at fault, and
//! security headers (strict CSP, nosniff) on every response.

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
    /// Computations run at once; the work is CPU-bound, so more than a few
    /// per core only slows each one down.
    pub max_in_flight: usize,
    /// Requests allowed to wait for a computation slot (more: 503 at once),
    /// so a flood cannot pile up unbounded work.
    pub max_queued: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            body_bytes: 256 * 1024,
            timeout: Duration::from_secs(10),
            max_in_flight: cores * 2,
            max_queued: 512,
        }
    }
}

/// What every handler shares: the parsed catalogue (parsed once at start),
/// pre-rendered listings and the in-flight counter.
#[derive(Debug)]
pub(crate) struct AppState {
    catalog: Catalog,
    limits: Limits,
    /// One permit per computation allowed to run.
    slots: Arc<Semaphore>,
    /// Requests waiting for a permit now.
    queued: AtomicUsize,
    listings: api::Listings,
    /// `hf:` models through the Hub, when `kvplan serve --allow-hub` asked for it.
    hub: Option<hub::HubEdge>,
}

/// Shared state handle.
type Shared = Arc<AppState>;

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
        slots: Arc::new(Semaphore::new(limits.max_in_flight)),
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

/// Serve `router` on an already bound listener until the process ends or
/// Ctrl-C; tests bind 127.0.0.1:0 and pass the listener in.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// 404 for every path that is not a route, as JSON.
async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not found").into_response()
}

/// Middleware on every request: the timeout, then the security headers.
async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let mut resp = match tokio::time::timeout(st.limits.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {} ms; try a smaller search",
                st.limits.timeout.as_millis()
            ),
        )
        .into_response(),
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

/// Run CPU work off the async threads once a slot is free (waiting in a
/// bounded queue; the request timeout bounds the wait), and turn a panic in
/// the core into a 500 JSON error instead of a dropped connection.
async fn blocking<T, F>(st: &Shared, f: F) -> std::result::Result<T, ApiError>
where
    F: FnOnce(&AppState) -> std::result::Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server busy: too many computations queued; retry shortly",
        )
    };
    let permit = match st.slots.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            let _waiting = Queued::enter(st).ok_or_else(busy)?;
            st.slots.clone().acquire_owned().await.map_err(|_| busy())?
        }
    };
    let st = st.clone();
    // The permit moves into the task: it is released when the work ends, not
    // when a timed-out request is dropped, so it counts real CPU work.
    tokio::task::spawn_blocking(move || {
        let r = f(&st);
        drop(permit);
        r
    })
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error while computing this request (a bug: please report the inputs)",
        ))
    })
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
