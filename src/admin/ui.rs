//! The stock Admin UI at `/admin/`: the built `ui/dist` of
//! @socket.io/admin-ui 0.5.1, vendored under `clients/web/vendor/admin-ui/`
//! with its license (without the source maps) and compiled into the binary,
//! so that an operator needs nothing else. It asks for the server's URL:
//! the page's own origin (`https://switchboard.example.com`) is the one,
//! with the `/admin` namespace and the `/socket.io` path it proposes.
//!
//! The page goes out with a Content-Security-Policy of its own: scripts,
//! styles, images and connections from this origin only, plus the inline
//! styles Vuetify writes (its theme) and `'unsafe-eval'` for the browser
//! checks (as on the demo pages, see [`crate::http`]). The icon font of its
//! buttons (Material Design Icons, @mdi/font 7.4.47: its CSS and the WOFF2
//! font, with their licenses) is vendored beside it in `mdi-7.4.47/`, and
//! the page links it there instead of from jsDelivr: the one edit to the
//! vendored `index.html`. Roboto is still linked from Google's CDN, which
//! the policy does not allow: the UI shows in the browser's sans-serif.
//!
//! The files with a content hash or a version in their names (`js/`,
//! `css/`, `img/`, `mdi-7.4.47/`) are cached for a year; the page itself is
//! revalidated every time.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

/// The UI's own policy (see the module doc).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Every file of the UI, by its path under `/admin/`.
const FILES: &[(&str, &[u8])] = &[
    (
        "index.html",
        include_bytes!("../../clients/web/vendor/admin-ui/index.html"),
    ),
    (
        "favicon.png",
        include_bytes!("../../clients/web/vendor/admin-ui/favicon.png"),
    ),
    (
        "css/app.6e3b9661.css",
        include_bytes!("../../clients/web/vendor/admin-ui/css/app.6e3b9661.css"),
    ),
    (
        "css/chunk-vendors.9f55d012.css",
        include_bytes!("../../clients/web/vendor/admin-ui/css/chunk-vendors.9f55d012.css"),
    ),
    (
        "img/logo-dark.3727fec5.svg",
        include_bytes!("../../clients/web/vendor/admin-ui/img/logo-dark.3727fec5.svg"),
    ),
    (
        "img/logo-light.73342c25.svg",
        include_bytes!("../../clients/web/vendor/admin-ui/img/logo-light.73342c25.svg"),
    ),
    (
        "js/app.0d7d7845.js",
        include_bytes!("../../clients/web/vendor/admin-ui/js/app.0d7d7845.js"),
    ),
    (
        "js/chunk-vendors.934c03ff.js",
        include_bytes!("../../clients/web/vendor/admin-ui/js/chunk-vendors.934c03ff.js"),
    ),
    (
        "mdi-7.4.47/css/materialdesignicons.min.css",
        include_bytes!(
            "../../clients/web/vendor/admin-ui/mdi-7.4.47/css/materialdesignicons.min.css"
        ),
    ),
    (
        "mdi-7.4.47/fonts/materialdesignicons-webfont.woff2",
        include_bytes!(
            "../../clients/web/vendor/admin-ui/mdi-7.4.47/fonts/materialdesignicons-webfont.woff2"
        ),
    ),
];

/// The routes of the UI: `/admin/` and its files; `/admin` redirects there
/// (the page's links are relative to it).
pub fn router() -> Router {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|| async { file("index.html") }))
        .route(
            "/admin/{*path}",
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

/// A file's content type, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// How long a file may be cached: a year when its name holds its content's
/// hash or its version, a day for the icon, never unchecked for the page.
fn cache_control(path: &str) -> &'static str {
    if path.starts_with("js/")
        || path.starts_with("css/")
        || path.starts_with("img/")
        || path.starts_with("mdi-7.4.47/")
    {
        IMMUTABLE
    } else if path == "index.html" {
        "no-cache"
    } else {
        "public, max-age=86400"
    }
}

fn file(path: &str) -> Response {
    let Some(&(_, body)) = FILES.iter().find(|(name, _)| *name == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache_control(path)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response();
    if path == "index.html" {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_only_files_that_are_served() {
        let page = std::str::from_utf8(FILES[0].1).unwrap();
        for (name, _) in &FILES[1..] {
            if name.ends_with(".svg") || name.ends_with(".woff2") {
                continue; // linked from the script, from the icon font's CSS
            }
            assert!(page.contains(name), "{name} is not linked from index.html");
        }
        for link in page.split(['"', '\'']).filter(|part| {
            part.starts_with("js/")
                || part.starts_with("css/")
                || part.starts_with("mdi-")
                || *part == "favicon.png"
        }) {
            assert!(
                FILES.iter().any(|(name, _)| *name == link),
                "{link} is not served"
            );
        }
        assert_eq!(cache_control("js/app.0d7d7845.js"), IMMUTABLE);
        assert_eq!(content_type("img/logo-dark.3727fec5.svg"), "image/svg+xml");
        assert!(
            !page.contains("cdn.jsdelivr.net"),
            "the icon font is vendored"
        );
    }

    #[test]
    fn the_icon_font_css_points_at_the_vendored_font() {
        let (_, css) = FILES
            .iter()
            .find(|(name, _)| name.ends_with("materialdesignicons.min.css"))
            .unwrap();
        let css = std::str::from_utf8(css).unwrap();
        // Relative to the CSS: mdi-7.4.47/css/../fonts/.
        assert!(css.contains("url(\"../fonts/materialdesignicons-webfont.woff2?v=7.4.47\")"));
        assert!(
            FILES
                .iter()
                .any(|(name, _)| *name == "mdi-7.4.47/fonts/materialdesignicons-webfont.woff2")
        );
        assert_eq!(
            cache_control("mdi-7.4.47/fonts/materialdesignicons-webfont.woff2"),
            IMMUTABLE
        );
        assert_eq!(
            content_type("mdi-7.4.47/fonts/materialdesignicons-webfont.woff2"),
            "font/woff2"
        );
    }
}
