//! A socketioxide-redis [`Driver`] on redis-rs's `ConnectionManager`, which
//! reconnects by itself and subscribes again after a reconnect.
//!
//! The driver that ships with socketioxide-redis holds one multiplexed
//! connection: once Redis restarts, its subscriptions are gone for good and
//! the node stays cut off. Here, in addition, a failed publish is logged and
//! reported as done: socketioxide-redis skips the local part of a broadcast
//! when the publish fails, and a node must keep serving its own sockets while
//! Redis is away (`/readyz` says so meanwhile).

use std::{
    collections::HashMap,
    convert::Infallible,
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

use redis::{
    AsyncCommands, FromRedisValue, PushInfo, PushKind, RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

/// How long one Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct DriverError(redis::RedisError);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DriverError {}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Cheap to clone; clones share the connection and the subscriptions.
#[derive(Clone)]
pub struct RedisDriver {
    handlers: Handlers,
    conn: ConnectionManager,
}

impl RedisDriver {
    /// Connects (RESP3 is needed for pub/sub on a multiplexed connection).
    pub async fn connect(url: &str) -> RedisResult<Self> {
        let client = redis::Client::open(with_resp3(url))?;
        let handlers: Handlers = Arc::default();
        let routes = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |message: PushInfo| {
                route(message, &routes);
                Ok::<(), Infallible>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self { handlers, conn })
    }

    /// Answers when Redis does (readiness). A failed ping also makes the
    /// connection manager reconnect, subscriptions included.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
    }
}

/// Adds `protocol=resp3` to the URL unless it names a protocol.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}protocol=resp3")
}

fn route(message: PushInfo, handlers: &Handlers) {
    if !matches!(message.kind, PushKind::Message | PushKind::SMessage) || message.data.len() < 2 {
        return;
    }
    let mut data = message.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable message from Redis pub/sub");
        return;
    };
    if is_emitter_request(&channel, &payload) {
        // A Node emitter's request (JSON) on the adapter's request channel:
        // the emitter listener (`cluster::emitter`) acts on it; to
        // socketioxide-redis, which speaks msgpack there, it is noise.
        return;
    }
    let handlers = handlers
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handler) = handlers.get(&channel)
        && let Err(e) = handler.try_send((channel, payload))
    {
        tracing::warn!("a Redis subscription is not keeping up: {e}");
    }
}

/// Whether a message is @socket.io/redis-emitter's request (JSON, `{...}`)
/// on a `socket.io-request#<nsp>#` channel, where socketioxide-redis's own
/// requests are msgpack (never starting with `{`).
fn is_emitter_request(channel: &str, payload: &[u8]) -> bool {
    channel.contains("-request#") && payload.first() == Some(&b'{')
}

impl Driver for RedisDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if let Err(e) = self
            .conn
            .clone()
            .publish::<_, _, redis::Value>(&chan, val)
            .await
        {
            // Other nodes miss this one; this node still serves its own
            // sockets, and /readyz reports Redis as failing.
            tracing::warn!(channel = %chan, error = %e, "Redis publish failed; other nodes miss this message");
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        self.conn
            .clone()
            .subscribe(chan.as_str())
            .await
            .map_err(DriverError)?;
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(chan, tx);
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&chan);
        self.conn
            .clone()
            .unsubscribe(chan)
            .await
            .map_err(DriverError)
    }

    /// The nodes listening (this one included). Without Redis, only this one:
    /// cross-node requests then answer from the local node at once instead
    /// of waiting for nodes that cannot hear them.
    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut conn = self.conn.clone();
        let answer: RedisResult<(String, u16)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut conn)
            .await;
        Ok(answer.map_or(1, |(_, count)| count))
    }
}

#[cfg(test)]
mod tests {
    use super::{is_emitter_request, with_resp3};

    #[test]
    fn emitter_requests_are_told_from_the_adapters_own() {
        let channel = "socket.io-request#/chat#";
        assert!(is_emitter_request(channel, br#"{"type":2,"opts":{}}"#));
        // socketioxide-redis's requests are msgpack: a map or array marker.
        assert!(!is_emitter_request(channel, &[0x85, 0xa2]));
        assert!(!is_emitter_request("socket.io#/chat#", b"{"));
        assert!(!is_emitter_request(channel, b""));
    }

    #[test]
    fn resp3_is_asked_for_unless_a_protocol_is_named() {
        assert_eq!(
            with_resp3("redis://h:6379"),
            "redis://h:6379?protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h/0?x=1"),
            "redis://h/0?x=1&protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h?protocol=resp2"),
            "redis://h?protocol=resp2"
        );
    }
}
