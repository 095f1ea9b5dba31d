//! Typed settings, from command-line flags and `SWITCHBOARD_*` environment
//! variables (flags win). Every setting is parsed and checked here, at the
//! boundary, so the rest of the crate never re-validates: a bad value stops the
//! process at start with a message naming the setting and exit code 2 (clap's
//! usage-error code).

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The `switchboard` command line. With no subcommand it serves, so
/// `switchboard --listen 0.0.0.0:3000` and `switchboard serve --listen ...` are
/// the same.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A Socket.IO-compatible real-time event server",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(Box<ServeConfig>),
    /// Print a `/notifications` token (JWT) for USER, signed with the configured
    /// secret, for demos and tests.
    Token(TokenArgs),
}

/// What `switchboard token` needs.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id the token stands for (its `sub` claim).
    #[arg(value_parser = parse_user_id)]
    pub user: String,

    /// How long the token is valid.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,

    /// The HS256 secret; the same setting as the server's. Without it, the
    /// development secret (which only a loopback-bound server accepts).
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<Secret>,

    /// The server's HS algorithms; the token is signed with the first.
    #[arg(long, env = "SWITCHBOARD_JWT_ALGORITHMS", default_value = "HS256", value_delimiter = ',', value_parser = parse_hmac_algorithm)]
    pub jwt_algorithms: Vec<jsonwebtoken::Algorithm>,
}

/// What the command line asked for.
pub enum Action {
    Serve(Box<ServeConfig>),
    Token(TokenArgs),
}

impl Cli {
    /// What to do: serve (with or without the `serve` word) or print a token.
    pub fn into_action(self) -> Action {
        match self.command {
            Some(Command::Serve(config)) => Action::Serve(config),
            Some(Command::Token(args)) => Action::Token(args),
            None => Action::Serve(Box::new(self.serve)),
        }
    }

    /// The settings to serve with, whichever way `serve` was asked for (the
    /// defaults when another subcommand was given).
    pub fn into_serve_config(self) -> ServeConfig {
        match self.into_action() {
            Action::Serve(config) => *config,
            Action::Token(_) => ServeConfig::defaults(),
        }
    }
}

