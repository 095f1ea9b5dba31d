//! The stock Admin UI the server serves at `/admin/`, end to end in a real
//! Chromium, driven by `tests/interop/browser/admin.check.mjs`: a chat page
//! joins a room; the UI, signed in with the page's own origin, shows the
//! dashboard with the right client count and finds the chat page's socket
//! with its rooms in the socket list; then it disconnects that socket from
//! its page (the button named "Disconnect this Socket instance"), the chat
//! page shows it reconnecting and comes back in its room with a new socket,
//! and the UI lists the new socket instead of the old. It leaves a
//! screenshot of the UI and the chat page in
//! `target/tmp/screenshots/admin.png`.

use switchboard::{
    ServeConfig,
    config::{AdminPassword, Secret},
};

use crate::helpers::*;

const USER: &str = "ops";
const PASSWORD: &str = "admin-password-0123456789";

#[tokio::test]
async fn the_admin_ui_shows_and_manages_a_chat_in_chromium() {
    let config = ServeConfig {
        admin_username: Some(USER.into()),
        admin_password: Some(AdminPassword::Plain(Secret::new(PASSWORD))),
        ..test_config()
    };
    run_configured_page_check(
        config,
        "admin.check.mjs",
        &[USER, PASSWORD],
        "js-browser-admin",
        "admin",
    )
    .await;
}
