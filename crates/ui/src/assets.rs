//! The UI's static files, compiled into the binary: one stylesheet, one small script,
//! one icon. Pages link them with `?v=<hash of their content>`, so they can be cached
//! for a year and still change with every release that changes them.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// FNV-1a over the assets, at compile time.
const fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut p = 0;
    while p < parts.len() {
        let bytes = parts[p];
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        p += 1;
    }
    h
}

const HASH: u64 = fnv(&[CSS.as_bytes(), JS.as_bytes(), ICON.as_bytes()]);

/// Hex digits of [`HASH`], as a `&'static str`.
const fn hex16(v: u64) -> [u8; 16] {
    let digits = b"0123456789abcdef";
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = digits[((v >> ((15 - i) * 4)) & 0xf) as usize];
        i += 1;
    }
    out
}

const VERSION_BYTES: [u8; 16] = hex16(HASH);

/// The cache-busting version of the assets.
pub(crate) const VERSION: &str = match std::str::from_utf8(&VERSION_BYTES) {
    Ok(s) => s,
    Err(_) => "0",
};

pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
