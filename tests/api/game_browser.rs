//! The browser arena game page (`GET /game`) end to end in a real Chromium:
//! two players in one game, moving with the arrow keys and WASD, seeing each
//! other move (interpolated) and leave, with the page's own player predicted
//! and reconciled through `acks`; driven by
//! `clients/js/browser/game.browser.mjs` (playwright-core from npm, Debian's
//! `/usr/bin/chromium`, no browser download). It leaves a screenshot of both
//! pages in `target/tmp/screenshots/game.png` for a human to look at.

use std::path::PathBuf;

use crate::{
    browser::{CHROMIUM, browser_ready},
    helpers::{spawn_app, test_config},
    interop::{record_summary, run_client},
};

#[tokio::test]
async fn game_page_works_in_chromium_for_two_players() {
    if !browser_ready() {
        return;
    }
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots/game.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    // A screenshot left by an earlier run must not pass for this one's.
    std::fs::remove_file(&screenshot).ok();
    let app = spawn_app(test_config()).await;

    let stdout = run_client(
        &"node".into(),
        &[
            "clients/js/browser/game.browser.mjs",
            &app.http_url(""),
            screenshot.to_str().expect("UTF-8 target path"),
        ],
        &[("CHROMIUM", CHROMIUM.to_owned())],
    )
    .await;
    println!("{stdout}");
    record_summary(&stdout, "js-browser-game");

    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    app.stop().await.unwrap();
}
