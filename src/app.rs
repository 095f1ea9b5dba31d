//! Builds the whole server from its settings, binds it, and runs it until a
//! shutdown is asked for; owns every task it spawns ([`Tasks`]), so the
//! shutdown waits for them.
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
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};

use crate::{
    admin::{self, Admin, AdminSettings},
    cluster::{self, RedisDriver, fanout::ClusterFanout},
    config::{CorsOrigin, DatabaseUrl, ServeConfig},
    game::Games,
    http::{self, HttpState},
    metrics::Metrics,
    namespaces::{
        Common,
        auth::NamespaceAuth,
        chat::{self, ChatContext},
        echo::{self, EchoContext},
        game::{self as game_ns, GameContext},
        mount,
        notifications::{self as notifications_ns, NotificationsContext},
        order::EventOrder,
        proxy::{ConnectProxy, ConnectProxySettings, ProxyCalls},
        rate_limit::{self, ConnectLimit, RateLimit},
        rpc::{self, RpcContext},
    },
    notifications::{Credentials, Hub, LiveIds, PushService, idempotency},
    recovery::{Recovery, RecoverySettings},
    server,
    store::{CommitListener, Store},
    tasks::Tasks,
};

/// A built, bound server that is not serving yet.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    closer: Closer,
    /// Every task the server spawns; a shutdown stops and waits for them.
    tasks: Tasks,
    shutdown: ShutdownHandle,
    shutdown_timeout: Duration,
    /// Connection caps and timeouts of the accept loop.
    server: server::Settings,
}

/// Closes every Engine.IO session, whatever the adapter type.
type Closer = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Everything the Socket.IO layer and the routes are built from, whichever
/// adapter carries the broadcasts.
struct Parts {
    chat: ChatContext,
    notifications: NotificationsContext,
    game: GameContext,
    echo: EchoContext,
    connect_limit: ConnectLimit,
    /// The connect proxy (`--connect-proxy-url`), maybe off.
    connect_proxy: ConnectProxy,
    /// The RPC namespaces' state, with `--rpc-namespaces`.
    rpc: Option<RpcContext>,
    metrics: Metrics,
    store: Store,
    credentials: Credentials,
    redis: Option<RedisDriver>,
    recovery: Recovery,
    max_payload: usize,
    tasks: Tasks,
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
    /// Binds, connects to Redis (`--redis-url`), opens the store, builds the
    /// namespaces' states, then the Socket.IO layer on the adapter the
    /// settings ask for, with its namespaces and the routes. The listener
    /// comes first: a port in use fails before anything starts.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let listener = server::bind(config.listen)
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let local_addr = listener.local_addr()?;
        let tasks = Tasks::default();
        let metrics = Metrics::new();
        let server = server::Settings::from_config(&config, &metrics);
        let hub = Hub::new();
        let redis = connect_redis(&config).await?;
        let store = open_store(&config, redis.as_ref(), &hub, &metrics, &tasks).await?;
        spawn_idempotency_purge(&store, &tasks);
        let recovery_redis = connect_recovery_redis(&config).await?;
        let parts = Parts::new(
            &config,
            store,
            hub,
            (redis, recovery_redis),
            metrics,
            tasks.clone(),
        )?;
        let (router, closer) = match parts.redis.clone() {
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
        Ok(Self {
            listener,
            local_addr,
            router,
            closer,
            tasks,
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

    /// Serves until the [`ShutdownHandle`] fires, then shuts down gracefully,
    /// within the shutdown timeout:
    ///
    /// 1. stop accepting (the listener closes, idle connections too);
    /// 2. close every Engine.IO session (a close packet, then a WebSocket
    ///    close or the end of the pending poll);
    /// 3. let pending HTTP requests finish;
    /// 4. stop the tasks ([`Tasks::stop`]): wait for every socket's
    ///    disconnect handler and every other task, then let the store's
    ///    writers commit what is queued.
    ///
    /// Past the timeout it stops waiting and returns all the same.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            closer,
            tasks,
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
        let server = server::serve(
            listener,
            router,
            server,
            stop_accepting.clone(),
            tasks.clone(),
        );
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
            tasks.stop().await;
        };
        match tokio::time::timeout(shutdown_timeout, drain).await {
            Ok(()) => {
                tracing::info!("shutdown complete");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    timeout = ?shutdown_timeout,
                    tasks = tasks.running(),
                    "shutdown timed out; exiting with connections open"
                );
                Ok(())
            }
        }
    }
}

