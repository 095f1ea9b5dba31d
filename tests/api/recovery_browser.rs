//! The browser pages with connection state recovery on `/chat` and `/game`,
//! end to end in a real Chromium, driven by
//! `tests/interop/browser/recovery.check.mjs`: a page whose transport drops
//! comes back recovered, keeping its room or game as it was on the page (no
//! rejoin, no history reload, nothing cleared or redrawn), shows what it
//! missed once and in order, and the other page sees no leave or join; a
//! fresh (not recovered) reconnect still joins again. Each leaves a
//! screenshot of both pages in `target/tmp/screenshots/`.

use switchboard::ServeConfig;

use crate::helpers::*;

/// Recovery on `/chat` and `/game`.
fn recovering() -> ServeConfig {
    ServeConfig {
        recovery_namespaces: vec!["/chat".into(), "/game".into()],
        ..test_config()
    }
}

#[tokio::test]
async fn chat_page_recovers_a_dropped_connection_in_chromium() {
    run_configured_page_check(
        recovering(),
        "recovery.check.mjs",
        &["chat"],
        "js-browser-recovery-chat",
        "recovery-chat",
    )
    .await;
}

#[tokio::test]
async fn game_page_recovers_a_dropped_connection_in_chromium() {
    run_configured_page_check(
        recovering(),
        "recovery.check.mjs",
        &["game"],
        "js-browser-recovery-game",
        "recovery-game",
    )
    .await;
}
