//! One HTTP/1.1 connection: hyper serving the router, and a watchdog that
//! closes the connection when a client is too slow or idle too long.
//!
//! The watchdog follows what the connection is doing:
//!
//! - **Reading a request's headers**: from the accept on a new connection,
//!   from the first byte of the next request on a kept-alive one, the headers
//!   must be complete within `--header-read-timeout`.
//! - **Reading a request body**: the whole body must arrive within
//!   `--body-read-timeout` of the end of its headers. A request without a body
//!   (a long-polling GET waiting for its packets, a WebSocket upgrade) has
//!   nothing to wait for, so however long its answer takes is not bounded
//!   here (the Engine.IO heartbeat bounds a poll).
//! - **Idle**: no request in flight and no byte of a next one: closed after
//!   `--keep-alive-timeout`.
//!
//! A request is in flight from the end of its headers until its response body
//! has been sent. A connection that upgrades (WebSocket) leaves the watchdog
//! once hyper hands it over; its socket still counts under the caps until it
//! closes.
//!
//! A connection with no request in flight is also on the node's idle queue:
//! at the node cap a new connection closes the one idle longest.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, StatusCode, header},
    response::IntoResponse,
};
use futures_util::future::BoxFuture;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::Notify,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use super::limits::{ConnectionPermit, IpSlot, Limits};
use crate::{metrics::Metrics, tasks::Tasks};

/// The HTTP timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_read: Duration,
    pub keep_alive: Duration,
}

/// Which timeout closed a connection: its `limit` label in
/// `switchboard_limit_hits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    HeaderRead,
    BodyRead,
    KeepAlive,
}

impl Expired {
    fn label(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read_timeout",
            Self::BodyRead => "body_read_timeout",
            Self::KeepAlive => "keep_alive_timeout",
        }
    }
}

/// What a connection's task needs besides its socket.
pub struct ConnContext {
    pub router: Router,
    pub limits: Arc<Limits>,
    pub timeouts: Timeouts,
    pub metrics: Metrics,
    pub stop: CancellationToken,
    /// The server's connections: graceful shutdown waits for every one.
    pub connections: TaskTracker,
    /// The app's tasks, which count every connection too.
    pub tasks: Tasks,
}

/// Serves one accepted connection in a task of its own.
pub fn spawn(tcp: TcpStream, peer: SocketAddr, permit: ConnectionPermit, cx: ConnContext) {
    let ConnContext {
        router,
        limits,
        timeouts,
        metrics,
        stop,
        connections,
        tasks,
    } = cx;
    let state = Arc::new(ConnState::new(timeouts, limits.clone()));
    let io = TokioIo::new(TrackedIo {
        tcp,
        state: state.clone(),
        untracked: false,
        _permit: permit,
    });
    let service = ConnService {
        router,
        forwarded: limits.counts_requests_from(peer.ip()),
        limits,
        peer,
        state: state.clone(),
    };
    tasks.spawn(connections.track_future(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The watchdog applies the header timeout (hyper's own would also
        // close kept-alive connections after it, and needs a timer).
        builder.header_read_timeout(None);
        let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
        let mut shutting_down = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = stop.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = state.replaced.cancelled() => {
                    tracing::debug!(%peer, "idle connection closed for a new one (--max-connections)");
                    break;
                }
                expired = state.expired() => {
                    metrics.limit_hit(expired.label());
                    tracing::debug!(%peer, limit = expired.label(), "connection closed: too slow or idle");
                    // Dropping the connection closes the socket.
                    break;
                }
            }
        }
        state.finish();
    }));
}