impl Parts {
    /// The namespaces' states and what the routes share. Each namespace has
    /// its own per-address buckets.
    fn new(
        config: &ServeConfig,
        store: Store,
        hub: Hub,
        (redis, recovery_redis): (Option<RedisDriver>, Option<RecoveryRedis>),
        metrics: Metrics,
        tasks: Tasks,
    ) -> anyhow::Result<Self> {
        let credentials = Credentials::resolve(config);
        let verifier = credentials.token_verifier(config)?;
        // The first JWKS fetch, off the start's path: a provider that is down
        // delays nothing (verifications wait for this fetch, then retry).
        tasks.spawn({
            let (verifier, stopping) = (verifier.clone(), tasks.stopping());
            async move {
                tokio::select! {
                    () = verifier.prefetch() => {}
                    () = stopping => {}
                }
            }
        });
        let event_limit = |label, multiplier: u32| {
            RateLimit::new(
                label,
                config.rate_limit.saturating_mul(multiplier),
                config.rate_burst.saturating_mul(multiplier),
                config.address_rate_multiplier,
                &metrics,
                &tasks,
            )
        };
        let (chat_limit, notifications_limit) = (event_limit("rate", 1), event_limit("rate", 1));
        // Inputs come faster than chat messages (one per key change).
        let game_limit = event_limit("game_rate", config.game_rate_multiplier);
        let echo_limit = RateLimit::new(
            "echo_rate",
            config.echo_rate_limit,
            config.echo_rate_limit.saturating_mul(2),
            config.address_rate_multiplier,
            &metrics,
            &tasks,
        );
        let connect_limit = ConnectLimit::new(
            config.connect_rate_limit,
            config.connect_rate_limit.saturating_mul(2),
            config.trusted_proxies.clone(),
            &metrics,
            &tasks,
        );
        let recovery = Recovery::new(
            &recovery_settings(config)?,
            recovery_redis,
            &metrics,
            &tasks,
        );
        // `/chat` and `/game` check tokens with the same keys as `/notifications`.
        let namespace_auth = {
            let verifier = verifier.clone();
            move |mode| NamespaceAuth {
                mode,
                verifier: verifier.clone(),
                display_name_claim: config.display_name_claim.as_str().into(),
            }
        };
        let common = |rate_limit, ns: &str| Common {
            metrics: metrics.clone(),
            rate_limit,
            tasks: tasks.clone(),
            recovery: recovery.log(ns),
        };
        let proxy_calls = ProxyCalls::new(&metrics);
        let connect_proxy = connect_proxy(config, &metrics, &proxy_calls)?;
        let mut taken: Vec<&str> = config.echo_namespaces.iter().map(String::as_str).collect();
        taken.extend([
            chat::NAMESPACE,
            crate::notifications::NAMESPACE,
            game_ns::NAMESPACE,
            admin::NAMESPACE,
        ]);
        let rpc = RpcContext::from_config(
            config,
            &taken,
            common(event_limit("rate", 1), ""),
            &proxy_calls,
        )?;
        Ok(Self {
            chat: ChatContext {
                store: store.chat().clone(),
                common: common(chat_limit, chat::NAMESPACE),
                room_limit: config.room_limit as usize,
                auth: namespace_auth(config.chat_auth),
            },
            notifications: NotificationsContext {
                store: store.notifications().clone(),
                hub,
                verifier,
                common: common(notifications_limit, crate::notifications::NAMESPACE),
                clustered: redis.is_some(),
            },
            game: GameContext {
                games: Games::new(config.game_tick_rate),
                common: common(game_limit, game_ns::NAMESPACE),
                auth: namespace_auth(config.game_auth),
            },
            echo: EchoContext {
                // One state for every echo namespace: the log is looked up by
                // the socket's namespace.
                common: common(echo_limit, ""),
                recovery: recovery.clone(),
            },
            connect_limit,
            connect_proxy,
            rpc,
            max_payload: usize::try_from(config.max_payload)
                .context("max payload fits in memory")?,
            metrics,
            store,
            credentials,
            redis,
            recovery,
            tasks,
        })
    }
}

