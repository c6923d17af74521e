//! The page, embedded at build time from `serve/web/dist/` (`serve/build.rs`):
//! `/` is `index.html` (`Cache-Control: no-cache`: a new build is seen at
//! once), `/assets/*` and the other files of `dist/` are served with their
//! content type (files under `assets/` carry a content hash in their name:
//! cached for a year, `immutable`). Without a built page `/` answers 503
//! with a page saying how to build it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// The embedded files (path under `dist/`, bytes).
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// The content type of a file name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "geojson" => "application/geo+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>yingji 值班大屏：页面未构建</title>\
<body><h1>页面未构建 (the page is not built)</h1>\
<p>This yingji binary was built without <code>serve/web/dist/</code>. Build the page, then the binary:</p>\
<pre>cd serve/web &amp;&amp; npm ci &amp;&amp; npm run build\ncd ../.. &amp;&amp; cargo build --release</pre>\
<p>The API works without it: <a href=\"/api/view\">/api/view</a>, <code>/api/stream</code>, <a href=\"/health\">/health</a>.</p></body></html>";

/// The response for `path` (without the leading `/`; empty for `/`).
pub fn serve(path: &str) -> Response {
    respond(files(), path)
}

/// The response for `path` from `files`.
fn respond(files: &'static [(&'static str, &'static [u8])], path: &str) -> Response {
    let want = if path.is_empty() { "index.html" } else { path };
    let Some((_, bytes)) = files.iter().find(|(p, _)| *p == want) else {
        if want == "index.html" {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                NOT_BUILT,
            )
                .into_response();
        }
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"error": "not_found", "message": format!("no such file: /{want}")})
                .to_string(),
        )
            .into_response();
    };
    let cache = if want.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = (StatusCode::OK, *bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(want)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    fn header(r: &Response, h: header::HeaderName) -> &str {
        r.headers().get(h).unwrap().to_str().unwrap()
    }

    #[test]
    fn without_a_built_page_the_root_says_how_to_build_it() {
        let r = respond(&[], "");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&r, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert!(NOT_BUILT.contains("npm ci &amp;&amp; npm run build"));
        assert_eq!(respond(&[], "assets/x.js").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn files_come_with_their_type_and_caching() {
        static FILES: &[(&str, &[u8])] = &[
            ("index.html", b"<html>"),
            ("assets/index-1a2b.js", b"x"),
            ("favicon.svg", b"<svg/>"),
        ];
        let r = respond(FILES, "");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, header::CACHE_CONTROL), "no-cache");
        let r = respond(FILES, "assets/index-1a2b.js");
        assert_eq!(
            header(&r, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header(&r, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        let r = respond(FILES, "favicon.svg");
        assert_eq!(header(&r, header::CONTENT_TYPE), "image/svg+xml");
        assert_eq!(
            respond(FILES, "../Cargo.toml").status(),
            StatusCode::NOT_FOUND
        );
    }
}
