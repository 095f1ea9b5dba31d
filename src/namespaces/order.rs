//! One socket's events are handled one after another, in the order they
//! arrived (PROTOCOL.md, Conventions), on every transport.
//!
//! socketioxide spawns a task for each incoming event, so without help two
//! events of one socket race each other (a chat client firing messages without
//! waiting for acks saw them stored out of order). Its extractors, though, run
//! synchronously on the connection's receive path, packet after packet, before
//! that task is spawned. [`Arrival`] is such an extractor: it takes the
//! event's place in the socket's queue there (its [`Turn`]), and the handler
//! waits for the event before it to finish ([`Turn::wait`]). Different
//! sockets never wait for each other.
//!
//! This lives here rather than in the socketioxide fork because the fork would
//! have to change every handler's calling convention to get the same order;
//! an extractor needs nothing from it (see `patches/LEDGER.md`).
//!
//! The queue also carries the socket's rate limiter ([`attach`]): every event
//! needs both, and each lookup in a socket's extensions is a lock and a map
//! probe on memory that is cold when many sockets are busy (the two lookups
//! were 5% of the server's time in the echo benchmark, docs/benchmarks.md).
//!
//! A socket may have at most [`EventOrder::limit`] events queued; the one past
//! it is refused at once ([`Turn::Overflow`]) and the caller treats the socket
//! as flooding. Each queued event holds its payload, so the bound is what
//! keeps a socket that sends faster than its events are handled from growing
//! the server's memory without end.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use socketioxide::{
    adapter::Adapter,
    extract::State,
    handler::{FromMessageParts, Value},
    socket::Socket,
};
use tokio::sync::oneshot;

use super::rate_limit::SocketLimiter;

/// The server's ordering settings (socketioxide state).
#[derive(Debug, Clone, Copy)]
pub struct EventOrder {
    /// How many events one socket may have waiting for their turn.
    pub limit: usize,
}

/// One socket's queue, kept in its extensions, with the socket's limiter.
#[derive(Default)]
struct EventQueue {
    /// Resolves when the newest queued event is done (its sender is dropped).
    tail: Mutex<Option<oneshot::Receiver<()>>>,
    /// Events taken and not yet done.
    queued: Arc<AtomicUsize>,
    /// The socket's rate limiter; `None` for a socket never set up.
    limiter: Option<Arc<SocketLimiter>>,
}

/// Gives the socket its queue and its rate limiter, when it opens (before
/// its first event).
pub fn attach<A: Adapter>(socket: &Socket<A>, limiter: SocketLimiter) {
    socket.extensions.insert(Arc::new(EventQueue {
        limiter: Some(Arc::new(limiter)),
        ..EventQueue::default()
    }));
}

/// What the receive path knows of an event (an extractor): its place in the
/// socket's order, and whether the client asked for an ack. socketioxide's
/// `AckSender` silently does nothing without one, but some contract rules
/// ("acked if asked, emitted back otherwise") depend on it.
pub struct Arrival {
    pub turn: Turn,
    pub ack_requested: bool,
    /// The socket's rate limiter ([`attach`]); `None` for a socket never set up.
    pub limiter: Option<Arc<SocketLimiter>>,
}

/// An event's place in its socket's queue.
pub enum Turn {
    /// Waits for `previous`, then holds the place until dropped.
    InLine {
        previous: Option<oneshot::Receiver<()>>,
        done: Place,
    },
    /// The socket already had [`EventOrder::limit`] events queued.
    Overflow,
}

/// Held while an event is handled; dropping it lets the next event run.
pub struct Place {
    _done: oneshot::Sender<()>,
    queued: Arc<AtomicUsize>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket's queue was full: the event was not handled.
#[derive(Debug)]
pub struct Overflow;

impl Turn {
    /// Waits until every earlier event of the socket is done, then returns the
    /// place to hold while this one is handled.
    pub async fn wait(self) -> Result<Place, Overflow> {
        match self {
            Turn::InLine { previous, done } => {
                if let Some(previous) = previous {
                    // An error means the previous place was dropped: done too.
                    let _ = previous.await;
                }
                Ok(done)
            }
            Turn::Overflow => Err(Overflow),
        }
    }
}

impl EventQueue {
    fn take(&self, limit: usize) -> Turn {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= limit {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Turn::Overflow;
        }
        let (done, next) = oneshot::channel();
        let previous = self.tail.lock().unwrap().replace(next);
        Turn::InLine {
            previous,
            done: Place {
                _done: done,
                queued: self.queued.clone(),
            },
        }
    }
}

impl<A: Adapter> FromMessageParts<A> for Arrival {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let limit = State::<EventOrder>::from_message_parts(socket, value, ack_id)
            .map(|State(order)| order.limit)
            .unwrap_or(usize::MAX);
        // Extraction runs on the socket's receive path, one packet at a time, so
        // creating the queue on the first event cannot race another event.
        let queue = match socket.extensions.get::<Arc<EventQueue>>() {
            Some(queue) => queue,
            None => {
                let queue = Arc::new(EventQueue::default());
                socket.extensions.insert(queue.clone());
                queue
            }
        };
        Ok(Arrival {
            turn: queue.take(limit),
            ack_requested: ack_id.is_some(),
            limiter: queue.limiter.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn events_run_in_the_order_they_took_their_turns() {
        let queue = EventQueue::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            let turn = queue.take(usize::MAX);
            let order = order.clone();
            // Later events are quicker: without the queue they would finish first.
            tasks.push(tokio::spawn(async move {
                let _place = turn.wait().await.unwrap();
                tokio::time::sleep(Duration::from_micros(50 - i)).await;
                order.lock().unwrap().push(i);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
        assert_eq!(queue.queued.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn past_the_limit_an_event_is_refused_and_a_done_one_frees_its_place() {
        let queue = EventQueue::default();
        let first = queue.take(2);
        let second = queue.take(2);
        assert!(matches!(queue.take(2), Turn::Overflow));
        drop(first.wait().await.unwrap());
        assert!(matches!(queue.take(2), Turn::InLine { .. }));
        drop(second);
    }

    #[tokio::test]
    async fn a_dropped_turn_does_not_block_the_next() {
        let queue = EventQueue::default();
        let first = queue.take(10);
        let second = queue.take(10);
        drop(first); // say its handler panicked before waiting
        tokio::time::timeout(Duration::from_secs(5), second.wait())
            .await
            .expect("the next event runs")
            .unwrap();
    }
}