/// The connect proxy, off without `--connect-proxy-url`.
fn connect_proxy(
    config: &ServeConfig,
    metrics: &Metrics,
    calls: &ProxyCalls,
) -> anyhow::Result<ConnectProxy> {
    let Some(url) = config.connect_proxy_url.clone() else {
        return Ok(ConnectProxy::default());
    };
    let settings = ConnectProxySettings {
        url,
        namespaces: config.connect_proxy_namespaces.clone(),
        timeout: config.connect_proxy_timeout,
        headers: config.connect_proxy_headers.clone(),
        max_in_flight: config.connect_proxy_max_in_flight as usize,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let proxy = ConnectProxy::new(settings, metrics, calls)?;
    tracing::info!(timeout = ?config.connect_proxy_timeout, "connect proxy enabled");
    Ok(proxy)
}

/// The recovery settings, checked against the rest: recovery runs on the
/// echo namespaces, `/chat` and (on one node) `/game`, and a session's
/// replay must fit its outgoing buffer.
fn recovery_settings(config: &ServeConfig) -> anyhow::Result<RecoverySettings> {
    let namespaces = config.recovery_namespaces.clone();
    let settings = RecoverySettings {
        namespaces,
        window: config.recovery_window,
        session_packets: config.recovery_session_packets as usize,
        session_bytes: usize::try_from(config.recovery_session_bytes).unwrap_or(usize::MAX),
        log_bytes: usize::try_from(config.recovery_log_bytes).unwrap_or(usize::MAX),
    };
    let namespaces = &settings.namespaces;
    if namespaces.is_empty() {
        return Ok(settings);
    }
    for ns in namespaces {
        let recovers = [
            chat::NAMESPACE,
            game_ns::NAMESPACE,
            crate::notifications::NAMESPACE,
        ]
        .contains(&ns.as_str())
            || config.echo_namespaces.contains(ns);
        if !recovers {
            anyhow::bail!(
                "--recovery-namespaces names `{ns}`: recovery runs on the echo namespaces ({}), {}, {} and {} only",
                config.echo_namespaces.join(", "),
                chat::NAMESPACE,
                crate::notifications::NAMESPACE,
                game_ns::NAMESPACE,
            );
        }
        if ns == game_ns::NAMESPACE && config.redis_url.is_some() {
            anyhow::bail!(
                "--recovery-namespaces names {ns} with --redis-url: a game runs on one node (its simulation \
                 is in that node's memory), so a player could not come back into it on another node"
            );
        }
    }
    if config.recovery_session_packets >= config.max_buffered_packets {
        anyhow::bail!(
            "--recovery-session-packets ({}) must be under --max-buffered-packets ({}): a replay is sent at once",
            config.recovery_session_packets,
            config.max_buffered_packets
        );
    }
    if config.recovery_session_bytes > config.max_buffered_bytes {
        anyhow::bail!(
            "--recovery-session-bytes ({}) must not exceed --max-buffered-bytes ({}): a replay is sent at once",
            config.recovery_session_bytes,
            config.max_buffered_bytes
        );
    }
    Ok(settings)
}

/// A Redis client and connection of the recovery record's own.
type RecoveryRedis = (redis::Client, redis::aio::ConnectionManager);

/// With `--redis-url` and `--recovery-namespaces`: the connection the
/// recovery record uses (its stream reader opens one more per namespace).
async fn connect_recovery_redis(config: &ServeConfig) -> anyhow::Result<Option<RecoveryRedis>> {
    let (Some(url), false) = (&config.redis_url, config.recovery_namespaces.is_empty()) else {
        return Ok(None);
    };
    let redis = crate::recovery::shared::connect(url.expose())
        .await
        .context("cannot connect to Redis for connection state recovery (--redis-url)")?;
    Ok(Some(redis))
}

/// With `--redis-url`: the driver, once Redis answers (and the store is one
/// every node can share).
async fn connect_redis(config: &ServeConfig) -> anyhow::Result<Option<RedisDriver>> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    check_cluster_store(config)?;
    let driver = RedisDriver::connect(url.expose())
        .await
        .context("cannot connect to Redis (--redis-url)")?;
    driver
        .ping()
        .await
        .context("Redis does not answer (--redis-url)")?;
    Ok(Some(driver))
}

