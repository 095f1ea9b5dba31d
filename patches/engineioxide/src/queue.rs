//! SWITCHBOARD PATCH (lean session queue): a bounded single-producer,
//! single-consumer queue that allocates as it fills and gives memory back when
//! it drains.
//!
//! A session's outgoing packets and its heartbeat went through
//! `tokio::sync::mpsc` channels, which allocate their first block of 32 slots
//! up front: about 6 KiB for the outgoing `PacketBuf`s and 0.5 KiB for each
//! channel's own state, on every session, idle or not (heaptrack, 10,000 idle
//! WebSockets). This queue is a `VecDeque` behind a mutex: empty, it holds no
//! slots. The interface is the subset of `mpsc` the engine uses, with the same
//! error types and the same semantics (`try_send` fails `Full` past the
//! capacity counting reserved permits, `Closed` once the receiver closed or is
//! gone; the receiver gets what was queued, then `None` once the sender is
//! gone).

use std::{
    collections::VecDeque,
    fmt,
    future::poll_fn,
    pin::pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use tokio::sync::{
    Notify,
    mpsc::error::{SendError, TryRecvError, TrySendError},
};

/// A drained queue keeps at most this many slots' worth of memory.
const KEPT_SLOTS: usize = 8;

/// A queue of at most `capacity` items.
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            reserved: 0,
            capacity: capacity.max(1),
            receiver_closed: false,
            sender_gone: false,
            receiver_waker: None,
            sender_waiting: false,
        }),
        closed: Notify::new(),
        room: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Woken when the receiver closes.
    closed: Notify,
    /// Woken when an item is taken while [`Sender::send`] waits for room, or
    /// when the receiver closes.
    room: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    /// Places held by permits not yet used.
    reserved: usize,
    capacity: usize,
    receiver_closed: bool,
    sender_gone: bool,
    receiver_waker: Option<Waker>,
    /// [`Sender::send`] waits for room.
    sender_waiting: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.items.len() + self.reserved < self.capacity
    }

    /// Queues `item` and returns the receiver's waker to wake outside the lock.
    fn push(&mut self, item: T) -> Option<Waker> {
        if !self.receiver_closed {
            self.items.push_back(item);
        }
        self.receiver_waker.take()
    }
}

/// The sending half.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` if there is room and the receiver is open.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if state.receiver_closed {
            return Err(TrySendError::Closed(item));
        }
        if !state.has_room() {
            return Err(TrySendError::Full(item));
        }
        let waker = state.push(item);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Queues `item`, waiting for room; fails once the receiver closed.
    pub(crate) async fn send(&self, item: T) -> Result<(), SendError<T>> {
        loop {
            let mut room = pin!(self.shared.room.notified());
            room.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if state.receiver_closed {
                    return Err(SendError(item));
                }
                if state.has_room() {
                    let waker = state.push(item);
                    drop(state);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    return Ok(());
                }
                // Set under the lock the receiver takes items under: no wake-up is missed.
                state.sender_waiting = true;
            }
            room.await;
        }
    }

    /// Holds a place for one item, to be sent with [`Permit::send`].
    pub(crate) fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let mut state = self.shared.lock();
        if state.receiver_closed {
            return Err(TrySendError::Closed(()));
        }
        if !state.has_room() {
            return Err(TrySendError::Full(()));
        }
        state.reserved += 1;
        Ok(Permit { sender: self })
    }

    /// Whether the receiver closed or is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().receiver_closed
    }

    /// Resolves once the receiver closed or is gone.
    pub(crate) async fn closed(&self) {
        let mut notified = pin!(self.shared.closed.notified());
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.sender_gone = true;
        let waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Sender")
            .field("queued", &state.items.len())
            .field("capacity", &state.capacity)
            .field("closed", &state.receiver_closed)
            .finish()
    }
}

/// A place held in the queue for one item.
pub(crate) struct Permit<'a, T> {
    sender: &'a Sender<T>,
}

impl<T> Permit<'_, T> {
    /// Queues `item` in the held place (dropped if the receiver closed meanwhile).
    pub(crate) fn send(self, item: T) {
        let mut state = self.sender.shared.lock();
        state.reserved -= 1;
        let waker = state.push(item);
        drop(state);
        // The place is used: the drop below must not give it back again.
        std::mem::forget(self);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.sender.shared.lock().reserved -= 1;
    }
}

/// The receiving half.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next item; `None` once the queue is empty and the sender is gone or
    /// the queue closed.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        if let Some(item) = self.take(&mut state) {
            return Poll::Ready(Some(item));
        }
        if state.sender_gone || state.receiver_closed {
            return Poll::Ready(None);
        }
        match &mut state.receiver_waker {
            Some(waker) => waker.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next item, waiting for one.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.lock();
        match self.take(&mut state) {
            Some(item) => Ok(item),
            None if state.sender_gone || state.receiver_closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further items; those queued can still be received.
    pub(crate) fn close(&mut self) {
        self.shared.lock().receiver_closed = true;
        self.shared.closed.notify_waiters();
        self.shared.room.notify_waiters();
    }

    /// Takes the first item, waking a sender that waits for room.
    fn take(&self, state: &mut State<T>) -> Option<T> {
        let item = state.items.pop_front()?;
        shrink_if_drained(&mut state.items);
        if std::mem::take(&mut state.sender_waiting) {
            self.shared.room.notify_one();
        }
        Some(item)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// An emptied queue that grew in a burst gives its memory back.
fn shrink_if_drained<T>(items: &mut VecDeque<T>) {
    if items.is_empty() && items.capacity() > KEPT_SLOTS {
        *items = VecDeque::new();
    }
}
