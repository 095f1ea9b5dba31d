//! The browser chat page (`GET /chat`) end to end in a real Chromium: two
//! people in one room, driven by `tests/interop/browser/chat.check.mjs`
//! (playwright-core from npm, Debian's `/usr/bin/chromium`, no browser
//! download). It leaves a screenshot of both pages in
//! `target/tmp/screenshots/chat.png` for a human to look at.

use std::path::{Path, PathBuf};

use crate::{
    helpers::{spawn_app, test_config},
    interop::{available, node_checks_ready, project_path, record_summary, run_client},
};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

/// `true` when Chromium, node_modules and playwright-core are installed;
/// otherwise a failure in CI, a loud skip elsewhere.
pub(crate) fn browser_ready() -> bool {
    node_checks_ready()
        && available(
            "playwright-core (cd tests/interop && npm ci)",
            project_path("tests/interop/node_modules/playwright-core").exists(),
        )
        && available(
            "Debian's chromium (apt-get install chromium)",
            Path::new(CHROMIUM).exists(),
        )
}

/// Runs a Playwright script (`tests/interop/browser/<script>`) against a fresh
/// development-mode server: it prints its checks, records its summary as
/// `label`, and must leave a PNG at `target/tmp/screenshots/<shot>.png`.
pub(crate) async fn run_page_check(script: &str, label: &str, shot: &str) {
    if !browser_ready() {
        return;
    }
    let screenshot =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("screenshots/{shot}.png"));
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    // A screenshot left by an earlier run must not pass for this one's.
    std::fs::remove_file(&screenshot).ok();
    let app = spawn_app(test_config()).await;

    let stdout = run_client(
        &"node".into(),
        &[
            &format!("tests/interop/browser/{script}"),
            &app.http_url(""),
            screenshot.to_str().expect("UTF-8 target path"),
        ],
        &[("CHROMIUM", CHROMIUM.to_owned())],
    )
    .await;
    println!("{stdout}");
    record_summary(&stdout, label);

    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn chat_page_works_in_chromium_for_two_people() {
    run_page_check("chat.check.mjs", "js-browser-chat", "chat").await;
}
