//! Playwright page checks (`tests/interop/browser/`) in Debian's Chromium.

use std::path::{Path, PathBuf};

use switchboard::ServeConfig;

use super::{
    available, node_checks_ready, project_path, record_summary, run_client, spawn_app, test_config,
};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// `true` when Chromium, node_modules and playwright-core are installed;
/// otherwise a failure in CI, a loud skip elsewhere.
pub fn browser_ready() -> bool {
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
pub async fn run_page_check(script: &str, label: &str, shot: &str) {
    run_configured_page_check(test_config(), script, &[], label, shot).await;
}

/// [`run_page_check`] against a server started with `config`, passing `args`
/// to the script after its URL and screenshot path.
pub async fn run_configured_page_check(
    config: ServeConfig,
    script: &str,
    args: &[&str],
    label: &str,
    shot: &str,
) {
    if !browser_ready() {
        return;
    }
    let screenshot =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("screenshots/{shot}.png"));
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    // A screenshot left by an earlier run must not pass for this one's.
    std::fs::remove_file(&screenshot).ok();
    let app = spawn_app(config).await;

    let script = format!("tests/interop/browser/{script}");
    let url = app.http_url("");
    let mut argv = vec![
        script.as_str(),
        url.as_str(),
        screenshot.to_str().expect("UTF-8 target path"),
    ];
    argv.extend_from_slice(args);
    let stdout = run_client(&"node".into(), &argv, &[("CHROMIUM", CHROMIUM.to_owned())]).await;
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