/// A secret setting (JWT secret, API key). Its `Debug` never shows the value,
/// so settings can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Everything `switchboard serve` can be told.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Engine.IO ping interval: how often the server pings each client.
    #[arg(long, env = "SWITCHBOARD_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Engine.IO ping timeout: how long a client has to answer a ping.
    #[arg(long, env = "SWITCHBOARD_PING_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// How long a new Engine.IO session has to connect to a namespace before it is closed.
    #[arg(long, env = "SWITCHBOARD_CONNECT_TIMEOUT", default_value = "45s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// How long the server waits for a client's acknowledgement of an emit.
    #[arg(long, env = "SWITCHBOARD_ACK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub ack_timeout: Duration,

    /// Largest accepted message in bytes: one HTTP long-polling body, one WebSocket message.
    #[arg(long, env = "SWITCHBOARD_MAX_PAYLOAD", default_value = "1000000", value_parser = parse_max_payload)]
    pub max_payload: u64,

    /// Most binary attachments one Socket.IO packet may declare (0 to 1000).
    /// A packet declaring more closes the connection before anything is
    /// buffered. The reference server allows 10.
    #[arg(long, env = "SWITCHBOARD_MAX_ATTACHMENTS", default_value = "10", value_parser = parse_max_attachments)]
    pub max_attachments: usize,

    /// Largest total size in bytes of one packet's binary attachments
    /// (1024 to 67108864). A packet whose attachments add up to more closes
    /// the connection.
    #[arg(long, env = "SWITCHBOARD_MAX_ATTACHMENT_BYTES", default_value = "1000000", value_parser = parse_max_payload)]
    pub max_attachment_bytes: u64,

    /// How long a packet's binary attachments may take to arrive after its
    /// header; an attachment arriving later closes the connection.
    #[arg(long, env = "SWITCHBOARD_ATTACHMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub attachment_timeout: Duration,

    /// Namespaces that run the echo behaviour, comma separated (each starts with `/`).
    #[arg(
        long,
        env = "SWITCHBOARD_ECHO_NAMESPACES",
        default_value = "/,/echo",
        value_delimiter = ',',
        value_parser = parse_namespace
    )]
    pub echo_namespaces: Vec<String>,

    /// Browser origins that may connect, comma separated
    /// (`https://app.example.com`), or `*` for any. A Socket.IO or `/ws` request
    /// whose `Origin` header is not listed gets 403; listed origins also get
    /// CORS headers. Unset (the default): no CORS headers, and only pages of
    /// the request's own host may connect (the `Origin`'s `host[:port]` equals the
    /// `Host` header; behind a proxy, pass `Host` on). Requests without `Origin`
    /// (non-browser clients) are always allowed.
    #[arg(
        long,
        env = "SWITCHBOARD_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub cors_origins: Vec<CorsOrigin>,

    /// Log line format.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Log level or tracing filter directives (`info`, `switchboard=debug,warn`).
    #[arg(long, env = "SWITCHBOARD_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: String,

    /// How long a graceful shutdown may take before the process exits anyway.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// How long a client has to send a request's headers (100ms to 1h): from
    /// the accept for a new connection, from the first byte of the next request
    /// on a kept-alive one. Past it the connection is closed.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_http_timeout)]
    pub header_read_timeout: Duration,

    /// How long a client has to send a whole request body, from the end of its
    /// headers (100ms to 1h). Past it the connection is closed. A request
    /// without a body (a long-polling GET waiting for data) is not affected.
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_http_timeout)]
    pub body_read_timeout: Duration,

    /// How long a kept-alive HTTP connection may stay open with no request in
    /// flight before the server closes it (100ms to 1h). Longer than a proxy's
    /// own idle timeout for its upstream connections (nginx: 60s), so the
    /// proxy, not the node, closes a pooled connection.
    #[arg(long, env = "SWITCHBOARD_KEEP_ALIVE_TIMEOUT", default_value = "75s", value_parser = parse_http_timeout)]
    pub keep_alive_timeout: Duration,

    /// How long a `/ws` WebSocket may go without a message from the client
    /// (pings and pongs count) before the server closes it with 1001 (100ms
    /// to 24h). Socket.IO WebSockets are bounded by the ping interval and
    /// timeout instead.
    #[arg(long, env = "SWITCHBOARD_WS_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_ws_idle_timeout)]
    pub ws_idle_timeout: Duration,

    /// Most TCP connections open at once on this node, WebSockets included
    /// (1 to 1000000). At it, a new connection closes the one idle longest (no
    /// request in flight), or is closed at once when none is idle. Lowered at
    /// start to fit the open-file limit (RLIMIT_NOFILE) with headroom.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value = "10000", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Most connections one client address may have open at once (1 to
    /// 1000000; IPv6 counted per /64). Direct clients: TCP connections, one
    /// past it is closed at once. Behind a `--trusted-proxies` proxy: requests
    /// in flight and WebSockets per `X-Forwarded-For` address, one past it
    /// gets 503.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", default_value = "256", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_ip: u32,

    /// Proxies whose `X-Forwarded-For` names the client, comma-separated
    /// addresses or CIDRs (`127.0.0.1,10.0.0.0/8`). Unset: the TCP peer is the
    /// client and `X-Forwarded-For` is ignored.
    #[arg(long, env = "SWITCHBOARD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// The durable store: `sqlite://PATH` (the file and its directory are
    /// created on first start) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "SWITCHBOARD_DATABASE_URL",
        default_value = "sqlite://data/switchboard.db",
        value_parser = parse_database_url,
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// Events per second one socket may send to `/chat` or `/notifications`
    /// (sustained rate; `/game`: times `--game-rate-multiplier`). A socket
    /// that disconnects and connects again on the same session keeps its
    /// count. Excess events are answered `rate_limited`.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT", default_value = "20", value_parser = parse_rate)]
    pub rate_limit: u32,

    /// Events one socket may send in a burst above the sustained rate. A socket
    /// whose refused events again exceed rate and burst is disconnected.
    #[arg(long, env = "SWITCHBOARD_RATE_BURST", default_value = "40", value_parser = parse_rate)]
    pub rate_burst: u32,

    /// Events all sockets of one client address may send to one namespace
    /// together, as a multiple of that namespace's per-socket rate and burst
    /// (1 to 1000). New connections do not renew it. Clients behind one NAT
    /// share it; behind a proxy set `--trusted-proxies`, or every client
    /// shares the proxy's address.
    #[arg(long, env = "SWITCHBOARD_ADDRESS_RATE_MULTIPLIER", default_value = "10", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub address_rate_multiplier: u32,

    /// `/game`'s per-socket rate and burst as a multiple of `--rate-limit`
    /// and `--rate-burst` (1 to 100): inputs come faster than chat messages
    /// (one per key change).
    #[arg(long, env = "SWITCHBOARD_GAME_RATE_MULTIPLIER", default_value = "3", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub game_rate_multiplier: u32,

    /// Events per second one socket may send to an echo namespace (bursts of
    /// twice that, so by default about what `--event-queue` lets one socket
    /// queue). Echo has no error contract: excess events are dropped, and a
    /// socket whose dropped events again exceed rate and burst is
    /// disconnected.
    #[arg(long, env = "SWITCHBOARD_ECHO_RATE_LIMIT", default_value = "500", value_parser = parse_rate)]
    pub echo_rate_limit: u32,

    /// Namespace connects per second one client address may make, every
    /// namespace together (bursts of twice that). Past it a connect gets
    /// `connect_error` `rate_limited`; a session whose refused connects again
    /// exceed rate and burst is closed (its connection, and every namespace
    /// it is connected to).
    #[arg(long, env = "SWITCHBOARD_CONNECT_RATE_LIMIT", default_value = "20", value_parser = parse_rate)]
    pub connect_rate_limit: u32,

    /// Events one socket may have waiting to be handled (a socket's events are
    /// handled one after another, in the order they arrived; 1..65536). The
    /// event past it is answered `rate_limited` and the socket is disconnected.
    #[arg(long, env = "SWITCHBOARD_EVENT_QUEUE", default_value = "1024", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub event_queue: u32,

    /// Bytes that may wait in one Engine.IO session's outgoing buffer (65536..1073741824):
    /// a client that does not read (a polling client that never polls, a stalled
    /// WebSocket) is disconnected past it instead of buffered for without end.
    #[arg(long, env = "SWITCHBOARD_MAX_BUFFERED_BYTES", default_value = "4194304", value_parser = clap::value_parser!(u64).range(65536..=1073741824))]
    pub max_buffered_bytes: u64,

    /// Packets that may wait in one Engine.IO session's outgoing buffer
    /// (16..16384). A room broadcast (a chat message, presence) to a session
    /// whose buffer is full disconnects that session (`slow_client`; the client
    /// reconnects and catches up from history) instead of letting it silently
    /// miss the message; a reply to the session itself waits for room or fails.
    /// `--max-buffered-bytes` bounds the memory; this only has to hold a busy
    /// room's bursts on a loaded node. The buffer (the fork's queue, a
    /// `VecDeque`) takes memory only as packets wait and gives it back once
    /// drained, so a high setting costs nothing until packets actually wait.
    #[arg(long, env = "SWITCHBOARD_MAX_BUFFERED_PACKETS", default_value = "1024", value_parser = clap::value_parser!(u32).range(16..=16384))]
    pub max_buffered_packets: u32,

    /// Ready sockets the runtime takes from the OS at a time (1..1024; tokio's
    /// own default is 1024). Small keeps a saturated server fair: with 1,000
    /// busy sockets on one core, 16 answers every client within about 20 ms
    /// (p99), where 1024 answers most at once and leaves some waiting 300 ms,
    /// for about a quarter more messages a second in total. Below saturation
    /// it makes no difference.
    #[arg(long, env = "SWITCHBOARD_MAX_IO_EVENTS_PER_TICK", default_value = "16", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_io_events_per_tick: u16,

    /// Most members one `/chat` room may have, counted on every node (1 to
    /// 10000). A `join` past it is answered `forbidden`. Each join sends the
    /// joiner the whole member list, so this also bounds that answer.
    #[arg(long, env = "SWITCHBOARD_ROOM_LIMIT", default_value = "1000", value_parser = parse_room_limit)]
    pub room_limit: u32,

    /// Namespaces with connection state recovery, comma separated (none by
    /// default): a client whose transport dropped (network loss, ping
    /// timeout) that reconnects within `--recovery-window` gets its socket
    /// id, rooms and every event it missed back (`socket.recovered` in
    /// socket.io-client 4.6+). With it on, each event the namespace records
    /// carries its offset as one more, last argument; a client that cannot
    /// take it connects with `auth: {recovery: false}`. Echo namespaces,
    /// `/chat`, `/notifications`, and `/game` (not with `--redis-url`). With
    /// `--redis-url` the sessions and events are on Redis: a client recovers
    /// on any node, also after its node died.
    #[arg(
        long,
        env = "SWITCHBOARD_RECOVERY_NAMESPACES",
        value_delimiter = ',',
        value_parser = parse_namespace
    )]
    pub recovery_namespaces: Vec<String>,

    /// How long a disconnected session can still recover (Node's
    /// `maxDisconnectionDuration`); past it the others see the member leave.
    #[arg(long, env = "SWITCHBOARD_RECOVERY_WINDOW", default_value = "2m", value_parser = parse_duration)]
    pub recovery_window: Duration,

    /// Most events one disconnected session may miss and still recover (1 to
    /// 8192, and under `--max-buffered-packets`: the replay is sent at once).
    #[arg(long, env = "SWITCHBOARD_RECOVERY_SESSION_PACKETS", default_value = "256", value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub recovery_session_packets: u32,

    /// Most bytes of events one disconnected session may miss and still
    /// recover (under `--max-buffered-bytes`).
    #[arg(long, env = "SWITCHBOARD_RECOVERY_SESSION_BYTES", default_value = "1048576", value_parser = |v: &str| parse_bytes(v, 1024..=1 << 30))]
    pub recovery_session_bytes: u64,

    /// Most bytes of recent events one recovering namespace keeps for replay
    /// (the oldest go first; a session whose offset they passed cannot
    /// recover).
    #[arg(long, env = "SWITCHBOARD_RECOVERY_LOG_BYTES", default_value = "67108864", value_parser = |v: &str| parse_bytes(v, 65536..=1 << 34))]
    pub recovery_log_bytes: u64,

    /// Redis for several nodes: `redis://[:PASSWORD@]HOST:PORT[/DB]`. Every
    /// broadcast, room query and notification then reaches every node. Unset:
    /// one node, in-memory adapter.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL", hide_env_values = true, value_parser = parse_redis_url)]
    pub redis_url: Option<Secret>,

    /// Start with `--redis-url` on a SQLite store anyway (each node keeps its
    /// own file: only for a single node on purpose).
    #[arg(long, env = "SWITCHBOARD_ALLOW_SQLITE_WITH_REDIS")]
    pub allow_sqlite_with_redis: bool,

    /// Ticks per second of every `/game` loop.
    #[arg(long, env = "SWITCHBOARD_GAME_TICK_RATE", default_value = "20", value_parser = parse_tick_rate)]
    pub game_tick_rate: u32,

    /// Requests per second one API key may make to `/api/v1` (bursts of twice
    /// that); excess requests get 429 `rate_limited`.
    #[arg(long, env = "SWITCHBOARD_API_RATE_LIMIT", default_value = "1000", value_parser = parse_rate)]
    pub api_rate_limit: u32,

    /// Most bytes one `POST /api/v1/notifications` may store: the size of its
    /// `kind` and `data` (as JSON) times the number of users (1024 to
    /// 1073741824). A push past it gets 413 `too_large` and stores nothing.
    #[arg(long, env = "SWITCHBOARD_API_MAX_STORED_BYTES", default_value = "16777216", value_parser = parse_max_stored_bytes)]
    pub api_max_stored_bytes: u64,

    /// HS256 secret that signs `/notifications` tokens (at least 16 bytes).
    /// Unset on a loopback address: the public development secret; unset on
    /// any other address: every `/notifications` connection is refused.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<Secret>,

    /// The HS algorithms `--jwt-secret` accepts, comma separated (HS256,
    /// HS384, HS512); `switchboard token` signs with the first.
    #[arg(long, env = "SWITCHBOARD_JWT_ALGORITHMS", default_value = "HS256", value_delimiter = ',', value_parser = parse_hmac_algorithm)]
    pub jwt_algorithms: Vec<jsonwebtoken::Algorithm>,

    /// PEM public key files that check `/notifications` tokens, comma
    /// separated: RSA (RS256/384/512, PS256/384/512), EC P-256 (ES256) or
    /// P-384 (ES384), Ed25519 (EdDSA). Read at start; an unreadable file stops the server.
    #[arg(long, env = "SWITCHBOARD_JWT_PUBLIC_KEY_FILES", value_delimiter = ',')]
    pub jwt_public_key_files: Vec<std::path::PathBuf>,

    /// An identity provider's JWKS (`http://` or `https://`): its RSA, EC and
    /// Ed25519 keys check tokens, picked by the token's `kid`. Fetched at
    /// start (a failure is a warning, retried on demand), refetched when a
    /// token names an unknown `kid`.
    #[arg(long, env = "SWITCHBOARD_JWKS_URL", value_parser = parse_jwks_url)]
    pub jwks_url: Option<hyper::Uri>,

    /// How long one JWKS fetch may take (100ms to 60s).
    #[arg(long, env = "SWITCHBOARD_JWKS_TIMEOUT", default_value = "5s", value_parser = parse_jwks_timeout)]
    pub jwks_timeout: Duration,

    /// Least time between two JWKS fetches (1s to 1h), however many tokens
    /// name unknown `kid`s.
    #[arg(long, env = "SWITCHBOARD_JWKS_MIN_REFRESH_INTERVAL", default_value = "30s", value_parser = parse_jwks_min_refresh_interval)]
    pub jwks_min_refresh_interval: Duration,

    /// Age after which the JWKS is refetched in the background (1m to 24h).
    #[arg(long, env = "SWITCHBOARD_JWKS_REFRESH", default_value = "10m", value_parser = parse_jwks_refresh)]
    pub jwks_refresh: Duration,

    /// The `iss` every token must carry. Unset: `iss` is not checked.
    #[arg(long, env = "SWITCHBOARD_JWT_ISSUER", value_parser = parse_claim_value)]
    pub jwt_issuer: Option<String>,

    /// The `aud` every token must carry (as its value or one of them). Unset:
    /// `aud` is not checked (a token may carry one).
    #[arg(long, env = "SWITCHBOARD_JWT_AUDIENCE", value_parser = parse_claim_value)]
    pub jwt_audience: Option<String>,

    /// Clock-drift grace on `exp` and `nbf` (0s to 5m, whole seconds). 0: a
    /// token is refused from the second its `exp` names.
    #[arg(long, env = "SWITCHBOARD_JWT_LEEWAY", default_value = "0s", value_parser = parse_jwt_leeway)]
    pub jwt_leeway: Duration,

    /// Token authentication on `/chat`: `off` (`auth.token` is ignored,
    /// members are anonymous), `optional` (no token: anonymous; a token: it
    /// must verify, else `unauthorized`) or `required` (no token or a bad
    /// one: `unauthorized`). Checked with the same keys as `/notifications`.
    #[arg(
        long,
        env = "SWITCHBOARD_CHAT_AUTH",
        value_enum,
        default_value = "optional"
    )]
    pub chat_auth: crate::namespaces::auth::AuthMode,

    /// Token authentication on `/game`, as `--chat-auth`.
    #[arg(
        long,
        env = "SWITCHBOARD_GAME_AUTH",
        value_enum,
        default_value = "optional"
    )]
    pub game_auth: crate::namespaces::auth::AuthMode,

    /// The token claim an authenticated `/chat` member's or `/game` player's
    /// display name comes from (the client's `name` is ignored); absent or
    /// not a valid display name: the user id.
    #[arg(long, env = "SWITCHBOARD_DISPLAY_NAME_CLAIM", default_value = "name", value_parser = parse_claim_value)]
    pub display_name_claim: String,

    /// API keys accepted by the HTTP push API (`/api/v1`), comma separated,
    /// each at least 16 characters. Unset on a loopback address: the
    /// development key; unset on any other address: every request gets 401.
    #[arg(
        long,
        env = "SWITCHBOARD_API_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = parse_secret
    )]
    pub api_keys: Vec<Secret>,

    /// User name of the Admin UI (the `/admin` namespace the stock
    /// @socket.io/admin-ui speaks, and the UI itself at `/admin/`); set
    /// together with `--admin-password`. Unset: there is no `/admin`.
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_USERNAME",
        requires = "admin_password",
        value_parser = parse_admin_username
    )]
    pub admin_username: Option<String>,

    /// Password of the Admin UI: a bcrypt hash (`$2b$12$...`, as the
    /// reference server takes it) or a plain secret of at least 16
    /// characters (compared in constant time).
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_username",
        value_parser = parse_admin_password
    )]
    pub admin_password: Option<AdminPassword>,

    /// The Admin UI only shows: it cannot emit, make sockets join or leave
    /// rooms, nor disconnect them.
    #[arg(long, env = "SWITCHBOARD_ADMIN_READ_ONLY")]
    pub admin_read_only: bool,

    /// The connect proxy: a backend URL (`http://` or `https://`) POSTed a
    /// JSON description of every socket connect to the proxied namespaces;
    /// its answer allows the connect (with a user, data and rooms) or refuses
    /// it (PROTOCOL.md, "Connect proxy and RPC proxy"). Unset: off.
    #[arg(long, env = "SWITCHBOARD_CONNECT_PROXY_URL", value_parser = parse_jwks_url)]
    pub connect_proxy_url: Option<hyper::Uri>,

    /// The namespaces the connect proxy decides for, comma separated.
    /// Unset: every namespace but `/admin`.
    #[arg(
        long,
        env = "SWITCHBOARD_CONNECT_PROXY_NAMESPACES",
        value_delimiter = ',',
        value_parser = parse_namespace
    )]
    pub connect_proxy_namespaces: Vec<String>,

    /// How long one connect proxy call may take (100ms to 30s); past it the
    /// connect is refused (`internal`).
    #[arg(long, env = "SWITCHBOARD_CONNECT_PROXY_TIMEOUT", default_value = "3s", value_parser = parse_proxy_timeout)]
    pub connect_proxy_timeout: Duration,

    /// The handshake request headers forwarded to the connect proxy,
    /// comma separated (at most 32; names are case-insensitive).
    #[arg(
        long,
        env = "SWITCHBOARD_CONNECT_PROXY_HEADERS",
        value_delimiter = ',',
        default_value = "cookie,authorization,user-agent,x-forwarded-for",
        value_parser = parse_header_name
    )]
    pub connect_proxy_headers: Vec<String>,

    /// Most connect proxy calls running at once (1 to 65536); a connect past
    /// it is refused at once (`rate_limited`).
    #[arg(long, env = "SWITCHBOARD_CONNECT_PROXY_MAX_IN_FLIGHT", default_value = "256", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub connect_proxy_max_in_flight: u32,

    /// RPC namespaces, comma separated (none by default): every client event
    /// is POSTed to `--rpc-proxy-url`, whose answer becomes the ack and may
    /// join, leave and emit (PROTOCOL.md, "Connect proxy and RPC proxy").
    /// They must not be another namespace.
    #[arg(
        long,
        env = "SWITCHBOARD_RPC_NAMESPACES",
        value_delimiter = ',',
        value_parser = parse_namespace
    )]
    pub rpc_namespaces: Vec<String>,

    /// The backend URL of the RPC namespaces (`http://` or `https://`).
    #[arg(long, env = "SWITCHBOARD_RPC_PROXY_URL", value_parser = parse_jwks_url)]
    pub rpc_proxy_url: Option<hyper::Uri>,

    /// How long one RPC call may take (100ms to 60s); past it the event is
    /// refused (`internal`).
    #[arg(long, env = "SWITCHBOARD_RPC_TIMEOUT", default_value = "5s", value_parser = parse_rpc_timeout)]
    pub rpc_timeout: Duration,

    /// Most RPC calls of one socket running at once (1 to 1024); an event
    /// past it is refused (`rate_limited`).
    #[arg(long, env = "SWITCHBOARD_RPC_MAX_IN_FLIGHT_PER_SOCKET", default_value = "8", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub rpc_max_in_flight_per_socket: u32,

    /// Most RPC calls running at once, all sockets together (1 to 65536); an
    /// event past it is refused (`rate_limited`).
    #[arg(long, env = "SWITCHBOARD_RPC_MAX_IN_FLIGHT", default_value = "1024", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub rpc_max_in_flight: u32,
}

