//! Several nodes on shared engines: the socketioxide-redis adapter carries
//! every broadcast and room query between nodes ([`driver`]), and committed
//! notifications reach the hubs of every node over the same Redis
//! ([`fanout`]). Node backends push through @socket.io/redis-emitter on the
//! same Redis ([`emitter`]). The durable store (PostgreSQL) is shared; Redis
//! holds nothing that must survive it.

pub mod driver;
pub mod emitter;
pub mod fanout;

pub use driver::RedisDriver;

/// How long a cross-node request (room listing, socket listing, acks) waits
/// for the other nodes.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