/// Opens the store; what it commits goes live through this node's hub, and
/// on a cluster through every node's.
async fn open_store(
    config: &ServeConfig,
    redis: Option<&RedisDriver>,
    hub: &Hub,
    metrics: &Metrics,
    tasks: &Tasks,
) -> anyhow::Result<Store> {
    let listener: Arc<dyn CommitListener> = match redis {
        Some(driver) => ClusterFanout::start(driver.clone(), hub.clone(), tasks).await?,
        None => Arc::new(hub.clone()),
    };
    let store = Store::open(&config.database_url, listener, tasks).await?;
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
    Ok(store)
}

/// A WebSocket's read buffer (see [`socket_io_builder`]).
const WS_READ_BUFFER_BYTES: usize = 1024;

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
        // Each WebSocket keeps a read buffer of this size for its whole life
        // (socketioxide's default: 4 KiB), and reads at most this much per
        // call. 1 KiB holds a burst of small events; a larger message grows
        // the buffer as it arrives. Saves 3 KiB per idle connection
        // (docs/benchmarks.md, "Core efficiency").
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
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

/// Builds the Socket.IO layer on adapter `A` with the namespaces' states,
/// registers the namespaces, and builds the routes around it.
async fn assemble<A>(
    builder: SocketIoBuilder<A>,
    parts: Parts,
    config: &ServeConfig,
) -> anyhow::Result<(Router, Closer)>
where
    A: Adapter + DefinedAdapter,
    A::InitRes: NamespaceInit,
{
    let builder = if parts.recovery.is_enabled() {
        builder.with_recovery(Arc::new(parts.recovery.clone()))
    } else {
        builder
    };
    // Every packet queued for a client, broadcasts per recipient
    // (`switchboard_packets_sent_total`, fork entry 17).
    let builder = builder.on_packet_sent(parts.metrics.packet_sent_hook());
    // The Admin UI (`--admin-*`): its state, and its tap on every namespace.
    let admin = admin_ui::<A>(config, parts.redis.as_ref()).await?;
    let builder = match &admin {
        Some(admin) => builder.with_state(admin.clone()).with_state(admin.tap()),
        None => builder,
    };
    let builder = match &parts.rpc {
        Some(rpc) => builder.with_state(rpc.clone()),
        None => builder,
    };
    let (socket_layer, io) = builder
        .with_state(parts.recovery.clone())
        .with_state(parts.metrics.clone())
        .with_state(EventOrder {
            limit: config.event_queue as usize,
        })
        .with_state(parts.chat.clone())
        .with_state(parts.notifications)
        .with_state(parts.game.clone())
        .with_state(parts.echo)
        .with_state(parts.connect_limit)
        .with_state(parts.connect_proxy)
        .build_layer();
    register_namespaces(&io, &config.echo_namespaces, &parts.metrics).await?;
    for path in parts.rpc.iter().flat_map(RpcContext::namespaces) {
        let (on_connect, prepare) = (rpc::on_connect::<A>, rpc::prepare_socket::<A>);
        mount(&io, &parts.metrics, path.clone(), on_connect, prepare)
            .finish()
            .await?;
    }
    if let Some(admin) = &admin {
        admin.start(&io, &parts.tasks).await?;
        let (on_connect, sign_in) = (admin::on_connect::<A>, admin::authenticate::<A>);
        mount(&io, &parts.metrics, admin::NAMESPACE, on_connect, sign_in)
            .finish()
            .await?;
    }
    parts
        .recovery
        .start(&io, &parts.tasks)
        .await
        .context("cannot read the recovery stream on Redis (--redis-url)")?;
    chat::on_recovery_expired(&io, &parts.chat);
    game_ns::on_recovery_expired(&io, &parts.game);
    if let Some(url) = &config.redis_url {
        let settings = cluster::emitter::Settings::from_config(config);
        cluster::emitter::start(url.expose(), &io, settings, &parts.metrics, &parts.tasks)
            .await
            .context("cannot subscribe to the Redis emitter's channels (--redis-url)")?;
    }

    let push = PushService {
        io: io.clone(),
        store: parts.store.notifications().clone(),
        metrics: parts.metrics.clone(),
        live_ids: Arc::new(LiveIds::default()),
        max_stored_bytes: config.api_max_stored_bytes,
        clustered: parts.redis.is_some(),
        tasks: parts.tasks.clone(),
    };
    let api = http::api::router(http::api::ApiState {
        io: io.clone(),
        push,
        keys: parts.credentials.api_keys.clone(),
        rate_limit: config.api_rate_limit,
        metrics: parts.metrics.clone(),
        max_body: parts.max_payload,
    });
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
    // upgrade exists), the handshake request detached from the connection's
    // read buffer and the session tag of the rate limits (both on every
    // request that can open an Engine.IO session), then Socket.IO and the
    // routes.
    let origin_guard = http::OriginGuard::new(&config.cors_origins, &state.metrics);
    let preflight_guard = origin_guard.clone();
    let admin_pages = admin.map_or_else(Router::new, |_| admin::ui::router());
    let router = http::router(state.clone())
        .merge(admin_pages)
        .nest("/api/v1", api)
        .layer(socket_layer)
        // Before the Socket.IO layer: the client bundle's paths are under its path.
        .layer(middleware::from_fn(http::client_bundle::serve))
        .layer(middleware::from_fn(rate_limit::tag_sessions))
        .layer(middleware::from_fn(http::session_request::detach))
        .layer(middleware::from_fn_with_state(
            origin_guard,
            http::origin::check,
        ))
        .layer(middleware::from_fn_with_state(state, http::track_requests))
        .layer(cors_layer(&config.cors_origins))
        .layer(middleware::from_fn_with_state(
            preflight_guard,
            http::origin::check_preflight,
        ));
    let closer: Closer = Box::new(move || Box::pin(async move { io.close().await }));
    Ok((router, closer))
}

