//! SWITCHBOARD PATCH (socket tap): an observer of every namespace socket, as Node's
//! server gives one through its `connection` and `disconnect` events and `onAny`: the
//! Socket.IO Admin UI shows each socket as it connects and leaves and each event it
//! receives, and socketioxide has no hook for any of these outside the namespace's own
//! handlers.
//!
//! Events sent are shown only while [`SocketTap::wants_sent_events`] says so, since each
//! then costs an encoding (a broadcast's is shared by its recipients).
//!
//! Put a [`Tap`] in the server's state (`SocketIoBuilder::with_state(Tap::new(...))`):
//! every namespace added with [`SocketIo::ns`](crate::SocketIo::ns) afterwards reports to
//! it. The calls run on the socket's own paths (the connect, the receive loop, the close),
//! so an implementation must be quick and must not block; it must not emit from them.

use std::sync::Arc;

use socketioxide_core::Value;

use crate::{
    adapter::Adapter,
    socket::{DisconnectReason, Socket},
};

/// What a [`Tap`] is told. Every method has an empty default.
pub trait SocketTap<A: Adapter>: Send + Sync + 'static {
    /// `socket` passed the namespace's middlewares and its CONNECT reply is queued; the
    /// rooms its middlewares joined are in place, its connect handler has not run yet.
    fn connected(&self, socket: &Socket<A>) {
        let _ = socket;
    }

    /// `socket` leaves its namespace for `reason`, before its disconnect handler runs (its
    /// rooms are still in place).
    fn disconnected(&self, socket: &Socket<A>, reason: DisconnectReason) {
        let _ = (socket, reason);
    }

    /// An event (EVENT or BINARY_EVENT, complete with its attachments) arrived for
    /// `socket`, before its handler is called: `data` as the parser decoded it, the event
    /// name first.
    fn event_received(&self, socket: &Socket<A>, data: &Value) {
        let _ = (socket, data);
    }

    /// Whether [`Self::event_sent`] wants to be called now for `socket`: each event then
    /// costs one more encoding of the packet. `false` by default.
    fn wants_sent_events(&self, socket: &Socket<A>) -> bool {
        let _ = socket;
        false
    }

    /// An event (EVENT or BINARY_EVENT) is about to be queued for `socket`'s client: a
    /// direct emit, one recipient of a broadcast (from this node or another through the
    /// adapter), or an emit asking for an ack. `packet` is its encoding as it goes out
    /// (the whole packet, header included, and its attachments). Other packets (acks,
    /// CONNECT, DISCONNECT) are not shown.
    fn event_sent(&self, socket: &Socket<A>, packet: &Value) {
        let _ = (socket, packet);
    }
}

/// The socket tap of a server, in its state.
pub struct Tap<A>(pub(crate) Arc<dyn SocketTap<A>>);

impl<A: Adapter> Tap<A> {
    /// A tap reporting to `tap`.
    pub fn new(tap: impl SocketTap<A>) -> Self {
        Self(Arc::new(tap))
    }
}

impl<A> Clone for Tap<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<A> std::fmt::Debug for Tap<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}
