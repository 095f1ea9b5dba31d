//! What socketioxide tells the Admin UI about every namespace socket (the
//! fork's `socketioxide::tap`, entry 18): it connected, it left, it received
//! an event, an event is sent to it. The calls come on socketioxide's own paths (the connect, the
//! receive loop, the close), so each does the least it can: it counts for
//! `server_stats`, notes what the room scan needs in the socket's
//! extensions, and hands the rest to the [`feed`](super::feed) task, and only
//! while somebody watches. Nothing here emits or waits.

use std::sync::{Arc, Mutex};

use socketioxide::{
    adapter::Adapter, handler::Value, socket::DisconnectReason, socket::Socket, tap::SocketTap,
};

use super::{
    Admin, NAMESPACE,
    feed::{Report, Seen},
    sockets,
};
use crate::protocol::now_ms;

/// The tap of one server's Admin UI.
pub struct AdminTap<A: Adapter> {
    pub(super) admin: Admin<A>,
}

impl<A: Adapter> SocketTap<A> for AdminTap<A> {
    fn connected(&self, socket: &Socket<A>) {
        let admin = &self.admin.inner;
        let issued = now_ms();
        let seen = Arc::new(Mutex::new(Seen::of(socket)));
        socket.extensions.insert(sockets::Issued(issued));
        socket.extensions.insert(seen);
        admin.counters.socket_opened(sockets::session_key(socket));
        if socket.ns() == NAMESPACE {
            admin.feed.admin_joined();
        }
        if admin.feed.watched() {
            let described = sockets::describe(socket, issued, &admin.settings.trusted_proxies);
            admin.feed.report(Report::Connected(Box::new(described)));
        }
    }

    fn disconnected(&self, socket: &Socket<A>, reason: DisconnectReason) {
        let admin = &self.admin.inner;
        admin
            .counters
            .socket_closed(sockets::session_key(socket), reason);
        if socket.ns() == NAMESPACE {
            admin.feed.admin_left();
        }
        if admin.feed.watched() {
            admin.feed.report(Report::Disconnected {
                ns: socket.ns().to_owned(),
                sid: socket.id,
                reason,
                at: now_ms(),
            });
        }
    }

    fn wants_sent_events(&self, socket: &Socket<A>) -> bool {
        socket.ns() != NAMESPACE && self.admin.inner.feed.watched()
    }

    fn event_sent(&self, socket: &Socket<A>, packet: &Value) {
        if !super::packet::is_event(packet) {
            return;
        }
        let admin = &self.admin.inner;
        admin.counters.packet_out(super::packet::size(packet));
        admin.feed.event(Report::Sent {
            ns: socket.ns().to_owned(),
            sid: socket.id,
            data: packet.clone(),
            at: now_ms(),
        });
    }

    fn event_received(&self, socket: &Socket<A>, data: &Value) {
        if socket.ns() == NAMESPACE {
            return;
        }
        let admin = &self.admin.inner;
        admin.counters.packet_in(super::packet::size(data));
        if admin.feed.watched() {
            admin.feed.event(Report::Received {
                ns: socket.ns().to_owned(),
                sid: socket.id,
                data: data.clone(),
                at: now_ms(),
            });
        }
    }
}
