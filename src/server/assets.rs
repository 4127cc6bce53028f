//! The page's files (web/), embedded in the binary at compile time so
//! `kvplan serve` works from any folder, offline, with no CDN. Only the
//! files listed here exist; each gets one explicit route.
//!
//! Caching: every file carries a weak ETag (a hash of its bytes, fixed at
//! compile time), so a revalidation costs a 304 with no body; the page's
//! own files are `no-cache` (a new binary's page is picked up at once), the
//! icon is cached for a day (browsers ask for it on every page otherwise).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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
    /// `Cache-Control` header.
    pub cache_control: &'static str,
}

/// FNV-1a 64 of `bytes`, at compile time: the ETag of a file.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The allow-list: every file the page needs, nothing else.
pub static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
        cache_control: "no-cache",
    },
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
        cache_control: "no-cache",
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
        cache_control: "no-cache",
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
        cache_control: "no-cache",
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
        cache_control: "public, max-age=86400",
    },
];

/// The weak ETag of an asset (weak: the compression layer may change the
/// bytes on the wire, not what they mean).
pub fn etag(a: &Asset) -> String {
    format!("W/\"{:016x}\"", fnv1a(a.body))
}

/// The response for one asset: 304 when the browser's copy is current.
pub fn respond(a: &'static Asset, req: &HeaderMap) -> Response {
    let tag = etag(a);
    let current = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let tag_value = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("W/\"0\""));
    if current {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(a.cache_control),
                ),
                (header::ETAG, tag_value),
            ],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(a.cache_control),
            ),
            (header::ETAG, tag_value),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // FNV-1a 64 test vectors (draft-eastlake-fnv, section 8): "" and "a".
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_current_copy_gets_304_and_a_stale_one_the_file() {
        let a = &ASSETS[2];
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&etag(a)).unwrap(),
        );
        assert_eq!(respond(a, &h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"0\""));
        assert_eq!(respond(a, &h).status(), StatusCode::OK);
    }
}
