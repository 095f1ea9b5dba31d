//! One recovering namespace's record ([`NamespaceLog`]).
//!
//! Recorded events get a sequence number; the offset a client sees is
//! `<epoch>-<seq>`, the epoch being random per process so an offset from an
//! earlier run of the server is unknown rather than wrong. The record keeps
//! the events of the last window (and at most `--recovery-log-bytes`), the
//! connected sockets that may recover (`live`, by pid), the disconnected
//! sessions held for the window (`held`) and those a reconnecting socket has
//! claimed but not yet resumed (`claimed`, between the CONNECT packet and the
//! connect handler).
//!
//! One lock covers all of it. A recorded event is appended and delivered
//! under it, and a resuming socket joins its rooms and gets its missed events
//! under it, so each event reaches the socket exactly once: in the replay if
//! it was appended before, live if after.
//!
//! Which events a session missed is worked out when it comes back, as the
//! reference does (`shouldIncludePacket`): those after its offset sent to the
//! whole namespace, to one of its rooms or to it alone, and not from it.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use socketioxide::{
    BroadcastError, SocketIo,
    adapter::Adapter,
    extract::SocketRef,
    operators::BroadcastOperators,
    recovery::{Identity, RecoveryClaim},
    socket::DisconnectReason,
};
use socketioxide_core::Sid;
use tokio::sync::Mutex;

use super::{RecoverySettings, metrics::RecoveryMetrics, shared::SharedRecord};
use crate::protocol::{args::Args, rooms};

/// Most disconnected sessions one namespace holds at once; a disconnect past
/// it is not held (counted `dropped`), so a storm of disconnects cannot grow
/// memory without bound.
pub const MAX_HELD_SESSIONS: usize = 100_000;

/// How long a claimed session waits for its socket's connect handler before
/// the sweep ends it (its connect was refused, or the client left at once).
pub(super) const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);

/// A recorded event: who it went to and what it was (an entry of the memory
/// record, or of the stream on Redis).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Recorded {
    /// Rooms it went to; empty for the whole namespace (unless `only`).
    pub rooms: Vec<String>,
    /// The one socket it went to (`emit_to`).
    pub only: Option<Sid>,
    /// The sender, which a broadcast leaves out.
    pub except: Option<Sid>,
    pub event: String,
    pub args: Args,
    /// About what it costs held (its encoded size).
    pub bytes: usize,
}

impl Recorded {
    /// Whether a session with `sid` in `rooms` should have received it (the
    /// reference's `shouldIncludePacket`).
    pub fn reaches(&self, sid: Sid, rooms: &[String]) -> bool {
        if let Some(only) = self.only {
            return only == sid;
        }
        if self.except == Some(sid) {
            return false;
        }
        self.rooms.is_empty() || self.rooms.iter().any(|room| rooms.contains(room))
    }
}

/// An event in the memory record.
struct Entry {
    seq: u64,
    at: Instant,
    recorded: Recorded,
}

/// The rooms a socket recovers into: all of its rooms but the markers that
/// say which form of the events it takes.
pub(super) fn session_rooms<A: Adapter>(socket: &SocketRef<A>) -> Vec<String> {
    socket
        .rooms()
        .into_iter()
        .map(|room| room.into_owned())
        .filter(|room| room != rooms::RECOVERY_OFFSETS && room != rooms::RECOVERY_PLAIN)
        .collect()
}

/// A connected socket that may recover, by pid.
struct Live {
    sid: Sid,
    /// The last sequence number before it connected (or resumed): a client
    /// that comes back without an offset missed everything after it.
    from: u64,
}

/// A disconnected session, held for the window.
struct Held {
    sid: Sid,
    rooms: Vec<String>,
    data: serde_json::Value,
    from: u64,
    until: Instant,
    /// What it missed so far, for the bounds.
    packets: usize,
    bytes: usize,
}

/// A session a reconnecting socket claimed, until its connect handler resumes it.
struct Claimed {
    pid: Sid,
    rooms: Vec<String>,
    data: serde_json::Value,
    /// Replay the events after this sequence number.
    from: u64,
    until: Instant,
}

/// A held session that ended without recovering (window passed, bound
/// exceeded): what the namespace needs to tell the others it left.
#[derive(Debug)]
pub struct Expired {
    pub sid: Sid,
    pub rooms: Vec<String>,
    pub data: serde_json::Value,
}

