//! The browser notifications page (`GET /notifications`) end to end in a real
//! Chromium: two pages signed in as one user, pushes through the HTTP API,
//! read state shared through `unread`, replay through `since` after a page
//! was closed; driven by `clients/js/browser/notifications.browser.mjs`
//! (playwright-core from npm, Debian's `/usr/bin/chromium`, no browser
//! download). The server runs in development mode (loopback, no secret, no
//! keys), so `/demo/token` hands out tokens and the API key. It leaves a
//! screenshot of both pages in `target/tmp/screenshots/notifications.png` for
//! a human to look at.

use std::path::PathBuf;

use crate::{
    browser::{CHROMIUM, browser_ready},
    helpers::{spawn_app, test_config},
    interop::{record_summary, run_client},
};

#[tokio::test]
async fn notifications_page_works_in_chromium_for_one_user_on_two_pages() {
    if !browser_ready() {
        return;
    }
    let screenshot =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots/notifications.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    // A screenshot left by an earlier run must not pass for this one's.
    std::fs::remove_file(&screenshot).ok();
    let app = spawn_app(test_config()).await;

    let stdout = run_client(
        &"node".into(),
        &[
            "clients/js/browser/notifications.browser.mjs",
            &app.http_url(""),
            screenshot.to_str().expect("UTF-8 target path"),
        ],
        &[("CHROMIUM", CHROMIUM.to_owned())],
    )
    .await;
    println!("{stdout}");
    record_summary(&stdout, "js-browser-notifications");

    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    app.stop().await.unwrap();
}
