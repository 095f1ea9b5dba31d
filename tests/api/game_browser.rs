//! The browser arena game page (`GET /game`) end to end in a real Chromium:
//! two players in one game, moving with the arrow keys and WASD, seeing each
//! other move (interpolated) and leave, with the page's own player predicted
//! and reconciled through `acks`; driven by
//! `tests/interop/browser/game.check.mjs` (playwright-core from npm, Debian's
//! `/usr/bin/chromium`, no browser download). It leaves a screenshot of both
//! pages in `target/tmp/screenshots/game.png` for a human to look at.

use crate::helpers::run_page_check;

#[tokio::test]
async fn game_page_works_in_chromium_for_two_players() {
    run_page_check("game.check.mjs", "js-browser-game", "game").await;
}
