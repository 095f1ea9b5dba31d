//! The HTTP server under the router: the accept loop, the connection caps
//! ([`limits`]) and the timeouts of slow and idle connections
//! ([`connection`]), with graceful shutdown.
//!
//! hyper's HTTP/1.1 connection serves the axum router on each accepted
//! socket (TCP_NODELAY set), with upgrades (WebSocket) allowed, as
//! `axum::serve` does; axum's own server cannot bound slow or idle clients.
//! Each request carries the TCP peer as axum's `ConnectInfo<SocketAddr>`.

mod connection;
pub mod limits;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use connection::ConnContext;
pub use connection::Timeouts;
use limits::{Limits, Throttle};

use crate::{config::ServeConfig, metrics::Metrics, tasks::Tasks};

/// How long the accept loop pauses after an error such as "too many open
/// files" (EMFILE), instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections the kernel may hold completed for the accept loop. The
/// default (128, as the standard library's) overflows in a burst of
/// connections, and a client whose handshake is dropped retries only after a
/// second; the kernel lowers this to `net.core.somaxconn` where that is less.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds the listener (address reuse on, as `TcpListener::bind`), with a
/// backlog for bursts.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connection settings of one server.
#[derive(Clone)]
pub struct Settings {
    timeouts: Timeouts,
    limits: Arc<Limits>,
    metrics: Metrics,
}

impl Settings {
    /// From the settings; the node cap is fitted under the open-file limit
    /// here (raising the soft limit when the hard one allows).
    pub fn from_config(config: &ServeConfig, metrics: &Metrics) -> Self {
        let max_connections = limits::fit_open_file_limit(config.max_connections as usize);
        for limit in [
            "header_read_timeout",
            "body_read_timeout",
            "keep_alive_timeout",
            // Counted by `/ws` itself.
            "ws_idle_timeout",
        ] {
            metrics.limit_hits.with_label_values(&[limit]);
        }
        Self {
            timeouts: Timeouts {
                header_read: config.header_read_timeout,
                body_read: config.body_read_timeout,
                keep_alive: config.keep_alive_timeout,
            },
            limits: Arc::new(Limits::new(
                max_connections,
                config.max_connections_per_ip as usize,
                config.trusted_proxies.clone(),
                metrics.clone(),
            )),
            metrics: metrics.clone(),
        }
    }

    /// The node cap in force (after fitting it under the open-file limit).
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections()
    }
}

/// Accepts and serves connections until `stop` is cancelled; then stops
/// accepting (the listener is closed), lets every connection finish its
/// request in flight (idle ones close at once) and returns once they all
/// have. Upgraded connections (WebSockets) are not waited for: their owners
/// close them. Each connection is a task of `tasks`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    stop: CancellationToken,
    tasks: Tasks,
) {
    let connections = TaskTracker::new();
    let accept_errors = Throttle::default();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            // The client gave up before its connection was accepted.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: the connections that
                // are open have to close first. Waiting keeps the loop from
                // spinning; the waiting clients stay in the listen backlog.
                if let Some(errors) = accept_errors.hit() {
                    tracing::error!(error = %e, errors, "cannot accept connections (one line per 10 s at most)");
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = settings.limits.admit_connection(peer.ip()) else {
            // Closed at once, before anything is read (counted and logged by
            // the limits).
            drop(tcp);
            continue;
        };
        // Without TCP_NODELAY small frames wait on Nagle's algorithm and
        // every emit can pay tens of milliseconds.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
        connection::spawn(
            tcp,
            peer,
            permit,
            ConnContext {
                router: router.clone(),
                limits: settings.limits.clone(),
                timeouts: settings.timeouts,
                metrics: settings.metrics.clone(),
                stop: stop.clone(),
                connections: connections.clone(),
                tasks: tasks.clone(),
            },
        );
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
