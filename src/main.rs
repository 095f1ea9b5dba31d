//! The `switchboard` binary: parse settings, set up logging, serve until
//! SIGINT or SIGTERM.

use clap::Parser;
use switchboard::{App, config::Cli, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().into_serve_config();
    telemetry::init(config.log_format, &config.log_level);

    let app = App::build(config).await?;
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.shutdown();
    });
    app.run_until_stopped().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}