/// The Admin UI, with `--admin-username` and `--admin-password`; on a
/// cluster it shares the adapter's Redis.
async fn admin_ui<A: Adapter>(
    config: &ServeConfig,
    redis: Option<&RedisDriver>,
) -> anyhow::Result<Option<Admin<A>>> {
    let Some(settings) = AdminSettings::from_config(config) else {
        return Ok(None);
    };
    if config
        .echo_namespaces
        .iter()
        .any(|ns| ns == admin::NAMESPACE)
    {
        anyhow::bail!(
            "--echo-namespaces names {}, the Admin UI's namespace (--admin-username is set)",
            admin::NAMESPACE
        );
    }
    let redis = config
        .redis_url
        .as_ref()
        .zip(redis)
        .map(|(url, driver)| (url.expose(), driver.clone()));
    let read_only = settings.read_only;
    let admin = Admin::new(settings, redis).await?;
    tracing::info!(path = "/admin/", read_only, "admin UI enabled");
    Ok(Some(admin))
}

/// Registers every namespace and waits until each is ready (on a cluster
/// adapter: subscribed before the first client can connect).
async fn register_namespaces<A>(
    io: &SocketIo<A>,
    echo_namespaces: &[String],
    metrics: &Metrics,
) -> anyhow::Result<()>
where
    A: Adapter + DefinedAdapter,
    A::InitRes: NamespaceInit,
{
    let mut registered = Vec::new();
    for path in echo_namespaces {
        let (on_connect, prepare) = (echo::on_connect::<A>, echo::prepare_socket::<A>);
        registered.push(mount(io, metrics, path.clone(), on_connect, prepare));
    }
    registered.push(mount(
        io,
        metrics,
        chat::NAMESPACE,
        chat::on_connect::<A>,
        chat::prepare_socket::<A>,
    ));
    registered.push(mount(
        io,
        metrics,
        crate::notifications::NAMESPACE,
        notifications_ns::on_connect::<A>,
        notifications_ns::authenticate::<A>,
    ));
    registered.push(mount(
        io,
        metrics,
        game_ns::NAMESPACE,
        game_ns::on_connect::<A>,
        game_ns::prepare_socket::<A>,
    ));
    for init in registered {
        init.finish().await?;
    }
    Ok(())
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

/// Deletes expired `Idempotency-Key` records once an hour, until the shutdown.
fn spawn_idempotency_purge(store: &Store, tasks: &Tasks) {
    tasks.spawn(idempotency::purge_hourly(
        store.notifications().clone(),
        tasks.stopping(),
    ));
}

/// No origins: no CORS headers at all. Who may connect at all is
/// [`http::origin`]'s policy, built from the same setting (and a preflight
/// from an origin it does not list never reaches this layer).
///
/// The request headers a preflight asks for are allowed back by name, not
/// with `*`: the Fetch standard does not let `*` cover `Authorization`, which
/// a page calling `/api/v1` with its key sends. `Retry-After` (the API's 429)
/// is exposed to the page; a browser may cache a preflight for 10 minutes.
fn cors_layer(origins: &[CorsOrigin]) -> CorsLayer {
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([axum::http::header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
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