/// The Admin UI's password, as configured. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminPassword {
    /// A plain secret, compared in constant time.
    Plain(Secret),
    /// A bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`), checked by bcrypt.
    Bcrypt(Secret),
}

impl std::fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plain(_) => f.write_str("AdminPassword::Plain(…)"),
            Self::Bcrypt(_) => f.write_str("AdminPassword::Bcrypt(…)"),
        }
    }
}

/// Where the durable store lives. Its `Debug` hides a PostgreSQL password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL, kept whole for the driver.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(_) => f.write_str("postgres://…"),
        }
    }
}

/// One allowed CORS origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigin {
    Any,
    Exact(axum::http::HeaderValue),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl ServeConfig {
    /// The settings with every default, as `switchboard serve` with no flags and
    /// no environment would have them. Tests start from this.
    pub fn defaults() -> Self {
        Cli::try_parse_from(["switchboard"])
            .expect("the defaults parse")
            .into_serve_config()
    }

    /// The settings of the official Socket.IO protocol test-suite server.
    pub fn conformance_profile() -> Self {
        Self {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(1000),
            max_payload: 1_000_000,
            echo_namespaces: vec!["/".into(), "/custom".into()],
            ..Self::defaults()
        }
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_any_duration(value)?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// A whole number of bytes within `range`.
fn parse_bytes(value: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(bytes) if range.contains(&bytes) => Ok(bytes),
        Ok(_) => Err(format!(
            "must be between {} and {} bytes",
            range.start(),
            range.end()
        )),
        Err(_) => Err("expected a whole number of bytes".into()),
    }
}

fn parse_max_payload(value: &str) -> Result<u64, String> {
    // Below a kilobyte not even a handshake with a long auth payload fits; above
    // 64 MiB one message could pin that much memory per connection.
    parse_bytes(value, 1024..=64 * 1024 * 1024)
}

fn parse_max_attachments(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n <= 1000 => Ok(n),
        _ => Err("expected a whole number of attachments from 0 to 1000".into()),
    }
}

