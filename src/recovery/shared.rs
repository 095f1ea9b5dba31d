//! One recovering namespace's record on Redis ([`SharedRecord`]), for a
//! cluster: any node can recover any node's session, and a node killed with
//! SIGKILL loses no recoverable session.
//!
//! - **Events** go on one Redis stream per namespace (as the reference's
//!   Redis-streams adapter does), the offset a client sees being the entry
//!   id. No node emits a recorded event itself: every node reads the stream
//!   (one reader task on a connection of its own) and delivers each entry to
//!   its own sockets (`.local()`), so every node delivers in the stream's
//!   order and an offset says exactly what a client got.
//! - **Sessions** are written while they are live (on connect, and when the
//!   namespace changes their rooms or data, [`SharedRecord::touch`]), so the
//!   sessions of a node that dies are still there. Where a session is
//!   (`place`): `live:<node>` or `held:<until, ms>`; every change of place is
//!   a compare-and-set in one Lua script, so a session is taken once.
//! - **Nodes** refresh a heartbeat key (`NODE_TTL`) on every sweep. When one
//!   stops, the next sweep on any node holds its live sessions for the
//!   window; a claim for a session live on a silent node waits until its
//!   heartbeat says whether it is dead (at most `NODE_TTL`).
//! - **Replay** runs in the delivery task, between two entries: the socket
//!   gets the entries after its offset up to the last one delivered on this
//!   node and joins its rooms, then live delivery goes on. Nothing is missed
//!   and nothing arrives twice.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex as StdMutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{
    AsyncCommands, RedisResult, Script,
    aio::{ConnectionManager, MultiplexedConnection},
    streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply},
};
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::SocketRef,
    recovery::{Identity, RecoveryClaim},
    socket::DisconnectReason,
};
use socketioxide_core::Sid;
use tokio::sync::{mpsc, oneshot};

use super::{
    RecoverySettings,
    log::{Expired, Recorded, recoverable, session_rooms, with_offset},
    metrics::RecoveryMetrics,
};
use crate::{
    protocol::{args::Args, rooms},
    tasks::Tasks,
};

/// How long a node's heartbeat lasts: a node silent for longer is dead and
/// its live sessions are held for the window from then.
pub const NODE_TTL: Duration = Duration::from_secs(3);

/// Entries read or replayed per Redis round trip.
const PAGE: usize = 500;

/// What one recorded event costs in the stream, roughly, to turn
/// `--recovery-log-bytes` into the stream's length bound.
const ENTRY_BYTES_ESTIMATE: usize = 512;

/// How long the stream reader blocks on Redis before asking again.
const READ_BLOCK: Duration = Duration::from_secs(2);

/// A session moves only from the place the caller saw: whoever moves it
/// first owns it (recovers it, or ends it).
const TAKE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
";

static TAKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE));
static ORPHANS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ORPHANS));
static TRIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TRIM));

/// The live sessions of a dead node are held from now.
const ORPHANS: &str = r"
local moved = 0
for _, pid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('HGET', KEYS[2], pid) == ARGV[2] then
    redis.call('HSET', KEYS[2], pid, 'held:' .. ARGV[3])
    redis.call('ZADD', KEYS[3], ARGV[3], pid)
    moved = moved + 1
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[1])
return moved
";

/// Trims the stream to its length bound and to the window, remembering the
/// last id it removed (a claim from before it is past the record).
const TRIM: &str = r"
local len = redis.call('XLEN', KEYS[1])
local cap = tonumber(ARGV[1])
if len > cap then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - cap)
  redis.call('SET', KEYS[2], gone[#gone][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', cap)
end
local old = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[2], '-', 'COUNT', 1)
if #old > 0 then
  redis.call('SET', KEYS[2], old[1][1])
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
end
return 0
";

/// The namespace's keys.
struct Keys {
    prefix: String,
    /// The stream of recorded events.
    log: String,
    /// The last id trimmed from it.
    trimmed: String,
    /// pid → the session (JSON).
    sessions: String,
    /// pid → `live:<node>` or `held:<until>`.
    place: String,
    /// Held pids by the time their window ends.
    held: String,
    /// The nodes with live sessions here.
    nodes: String,
}

impl Keys {
    fn new(ns: &str) -> Self {
        let prefix = format!("switchboard:recovery:{ns}:");
        Self {
            log: format!("{prefix}log"),
            trimmed: format!("{prefix}trimmed"),
            sessions: format!("{prefix}sessions"),
            place: format!("{prefix}place"),
            held: format!("{prefix}held"),
            nodes: format!("{prefix}nodes"),
            prefix,
        }
    }

    /// The pids live on `node`.
    fn node(&self, node: &str) -> String {
        format!("{}node:{node}", self.prefix)
    }
}

/// Connects the record's client (each stream reader opens its own
/// connection from it) and the connection its commands share.
pub async fn connect(url: &str) -> RedisResult<(redis::Client, ConnectionManager)> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    let conn = client.get_connection_manager_with_config(config).await?;
    Ok((client, conn))
}

