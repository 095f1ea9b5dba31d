//! Builds the whole server from its settings, binds it, and runs it until a
//! shutdown is asked for.
//!
//! [`App::build`] binds the listener itself and exposes the bound address, so
//! tests ask for port 0 and learn the real one.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, middleware};
use futures_util::future::BoxFuture;
use socketioxide::{
    ParserConfig, SocketIo, SocketIoBuilder,
    adapter::{Adapter, Emitter},
};
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::{
    cluster::{self, RedisDriver, fanout::ClusterFanout},
    config::{CorsOrigin, DatabaseUrl, ServeConfig},
    game::Games,
    http::{self, HttpState},
    metrics::Metrics,
    namespaces::{
        chat::{self, ChatContext},
        echo::{self, EchoContext},
        game::{self as game_ns, GameContext},
        notifications::{self as notifications_ns, NotificationsContext},
        order::EventOrder,
        rate_limit::{self, ConnectLimit, RateLimit},
    },
    notifications::{Credentials, Hub, LiveIds, PushService, idempotency},
    server,
    store::{CommitListener, Store},
};

/// A built, bound server that is not serving yet.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    closer: Closer,
    shutdown: ShutdownHandle,
    shutdown_timeout: Duration,
    /// Connection caps and timeouts of the accept loop.
    server: server::Settings,
}

/// Closes every Engine.IO session and waits for the disconnect handlers,
/// whatever the adapter type.
type Closer = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Everything the Socket.IO layer and the routes are built from, whichever
/// adapter carries the broadcasts.
struct Parts {
    chat: ChatContext,
    notifications: NotificationsContext,
    game: GameContext,
    metrics: Metrics,
    store: Store,
    credentials: Credentials,
    redis: Option<RedisDriver>,
    max_payload: usize,
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
        let server = server::Settings::from_config(&config, &metrics);
        let hub = Hub::new();
        let redis = match &config.redis_url {
            Some(url) => {
                check_cluster_store(&config)?;
                let driver = RedisDriver::connect(url.expose())
                    .await
                    .context("cannot connect to Redis (--redis-url)")?;
                driver
                    .ping()
                    .await
                    .context("Redis does not answer (--redis-url)")?;
                Some(driver)
            }
            None => None,
        };
        let listener: Arc<dyn CommitListener> = match &redis {
            Some(driver) => ClusterFanout::start(driver.clone(), hub.clone()).await?,
            None => Arc::new(hub.clone()),
        };
        let store = Store::open(&config.database_url, listener).await?;
        metrics.register_store(store.health());
        tracing::info!(
            engine = store.engine(),
            adapter = if redis.is_some() {
                "redis"
            } else {
                "in-memory"
            },
            "store ready"
        );
        let credentials = Credentials::resolve(&config);
        // Each namespace has its own per-address buckets.
        let event_limit = |label, multiplier: u32| {
            RateLimit::new(
                label,
                config.rate_limit.saturating_mul(multiplier),
                config.rate_burst.saturating_mul(multiplier),
                config.address_rate_multiplier,
                &metrics,
            )
        };
        let (chat_limit, notifications_limit) = (event_limit("rate", 1), event_limit("rate", 1));
        // Inputs come faster than chat messages (one per key change).
        let game_limit = event_limit("game_rate", config.game_rate_multiplier);
        let parts = Parts {
            chat: ChatContext {
                store: store.chat().clone(),
                metrics: metrics.clone(),
                rate_limit: chat_limit,
                room_limit: config.room_limit as usize,
            },
            notifications: NotificationsContext {
                store: store.notifications().clone(),
                hub,
                verifier: credentials.token_verifier(),
                metrics: metrics.clone(),
                rate_limit: notifications_limit,
                clustered: redis.is_some(),
            },
            game: GameContext {
                games: Games::new(config.game_tick_rate),
                metrics: metrics.clone(),
                rate_limit: game_limit,
            },
            max_payload: usize::try_from(config.max_payload)
                .context("max payload fits in memory")?,
            metrics,
            store,
            credentials,
            redis: redis.clone(),
        };
        let (router, closer) = match redis {
            None => assemble(socket_io_builder(&config), parts, &config).await?,
            Some(driver) => {
                let adapter = RedisAdapterCtr::new_with_driver(
                    driver,
                    RedisAdapterConfig::new().with_request_timeout(cluster::REQUEST_TIMEOUT),
                );
                let builder = socket_io_builder(&config)
                    .with_adapter::<CustomRedisAdapter<Emitter, RedisDriver>>(adapter);
                assemble(builder, parts, &config).await?
            }
        };