fn parse_namespace(value: &str) -> Result<String, String> {
    let ns = value.trim();
    let valid = ns.starts_with('/')
        && ns.len() <= 128
        && ns[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if !valid {
        return Err(format!(
            "`{ns}` is not a namespace (expected `/` or `/name`, letters, digits, `_-./`)"
        ));
    }
    Ok(ns.to_string())
}

fn parse_origin(value: &str) -> Result<CorsOrigin, String> {
    // Browsers send origins in lowercase; compared byte for byte.
    let origin = value.trim().to_ascii_lowercase();
    let origin = origin.as_str();
    if origin == "*" {
        return Ok(CorsOrigin::Any);
    }
    let looks_like_origin = (origin.starts_with("http://") || origin.starts_with("https://"))
        && !origin.ends_with('/')
        && origin
            .split("://")
            .nth(1)
            .is_some_and(|host| !host.is_empty());
    if !looks_like_origin {
        return Err(format!(
            "`{origin}` is not an origin (expected `*` or `scheme://host[:port]` without a path)"
        ));
    }
    axum::http::HeaderValue::from_str(origin)
        .map(CorsOrigin::Exact)
        .map_err(|_| format!("`{origin}` has characters not allowed in a header"))
}

fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    let url = value.trim();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(
                "expected a file path after `sqlite://` (the store must be durable)".into(),
            );
        }
        return Ok(DatabaseUrl::Sqlite(path.into()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(url.to_string()));
    }
    Err("expected `sqlite://PATH` or `postgres://...`".into())
}

