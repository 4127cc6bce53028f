//! The page's files (web/), embedded in the binary at compile time so
//! `kvplan serve` works from any folder, offline, with no CDN. Only the
//! files listed here exist; each gets one explicit route.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// One embedded file and the route that serves it.
#[derive(Debug)]
pub struct Asset {
    /// Request path.
    pub path: &'static str,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

/// The allow-list: every file the page needs, nothing else.
pub static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
];

/// The response for one asset. `no-cache` makes browsers revalidate, so a
/// new binary's page is picked up at once.
pub fn respond(a: &'static Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        a.body,
    )
        .into_response()
}
