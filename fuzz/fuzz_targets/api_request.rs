//! The API request decoder and handlers without HTTP: the first byte picks
//! the route, the rest is the POST body (`server::SyncApi`, the same code
//! the handlers run). Any body gives JSON or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn api() -> &'static kvplan::server::SyncApi {
    static A: OnceLock<kvplan::server::SyncApi> = OnceLock::new();
    A.get_or_init(|| {
        kvplan::server::SyncApi::new(kvplan::server::Limits::default()).expect("api")
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