fn parse_rate(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err("expected a whole number of events from 1 to 100000".into()),
    }
}

fn parse_room_limit(value: &str) -> Result<u32, String> {
    // Above 10000 one join answer (the whole member list) nears the default
    // --max-payload, and filling the room sends N² presence events.
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err("expected a whole number of members from 1 to 10000".into()),
    }
}

fn parse_max_stored_bytes(value: &str) -> Result<u64, String> {
    // Below a kilobyte a single ordinary push to a few users is refused; above
    // 1 GiB one request can fill a disk and the write-ahead log.
    parse_bytes(value, 1024..=1024 * 1024 * 1024)
}

fn parse_redis_url(value: &str) -> Result<Secret, String> {
    let url = value.trim();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("expected `redis://HOST:PORT` (or `rediss://` for TLS)".into());
    }
    Ok(Secret(url.to_owned()))
}

fn parse_tick_rate(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=120).contains(&n) => Ok(n),
        _ => Err("expected a whole number of ticks per second from 1 to 120".into()),
    }
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    let value = value.trim();
    if value.len() < 16 {
        return Err("must be at least 16 characters (use a long random value)".into());
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters, no spaces".into());
    }
    Ok(Secret(value.to_owned()))
}

fn parse_hmac_algorithm(value: &str) -> Result<jsonwebtoken::Algorithm, String> {
    use jsonwebtoken::Algorithm;
    match value.trim().to_ascii_uppercase().as_str() {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        _ => Err("expected HS256, HS384 or HS512 (public-key algorithms come from the key)".into()),
    }
}