        let listener = server::bind(config.listen)
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let local_addr = listener.local_addr()?;

        Ok(Self {
            listener,
            local_addr,
            router,
            closer,
            shutdown: ShutdownHandle::default(),
            shutdown_timeout: config.shutdown_timeout,
            server,
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
            closer,
            shutdown,
            shutdown_timeout,
            local_addr,
            server,
        } = self;
        tracing::info!(
            address = %local_addr,
            max_connections = server.max_connections(),
            "switchboard listening"
        );

        // Its own token, cancelled below: if the server watched the shutdown
        // handle directly it could finish (no HTTP request in flight; WebSockets
        // are not tracked) before the sockets are closed.
        let stop_accepting = CancellationToken::new();
        let server = server::serve(listener, router, server, stop_accepting.clone());
        let mut server = std::pin::pin!(server);

        tokio::select! {
            () = &mut server => return Ok(()),
            () = shutdown.requested() => {}
        }
        tracing::info!("shutting down: closing sockets");
        stop_accepting.cancel();
        let drain = async {
            // Closes every Engine.IO session: each client gets a close packet and
            // sees a transport close, so it reconnects (to this node once it is
            // back, or to another). A Socket.IO disconnect packet would instead
            // tell clients to stay away.
            closer().await;
            server.await;
        };
        match tokio::time::timeout(shutdown_timeout, drain).await {
            Ok(()) => {
                tracing::info!("shutdown complete");
                Ok(())
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

/// The Socket.IO settings every adapter shares.
fn socket_io_builder(config: &ServeConfig) -> SocketIoBuilder {
    let max_payload = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    SocketIo::builder()
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        .connect_timeout(config.connect_timeout)
        .ack_timeout(config.ack_timeout)
        .max_payload(config.max_payload)
        .max_buffered_bytes(usize::try_from(config.max_buffered_bytes).unwrap_or(usize::MAX))
        // Packets per session's outgoing buffer (socketioxide's default: 128).
        // A broadcast to a full buffer closes the session (`slow_client`,
        // fork entry 12), so this must hold a busy room's bursts; the memory
        // bound is the byte budget above.
        .max_buffer_size(config.max_buffered_packets as usize)
        // The reference server applies its payload limit to WebSocket
        // messages too; socketioxide's own WebSocket default is 64 MiB.
        .ws_max_message_size(max_payload)
        .ws_max_frame_size(max_payload)
        // The limits on one binary packet's attachments; breaking one closes
        // the connection (socketioxide's defaults: 10,000 attachments, 10 MB,
        // 60 s). A packet still incomplete at the timeout closes the session
        // even if no further attachment arrives (fork entry 8).
        .with_parser(
            ParserConfig::common()
                .max_incoming_binaries(config.max_attachments)
                .max_incoming_binary_buf_size(
                    usize::try_from(config.max_attachment_bytes).unwrap_or(usize::MAX),
                )
                .packet_completion_timeout(config.attachment_timeout),
        )
}

/// Builds the Socket.IO layer on adapter `A`, registers the namespaces (on a
/// cluster adapter: subscribed before the first client can connect), and
/// the routes.
async fn assemble<A>(
    builder: SocketIoBuilder<A>,
    parts: Parts,
    config: &ServeConfig,
) -> anyhow::Result<(Router, Closer)>
where
    A: Adapter + DefinedAdapter,
    A::InitRes: NamespaceInit,
{
    let (socket_layer, io) = builder
        .with_state(parts.metrics.clone())
        .with_state(EventOrder {
            limit: config.event_queue as usize,
        })
        .with_state(parts.chat)
        .with_state(parts.notifications)
        .with_state(parts.game)
        .with_state(EchoContext {
            rate_limit: RateLimit::new(
                "echo_rate",
                config.echo_rate_limit,
                config.echo_rate_limit.saturating_mul(2),
                config.address_rate_multiplier,
                &parts.metrics,
            ),
        })
        .with_state(ConnectLimit::new(
            config.connect_rate_limit,
            config.connect_rate_limit.saturating_mul(2),
            config.trusted_proxies.clone(),
            &parts.metrics,
        ))
        .build_layer();
    let metrics = &parts.metrics;
    let mut registered = Vec::new();
    for path in &config.echo_namespaces {
        registered.push(echo::register(&io, path, metrics));
    }
    registered.push(chat::register(&io, metrics));
    registered.push(notifications_ns::register(&io, metrics));
    registered.push(game_ns::register(&io, metrics));
    for init in registered {
        init.finish().await?;
    }

    let push = PushService {
        io: io.clone(),
        store: parts.store.notifications().clone(),
        metrics: parts.metrics.clone(),
        live_ids: Arc::new(LiveIds::default()),
        max_stored_bytes: config.api_max_stored_bytes,
        clustered: parts.redis.is_some(),
    };
    let api = http::api::router(http::api::ApiState {
        io: io.clone(),
        push,
        keys: parts.credentials.api_keys.clone(),
        rate_limit: config.api_rate_limit,
        metrics: parts.metrics.clone(),
        max_body: parts.max_payload,
    });
    spawn_idempotency_purge(&parts.store);
    let state = HttpState {
        metrics: parts.metrics,
        max_payload: parts.max_payload,
        ws_idle_timeout: config.ws_idle_timeout,
        store: parts.store,
        credentials: parts.credentials,
        redis: parts.redis,
    };
    // Outermost first: CORS (answers preflights), request metrics (counts
    // refusals too), the origin policy (before any Engine.IO session or /ws
    // upgrade exists), the session tag of the rate limits (on every request
    // that can open an Engine.IO session), then Socket.IO and the routes.
    let origin_guard = http::OriginGuard::new(&config.cors_origins, &state.metrics);
    let router = http::router(state.clone())
        .nest("/api/v1", api)
        .layer(socket_layer)
        .layer(middleware::from_fn(rate_limit::tag_sessions))
        .layer(middleware::from_fn_with_state(
            origin_guard,
            http::origin::check,
        ))
        .layer(middleware::from_fn_with_state(state, http::track_requests))
        .layer(cors_layer(&config.cors_origins));
    let closer: Closer = Box::new(move || {
        Box::pin(async move {
            io.close().await;
            disconnect_handlers_done(&io).await;
        })
    });
    Ok((router, closer))
}

/// Several nodes need one store: refuse SQLite (each node would keep its own
/// file) unless the operator says they know.
fn check_cluster_store(config: &ServeConfig) -> anyhow::Result<()> {
    if matches!(config.database_url, DatabaseUrl::Sqlite(_)) && !config.allow_sqlite_with_redis {
        anyhow::bail!(
            "--redis-url is set but the store is SQLite: every node would keep its own history and inbox. \
             Use a shared PostgreSQL (--database-url postgres://...), or pass --allow-sqlite-with-redis \
             if this is one node on purpose"
        );
    }
    Ok(())
}

/// How a namespace registration finishes: nothing to do on the in-memory
/// adapter; subscribing to its Redis channels on the cluster one.
trait NamespaceInit {
    fn finish(self) -> BoxFuture<'static, anyhow::Result<()>>;
}

impl NamespaceInit for () {
    fn finish(self) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl<D: socketioxide_redis::drivers::Driver> NamespaceInit for socketioxide_redis::InitRes<D> {
    fn finish(self) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            self.await
                .map_err(|e| anyhow::anyhow!("cannot subscribe a namespace to Redis: {e}"))
        })
    }
}

/// Deletes expired `Idempotency-Key` records once an hour.
fn spawn_idempotency_purge(store: &Store) {
    tokio::spawn(idempotency::purge_hourly(store.notifications().clone()));
}

/// No origins: no CORS headers at all. Who may connect at all is
/// [`http::origin`]'s policy, built from the same setting.
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