/// A node's heartbeat key.
fn alive_key(node: &str) -> String {
    format!("switchboard:recovery:alive:{node}")
}

/// A session as Redis holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Session {
    sid: String,
    rooms: Vec<String>,
    data: serde_json::Value,
    /// The last entry id before it connected: a client that comes back
    /// without an offset missed everything after it.
    from: String,
}

/// A recorded event as the stream holds it: its id (the offset) and the event.
pub struct StreamEntry {
    pub id: String,
    recorded: Recorded,
}

impl StreamEntry {
    /// The entry's one field: `[event, rooms, only, except, args]` as msgpack
    /// (binary arguments stay binary).
    fn encode(
        event: &str,
        rooms: &[String],
        only: Option<Sid>,
        except: Option<Sid>,
        args: &Args,
    ) -> Vec<u8> {
        let sid = |sid: Option<Sid>| sid.map_or(rmpv::Value::Nil, |sid| sid.as_str().into());
        let value = rmpv::Value::Array(vec![
            event.into(),
            rmpv::Value::Array(rooms.iter().map(|room| room.as_str().into()).collect()),
            sid(only),
            sid(except),
            rmpv::Value::Array(args.0.clone()),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).expect("writing to a Vec does not fail");
        bytes
    }

    fn decode(entry: &StreamId) -> Option<Self> {
        let redis::Value::BulkString(bytes) = entry.map.get("m")? else {
            return None;
        };
        let value = rmpv::decode::read_value(&mut bytes.as_slice()).ok()?;
        let rmpv::Value::Array(mut fields) = value else {
            return None;
        };
        if fields.len() != 5 {
            return None;
        }
        let rmpv::Value::Array(args) = fields.pop()? else {
            return None;
        };
        let sid = |value: &rmpv::Value| value.as_str().and_then(|s| s.parse::<Sid>().ok());
        let except = sid(&fields[3]);
        let only = sid(&fields[2]);
        let rooms = fields[1]
            .as_array()?
            .iter()
            .filter_map(|room| room.as_str().map(str::to_owned))
            .collect();
        let recorded = Recorded {
            rooms,
            only,
            except,
            event: fields[0].as_str()?.to_owned(),
            args: Args(args),
            bytes: bytes.len(),
        };
        Some(Self {
            id: entry.id.clone(),
            recorded,
        })
    }
}

/// A stream id, `<ms>-<seq>`, ordered as Redis orders them.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A connected socket here that may recover.
struct LiveHere {
    sid: Sid,
    from: String,
}

/// A session claimed here, until its socket's connect handler resumes it.
struct Claimed {
    pid: Sid,
    rooms: Vec<String>,
    data: serde_json::Value,
    from: String,
    /// When the sweep gives up on it (its connect was refused).
    until: std::time::Instant,
}

/// What the delivery task runs for a resuming socket: the entries it missed.
type Replay = Box<dyn FnOnce(Vec<StreamEntry>) + Send>;

struct Resume {
    from: String,
    replay: Replay,
    done: oneshot::Sender<()>,
}

/// Why a recorded event did not go out.
#[derive(Debug, thiserror::Error)]
#[error("recording on Redis failed: {0}")]
pub struct RecordFailed(#[from] redis::RedisError);

/// The namespace's record on Redis.
pub struct SharedRecord {
    ns: String,
    keys: Keys,
    /// This node's id (its heartbeat key).
    node: String,
    conn: ConnectionManager,
    client: redis::Client,
    settings: Arc<RecoverySettings>,
    metrics: RecoveryMetrics,
    live: StdMutex<HashMap<Sid, LiveHere>>,
    claimed: StdMutex<HashMap<Sid, Claimed>>,
    /// The last entry delivered on this node.
    cursor: StdMutex<String>,
    resumes: mpsc::UnboundedSender<Resume>,
    resumes_rx: StdMutex<Option<mpsc::UnboundedReceiver<Resume>>>,
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SharedRecord {
    pub fn new(
        ns: String,
        node: String,
        redis: (redis::Client, ConnectionManager),
        settings: Arc<RecoverySettings>,
        metrics: RecoveryMetrics,
    ) -> Self {
        let (resumes, resumes_rx) = mpsc::unbounded_channel();
        Self {
            keys: Keys::new(&ns),
            ns,
            node,
            client: redis.0,
            conn: redis.1,
            settings,
            metrics,
            live: StdMutex::default(),
            claimed: StdMutex::default(),
            cursor: StdMutex::new("0-0".to_owned()),
            resumes,
            resumes_rx: StdMutex::new(Some(resumes_rx)),
        }
    }

    fn place_live(&self) -> String {
        format!("live:{}", self.node)
    }

    /// Starts reading the stream and delivering to this node's sockets, from
    /// its current end (before any socket connects).
    pub async fn start<A: Adapter>(
        self: &Arc<Self>,
        io: &SocketIo<A>,
        tasks: &Tasks,
    ) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        let last: StreamRangeReply = conn.xrevrange_count(&self.keys.log, "+", "-", 1).await?;
        let trimmed: Option<String> = conn.get(&self.keys.trimmed).await?;
        let cursor = [last.ids.first().map(|entry| entry.id.clone()), trimmed]
            .into_iter()
            .flatten()
            .max_by_key(|id| parse_id(id))
            .unwrap_or_else(|| "0-0".to_owned());
        *lock(&self.cursor) = cursor.clone();
        let Some(resumes) = lock(&self.resumes_rx).take() else {
            return Ok(());
        };
        let (entries, rx) = mpsc::channel(PAGE);
        let reader = Reader {
            client: self.client.clone(),
            key: self.keys.log.clone(),
            ns: self.ns.clone(),
        };
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            tokio::select! {
                () = stopping => {}
                () = reader.run(cursor, entries) => {}
            }
        });
        let (record, io, stopping) = (self.clone(), io.clone(), tasks.stopping());
        tasks.spawn(async move {
            tokio::select! {
                () = stopping => {}
                () = record.deliver_all(io, rx, resumes) => {}
            }
        });
        Ok(())
    }