fn parse_jwks_url(value: &str) -> Result<hyper::Uri, String> {
    let url: hyper::Uri = value
        .trim()
        .parse()
        .map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
        return Err("expected an http:// or https:// URL".into());
    }
    Ok(url)
}

/// Any duration, zero included, written as `10s`, `500ms`, `1m`.
fn parse_any_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e} (expected a duration such as `25s`, `300ms` or `1m`)"))
}

/// A duration within `range`, for the bounded settings (timeouts, intervals).
fn parse_duration_in(
    value: &str,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration, String> {
    let duration = parse_any_duration(value)?;
    if !range.contains(&duration) {
        return Err(format!(
            "must be from {} to {}",
            humantime::format_duration(*range.start()),
            humantime::format_duration(*range.end())
        ));
    }
    Ok(duration)
}

fn parse_jwks_timeout(value: &str) -> Result<Duration, String> {
    parse_duration_in(value, Duration::from_millis(100)..=Duration::from_secs(60))
}

fn parse_jwks_min_refresh_interval(value: &str) -> Result<Duration, String> {
    parse_duration_in(value, Duration::from_secs(1)..=Duration::from_secs(3600))
}

fn parse_jwks_refresh(value: &str) -> Result<Duration, String> {
    parse_duration_in(
        value,
        Duration::from_secs(60)..=Duration::from_secs(24 * 3600),
    )
}

fn parse_proxy_timeout(value: &str) -> Result<Duration, String> {
    parse_duration_in(value, Duration::from_millis(100)..=Duration::from_secs(30))
}

fn parse_rpc_timeout(value: &str) -> Result<Duration, String> {
    parse_duration_in(value, Duration::from_millis(100)..=Duration::from_secs(60))
}

/// A request header name, lower-cased.
fn parse_header_name(value: &str) -> Result<String, String> {
    let name = value.trim().to_ascii_lowercase();
    hyper::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name"))?;
    Ok(name)
}

fn parse_jwt_leeway(value: &str) -> Result<Duration, String> {
    let leeway = parse_duration_in(value, Duration::ZERO..=Duration::from_secs(300))?;
    if leeway.subsec_nanos() != 0 {
        return Err("must be whole seconds (token times are seconds)".into());
    }
    Ok(leeway)
}

fn parse_claim_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
        return Err("expected 1 to 1024 characters, no control characters".into());
    }
    Ok(value.to_owned())
}

fn parse_admin_username(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
        return Err("expected 1 to 64 characters, no control characters".into());
    }
    Ok(value.to_owned())
}

/// A bcrypt hash (checked to be one) or a plain secret of 16+ characters.
fn parse_admin_password(value: &str) -> Result<AdminPassword, String> {
    let value = value.trim();
    if ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| value.starts_with(prefix))
    {
        return value
            .parse::<bcrypt::HashParts>()
            .map(|_| AdminPassword::Bcrypt(Secret(value.to_owned())))
            .map_err(|e| format!("looks like a bcrypt hash but is not one: {e}"));
    }
    parse_secret(value).map(AdminPassword::Plain)
}

