//! The browser chat page (`GET /chat`) end to end in a real Chromium: two
//! people in one room, driven by `tests/interop/browser/chat.check.mjs`
//! (playwright-core from npm, Debian's `/usr/bin/chromium`, no browser
//! download). It leaves a screenshot of both pages in
//! `target/tmp/screenshots/chat.png` for a human to look at.

use crate::helpers::run_page_check;

#[tokio::test]
async fn chat_page_works_in_chromium_for_two_people() {
    run_page_check("chat.check.mjs", "js-browser-chat", "chat").await;
}