    /// The delivery task: live entries in stream order, and replays between them.
    async fn deliver_all<A: Adapter>(
        self: Arc<Self>,
        io: SocketIo<A>,
        mut entries: mpsc::Receiver<StreamEntry>,
        mut resumes: mpsc::UnboundedReceiver<Resume>,
    ) {
        loop {
            tokio::select! {
                biased;
                Some(resume) = resumes.recv() => self.replay(resume).await,
                entry = entries.recv() => {
                    let Some(entry) = entry else { return };
                    deliver(&io, &self.ns, &entry).await;
                    *lock(&self.cursor) = entry.id;
                }
            }
        }
    }

    /// The entries after `resume.from` up to the last delivered here.
    async fn replay(&self, resume: Resume) {
        let cursor = lock(&self.cursor).clone();
        let mut missed = Vec::new();
        let mut start = format!("({}", resume.from);
        if parse_id(&resume.from) < parse_id(&cursor) {
            let mut conn = self.conn.clone();
            loop {
                let page: RedisResult<StreamRangeReply> = conn
                    .xrange_count(&self.keys.log, &start, &cursor, PAGE)
                    .await;
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(namespace = %self.ns, "replay cut short: {e}");
                        break;
                    }
                };
                let full = page.ids.len() == PAGE;
                if let Some(last) = page.ids.last() {
                    start = format!("({}", last.id);
                }
                missed.extend(page.ids.iter().filter_map(StreamEntry::decode));
                if !full {
                    break;
                }
            }
        }
        (resume.replay)(missed);
        let _ = resume.done.send(());
    }

    /// The identity of a socket connecting with `claim`, and the session it
    /// ended if that one could not recover. Redis failing means a fresh
    /// connection, never an error.
    pub async fn identify(&self, claim: Option<RecoveryClaim>) -> (Identity, Option<Expired>) {
        let fresh = Identity {
            sid: Sid::new(),
            pid: Some(Sid::new()),
            recovered: false,
        };
        let Some(claim) = claim else {
            return (fresh, None);
        };
        let Some(pid) = claim.pid.as_deref().and_then(|pid| pid.parse::<Sid>().ok()) else {
            return (fresh, None);
        };
        match self.take(pid).await {
            Ok(Some(session)) => match self.check(&session, claim.offset.as_deref()).await {
                Ok(from) => {
                    let Ok(sid) = session.sid.parse::<Sid>() else {
                        return (fresh, None);
                    };
                    if let Err(e) = self.write_live(pid, &session).await {
                        tracing::warn!(namespace = %self.ns, "recovered session not written: {e}");
                    }
                    self.metrics.outcome(&self.ns, "recovered");
                    lock(&self.claimed).insert(
                        sid,
                        Claimed {
                            pid,
                            rooms: session.rooms,
                            data: session.data,
                            from,
                            until: std::time::Instant::now() + super::log::CLAIM_TIMEOUT,
                        },
                    );
                    let identity = Identity {
                        sid,
                        pid: Some(pid),
                        recovered: true,
                    };
                    (identity, None)
                }
                Err(outcome) => {
                    tracing::debug!(namespace = %self.ns, outcome, "session not recovered");
                    self.metrics.outcome(&self.ns, outcome);
                    let expired = session.sid.parse().ok().map(|sid| Expired {
                        sid,
                        rooms: session.rooms,
                        data: session.data,
                    });
                    (fresh, expired)
                }
            },
            Ok(None) => {
                self.metrics.outcome(&self.ns, "unknown");
                (fresh, None)
            }
            Err(e) => {
                tracing::warn!(namespace = %self.ns, "session not recovered: Redis failed: {e}");
                self.metrics.outcome(&self.ns, "unknown");
                (fresh, None)
            }
        }
    }

    /// Takes session `pid` from Redis when it is held, or live on a node that
    /// turns out dead (waiting for its heartbeat to say so); `None` when
    /// there is none, it is live (here or on a living node), or another
    /// node took it first.
    async fn take(&self, pid: Sid) -> RedisResult<Option<Session>> {
        let mut conn = self.conn.clone();
        let pid_text = pid.as_str();
        let mut waited_until = None;
        let place = loop {
            let place: Option<String> = conn.hget(&self.keys.place, pid_text).await?;
            let Some(place) = place else {
                return Ok(None);
            };
            let Some(node) = place.strip_prefix("live:") else {
                break place;
            };
            if node == self.node {
                return Ok(None);
            }
            let ttl: i64 = conn.pttl(alive_key(node)).await?;
            if ttl <= 0 {
                break place;
            }
            // Live on a node whose heartbeat still runs: either it has not
            // seen the transport drop yet, or it died moments ago. Its
            // heartbeat says which by the time it runs out.
            let deadline = *waited_until.get_or_insert_with(|| {
                tokio::time::Instant::now()
                    + Duration::from_millis(u64::try_from(ttl).unwrap_or(0)).min(NODE_TTL)
                    + Duration::from_millis(100)
            });
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let session: Option<String> = conn.hget(&self.keys.sessions, pid_text).await?;
        let node_set = match place.strip_prefix("live:") {
            Some(node) => self.keys.node(node),
            None => self.keys.node(&self.node),
        };
        let taken: i64 = self
            .take_script(&node_set, pid_text, &place)
            .invoke_async(&mut conn)
            .await?;
        if taken == 0 {
            return Ok(None);
        }
        self.update_held_gauge(&mut conn).await;
        Ok(session.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// The entry id to replay after, or why the session cannot recover:
    /// `unknown` (not an offset of this stream), `dropped` (the record was
    /// trimmed past it, or it missed more than a session may hold).
    async fn check(&self, session: &Session, offset: Option<&str>) -> Result<String, &'static str> {
        let from = offset.unwrap_or(&session.from);
        let from_id = parse_id(from).ok_or("unknown")?;
        let mut conn = self.conn.clone();
        let trimmed: Option<String> = conn.get(&self.keys.trimmed).await.map_err(|_| "unknown")?;
        if trimmed
            .as_deref()
            .and_then(parse_id)
            .is_some_and(|t| from_id < t)
        {
            return Err("dropped");
        }
        let sid = session.sid.parse::<Sid>().map_err(|_| "unknown")?;
        let (mut packets, mut bytes) = (0usize, 0usize);
        let mut start = format!("({from}");
        loop {
            let page: StreamRangeReply = conn
                .xrange_count(&self.keys.log, &start, "+", PAGE)
                .await
                .map_err(|_| "unknown")?;
            for entry in page.ids.iter().filter_map(StreamEntry::decode) {
                if entry.recorded.reaches(sid, &session.rooms) {
                    packets += 1;
                    bytes += entry.recorded.bytes;
                }
            }
            if packets > self.settings.session_packets || bytes > self.settings.session_bytes {
                return Err("dropped");
            }
            match page.ids.last() {
                Some(last) if page.ids.len() == PAGE => start = format!("({}", last.id),
                _ => break,
            }
        }
        Ok(from.to_owned())
    }

    /// Writes `session` as live on this node.
    async fn write_live(&self, pid: Sid, session: &Session) -> RedisResult<()> {
        let json = serde_json::to_string(session).expect("a session serializes");
        let mut conn = self.conn.clone();
        redis::pipe()
            .hset(&self.keys.sessions, pid.as_str(), json)
            .ignore()
            .hset(&self.keys.place, pid.as_str(), self.place_live())
            .ignore()
            .sadd(self.keys.node(&self.node), pid.as_str())
            .ignore()
            .sadd(&self.keys.nodes, &self.node)
            .ignore()
            .query_async(&mut conn)
            .await
    }

    /// A socket passed the connect middlewares: one that may recover is
    /// written as live here (rooms and data follow with [`Self::touch`]).
    pub async fn opened<A: Adapter>(&self, socket: &SocketRef<A>) {
        // Its own room: the stream names one socket (or a sender to leave
        // out) by id, and every node delivers by room.
        socket.join(socket.id.to_string());
        let Some(pid) = socket.pid() else {
            socket.join(rooms::RECOVERY_PLAIN);
            return;
        };
        socket.join(rooms::RECOVERY_OFFSETS);
        if socket.recovered() {
            return;
        }
        let from = lock(&self.cursor).clone();
        lock(&self.live).insert(
            pid,
            LiveHere {
                sid: socket.id,
                from: from.clone(),
            },
        );
        let session = Session {
            sid: socket.id.to_string(),
            rooms: Vec::new(),
            data: serde_json::Value::Null,
            from,
        };
        if let Err(e) = self.write_live(pid, &session).await {
            tracing::warn!(namespace = %self.ns, "session not written; it may not recover: {e}");
        }
    }

    /// The rooms or namespace data of a live socket changed: written, so
    /// that it recovers with them even if this node dies.
    pub async fn touch<A: Adapter>(&self, socket: &SocketRef<A>, data: serde_json::Value) {
        let Some(pid) = socket.pid() else {
            return;
        };
        let from = match lock(&self.live).get(&pid) {
            Some(live) if live.sid == socket.id => live.from.clone(),
            _ => return,
        };
        let session = Session {
            sid: socket.id.to_string(),
            rooms: session_rooms(socket),
            data,
            from,
        };
        if let Err(e) = self.write_live(pid, &session).await {
            tracing::warn!(namespace = %self.ns, "session not written; it may not recover: {e}");
        }
    }

    /// The namespace data of the session `socket` restored.
    pub fn claimed_data<A: Adapter>(&self, socket: &SocketRef<A>) -> Option<serde_json::Value> {
        lock(&self.claimed)
            .get(&socket.id)
            .map(|claimed| claimed.data.clone())
    }

    /// After the CONNECT reply of a recovered socket: between two live
    /// entries, it joins its rooms and gets the entries it missed.
    pub async fn resume<A: Adapter>(&self, socket: &SocketRef<A>) {
        let Some(claimed) = lock(&self.claimed).remove(&socket.id) else {
            return;
        };
        let (done, finished) = oneshot::channel();
        let (target, rooms, ns) = (socket.clone(), claimed.rooms.clone(), self.ns.clone());
        let replay: Replay = Box::new(move |missed: Vec<StreamEntry>| {
            target.join(rooms.clone());
            let mut replayed = 0usize;
            for entry in missed
                .iter()
                .filter(|e| e.recorded.reaches(target.id, &rooms))
            {
                let args = with_offset(&entry.recorded.args, entry.id.clone());
                if let Err(e) = target.emit(entry.recorded.event.as_str(), &args) {
                    tracing::warn!(namespace = %ns, "replay cut short: {e}");
                    break;
                }
                replayed += 1;
            }
            tracing::debug!(namespace = %ns, replayed, "session recovered");
        });
        let resume = Resume {
            from: claimed.from.clone(),
            replay,
            done,
        };
        if self.resumes.send(resume).is_err() {
            return;
        }
        let _ = finished.await;
        lock(&self.live).insert(
            claimed.pid,
            LiveHere {
                sid: socket.id,
                from: claimed.from.clone(),
            },
        );
        let session = Session {
            sid: socket.id.to_string(),
            rooms: claimed.rooms,
            data: claimed.data,
            from: claimed.from,
        };
        if let Err(e) = self.write_live(claimed.pid, &session).await {
            tracing::warn!(namespace = %self.ns, "recovered session not written: {e}");
        }
    }

    /// A socket left: after a transport-level loss it is held for the window
    /// (written to Redis, where any node can take it); `true` then.
    pub async fn hold<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        reason: DisconnectReason,
        data: serde_json::Value,
    ) -> bool {
        let Some(pid) = socket.pid() else {
            return false;
        };
        let live = {
            let mut live = lock(&self.live);
            match live.get(&pid) {
                Some(here) if here.sid == socket.id => live.remove(&pid),
                _ => None,
            }
        };
        let Some(live) = live else {
            return false;
        };
        let mut conn = self.conn.clone();
        let place = self.place_live();
        if !recoverable(reason) {
            let _ = self
                .take_script(&self.keys.node(&self.node), pid.as_str(), &place)
                .invoke_async::<i64>(&mut conn)
                .await;
            return false;
        }
        let held: RedisResult<usize> = conn.zcard(&self.keys.held).await;
        if held
            .as_ref()
            .is_ok_and(|held| *held >= super::log::MAX_HELD_SESSIONS)
        {
            self.metrics.outcome(&self.ns, "dropped");
            return false;
        }
        let until = now_ms() + u64::try_from(self.settings.window.as_millis()).unwrap_or(u64::MAX);
        let session = Session {
            sid: socket.id.to_string(),
            rooms: session_rooms(socket),
            data,
            from: live.from,
        };
        let json = serde_json::to_string(&session).expect("a session serializes");
        let written: RedisResult<()> = redis::pipe()
            .hset(&self.keys.sessions, pid.as_str(), json)
            .ignore()
            .hset(&self.keys.place, pid.as_str(), format!("held:{until}"))
            .ignore()
            .zadd(&self.keys.held, pid.as_str(), until)
            .ignore()
            .srem(self.keys.node(&self.node), pid.as_str())
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = written {
            tracing::warn!(namespace = %self.ns, "session not held: Redis failed: {e}");
            return false;
        }
        self.update_held_gauge(&mut conn).await;
        true
    }

    /// The rooms of the sessions held now on any node, and of those claimed
    /// here and not yet resumed.
    pub async fn absent_rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = lock(&self.claimed)
            .values()
            .flat_map(|claimed| claimed.rooms.iter().cloned())
            .collect();
        let mut conn = self.conn.clone();
        let held: Vec<String> = conn
            .zrange(&self.keys.held, 0, -1)
            .await
            .unwrap_or_default();
        if held.is_empty() {
            return rooms;
        }
        let sessions: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&self.keys.sessions)
            .arg(&held)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for session in sessions.into_iter().flatten() {
            if let Ok(session) = serde_json::from_str::<Session>(&session) {
                rooms.extend(session.rooms);
            }
        }
        rooms
    }

    /// Appends an event to the stream; every node's delivery task sends it.
    pub async fn record(
        &self,
        rooms: &[String],
        only: Option<Sid>,
        except: Option<Sid>,
        event: &str,
        args: &Args,
    ) -> Result<(), RecordFailed> {
        let entry = StreamEntry::encode(event, rooms, only, except, args);
        let mut conn = self.conn.clone();
        let _: String = conn.xadd(&self.keys.log, "*", &[("m", entry)]).await?;
        self.metrics.recorded.with_label_values(&[&self.ns]).inc();
        Ok(())
    }

    /// The heartbeat, the held sessions past their window (ended, returned),
    /// the live sessions of dead nodes (held from now), the stream's trim.
    pub async fn sweep(&self) -> Vec<Expired> {
        match self.sweep_once().await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(namespace = %self.ns, "recovery sweep failed: {e}");
                Vec::new()
            }
        }
    }

    async fn sweep_once(&self) -> RedisResult<Vec<Expired>> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let ttl = u64::try_from(NODE_TTL.as_millis()).unwrap_or(u64::MAX);
        let (due, nodes): (Vec<String>, Vec<String>) = redis::pipe()
            .set_options(
                alive_key(&self.node),
                1,
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl)),
            )
            .ignore()
            .sadd(&self.keys.nodes, &self.node)
            .ignore()
            .zrangebyscore_limit(&self.keys.held, "-inf", now, 0, 256)
            .smembers(&self.keys.nodes)
            .query_async(&mut conn)
            .await?;
        let mut ended = Vec::new();
        for (pid, claim) in self.stale_claims() {
            let _: i64 = self
                .take_script(
                    &self.keys.node(&self.node),
                    pid.as_str(),
                    &self.place_live(),
                )
                .invoke_async(&mut conn)
                .await?;
            ended.push(claim);
        }
        for pid in due {
            let place: Option<String> = conn.hget(&self.keys.place, &pid).await?;
            let Some(place) = place.filter(|place| place.starts_with("held:")) else {
                let _: () = conn.zrem(&self.keys.held, &pid).await?;
                continue;
            };
            let session: Option<String> = conn.hget(&self.keys.sessions, &pid).await?;
            let taken: i64 = self
                .take_script(&self.keys.node(&self.node), &pid, &place)
                .invoke_async(&mut conn)
                .await?;
            if taken == 0 {
                continue;
            }
            self.metrics.outcome(&self.ns, "expired");
            let session = session.and_then(|json| serde_json::from_str::<Session>(&json).ok());
            if let Some(session) = session
                && let Ok(sid) = session.sid.parse()
            {
                ended.push(Expired {
                    sid,
                    rooms: session.rooms,
                    data: session.data,
                });
            }
        }
        let until = now + u64::try_from(self.settings.window.as_millis()).unwrap_or(u64::MAX);
        for node in nodes.iter().filter(|node| **node != self.node) {
            let alive: bool = conn.exists(alive_key(node)).await?;
            if alive {
                continue;
            }
            let moved: i64 = ORPHANS_SCRIPT
                .key(self.keys.node(node))
                .key(&self.keys.place)
                .key(&self.keys.held)
                .key(&self.keys.nodes)
                .arg(node)
                .arg(format!("live:{node}"))
                .arg(until)
                .invoke_async(&mut conn)
                .await?;
            if moved > 0 {
                tracing::info!(namespace = %self.ns, sessions = moved, "a node stopped: its sessions are held for the window");
            }
        }
        let window = u64::try_from(self.settings.window.as_millis()).unwrap_or(u64::MAX);
        let cap = (self.settings.log_bytes / ENTRY_BYTES_ESTIMATE).max(1_000);
        let _: i64 = TRIM_SCRIPT
            .key(&self.keys.log)
            .key(&self.keys.trimmed)
            .arg(cap)
            .arg(format!("{}-0", now.saturating_sub(window)))
            .invoke_async(&mut conn)
            .await?;
        self.update_held_gauge(&mut conn).await;
        Ok(ended)
    }

    /// Claims whose socket never reached its connect handler (a middleware
    /// refused it): ended, and gone from Redis since their claim.
    fn stale_claims(&self) -> Vec<(Sid, Expired)> {
        let now = std::time::Instant::now();
        let mut claimed = lock(&self.claimed);
        let stale: Vec<Sid> = claimed
            .iter()
            .filter(|(_, claim)| claim.until <= now)
            .map(|(sid, _)| *sid)
            .collect();
        stale
            .into_iter()
            .filter_map(|sid| claimed.remove(&sid).map(|claim| (sid, claim)))
            .map(|(sid, claim)| {
                let expired = Expired {
                    sid,
                    rooms: claim.rooms,
                    data: claim.data,
                };
                (claim.pid, expired)
            })
            .collect()
    }

    /// [`TAKE`] of session `pid` from `place` (`node_set`: the set of the
    /// node it is live on, when it is).
    fn take_script(
        &self,
        node_set: &str,
        pid: &str,
        place: &str,
    ) -> redis::ScriptInvocation<'static> {
        let mut invocation = TAKE_SCRIPT.prepare_invoke();
        invocation
            .key(&self.keys.place)
            .key(&self.keys.held)
            .key(&self.keys.sessions)
            .key(node_set)
            .arg(pid)
            .arg(place);
        invocation
    }

    async fn update_held_gauge(&self, conn: &mut ConnectionManager) {
        if let Ok(held) = conn.zcard::<_, i64>(&self.keys.held).await {
            self.metrics.held.with_label_values(&[&self.ns]).set(held);
        }
    }
}