#[derive(Default)]
struct State {
    /// The sequence number of the last recorded event (0: none yet).
    last: u64,
    /// Every event up to this sequence number is gone from `entries`.
    trimmed: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    live: HashMap<Sid, Live>,
    held: HashMap<Sid, Held>,
    claimed: HashMap<Sid, Claimed>,
}

impl State {
    /// Forgets the oldest events while `forget` says so (the record past its
    /// byte bound, or older than the window); a claim from before them is
    /// then past the record.
    fn drop_oldest_while(&mut self, forget: impl Fn(&Self, &Entry) -> bool) {
        while let Some(oldest) = self.entries.front() {
            if !forget(self, oldest) {
                break;
            }
            let oldest = self.entries.pop_front().expect("checked above");
            self.bytes -= oldest.recorded.bytes;
            self.trimmed = oldest.seq;
        }
    }
}

/// What the namespace does when a held session ends without recovering.
type OnExpired = Box<dyn Fn(Expired) + Send + Sync>;

/// One namespace's record of recent events and recoverable sessions.
pub struct NamespaceLog {
    ns: String,
    settings: Arc<RecoverySettings>,
    epoch: String,
    state: Mutex<State>,
    metrics: RecoveryMetrics,
    on_expired: OnceLock<OnExpired>,
    /// On a cluster, the record on Redis ([`SharedRecord`]): every method
    /// below then goes there, and `state` stays empty.
    shared: Option<Arc<SharedRecord>>,
}