fn parse_user_id(value: &str) -> Result<String, String> {
    crate::protocol::UserId::parse(value)
        .map(|user| user.as_str().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_http_timeout(value: &str) -> Result<Duration, String> {
    parse_duration_in(
        value,
        Duration::from_millis(100)..=Duration::from_secs(60 * 60),
    )
}

fn parse_ws_idle_timeout(value: &str) -> Result<Duration, String> {
    parse_duration_in(
        value,
        Duration::from_millis(100)..=Duration::from_secs(24 * 60 * 60),
    )
}

/// An address (`127.0.0.1`, `::1`: that host alone) or a CIDR (`10.0.0.0/8`).
fn parse_trusted_proxy(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    if let Ok(net) = value.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    value
        .parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| format!("`{value}` is not an address or a CIDR (`10.0.0.0/8`)"))
}

fn parse_log_level(value: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_string())
        .map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeConfig, clap::Error> {
        let mut argv = vec!["switchboard"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(Cli::into_serve_config)
    }

    /// `flag value` is refused as a usage error (exit 2) that names the flag.
    fn assert_usage_error(flag: &str, value: &str) {
        let err = parse(&[flag, value]).expect_err(flag);
        assert_eq!(err.exit_code(), 2, "{flag} {value}");
        assert!(err.to_string().contains(flag), "{flag}: {err}");
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = ServeConfig::defaults();
        assert_eq!(config.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.ping_interval, Duration::from_secs(25));
        assert_eq!(config.ping_timeout, Duration::from_secs(20));
        assert_eq!(config.max_payload, 1_000_000);
        assert_eq!(
            (config.max_attachments, config.max_attachment_bytes),
            (10, 1_000_000)
        );
        assert_eq!(config.attachment_timeout, Duration::from_secs(10));
        assert_eq!(config.echo_namespaces, vec!["/", "/echo"]);
        assert!(config.cors_origins.is_empty());
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(
            config.database_url,
            DatabaseUrl::Sqlite("data/switchboard.db".into())
        );
        assert_eq!((config.rate_limit, config.rate_burst), (20, 40));
        assert_eq!(
            (config.address_rate_multiplier, config.game_rate_multiplier),
            (10, 3)
        );
        assert_eq!(
            (config.echo_rate_limit, config.connect_rate_limit),
            (500, 20)
        );
        assert_eq!(config.event_queue, 1024);
        assert_eq!(config.max_buffered_bytes, 4 << 20);
        assert_eq!(config.max_buffered_packets, 1024);
        assert_eq!(config.max_io_events_per_tick, 16);
        assert_eq!(config.room_limit, 1000);
        assert_eq!(config.api_max_stored_bytes, 16 * 1024 * 1024);
        assert_eq!(config.game_tick_rate, 20);
        assert!(config.jwt_secret.is_none() && config.api_keys.is_empty());
    }

    #[test]
    fn database_urls_pick_the_engine_and_hide_passwords() {
        let pg = parse(&[
            "--database-url",
            "postgres://u:hunter2pw@127.0.0.1/db",
            "--jwt-secret",
            "jwt-value-0123456789",
            "--api-keys",
            "api-value-0123456789",
        ])
        .unwrap();
        assert!(matches!(pg.database_url, DatabaseUrl::Postgres(_)));
        let shown = format!("{pg:?}");
        for secret in ["hunter2pw", "jwt-value-0123456789", "api-value-0123456789"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let file = parse(&["--database-url", "sqlite:/tmp/x.db"]).unwrap();
        assert_eq!(file.database_url, DatabaseUrl::Sqlite("/tmp/x.db".into()));
    }

    #[test]
    fn serve_subcommand_and_bare_flags_are_the_same() {
        let bare = parse(&["--ping-interval", "300ms"]).unwrap();
        let sub = parse(&["serve", "--ping-interval", "300ms"]).unwrap();
        assert_eq!(bare.ping_interval, Duration::from_millis(300));
        assert_eq!(sub.ping_interval, Duration::from_millis(300));
    }

    #[test]
    fn lists_are_comma_separated() {
        let config = parse(&[
            "--echo-namespaces",
            "/,/custom",
            "--cors-origins",
            "http://a.test,https://b.test:8443",
        ])
        .unwrap();
        assert_eq!(config.echo_namespaces, vec!["/", "/custom"]);
        assert_eq!(config.cors_origins.len(), 2);
        assert_eq!(
            parse(&["--cors-origins", "*"]).unwrap().cors_origins,
            vec![CorsOrigin::Any]
        );
    }

    #[test]
    fn namespace_auth_settings_default_and_parse() {
        use crate::namespaces::auth::AuthMode;
        let config = ServeConfig::defaults();
        assert_eq!(
            (config.chat_auth, config.game_auth),
            (AuthMode::Optional, AuthMode::Optional)
        );
        assert_eq!(config.display_name_claim, "name");
        let set = parse(&[
            "--chat-auth",
            "required",
            "--game-auth",
            "off",
            "--display-name-claim",
            "nickname",
        ])
        .unwrap();
        assert_eq!(
            (set.chat_auth, set.game_auth),
            (AuthMode::Required, AuthMode::Off)
        );
        assert_eq!(set.display_name_claim, "nickname");
        for (flag, value) in [
            ("--chat-auth", "maybe"),
            ("--game-auth", ""),
            ("--display-name-claim", ""),
        ] {
            assert_usage_error(flag, value);
        }
    }

    #[test]
    fn jwt_settings_default_and_bound() {
        use jsonwebtoken::Algorithm;
        let config = ServeConfig::defaults();
        assert_eq!(config.jwt_algorithms, vec![Algorithm::HS256]);
        assert!(config.jwt_public_key_files.is_empty() && config.jwks_url.is_none());
        assert_eq!(config.jwks_timeout, Duration::from_secs(5));
        assert_eq!(config.jwks_min_refresh_interval, Duration::from_secs(30));
        assert_eq!(config.jwks_refresh, Duration::from_secs(600));
        assert!(config.jwt_issuer.is_none() && config.jwt_audience.is_none());
        assert_eq!(config.jwt_leeway, Duration::ZERO);

        let set = parse(&[
            "--jwt-algorithms",
            "hs512,HS256",
            "--jwt-public-key-files",
            "a.pem,b.pem",
            "--jwks-url",
            "https://idp.test/.well-known/jwks.json",
            "--jwt-leeway",
            "5m",
            "--jwt-audience",
            "switchboard",
        ])
        .unwrap();
        assert_eq!(set.jwt_algorithms, vec![Algorithm::HS512, Algorithm::HS256]);
        assert_eq!(set.jwt_public_key_files.len(), 2);
        assert_eq!(set.jwks_url.unwrap().host(), Some("idp.test"));
        assert_eq!(set.jwt_leeway, Duration::from_secs(300));
        assert_eq!(set.jwt_audience.as_deref(), Some("switchboard"));

        for (flag, value) in [
            ("--jwt-algorithms", "RS256"),
            ("--jwt-algorithms", "none"),
            ("--jwks-url", "ftp://idp.test/jwks"),
            ("--jwks-url", "not a url"),
            ("--jwks-timeout", "50ms"),
            ("--jwks-timeout", "2m"),
            ("--jwks-min-refresh-interval", "500ms"),
            ("--jwks-min-refresh-interval", "2h"),
            ("--jwks-refresh", "30s"),
            ("--jwks-refresh", "2d"),
            ("--jwt-leeway", "301s"),
            ("--jwt-leeway", "1500ms"),
            ("--jwt-issuer", ""),
        ] {
            assert_usage_error(flag, value);
        }
    }

    #[test]
    fn bad_values_are_usage_errors_that_name_the_setting() {
        for (flag, value) in [
            ("--listen", "nowhere"),
            ("--ping-interval", "soon"),
            ("--ping-timeout", "0s"),
            ("--max-payload", "12"),
            ("--max-payload", "1.5"),
            ("--max-attachments", "1001"),
            ("--max-attachments", "some"),
            ("--max-attachment-bytes", "100"),
            ("--max-attachment-bytes", "67108865"),
            ("--attachment-timeout", "0s"),
            ("--echo-namespaces", "echo"),
            ("--cors-origins", "example.com"),
            ("--log-format", "xml"),
            ("--log-level", "loud=="),
            ("--database-url", "mysql://db"),
            ("--database-url", "sqlite::memory:"),
            ("--rate-limit", "0"),
            ("--rate-burst", "many"),
            ("--address-rate-multiplier", "0"),
            ("--address-rate-multiplier", "1001"),
            ("--game-rate-multiplier", "0"),
            ("--game-rate-multiplier", "101"),
            ("--echo-rate-limit", "0"),
            ("--connect-rate-limit", "100001"),
            ("--game-tick-rate", "0"),
            ("--game-tick-rate", "121"),
            ("--jwt-secret", "short"),
            ("--room-limit", "0"),
            ("--room-limit", "10001"),
            ("--room-limit", "many"),
            ("--api-max-stored-bytes", "1023"),
            ("--api-max-stored-bytes", "1073741825"),
            ("--api-max-stored-bytes", "16MiB"),
            ("--max-buffered-packets", "15"),
            ("--max-buffered-packets", "16385"),
            ("--max-io-events-per-tick", "0"),
            ("--max-io-events-per-tick", "1025"),
        ] {
            assert_usage_error(flag, value);
        }
    }

    #[test]
    fn admin_settings_come_in_pairs_and_hide_the_password() {
        let config = ServeConfig::defaults();
        assert!(config.admin_username.is_none() && config.admin_password.is_none());
        assert!(!config.admin_read_only);

        let plain = parse(&[
            "--admin-username",
            "ops",
            "--admin-password",
            "admin-value-0123456789",
        ])
        .unwrap();
        assert_eq!(plain.admin_username.as_deref(), Some("ops"));
        assert!(matches!(
            plain.admin_password,
            Some(AdminPassword::Plain(_))
        ));
        assert!(!format!("{plain:?}").contains("admin-value-0123456789"));

        // "hunter2" at cost 4 (bcryptjs, as the reference's docs make them).
        let hash = "$2a$04$G0bHZcJiJLcUtU1hTj/oAuaxHBLt7bHoxCX5drBDP0qJVQm7WvG9i";
        let hashed = parse(&["--admin-username", "ops", "--admin-password", hash]).unwrap();
        assert!(matches!(
            hashed.admin_password,
            Some(AdminPassword::Bcrypt(_))
        ));
        assert!(!format!("{hashed:?}").contains(hash));

        for args in [
            &["--admin-username", "ops"][..],
            &["--admin-password", "admin-value-0123456789"][..],
            &["--admin-username", "ops", "--admin-password", "short"][..],
            &[
                "--admin-username",
                "ops",
                "--admin-password",
                "$2b$12$nothash",
            ][..],
            &[
                "--admin-username",
                "",
                "--admin-password",
                "admin-value-0123456789",
            ][..],
        ] {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains("--admin-"), "{args:?}: {err}");
        }
    }

    #[test]
    fn connection_timeouts_and_caps_have_defaults_and_bounds() {
        let config = ServeConfig::defaults();
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.body_read_timeout, Duration::from_secs(30));
        assert_eq!(config.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(config.ws_idle_timeout, Duration::from_secs(120));
        assert_eq!(
            (config.max_connections, config.max_connections_per_ip),
            (10_000, 256)
        );
        assert!(config.trusted_proxies.is_empty());

        let proxies = parse(&["--trusted-proxies", "127.0.0.1, 10.1.2.3/8,::1"])
            .unwrap()
            .trusted_proxies;
        let shown: Vec<String> = proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);

        for (flag, value) in [
            ("--header-read-timeout", "50ms"),
            ("--header-read-timeout", "2h"),
            ("--body-read-timeout", "0s"),
            ("--keep-alive-timeout", "soon"),
            ("--ws-idle-timeout", "25h"),
            ("--max-connections", "0"),
            ("--max-connections", "1000001"),
            ("--max-connections-per-ip", "0"),
            ("--trusted-proxies", "nginx.internal"),
            ("--trusted-proxies", "10.0.0.0/33"),
        ] {
            assert_usage_error(flag, value);
        }
    }

    #[test]
    fn proxy_settings_default_and_bound() {
        let config = parse(&[]).unwrap();
        assert!(config.connect_proxy_url.is_none() && config.connect_proxy_namespaces.is_empty());
        assert_eq!(config.connect_proxy_timeout, Duration::from_secs(3));
        assert_eq!(
            config.connect_proxy_headers,
            ["cookie", "authorization", "user-agent", "x-forwarded-for"]
        );
        assert_eq!(config.connect_proxy_max_in_flight, 256);
        assert!(config.rpc_namespaces.is_empty() && config.rpc_proxy_url.is_none());
        assert_eq!(config.rpc_timeout, Duration::from_secs(5));
        assert_eq!(
            (
                config.rpc_max_in_flight_per_socket,
                config.rpc_max_in_flight
            ),
            (8, 1024)
        );
        let set = parse(&["--connect-proxy-headers", "Cookie,X-Request-Id"]).unwrap();
        assert_eq!(set.connect_proxy_headers, ["cookie", "x-request-id"]);
        for (flag, value) in [
            ("--connect-proxy-url", "ftp://backend/hook"),
            ("--connect-proxy-timeout", "50ms"),
            ("--connect-proxy-timeout", "31s"),
            ("--connect-proxy-headers", "bad header"),
            ("--connect-proxy-max-in-flight", "0"),
            ("--rpc-namespaces", "rpc"),
            ("--rpc-timeout", "2m"),
            ("--rpc-max-in-flight-per-socket", "0"),
            ("--rpc-max-in-flight", "65537"),
        ] {
            assert_usage_error(flag, value);
        }
    }
}
