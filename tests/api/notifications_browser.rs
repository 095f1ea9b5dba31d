//! The browser notifications page (`GET /notifications`) end to end in a real
//! Chromium: two pages signed in as one user, pushes through the HTTP API,
//! read state shared through `unread`, replay through `since` after a page
//! was closed; driven by `tests/interop/browser/notifications.check.mjs`
//! (playwright-core from npm, Debian's `/usr/bin/chromium`, no browser
//! download). The server runs in development mode (loopback, no secret, no
//! keys), so `/demo/token` hands out tokens and the API key. It leaves a
//! screenshot of both pages in `target/tmp/screenshots/notifications.png` for
//! a human to look at.

use crate::helpers::run_page_check;

#[tokio::test]
async fn notifications_page_works_in_chromium_for_one_user_on_two_pages() {
    run_page_check(
        "notifications.check.mjs",
        "js-browser-notifications",
        "notifications",
    )
    .await;
}