/// Sends one entry to this node's sockets: with its offset to those that
/// take offsets, without to the others.
async fn deliver<A: Adapter>(io: &SocketIo<A>, ns: &str, entry: &StreamEntry) {
    let Some(all) = io.of(ns) else {
        return;
    };
    let operators = || {
        let mut to = all.clone().local();
        if let Some(only) = entry.recorded.only {
            to = to.to(only.as_str().to_owned());
        } else if !entry.recorded.rooms.is_empty() {
            to = to.to(entry.recorded.rooms.clone());
        }
        if let Some(except) = entry.recorded.except {
            to = to.except(except.as_str().to_owned());
        }
        to
    };
    let with = with_offset(&entry.recorded.args, entry.id.clone());
    let sent = operators()
        .except(rooms::RECOVERY_PLAIN)
        .emit(entry.recorded.event.as_str(), &with)
        .await;
    let plain = operators()
        .except(rooms::RECOVERY_OFFSETS)
        .emit(entry.recorded.event.as_str(), &entry.recorded.args)
        .await;
    if let Err(e) = sent.and(plain) {
        tracing::debug!(
            namespace = ns,
            "recorded event not delivered to every socket: {e}"
        );
    }
}

/// Reads the stream on a connection of its own (XREAD blocks it).
struct Reader {
    client: redis::Client,
    key: String,
    ns: String,
}