/// Where a connection is, shared by its socket, its service and its watchdog.
struct ConnState {
    timeouts: Timeouts,
    /// Idle, waiting for the first byte of a next request (the fast path of
    /// every read checks only this).
    awaiting_first_byte: AtomicBool,
    /// hyper is done with the connection (closed, or upgraded).
    finished: AtomicBool,
    /// The last response was `101 Switching Protocols`: the connection is
    /// leaving hyper, it is not idle.
    upgrading: AtomicBool,
    /// Cancelled when a new connection takes this idle one's place.
    replaced: CancellationToken,
    limits: Arc<Limits>,
    phase: Mutex<Phase>,
    changed: Notify,
    /// Per-address places of upgrade requests, held while the socket lives.
    upgraded: Mutex<Vec<IpSlot>>,
}

#[derive(Default)]
struct Phase {
    in_flight: usize,
    open_bodies: usize,
    head_deadline: Option<Instant>,
    body_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
    /// The place on the node's idle queue while no request is in flight.
    idle_place: Option<u64>,
}

impl ConnState {
    fn new(timeouts: Timeouts, limits: Arc<Limits>) -> Self {
        let replaced = CancellationToken::new();
        Self {
            timeouts,
            awaiting_first_byte: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            upgrading: AtomicBool::new(false),
            // A new connection owes its first request's headers from now, and
            // is idle until they arrive.
            phase: Mutex::new(Phase {
                head_deadline: Some(Instant::now() + timeouts.header_read),
                idle_place: Some(limits.idle(replaced.clone())),
                ..Phase::default()
            }),
            replaced,
            limits,
            changed: Notify::new(),
            upgraded: Mutex::new(Vec::new()),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().expect("connection phase")
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        // One load on the path of every read; the swap only once per request.
        if !self.awaiting_first_byte.load(Ordering::Acquire)
            || !self.awaiting_first_byte.swap(false, Ordering::AcqRel)
            || self.finished.load(Ordering::Acquire)
        {
            return;
        }
        let mut phase = self.phase();
        if phase.in_flight == 0 && phase.head_deadline.is_none() {
            phase.head_deadline = Some(Instant::now() + self.timeouts.header_read);
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// hyper has read a request's headers.
    fn request_started(self: &Arc<Self>) -> InFlight {
        self.awaiting_first_byte.store(false, Ordering::Release);
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.head_deadline = None;
        phase.idle_deadline = None;
        if let Some(place) = phase.idle_place.take() {
            self.limits.busy(place);
        }
        InFlight(self.clone())
    }

    fn request_finished(&self) {
        let mut phase = self.phase();
        phase.in_flight -= 1;
        if phase.in_flight == 0
            && !self.upgrading.load(Ordering::Acquire)
            && !self.finished.load(Ordering::Acquire)
        {
            phase.idle_deadline = Some(Instant::now() + self.timeouts.keep_alive);
            phase.idle_place = Some(self.limits.idle(self.replaced.clone()));
            phase.head_deadline = None;
            drop(phase);
            self.awaiting_first_byte.store(true, Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn body_started(self: &Arc<Self>) -> BodyOpen {
        let mut phase = self.phase();
        phase.open_bodies += 1;
        let deadline = Instant::now() + self.timeouts.body_read;
        phase.body_deadline = Some(phase.body_deadline.map_or(deadline, |d| d.min(deadline)));
        drop(phase);
        self.changed.notify_one();
        BodyOpen(self.clone())
    }

    fn body_finished(&self) {
        let mut phase = self.phase();
        phase.open_bodies -= 1;
        if phase.open_bodies == 0 {
            phase.body_deadline = None;
        }
    }

    /// The next deadline and what it bounds, if anything is waited for.
    fn deadline(&self) -> Option<(Instant, Expired)> {
        let phase = self.phase();
        if phase.in_flight == 0 {
            phase
                .head_deadline
                .map(|at| (at, Expired::HeaderRead))
                .or(phase.idle_deadline.map(|at| (at, Expired::KeepAlive)))
        } else if phase.open_bodies > 0 {
            phase.body_deadline.map(|at| (at, Expired::BodyRead))
        } else {
            None
        }
    }

    /// Resolves when the deadline in force passes.
    async fn expired(&self) -> Expired {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                Some((at, what)) if at <= Instant::now() => return what,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.awaiting_first_byte.store(false, Ordering::Release);
        if let Some(place) = self.phase().idle_place.take() {
            self.limits.busy(place);
        }
    }

    fn keep_while_open(&self, slot: IpSlot) {
        self.upgraded.lock().expect("upgrade slots").push(slot);
    }
}

/// A request in flight, until dropped.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A request body not read to its end yet, until dropped.
struct BodyOpen(Arc<ConnState>);

impl Drop for BodyOpen {
    fn drop(&mut self) {
        self.0.body_finished();
    }
}

/// The socket, telling the connection state when bytes arrive, and holding
/// the connection's places under the caps for as long as it is open (after
/// an upgrade too, inside the WebSocket).
struct TrackedIo {
    tcp: TcpStream,
    state: Arc<ConnState>,
    /// The state said hyper is done (closed or upgraded): reads need not tell
    /// it anything any more. Kept here, beside the socket, because a
    /// WebSocket's every read would otherwise load the shared state from
    /// memory (1.5% of a busy server's time, measured).
    untracked: bool,
    _permit: ConnectionPermit,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if !self.untracked && matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if self.state.finished.load(Ordering::Acquire) {
                self.untracked = true;
            } else {
                self.state.on_read();
            }
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The router, as hyper calls it for each request of one connection.
#[derive(Clone)]
struct ConnService {
    router: Router,
    limits: Arc<Limits>,
    /// The peer is a trusted proxy: requests count per forwarded address.
    forwarded: bool,
    peer: SocketAddr,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_flight = self.state.request_started();
        // The TCP peer, for handlers and middleware (axum's `ConnectInfo`).
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let body_open = (!request.body().is_end_stream()).then(|| self.state.body_started());
        let slot = if self.forwarded {
            match self
                .limits
                .admit_forwarded(self.peer.ip(), request.headers())
            {
                Ok(slot) => Some(slot),
                Err(_) => {
                    let response = too_many_connections()
                        .map(|body| Body::new(Tracked::new(body, (in_flight, None::<IpSlot>))));
                    return Box::pin(std::future::ready(Ok(response)));
                }
            }
        } else {
            None
        };
        let mut request = request.map(|body| Body::new(Tracked::new(body, body_open)));
        // The TCP peer, as `axum::serve` with connect info gives it (the
        // namespaces' per-address rate limits read it).
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let router = self.router.clone();
        let state = self.state.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
            // An upgraded connection (WebSocket) counts under its client's
            // address for as long as it is open.
            let upgrade = response.status() == StatusCode::SWITCHING_PROTOCOLS;
            if upgrade {
                state.upgrading.store(true, Ordering::Release);
            }
            let slot = match slot {
                Some(slot) if upgrade => {
                    state.keep_while_open(slot);
                    None
                }
                slot => slot,
            };
            Ok(response.map(|body| Body::new(Tracked::new(body, (in_flight, slot)))))
        })
    }
}

/// 503 for a request past its forwarded address's cap.
fn too_many_connections() -> Response<Body> {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(json!({ "error": {
            "code": "rate_limited",
            "message": "too many connections from this address (--max-connections-per-ip)"
        } })),
    )
        .into_response()
}

/// A body that holds `guard` until it has been read to its end (or is
/// dropped). On a request body the guard says the body is still being read
/// ([`BodyOpen`]); on a response body it is the request's time in flight and
/// its per-address place ([`InFlight`], [`IpSlot`]).
struct Tracked<B, G> {
    body: B,
    guard: Option<G>,
}

impl<B, G> Tracked<B, G> {
    fn new(body: B, guard: G) -> Self {
        Self {
            body,
            guard: Some(guard),
        }
    }
}

impl<B: HttpBody + Unpin, G: Unpin> HttpBody for Tracked<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        // The last frame: the end, an error, or a frame after which the body
        // says it has ended.
        let ended = match &frame {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.body.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.guard = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