/// Why a recorded event did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendFailed {
    #[error(transparent)]
    Broadcast(#[from] BroadcastError),
    #[error(transparent)]
    Socket(#[from] socketioxide::SendError),
    #[error("not encodable: {0}")]
    Encode(String),
}

/// Who a recorded event went to.
enum Recipients {
    Rooms {
        rooms: Vec<String>,
        except: Option<Sid>,
    },
    Socket(Sid),
}

/// Who sends a recorded broadcast: a socket (left out of it) or the server.
pub enum Sender<'a, A: Adapter> {
    Socket(&'a SocketRef<A>),
    Server(&'a SocketIo<A>),
}

impl NamespaceLog {
    pub(super) fn new(
        ns: String,
        settings: Arc<RecoverySettings>,
        metrics: RecoveryMetrics,
    ) -> Self {
        metrics.register_namespace(&ns);
        let epoch = Sid::new().as_str()[..8].to_owned();
        Self {
            ns,
            settings,
            epoch,
            state: Mutex::new(State::default()),
            metrics,
            on_expired: OnceLock::new(),
            shared: None,
        }
    }

    /// This log on Redis, for a cluster.
    pub(super) fn with_shared(mut self, shared: SharedRecord) -> Self {
        self.shared = Some(Arc::new(shared));
        self
    }

    /// The record on Redis, when this log is a cluster's.
    pub(super) fn shared(&self) -> Option<&Arc<SharedRecord>> {
        self.shared.as_ref()
    }

    /// Sets what happens when a held session ends without recovering (chat
    /// tells the rooms the member left). Once; later calls are ignored.
    pub fn on_expired(&self, handler: impl Fn(Expired) + Send + Sync + 'static) {
        let _ = self.on_expired.set(Box::new(handler));
    }

    fn offset(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// The sequence number of one of this process's offsets.
    fn parse_offset(&self, offset: &str) -> Option<u64> {
        let (epoch, seq) = offset.rsplit_once('-')?;
        (epoch == self.epoch).then_some(())?;
        seq.parse().ok()
    }

    /// The identity of a socket connecting with `claim` (the fork's hook):
    /// the held session's id when the claim names one that can recover, else
    /// a fresh id and a new pid. Never an error.
    pub async fn identify(&self, claim: Option<RecoveryClaim>) -> Identity {
        if let Some(shared) = &self.shared {
            let (identity, ended) = shared.identify(claim).await;
            if let Some(ended) = ended {
                self.expired(ended);
            }
            return identity;
        }
        let pid = claim
            .as_ref()
            .and_then(|claim| claim.pid.as_deref())
            .and_then(|pid| pid.parse::<Sid>().ok());
        let mut ended = None;
        let mut state = self.state.lock().await;
        if let Some(pid) = pid {
            match state.held.remove(&pid) {
                Some(held) => {
                    self.metrics.held.with_label_values(&[&self.ns]).dec();
                    let offset = claim.and_then(|claim| claim.offset);
                    match self.check_claim(&state, &held, offset.as_deref()) {
                        Ok(from) => {
                            self.metrics.outcome(&self.ns, "recovered");
                            let sid = held.sid;
                            state.claimed.insert(
                                sid,
                                Claimed {
                                    pid,
                                    rooms: held.rooms,
                                    data: held.data,
                                    from,
                                    until: Instant::now() + CLAIM_TIMEOUT,
                                },
                            );
                            return Identity {
                                sid,
                                pid: Some(pid),
                                recovered: true,
                            };
                        }
                        Err(outcome) => {
                            tracing::debug!(namespace = %self.ns, outcome, "session not recovered");
                            self.metrics.outcome(&self.ns, outcome);
                            ended = Some(held.into_expired());
                        }
                    }
                }
                None => self.metrics.outcome(&self.ns, "unknown"),
            }
        }
        drop(state);
        if let Some(ended) = ended {
            self.expired(ended);
        }
        Identity {
            sid: Sid::new(),
            pid: Some(Sid::new()),
            recovered: false,
        }
    }

    /// The sequence number to replay after, or why the session cannot recover.
    fn check_claim(
        &self,
        state: &State,
        held: &Held,
        offset: Option<&str>,
    ) -> Result<u64, &'static str> {
        let from = match offset {
            None => held.from,
            Some(offset) => self.parse_offset(offset).ok_or("unknown")?,
        };
        if from > state.last {
            return Err("unknown");
        }
        if from < state.trimmed {
            return Err("dropped");
        }
        let (mut packets, mut bytes) = (0usize, 0usize);
        for entry in state.entries.iter().filter(|e| e.seq > from) {
            if entry.recorded.reaches(held.sid, &held.rooms) {
                packets += 1;
                bytes += entry.recorded.bytes;
            }
        }
        if packets > self.settings.session_packets || bytes > self.settings.session_bytes {
            return Err("dropped");
        }
        Ok(from)
    }

    /// A socket passed the connect middlewares: one that may recover is
    /// remembered by its pid and put with the sockets that get offsets, any
    /// other (it declined, `auth.recovery = false`) with those that do not.
    pub async fn opened<A: Adapter>(&self, socket: &SocketRef<A>) {
        if let Some(shared) = &self.shared {
            return shared.opened(socket).await;
        }
        match socket.pid() {
            Some(pid) => {
                socket.join(rooms::RECOVERY_OFFSETS);
                if !socket.recovered() {
                    let mut state = self.state.lock().await;
                    let from = state.last;
                    state.live.insert(
                        pid,
                        Live {
                            sid: socket.id,
                            from,
                        },
                    );
                }
            }
            None => socket.join(rooms::RECOVERY_PLAIN),
        }
    }

    /// The namespace data of the session `socket` restored, before its
    /// CONNECT reply goes out (so its handlers see it from its first event).
    pub async fn claimed_data<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
    ) -> Option<serde_json::Value> {
        if !socket.recovered() {
            return None;
        }
        if let Some(shared) = &self.shared {
            return shared.claimed_data(socket);
        }
        let state = self.state.lock().await;
        state
            .claimed
            .get(&socket.id)
            .map(|claimed| claimed.data.clone())
    }

    /// After the CONNECT reply of a recovered socket: it joins its rooms again
    /// and gets every event it missed, in order, with their offsets.
    pub async fn resume<A: Adapter>(&self, socket: &SocketRef<A>) {
        if !socket.recovered() {
            return;
        }
        if let Some(shared) = &self.shared {
            return shared.resume(socket).await;
        }
        let mut state = self.state.lock().await;
        let Some(claimed) = state.claimed.remove(&socket.id) else {
            return;
        };
        socket.join(claimed.rooms.clone());
        let mut replayed = 0usize;
        for entry in state.entries.iter().filter(|e| e.seq > claimed.from) {
            if entry.recorded.reaches(socket.id, &claimed.rooms) {
                let args = with_offset(&entry.recorded.args, self.offset(entry.seq));
                if let Err(e) = socket.emit(entry.recorded.event.as_str(), &args) {
                    tracing::warn!(namespace = %self.ns, "replay cut short: {e}");
                    break;
                }
                replayed += 1;
            }
        }
        let from = claimed.from;
        state.live.insert(
            claimed.pid,
            Live {
                sid: socket.id,
                from,
            },
        );
        tracing::debug!(namespace = %self.ns, replayed, "session recovered");
    }

    /// A socket left (its disconnect handler). After a transport-level loss
    /// (the reasons the reference recovers from), a socket that may recover
    /// is held for the window with its rooms and `data`; `true` then, and
    /// the namespace keeps the member present until it recovers or expires.
    pub async fn hold<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        reason: DisconnectReason,
        data: serde_json::Value,
    ) -> bool {
        if let Some(shared) = &self.shared {
            return shared.hold(socket, reason, data).await;
        }
        let Some(pid) = socket.pid() else {
            return false;
        };
        let mut state = self.state.lock().await;
        // A restored socket now owns the pid: this one's end changes nothing.
        if state
            .live
            .get(&pid)
            .is_none_or(|live| live.sid != socket.id)
        {
            return false;
        }
        let live = state.live.remove(&pid).expect("checked above");
        if !recoverable(reason) {
            return false;
        }
        if state.held.len() >= MAX_HELD_SESSIONS {
            self.metrics.outcome(&self.ns, "dropped");
            return false;
        }
        let rooms = session_rooms(socket);
        state.held.insert(
            pid,
            Held {
                sid: socket.id,
                rooms,
                data,
                from: live.from,
                until: Instant::now() + self.settings.window,
                packets: 0,
                bytes: 0,
            },
        );
        self.metrics.held.with_label_values(&[&self.ns]).inc();
        true
    }

    /// Every room of the sessions held or claimed now: they still count as
    /// present (chat's member lists).
    pub async fn absent_rooms(&self) -> Vec<String> {
        if let Some(shared) = &self.shared {
            return shared.absent_rooms().await;
        }
        let state = self.state.lock().await;
        let held = state.held.values().flat_map(|held| held.rooms.iter());
        let claimed = state
            .claimed
            .values()
            .flat_map(|claimed| claimed.rooms.iter());
        held.chain(claimed).cloned().collect()
    }

    /// Records an event to `rooms` (none: the whole namespace) and sends it:
    /// with its offset to the sockets that take offsets, without to the
    /// others. A socket sender is left out, as `socket.to(..)` does.
    pub async fn broadcast<A: Adapter>(
        &self,
        sender: Sender<'_, A>,
        rooms: Vec<String>,
        event: &str,
        args: Args,
    ) -> Result<(), SendFailed> {
        let operators = || -> Option<BroadcastOperators<A>> {
            match &sender {
                Sender::Socket(socket) if rooms.is_empty() => Some(socket.broadcast()),
                Sender::Socket(socket) => Some(socket.to(rooms.clone())),
                Sender::Server(io) if rooms.is_empty() => io.of(&self.ns),
                Sender::Server(io) => io.of(&self.ns).map(|ns| ns.to(rooms.clone())),
            }
        };
        let except = match &sender {
            Sender::Socket(socket) => Some(socket.id),
            Sender::Server(_) => None,
        };
        if let Some(shared) = &self.shared {
            let Err(e) = shared.record(&rooms, None, except, event, &args).await else {
                return Ok(());
            };
            // Redis is away: this node's sockets (and those of the nodes the
            // adapter still reaches) get it as without recovery.
            tracing::warn!(namespace = %self.ns, "{e}; sent without an offset");
            let Some(all) = operators() else {
                return Ok(());
            };
            return Ok(all.emit(event, &args).await?);
        }
        let mut state = self.state.lock().await;
        let seq = self.record(
            &mut state,
            Recipients::Rooms {
                rooms: rooms.clone(),
                except,
            },
            event,
            &args,
        );
        let Some(with) = operators() else {
            return Ok(());
        };
        let offset_args = with_offset(&args, self.offset(seq));
        let with = with
            .except(rooms::RECOVERY_PLAIN)
            .emit(event, &offset_args)
            .await;
        let without = operators()
            .expect("the namespace exists")
            .except(rooms::RECOVERY_OFFSETS)
            .emit(event, &args)
            .await;
        Ok(with.and(without)?)
    }

    /// Records an event to `socket` alone and sends it, with its offset when
    /// the socket takes them.
    pub async fn emit_to<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        event: &str,
        args: Args,
    ) -> Result<(), SendFailed> {
        if socket.pid().is_none() {
            return Ok(socket.emit(event, &args)?);
        }
        if let Some(shared) = &self.shared {
            let Err(e) = shared
                .record(&[], Some(socket.id), None, event, &args)
                .await
            else {
                return Ok(());
            };
            tracing::warn!(namespace = %self.ns, "{e}; sent without an offset");
            return Ok(socket.emit(event, &args)?);
        }
        let mut state = self.state.lock().await;
        let seq = self.record(&mut state, Recipients::Socket(socket.id), event, &args);
        Ok(socket.emit(event, &with_offset(&args, self.offset(seq)))?)
    }

    /// The rooms or namespace data of a live socket changed (chat's joins
    /// and leaves): on a cluster it is written where every node can read it,
    /// so that the session recovers with them even if this node dies.
    pub async fn touch<A: Adapter>(&self, socket: &SocketRef<A>, data: serde_json::Value) {
        if let Some(shared) = &self.shared {
            shared.touch(socket, data).await;
        }
    }

    /// Appends an event, counts it against the held sessions it reaches
    /// (ending those past a bound), trims the record to its byte bound;
    /// returns its sequence number.
    fn record(&self, state: &mut State, to: Recipients, event: &str, args: &Args) -> u64 {
        let (rooms, except, only) = match to {
            Recipients::Rooms { rooms, except } => (rooms, except, None),
            Recipients::Socket(sid) => (Vec::new(), None, Some(sid)),
        };
        state.last += 1;
        let seq = state.last;
        let bytes = event.len() + serde_json::to_vec(args).map_or(0, |json| json.len());
        let recorded = Recorded {
            rooms,
            only,
            except,
            event: event.to_owned(),
            args: args.clone(),
            bytes,
        };
        let (limit_packets, limit_bytes) =
            (self.settings.session_packets, self.settings.session_bytes);
        let mut over = Vec::new();
        for (pid, held) in &mut state.held {
            if recorded.reaches(held.sid, &held.rooms) {
                held.packets += 1;
                held.bytes += recorded.bytes;
                if held.packets > limit_packets || held.bytes > limit_bytes {
                    over.push(*pid);
                }
            }
        }
        let ended: Vec<Expired> = over
            .into_iter()
            .filter_map(|pid| state.held.remove(&pid))
            .map(Held::into_expired)
            .collect();
        state.bytes += recorded.bytes;
        state.entries.push_back(Entry {
            seq,
            at: Instant::now(),
            recorded,
        });
        let limit = self.settings.log_bytes;
        state.drop_oldest_while(|state, _| state.bytes > limit);
        self.metrics.recorded.with_label_values(&[&self.ns]).inc();
        for ended in ended {
            self.metrics.held.with_label_values(&[&self.ns]).dec();
            self.metrics.outcome(&self.ns, "dropped");
            self.expired(ended);
        }
        seq
    }

    /// Ends the held sessions past the window (and claims never resumed),
    /// and forgets the events older than the window.
    pub async fn sweep(&self) {
        if let Some(shared) = &self.shared {
            for ended in shared.sweep().await {
                self.expired(ended);
            }
            return;
        }
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let mut ended: Vec<Expired> = state
            .held
            .extract_if(|_, held| held.until <= now)
            .map(|(_, held)| held.into_expired())
            .collect();
        let held_ended = ended.len();
        let stale = state
            .claimed
            .extract_if(|_, claimed| claimed.until <= now)
            .map(|(sid, claimed)| Expired {
                sid,
                rooms: claimed.rooms,
                data: claimed.data,
            });
        ended.extend(stale);
        let window = self.settings.window;
        state.drop_oldest_while(|_, oldest| now.duration_since(oldest.at) > window);
        drop(state);
        for _ in 0..held_ended {
            self.metrics.held.with_label_values(&[&self.ns]).dec();
            self.metrics.outcome(&self.ns, "expired");
        }
        for ended in ended {
            self.expired(ended);
        }
    }

    fn expired(&self, ended: Expired) {
        if let Some(handler) = self.on_expired.get() {
            handler(ended);
        }
    }
}