impl Reader {
    async fn run(self, mut last: String, entries: mpsc::Sender<StreamEntry>) {
        let mut conn: Option<MultiplexedConnection> = None;
        let options = StreamReadOptions::default()
            .block(usize::try_from(READ_BLOCK.as_millis()).unwrap_or(2_000))
            .count(PAGE);
        loop {
            let connection = match &mut conn {
                Some(connection) => connection,
                None => {
                    let config = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(Duration::from_secs(2)))
                        .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(2)));
                    match self
                        .client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                    {
                        Ok(connection) => conn.insert(connection),
                        Err(e) => {
                            tracing::warn!(namespace = %self.ns, "recovery stream reader cannot connect: {e}");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    }
                }
            };
            let reply: RedisResult<Option<StreamReadReply>> = connection
                .xread_options(&[&self.key], &[&last], &options)
                .await;
            match reply {
                Ok(reply) => {
                    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                        last = entry.id.clone();
                        match StreamEntry::decode(&entry) {
                            Some(recorded) => {
                                if entries.send(recorded).await.is_err() {
                                    return;
                                }
                            }
                            None => {
                                tracing::warn!(namespace = %self.ns, "unreadable entry in the recovery stream")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(namespace = %self.ns, "recovery stream read failed: {e}");
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_as_redis_orders_them() {
        assert!(parse_id("9-5") < parse_id("10-0"));
        assert!(parse_id("10-2") < parse_id("10-10"));
        assert_eq!(parse_id("0-0"), Some((0, 0)));
        assert_eq!(parse_id("x-1"), None);
        assert_eq!(parse_id("12"), None);
    }

    #[test]
    fn a_recorded_event_reads_back_as_written_binary_included() {
        let (to, except) = (Sid::new(), Sid::new());
        let args = Args(vec![
            rmpv::Value::from("text"),
            rmpv::Value::Binary(vec![0, 1, 255]),
        ]);
        let rooms = vec!["chat:r".to_owned()];
        let bytes = StreamEntry::encode("message", &rooms, None, Some(except), &args);
        let entry = StreamId {
            id: "5-1".into(),
            map: HashMap::from([("m".to_owned(), redis::Value::BulkString(bytes))]),
            ..StreamId::default()
        };
        let recorded = StreamEntry::decode(&entry).expect("decodes");
        assert_eq!(
            (recorded.id.as_str(), recorded.recorded.event.as_str()),
            ("5-1", "message")
        );
        assert_eq!(recorded.recorded.args, args);
        assert_eq!(recorded.recorded.rooms, rooms);
        assert!(recorded.recorded.reaches(to, &rooms));
        assert!(
            !recorded.recorded.reaches(except, &rooms),
            "the sender is left out"
        );
        assert!(!recorded.recorded.reaches(to, &[]), "not in the room");
    }

    #[test]
    fn an_entry_that_is_not_ours_is_skipped_not_a_panic() {
        let entry = |value| StreamId {
            id: "1-0".into(),
            map: HashMap::from([("m".to_owned(), value)]),
            ..StreamId::default()
        };
        assert!(StreamEntry::decode(&entry(redis::Value::BulkString(vec![0xc1]))).is_none());
        assert!(StreamEntry::decode(&entry(redis::Value::Int(3))).is_none());
        let mut short = Vec::new();
        rmpv::encode::write_value(&mut short, &rmpv::Value::Array(vec!["e".into()])).unwrap();
        assert!(StreamEntry::decode(&entry(redis::Value::BulkString(short))).is_none());
    }
}
