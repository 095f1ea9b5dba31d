//! The `switchboard` binary: parse settings, set up logging, serve until
//! SIGINT or SIGTERM.

use clap::Parser;
use switchboard::{
    App, ServeConfig,
    config::{Action, Cli, TokenArgs},
    notifications::{UserId, credentials::DEVELOPMENT_SECRET, sign_token},
    telemetry,
};
use tokio::signal::unix::{Signal, SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Cli::parse().into_action() {
        Action::Serve(config) => *config,
        Action::Token(args) => {
            print_token(&args);
            return Ok(());
        }
    };
    telemetry::init(config.log_format, &config.log_level);
    serve(config).await
}

/// Builds the app and serves until SIGINT or SIGTERM, then shuts down.
async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Listen for signals before serving, so an early SIGTERM is a graceful
    // shutdown rather than the default (immediate) termination.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;

    let app = App::build(config).await?;
    let shutdown = app.shutdown_handle();
    let mut running = std::pin::pin!(app.run_until_stopped());
    tokio::select! {
        result = &mut running => return result,
        name = first_signal(&mut interrupt, &mut terminate) => {
            tracing::info!(signal = name, "shutdown requested");
            shutdown.shutdown();
        }
    }
    running.await
}

async fn first_signal(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// `switchboard token USER`: the token on stdout, a note on stderr when it is
/// signed with the development secret.
fn print_token(args: &TokenArgs) {
    let secret = match &args.jwt_secret {
        Some(secret) => secret.expose(),
        None => {
            eprintln!(
                "note: no SWITCHBOARD_JWT_SECRET; signed with the development secret, \
                 which only a loopback server without a secret accepts"
            );
            DEVELOPMENT_SECRET
        }
    };
    let user = UserId::parse(&args.user).expect("checked by the argument parser");
    println!("{}", sign_token(secret, &user, args.ttl));
}
