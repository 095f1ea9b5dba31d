//! The `switchboard` binary: parse settings, set up logging, serve until
//! SIGINT or SIGTERM.

use clap::Parser;
use switchboard::{App, config::Cli, telemetry};
use tokio::signal::unix::{Signal, SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().into_serve_config();
    telemetry::init(config.log_format, &config.log_level);

    // Listen for signals before serving, so an early SIGTERM is a graceful
    // shutdown rather than the default (immediate) termination.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;

    let app = App::build(config).await?;
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        let name = first_signal(&mut interrupt, &mut terminate).await;
        tracing::info!(signal = name, "shutdown requested");
        shutdown.shutdown();
    });
    app.run_until_stopped().await
}

async fn first_signal(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
