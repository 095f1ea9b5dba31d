//! The `switchboard` binary: parse settings, set up logging, serve until
//! SIGINT or SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use switchboard::{
    App, ServeConfig,
    config::{Action, Cli, TokenArgs},
    notifications::{credentials::DEVELOPMENT_SECRET, sign_token_with},
    protocol::UserId,
    runtime, telemetry,
};
use tokio::signal::unix::{Signal, SignalKind, signal};

fn main() -> ExitCode {
    let config = match Cli::parse().into_action() {
        Action::Serve(config) => *config,
        Action::Token(args) => {
            print_token(&args);
            return ExitCode::SUCCESS;
        }
    };
    telemetry::init(config.log_format, &config.log_level);
    let served = runtime::build(config.max_io_events_per_tick.into())
        .context("cannot start the tokio runtime")
        .and_then(|runtime| runtime.block_on(serve(config)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the setting (the messages do), its causes
            // after colons: no "Caused by:" list, no backtrace.
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// Builds the app and serves until SIGINT or SIGTERM, then shuts down.
async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Listen for signals before serving, so an early SIGTERM is a graceful
    // shutdown rather than the default (immediate) termination.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;

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

/// The error and its causes on one line, each cause once (many errors
/// repeat their source in their own message), line breaks flattened.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        let cause = cause.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.contains(&cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
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
    // The first of the server's HS algorithms (HS256 by default).
    let algorithm = args
        .jwt_algorithms
        .first()
        .copied()
        .unwrap_or(jsonwebtoken::Algorithm::HS256);
    println!("{}", sign_token_with(secret, algorithm, &user, args.ttl));
}
