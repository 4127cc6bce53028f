//! The API request decoder and handlers without HTTP: the first byte picks
//! the route, the rest is the POST body (`server::SyncApi`, the same code
//! the handlers run). Any body gives JSON or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn api() -> &'static kvplan::server::SyncApi {
    static A: OnceLock<kvplan::server::SyncApi> = OnceLock::new();
    A.get_or_init(|| {
        // A 3 s deadline and ~2 s of work per request at most, so no input
        // nears libFuzzer's 10 s hang limit (the server's defaults are 10 s
        // and 200,000 units; the code paths are the same).
        let limits = kvplan::server::Limits {
            timeout: std::time::Duration::from_secs(3),
            max_request_cost: 2_000,
            ..kvplan::server::Limits::default()
        };
        kvplan::server::SyncApi::new(limits).expect("api")
    })
}

const ROUTES: [&str; 4] = ["/api/estimate", "/api/config", "/api/sweep", "/api/plan"];

fuzz_target!(|data: &[u8]| {
    let Some((&r, body)) = data.split_first() else {
        return;
    };
    let route = ROUTES[r as usize % ROUTES.len()];
    match api().call(route, body) {
        Ok(json) => {
            serde_json::from_str::<serde_json::Value>(&json).expect("handlers return JSON");
        }
        Err(e) => assert!(!e.error.is_empty()),
    }
});
