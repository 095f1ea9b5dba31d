//! The Admin UI's `/admin` namespace with the stock socket.io-client, driven
//! by `tests/interop/js/admin.check.mjs` as the stock @socket.io/admin-ui
//! drives it: sign-in and its refusal, the session id, `config`,
//! `server_stats`, `all_sockets` (no secrets of the handshake shown), every
//! live event and every action by socket id, by room and namespace-wide,
//! over websocket and polling; the read-only mode; a two-node cluster. And
//! over plain HTTP and the settings: `/admin` and `/admin/` do not exist
//! without `--admin-username` and `--admin-password`, the page and its files
//! have their types and caching, the password never shows in `--help` or the
//! log.

use switchboard::{
    ServeConfig,
    config::{AdminPassword, Secret},
};

use crate::helpers::*;

/// The Admin UI's user name and (plain) password in these tests.
pub const ADMIN_USER: &str = "ops";
pub const ADMIN_PASSWORD: &str = "admin-password-0123456789";
/// `ADMIN_PASSWORD`, hashed by bcryptjs at cost 4 (as the reference's docs
/// make one).
const ADMIN_PASSWORD_BCRYPT: &str = "$2a$04$rUpGWUD0Z5H7d06pP3mbj.3jfsR.TLj1laBGQ0fp0wMm0.XXaRLFK";

over_transports!(
    js_admin = one_node(Js): [websocket, polling],
    js_admin_read_only = read_only(Js): [websocket],
    js_admin_bcrypt = bcrypt(Js): [websocket],
    js_admin_on_a_cluster = on_a_cluster(Js): [websocket, polling],
);

/// Settings with the Admin UI on. The check's chat clients carry a made-up
/// `auth.token` (a secret the UI must hide), which `/chat`'s default
/// `--chat-auth optional` would refuse: `/chat` ignores tokens here.
pub fn admin_config(password: AdminPassword) -> ServeConfig {
    ServeConfig {
        admin_username: Some(ADMIN_USER.into()),
        admin_password: Some(password),
        chat_auth: switchboard::namespaces::auth::AuthMode::Off,
        ..test_config()
    }
}

fn plain() -> AdminPassword {
    AdminPassword::Plain(Secret::new(ADMIN_PASSWORD))
}

async fn run(
    config: ServeConfig,
    program: CheckProgram,
    transport: &str,
    extra: &[&str],
    label: &str,
) {
    let app = spawn_app(config).await;
    let url = app.http_url("");
    let mut args = vec![
        url.as_str(),
        "--transport",
        transport,
        "--username",
        ADMIN_USER,
        "--password",
        ADMIN_PASSWORD,
    ];
    args.extend_from_slice(extra);
    run_check(program, "tests/interop/js/admin.check.mjs", &args, label).await;
    app.stop().await.unwrap();
}

async fn one_node(program: CheckProgram, transport: &str) {
    run(
        admin_config(plain()),
        program,
        transport,
        &[],
        &format!("js-admin-{transport}"),
    )
    .await;
}

async fn read_only(program: CheckProgram, transport: &str) {
    let config = ServeConfig {
        admin_read_only: true,
        ..admin_config(plain())
    };
    let label = format!("js-admin-read-only-{transport}");
    run(config, program, transport, &["--read-only"], &label).await;
}

async fn bcrypt(program: CheckProgram, transport: &str) {
    let config = admin_config(AdminPassword::Bcrypt(Secret::new(ADMIN_PASSWORD_BCRYPT)));
    let label = format!("js-admin-bcrypt-{transport}");
    run(config, program, transport, &[], &label).await;
}

async fn on_a_cluster(program: CheckProgram, transport: &str) {
    let flags = [
        "--admin-username",
        ADMIN_USER,
        "--admin-password",
        ADMIN_PASSWORD,
        // As in `admin_config`.
        "--chat-auth",
        "off",
    ];
    let Some(cluster) = Cluster::start_with(2, &flags).await else {
        return;
    };
    let (first, second) = (
        format!("http://{}/", cluster.addr(0)),
        format!("http://{}/", cluster.addr(1)),
    );
    let args = [
        first.as_str(),
        "--transport",
        transport,
        "--username",
        ADMIN_USER,
        "--password",
        ADMIN_PASSWORD,
        "--other",
        second.as_str(),
    ];
    let label = format!("js-admin-cluster-{transport}");
    run_check(program, "tests/interop/js/admin.check.mjs", &args, &label).await;
}

#[tokio::test]
async fn without_credentials_there_is_no_admin_namespace_nor_page() {
    let app = spawn_app(test_config()).await;
    let client = reqwest::Client::new();
    for path in ["/admin", "/admin/", "/admin/js/app.0d7d7845.js"] {
        let response = client.get(app.http_url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let refusal = SioClient::connect_with_auth(app.addr, "/admin", None)
        .await
        .err();
    assert_eq!(refusal.as_deref(), Some("Invalid namespace"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_their_types_and_caching() {
    let app = spawn_app(admin_config(plain())).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(app.http_url("/admin")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/admin/");

    let page = client.get(app.http_url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Socket.IO Admin UI</title>"), "{html}");

    const YEAR: &str = "public, max-age=31536000, immutable";
    const SCRIPT: &str = "text/javascript; charset=utf-8";
    for (path, content_type, cache) in [
        ("/admin/js/app.0d7d7845.js", SCRIPT, YEAR),
        ("/admin/js/chunk-vendors.934c03ff.js", SCRIPT, YEAR),
        (
            "/admin/css/app.6e3b9661.css",
            "text/css; charset=utf-8",
            YEAR,
        ),
        ("/admin/img/logo-dark.3727fec5.svg", "image/svg+xml", YEAR),
        (
            "/admin/mdi-7.4.47/css/materialdesignicons.min.css",
            "text/css; charset=utf-8",
            YEAR,
        ),
        (
            "/admin/mdi-7.4.47/fonts/materialdesignicons-webfont.woff2",
            "font/woff2",
            YEAR,
        ),
        ("/admin/favicon.png", "image/png", "public, max-age=86400"),
    ] {
        let response = client.get(app.http_url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], cache, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
    let missing = client
        .get(app.http_url("/admin/js/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_password_shows_neither_in_help_nor_in_the_log() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--help"])
        .env("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--admin-password"), "{help}");
    assert!(!help.contains(ADMIN_PASSWORD), "{help}");

    let data = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", data.path().join("sb.db").display());
    let envs = [
        ("SWITCHBOARD_ADMIN_USERNAME", ADMIN_USER),
        ("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    let mut server = ServerProcess::start_on(&store, &[], &envs);
    let wrong =
        serde_json::json!({"username": ADMIN_USER, "password": "wrong-password-0123456789"});
    let refusal = SioClient::connect_with_auth(server.addr, "/admin", Some(wrong))
        .await
        .err();
    assert_eq!(refusal.as_deref(), Some("invalid credentials"));
    let right = serde_json::json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD});
    let mut admin = SioClient::connect_with_auth(server.addr, "/admin", Some(right))
        .await
        .unwrap();
    let session = admin.next_event("session").await;
    let session = session.as_str().unwrap().to_owned();
    admin.close().await;
    server.signal("TERM");
    assert!(server.wait_exit().success());
    let log = server.remaining_lines().join("\n");
    assert!(log.contains("admin sign-in refused"), "{log}");
    assert!(log.contains("admin signed in"), "{log}");
    assert!(
        !log.contains(ADMIN_PASSWORD),
        "the password is in the log:\n{log}"
    );
    assert!(
        !log.contains(&session),
        "the session id is in the log:\n{log}"
    );
}