impl Held {
    fn into_expired(self) -> Expired {
        Expired {
            sid: self.sid,
            rooms: self.rooms,
            data: self.data,
        }
    }
}

/// The reasons the reference keeps a session for: the transport was lost or
/// closed under the client, or the server went away; not a client or server
/// leaving the namespace on purpose, nor a protocol violation.
pub(super) fn recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::HeartbeatTimeout
            | DisconnectReason::ClosingServer
            | DisconnectReason::SlowClient
    )
}

/// `args` with the offset as one more, last argument (the reference's wire form).
pub(super) fn with_offset(args: &Args, offset: String) -> Args {
    let mut args = args.clone();
    args.0.push(rmpv::Value::from(offset));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(session_packets: usize, log_bytes: usize) -> NamespaceLog {
        let settings = RecoverySettings {
            namespaces: vec!["/chat".into()],
            window: Duration::from_secs(120),
            session_packets,
            session_bytes: 1 << 20,
            log_bytes,
        };
        NamespaceLog::new("/chat".into(), Arc::new(settings), RecoveryMetrics::new())
    }

    fn held(sid: Sid, rooms: &[&str], from: u64) -> Held {
        Held {
            sid,
            rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
            data: serde_json::Value::Null,
            from,
            until: Instant::now() + Duration::from_secs(120),
            packets: 0,
            bytes: 0,
        }
    }

    fn to_room(room: &str) -> Recipients {
        Recipients::Rooms {
            rooms: vec![room.to_owned()],
            except: None,
        }
    }

    #[test]
    fn offsets_round_trip_whatever_the_epoch_holds_and_others_are_unknown() {
        let mut log = log(10, 1 << 20);
        log.epoch = "a-b_c-d".into();
        assert_eq!(log.parse_offset(&log.offset(42)), Some(42));
        assert_eq!(log.parse_offset("other-42"), None);
        assert_eq!(log.parse_offset("a-b_c-d-x"), None);
        assert_eq!(log.parse_offset("42"), None);
    }

    #[test]
    fn an_event_reaches_its_rooms_and_socket_but_not_its_sender() {
        let (me, other) = (Sid::new(), Sid::new());
        let rooms = vec!["r".to_owned()];
        let entry = |rooms: Vec<&str>, except, only| Recorded {
            rooms: rooms.into_iter().map(str::to_owned).collect(),
            only,
            except,
            event: "e".into(),
            args: Args::default(),
            bytes: 1,
        };
        assert!(entry(vec!["r"], None, None).reaches(me, &rooms));
        assert!(entry(vec![], None, None).reaches(me, &rooms));
        assert!(!entry(vec!["s"], None, None).reaches(me, &rooms));
        assert!(!entry(vec!["r"], Some(me), None).reaches(me, &rooms));
        assert!(entry(vec![], None, Some(me)).reaches(me, &rooms));
        assert!(!entry(vec![], None, Some(other)).reaches(me, &rooms));
        // A room named like a socket id is just a room.
        assert!(!entry(vec![me.as_str()], None, None).reaches(me, &rooms));
    }

    #[test]
    fn a_claim_past_the_packet_bound_or_the_trimmed_record_is_refused() {
        let log = log(2, 1 << 20);
        let mut state = State::default();
        let sid = Sid::new();
        for _ in 0..3 {
            log.record(&mut state, to_room("r"), "message", &Args::default());
        }
        log.record(
            &mut state,
            to_room("elsewhere"),
            "message",
            &Args::default(),
        );
        let session = held(sid, &["r"], 0);
        assert_eq!(log.check_claim(&state, &session, None), Err("dropped"));
        assert_eq!(
            log.check_claim(&state, &session, Some(&log.offset(1))),
            Ok(1)
        );
        assert_eq!(
            log.check_claim(&state, &session, Some(&log.offset(9))),
            Err("unknown")
        );
        assert_eq!(
            log.check_claim(&state, &session, Some("nope")),
            Err("unknown")
        );
        state.trimmed = 2;
        assert_eq!(
            log.check_claim(&state, &session, Some(&log.offset(1))),
            Err("dropped")
        );
        assert_eq!(
            log.check_claim(&state, &session, Some(&log.offset(2))),
            Ok(2)
        );
    }

    #[test]
    fn the_record_keeps_to_its_byte_bound_and_a_held_session_to_its_own() {
        let entry_bytes = "message".len() + 2; // `[]`
        let log = log(2, 3 * entry_bytes);
        let mut state = State::default();
        let pid = Sid::new();
        state.held.insert(pid, held(Sid::new(), &["r"], 0));
        for _ in 0..2 {
            log.record(&mut state, to_room("r"), "message", &Args::default());
        }
        assert!(
            state.held.contains_key(&pid),
            "two events are within the bound"
        );
        log.record(&mut state, to_room("other"), "message", &Args::default());
        log.record(&mut state, to_room("r"), "message", &Args::default());
        assert!(
            !state.held.contains_key(&pid),
            "the third event to its room ends it"
        );
        assert_eq!(state.entries.len(), 3);
        assert_eq!(state.bytes, 3 * entry_bytes);
        assert_eq!(state.trimmed, 1);
        assert_eq!(state.last, 4);
    }
}
