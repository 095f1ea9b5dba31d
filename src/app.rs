//! Builds the whole server from its settings, binds it, and runs it until a
//! shutdown is asked for.
//!
//! [`App::build`] binds the listener itself and exposes the bound address, so
//! tests ask for port 0 and learn the real one.

use std::{future::IntoFuture, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, middleware, serve::ListenerExt};
use socketioxide::{SocketIo, adapter::Adapter};
use socketioxide_core::adapter::DefinedAdapter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::{
    config::{CorsOrigin, ServeConfig},
    game::Games,
    http::{self, HttpState},
    metrics::Metrics,
    namespaces::{
        chat::{self, ChatContext},
        echo,
        game::{self as game_ns, GameContext},
        notifications::{self as notifications_ns, NotificationsContext},
        rate_limit::RateLimit,
    },
    notifications::{Credentials, Hub, LiveIds},
    store::Store,
};

/// A built, bound server that is not serving yet.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    io: SocketIo,
    shutdown: ShutdownHandle,
    shutdown_timeout: Duration,
}

/// Asks a running [`App`] to shut down gracefully. Cheap to clone.
#[derive(Clone, Default)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    async fn requested(&self) {
        self.0.cancelled().await;
    }
}

impl App {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let hub = Hub::new();
        let store = Store::open(&config.database_url, Arc::new(hub.clone())).await?;
        tracing::info!(engine = store.engine(), "store ready");
        let credentials = Credentials::resolve(&config);
        let rate_limit = RateLimit::new(config.rate_limit, config.rate_burst);
        let chat = ChatContext {
            store: store.chat().clone(),
            metrics: metrics.clone(),
            rate_limit,
        };
        let notifications = NotificationsContext {
            store: store.notifications().clone(),
            hub,
            verifier: credentials.token_verifier(),
            metrics: metrics.clone(),
            rate_limit,
        };
        // Inputs come faster than chat messages (one per key change).
        let game = GameContext {
            games: Games::new(config.game_tick_rate),
            metrics: metrics.clone(),
            rate_limit: RateLimit::new(
                config.rate_limit.saturating_mul(3),
                config.rate_burst.saturating_mul(3),
            ),
        };
        let max_payload =
            usize::try_from(config.max_payload).context("max payload fits in memory")?;

        let (socket_layer, io) = SocketIo::builder()
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            .connect_timeout(config.connect_timeout)
            .ack_timeout(config.ack_timeout)
            .max_payload(config.max_payload)
            // The reference server applies its payload limit to WebSocket
            // messages too; socketioxide's own WebSocket default is 64 MiB.
            .ws_max_message_size(max_payload)
            .ws_max_frame_size(max_payload)
            .with_state(metrics.clone())
            .with_state(chat)
            .with_state(notifications)
            .with_state(game)
            .build_layer();
        register_namespaces(&io, &config, &metrics);

        let api = http::api::router(http::api::ApiState {
            io: io.clone(),
            store: store.notifications().clone(),
            keys: credentials.api_keys.clone(),
            rate_limit: config.api_rate_limit,
            metrics: metrics.clone(),
            live_ids: Arc::new(LiveIds::default()),
            max_body: max_payload,
        });
        spawn_idempotency_purge(&store);
        let state = HttpState {
            metrics,
            max_payload,
            store,
            credentials,
        };
        let router = http::router(state.clone())
            .nest("/api/v1", api)
            .layer(socket_layer)
            .layer(middleware::from_fn_with_state(state, http::track_requests))
            .layer(cors_layer(&config.cors_origins));

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let local_addr = listener.local_addr()?;

        Ok(Self {
            listener,
            local_addr,
            router,
            io,
            shutdown: ShutdownHandle::default(),
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until the [`ShutdownHandle`] fires, then shuts down gracefully:
    /// stop accepting, close every Engine.IO session (a close packet, then a
    /// WebSocket close or the end of the pending poll), let pending HTTP
    /// requests finish, and return, or give up waiting after the shutdown timeout.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            io,
            shutdown,
            shutdown_timeout,
            local_addr,
        } = self;
        tracing::info!(address = %local_addr, "switchboard listening");

        // axum does not set TCP_NODELAY: without it small frames wait on Nagle's
        // algorithm and every emit can pay tens of milliseconds.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY: {e}");
            }
        });
        // Its own token, cancelled below: if axum watched the shutdown handle
        // directly it could finish (no HTTP request in flight; WebSockets are not
        // tracked) before the sockets are closed.
        let stop_accepting = CancellationToken::new();
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
            .into_future();
        let mut server = std::pin::pin!(server);

        tokio::select! {
            result = &mut server => return result.context("server error"),
            () = shutdown.requested() => {}
        }
        tracing::info!("shutting down: closing sockets");
        stop_accepting.cancel();
        let drain = async {
            // Closes every Engine.IO session: each client gets a close packet and
            // sees a transport close, so it reconnects (to this node once it is
            // back, or to another). A Socket.IO disconnect packet would instead
            // tell clients to stay away.
            io.close().await;
            disconnect_handlers_done(&io).await;
            server.await.context("server error during shutdown")
        };
        match tokio::time::timeout(shutdown_timeout, drain).await {
            Ok(result) => {
                tracing::info!("shutdown complete");
                result
            }
            Err(_) => {
                tracing::warn!(timeout = ?shutdown_timeout, "shutdown timed out; exiting with connections open");
                Ok(())
            }
        }
    }
}

/// Waits until every namespace has run its disconnect handlers, which remove
/// each socket once done (they run in tasks of their own after the transports
/// close, and nothing signals their end). Bounded by the caller's timeout.
async fn disconnect_handlers_done<A: Adapter>(io: &SocketIo<A>) {
    while io
        .nsps()
        .into_iter()
        .any(|ns| !ns.local().sockets().is_empty())
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn register_namespaces<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    config: &ServeConfig,
    metrics: &Metrics,
) {
    for path in &config.echo_namespaces {
        echo::register(io, path, metrics);
    }
    chat::register(io, metrics);
    notifications_ns::register(io, metrics);
    game_ns::register(io, metrics);
}

/// Deletes expired `Idempotency-Key` records once an hour.
fn spawn_idempotency_purge(store: &Store) {
    let notifications = store.notifications().clone();
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_secs(60 * 60));
        loop {
            hourly.tick().await;
            match notifications.purge_idempotency_keys().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired idempotency keys deleted"),
                Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
            }
        }
    });
}

/// No origins: no CORS headers at all (same-origin and non-browser clients only).
fn cors_layer(origins: &[CorsOrigin]) -> CorsLayer {
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new().allow_methods(Any).allow_headers(Any);
    if origins.contains(&CorsOrigin::Any) {
        return layer.allow_origin(Any);
    }
    layer.allow_origin(AllowOrigin::list(origins.iter().filter_map(
        |origin| match origin {
            CorsOrigin::Exact(value) => Some(value.clone()),
            CorsOrigin::Any => None,
        },
    )))
}
