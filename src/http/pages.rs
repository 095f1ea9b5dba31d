//! The demo pages and their assets, compiled into the binary so the server
//! needs no files beside it and pages need no CDN: the socket.io browser client
//! is served from here too (vendored from socket.io-client's `dist/`, the same
//! version as `clients/js/package-lock.json`).
//!
//! A page is markup only: its script and styles are assets under `/assets/`
//! (`common.js` holds what the pages share), so the pages go out with a
//! Content-Security-Policy that allows no inline script or style.
//!
//! What the pages share is written once: `clients/web/layout.html` is the
//! document around every page (the head, linking `demo.css` and the page's
//! own stylesheet), and `clients/web/demo-frame.html` the frame of the three
//! demos inside it (the top bar with the connection status, the error box
//! that `common.js` drives, the scripts), and `clients/web/join-form.html`
//! the form that the chat and the game join with (a display name and a room
//! or game id). `clients/web/{index,chat,...}.html` hold only what is the
//! page's own. The templates have `{{slot}}`s that [`fill`] replaces once,
//! at the first request of each page.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// Scripts, styles and connections from this origin only; nothing inline,
/// no plugins, no framing. `data:` images: the pages' empty favicon.
/// `'unsafe-eval'`: the pages never evaluate strings, but the browser checks
/// (`tests/interop/browser/`) wait with Playwright's `waitForFunction`, whose
/// in-page poller runs the predicate through `eval` (under `script-src
/// 'self'` a page still "connecting" at the first check never passed in CI);
/// inline and foreign scripts stay refused.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(html: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)],
        Html(html),
    )
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The document around every page; slots `title`, `name` (the stylesheet
/// `/assets/{name}.css`) and `body`.
const LAYOUT: &str = include_str!("../../clients/web/layout.html");

/// The frame of a demo page, the `body` of [`LAYOUT`]; slots `app_class`,
/// `tagline`, `status` and `status_text` (the status before the script runs),
/// `main_class`, `content` and `name` (the script `/assets/{name}.js`).
const DEMO_FRAME: &str = include_str!("../../clients/web/demo-frame.html");

/// The join form of the chat and the game, in their `{{join_form}}`; slots
/// `what` (`room` or `game`: the field's id and the button's word), `label`,
/// `placeholder` and `hint_more` (after the field's hint).
const JOIN_FORM: &str = include_str!("../../clients/web/join-form.html");

/// `template` with each `{{key}}` replaced by its value in `slots`, in one
/// pass (a value is not searched for slots). A value's last line end is
/// dropped, so that a slot on a line of its own takes a whole file. A slot
/// without a value panics: the unit tests below render every page.
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + slots.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = start + rest[start..].find("}}").expect("a `{{` without `}}`");
        let key = &rest[start + 2..end];
        let (_, value) = slots
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no value for the slot {key}"));
        out.push_str(&rest[..start]);
        out.push_str(value.strip_suffix('\n').unwrap_or(value));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A demo page: what [`DEMO_FRAME`] and [`LAYOUT`] need to frame `content`.
struct Demo {
    name: &'static str,
    title: &'static str,
    tagline: &'static str,
    app_class: &'static str,
    main_class: &'static str,
    /// The status `data-state` and text shown until the script has run.
    status: (&'static str, &'static str),
    content: String,
}

impl Demo {
    fn render(&self) -> String {
        let body = fill(
            DEMO_FRAME,
            &[
                ("app_class", self.app_class),
                ("tagline", self.tagline),
                ("status", self.status.0),
                ("status_text", self.status.1),
                ("main_class", self.main_class),
                ("content", &self.content),
                ("name", self.name),
            ],
        );
        fill(
            LAYOUT,
            &[("title", self.title), ("name", self.name), ("body", &body)],
        )
    }
}

const CONNECTING: (&str, &str) = ("connecting", "Connecting…");

/// `content` with its `{{join_form}}` filled: the id field is `what`.
fn with_join_form(
    content: &str,
    what: &str,
    label: &str,
    placeholder: &str,
    hint_more: &str,
) -> String {
    let form = fill(
        JOIN_FORM,
        &[
            ("what", what),
            ("label", label),
            ("placeholder", placeholder),
            ("hint_more", hint_more),
        ],
    );
    fill(content, &[("join_form", &form)])
}

static INDEX: LazyLock<String> = LazyLock::new(|| {
    fill(
        LAYOUT,
        &[
            ("title", "Switchboard"),
            ("name", "index"),
            ("body", include_str!("../../clients/web/index.html")),
        ],
    )
});

static CHAT: LazyLock<String> = LazyLock::new(|| {
    Demo {
        name: "chat",
        title: "Chat · Switchboard",
        tagline: "chat demo",
        // The conversation fills the window and scrolls inside it.
        app_class: "app app--fixed",
        main_class: "chat-main",
        status: CONNECTING,
        content: with_join_form(
            include_str!("../../clients/web/chat.html"),
            "room",
            "Room",
            "lobby",
            "",
        ),
    }
    .render()
});

static NOTIFICATIONS: LazyLock<String> = LazyLock::new(|| {
    Demo {
        name: "notifications",
        title: "Notifications · Switchboard",
        tagline: "notifications demo",
        app_class: "app",
        main_class: "notif-main",
        // It connects only once signed in.
        status: ("disconnected", "Signed out"),
        content: include_str!("../../clients/web/notifications.html").to_owned(),
    }
    .render()
});

static GAME: LazyLock<String> = LazyLock::new(|| {
    Demo {
        name: "game",
        title: "Game · Switchboard",
        tagline: "arena game demo",
        app_class: "app",
        main_class: "game-main",
        status: CONNECTING,
        content: with_join_form(
            include_str!("../../clients/web/game.html"),
            "game",
            "Game",
            "arena",
            " Share <code>/game?game=…</code> to play together.",
        ),
    }
    .render()
});

pub async fn index() -> impl IntoResponse {
    page(&INDEX)
}

pub async fn chat() -> impl IntoResponse {
    page(&CHAT)
}

pub async fn notifications() -> impl IntoResponse {
    page(&NOTIFICATIONS)
}

pub async fn game() -> impl IntoResponse {
    page(&GAME)
}

/// The vendored socket.io client: it changes only with its version, so it is
/// cached longer than the pages' own scripts and styles, which change with
/// the binary.
const SOCKET_IO_CLIENT: &str = "socket.io.min.js";

/// Every file under `/assets/`, by name; its extension gives its type.
const ASSETS: &[(&str, &str)] = &[
    (
        SOCKET_IO_CLIENT,
        include_str!("../../clients/web/vendor/socket.io.min.js"),
    ),
    (
        "demo.css",
        include_str!("../../clients/web/assets/demo.css"),
    ),
    (
        "common.js",
        include_str!("../../clients/web/assets/common.js"),
    ),
    (
        "index.css",
        include_str!("../../clients/web/assets/index.css"),
    ),
    ("chat.js", include_str!("../../clients/web/assets/chat.js")),
    (
        "chat.css",
        include_str!("../../clients/web/assets/chat.css"),
    ),
    (
        "notifications.js",
        include_str!("../../clients/web/assets/notifications.js"),
    ),
    (
        "notifications.css",
        include_str!("../../clients/web/assets/notifications.css"),
    ),
    ("game.js", include_str!("../../clients/web/assets/game.js")),
    (
        "game.css",
        include_str!("../../clients/web/assets/game.css"),
    ),
];

/// `GET /assets/{name}`: one of [`ASSETS`], or 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(&(_, body)) = ASSETS.iter().find(|(n, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = if name.ends_with(".css") {
        CSS
    } else {
        JAVASCRIPT
    };
    let max_age = if name == SOCKET_IO_CLIENT {
        "public, max-age=3600"
    } else {
        "public, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, max_age),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_whole() {
        for (name, html) in [
            ("index", &*INDEX),
            ("chat", &*CHAT),
            ("notifications", &*NOTIFICATIONS),
            ("game", &*GAME),
        ] {
            assert!(html.starts_with("<!doctype html>\n"), "{name}");
            assert!(html.ends_with("</body>\n</html>\n"), "{name}");
            assert!(!html.contains("{{"), "{name}: a slot left");
            assert!(
                html.contains(&format!(r#"href="/assets/{name}.css""#)),
                "{name}"
            );
            let script = format!(r#"src="/assets/{name}.js""#);
            assert_eq!(html.contains(&script), name != "index", "{name}");
        }
    }

    #[test]
    fn fill_replaces_slots_once() {
        assert_eq!(
            fill("a{{x}}b{{y}}{{x}}", &[("x", "{{y}}"), ("y", "1")]),
            "a{{y}}b1{{y}}"
        );
        assert_eq!(
            fill("<b>\n{{x}}\n</b>", &[("x", "1\n2\n")]),
            "<b>\n1\n2\n</b>"
        );
    }
}
