//! Every task the server spawns, owned by the [`App`](crate::app::App), so a
//! shutdown can wait for them instead of guessing.
//!
//! Tasks come in two groups, stopped one after the other:
//!
//! 1. **Tasks** ([`Tasks::spawn`]): connections, the sockets' delivery and
//!    game loops, delivery receipts, probes, background sweeps. A socket
//!    counts as one from its connect until its disconnect handler has run
//!    ([`Tasks::socket_opened`]). Those that would otherwise run forever end
//!    when [`Tasks::stopping`] fires.
//! 2. **Writers** ([`Tasks::spawn_writer`]): the store's group-commit writers
//!    and what forwards their commits. Everything in the first group may
//!    still write, so the writers stop only once it is done: on
//!    [`Tasks::draining`] they commit what is queued and end.
//!
//! [`Tasks::stop`] runs both steps; its caller bounds it with a timeout.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

/// The handle every spawner holds: the two trackers and their stop signals.
/// Cheap to clone; [`Tasks::default`] is a fresh set (tests never stop it).
#[derive(Clone, Default)]
pub struct Tasks {
    /// Everything but the writers; waited for first.
    tasks: TaskTracker,
    /// Cancelled once the sockets are closed: endless loops end.
    stopping: CancellationToken,
    /// The writers; waited for once `tasks` is empty.
    writers: TaskTracker,
    /// Cancelled once `tasks` is empty: writers commit what is queued and end.
    draining: CancellationToken,
}

/// Held by an open socket (in its extensions): a task of [`Tasks`] until its
/// disconnect handler has run ([`Tasks::socket_closed`]) or the socket is
/// dropped.
#[derive(Clone)]
struct OpenSocket(#[allow(dead_code)] TaskTrackerToken);

impl Tasks {
    /// Runs `task` on the runtime, tracked: a shutdown waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Runs a writer: a shutdown waits for it after every other task, and
    /// it should end soon after [`Self::draining`] fires.
    pub fn spawn_writer<F>(&self, writer: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.writers.spawn(writer)
    }

    /// Fires when the shutdown has closed the sockets: a task that would run
    /// forever ends on it.
    pub fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.stopping.clone().cancelled_owned()
    }

    /// Fires once every task but the writers has ended: a writer commits
    /// what is queued and ends.
    pub fn draining(&self) -> WaitForCancellationFutureOwned {
        self.draining.clone().cancelled_owned()
    }

    /// Counts an open socket as a task until [`Self::socket_closed`] (the end
    /// of its disconnect handler), so a shutdown waits for the handlers.
    pub fn socket_opened(&self, extensions: &socketioxide::extensions::Extensions) {
        extensions.insert(OpenSocket(self.tasks.token()));
    }

    /// The socket's disconnect handler has run.
    pub fn socket_closed(extensions: &socketioxide::extensions::Extensions) {
        extensions.remove::<OpenSocket>();
    }

    /// Stops everything, in order: fires [`Self::stopping`], waits for every
    /// task, fires [`Self::draining`], waits for the writers. Not bounded:
    /// the caller applies the shutdown timeout.
    pub async fn stop(&self) {
        self.stopping.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.draining.cancel();
        self.writers.close();
        self.writers.wait().await;
    }

    /// Tasks and writers still running (for the shutdown's log).
    pub fn running(&self) -> usize {
        self.tasks.len() + self.writers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_tasks_then_lets_the_writers_drain() {
        let tasks = Tasks::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (writes, mut queue) = tokio::sync::mpsc::unbounded_channel();
        let (writer_log, draining) = (log.clone(), tasks.draining());
        tasks.spawn_writer(async move {
            let mut draining = std::pin::pin!(draining);
            loop {
                tokio::select! {
                    Some(write) = queue.recv() => writer_log.lock().unwrap().push(write),
                    () = &mut draining => break,
                }
            }
            while let Ok(write) = queue.try_recv() {
                writer_log.lock().unwrap().push(write);
            }
            writer_log.lock().unwrap().push("writer done");
        });
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            stopping.await;
            // A task still writes after the stop began: the writer takes it.
            tokio::time::sleep(Duration::from_millis(20)).await;
            writes.send("late write").unwrap();
        });
        tokio::time::timeout(Duration::from_secs(5), tasks.stop())
            .await
            .expect("every task ends");
        assert_eq!(*log.lock().unwrap(), ["late write", "writer done"]);
        assert_eq!(tasks.running(), 0);
    }
}
