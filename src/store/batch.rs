//! Group commit: many callers submit one write each, a single task commits all
//! the writes waiting at that moment in one transaction and answers each caller
//! after the commit.
//!
//! Under load the batch grows by itself (everything that arrived during the
//! previous commit goes into the next one), so throughput is bounded by rows
//! per transaction, not by fsyncs per row; with one writer there is also no
//! lock contention on SQLite. When idle a write commits at once, alone.
//!
//! One bad item never fails its neighbours: when a batch fails because of
//! what an item held (a value the engine refuses, a constraint), the writer
//! splits the batch in halves and commits each on its own, down to the
//! item that fails, which alone gets the error. A failure of the storage
//! itself (disk full, read-only, unreachable) fails every write of the batch
//! at once: splitting cannot help, and each caller is told the store cannot
//! write.

use std::ops::Range;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, health::Health};
use crate::tasks::Tasks;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// Writes that may wait for the writer before `submit` itself waits.
const QUEUE: usize = 8192;

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

struct Job<T, R> {
    item: T,
    reply: Reply<R>,
}

/// The submitting side of a writer task. Cheap to clone; the task ends when
/// the last clone is dropped, or when the shutdown drains the writers
/// ([`Tasks::draining`]), after finishing what was submitted.
pub struct BatchWriter<T, R> {
    jobs: mpsc::Sender<Job<T, R>>,
}

impl<T, R> Clone for BatchWriter<T, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<T: Send + Sync + 'static, R: Send + 'static> BatchWriter<T, R> {
    /// Starts the writer task of `stream` (`chat`, `notifications`: the
    /// metric label). `commit` writes the items it is given in one
    /// transaction and returns one result per item, in order; when it fails
    /// nothing of those items may be stored (it may be called again with a
    /// part of them). Every outcome is reported to `health`. The task is
    /// one of `tasks`' writers.
    pub fn spawn<F>(stream: &'static str, health: Health, tasks: &Tasks, commit: F) -> Self
    where
        F: for<'a> FnMut(&'a [T]) -> BoxFuture<'a, Result<Vec<R>, StoreError>> + Send + 'static,
    {
        let (jobs, mut queue) = mpsc::channel::<Job<T, R>>(QUEUE);
        let mut writer = Writer {
            stream,
            health,
            commit,
        };
        let draining = tasks.draining();
        tasks.spawn_writer(async move {
            let mut draining = std::pin::pin!(draining);
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                let received = tokio::select! {
                    received = queue.recv_many(&mut batch, MAX_BATCH) => received,
                    // No new writes from now on (`submit` says the writer is
                    // gone); the queued ones are still received and committed.
                    () = &mut draining, if !queue.is_closed() => {
                        queue.close();
                        continue;
                    }
                };
                if received == 0 {
                    break;
                }
                let (items, replies): (Vec<T>, Vec<_>) =
                    batch.drain(..).map(|job| (job.item, job.reply)).unzip();
                writer.write(&items, replies).await;
            }
        });
        Self { jobs }
    }

    /// Queues one write and resolves once its transaction has committed.
    pub async fn submit(&self, item: T) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { item, reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

struct Writer<F> {
    stream: &'static str,
    health: Health,
    commit: F,
}

impl<F> Writer<F> {
    /// Commits `items` (all of them in one transaction when it can) and
    /// answers each caller as soon as its own transaction committed.
    async fn write<T, R>(&mut self, items: &[T], replies: Vec<Reply<R>>)
    where
        F: for<'a> FnMut(&'a [T]) -> BoxFuture<'a, Result<Vec<R>, StoreError>>,
    {
        let mut replies: Vec<Option<Reply<R>>> = replies.into_iter().map(Some).collect();
        let mut answer = |range: Range<usize>, results: Vec<Result<R, StoreError>>| {
            for (reply, result) in replies[range].iter_mut().zip(results) {
                if let Some(reply) = reply.take() {
                    reply.send(result).ok();
                }
            }
        };
        // Ranges still to commit, the next one last; in item order, so ids
        // keep the order of arrival even when a batch is split.
        let mut pending = Vec::with_capacity(8);
        pending.push(0..items.len());
        while let Some(range) = pending.pop() {
            let count = range.len();
            let started = std::time::Instant::now();
            let committed = (self.commit)(&items[range.clone()]).await;
            self.health.commit_took(self.stream, started.elapsed());
            match committed {
                Ok(results) if results.len() == count => {
                    self.health.write_succeeded(self.stream);
                    answer(range, results.into_iter().map(Ok).collect());
                }
                Ok(results) => {
                    tracing::error!(
                        stream = self.stream,
                        expected = count,
                        got = results.len(),
                        "store writer returned a wrong count"
                    );
                    answer(
                        range,
                        (0..count).map(|_| Err(StoreError::WriterGone)).collect(),
                    );
                }
                Err(e) if e.is_item_failure() && count > 1 => {
                    tracing::warn!(
                        stream = self.stream,
                        error = %e,
                        writes = count,
                        "store commit failed for an item: committing the batch in halves"
                    );
                    let middle = range.start + count / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                Err(e) => {
                    // Nothing left to split, or the storage failed: then the
                    // rest of the batch cannot be written either.
                    let mut failed = range;
                    if !e.is_item_failure() {
                        if let Some(last) = pending.first() {
                            failed.end = last.end;
                        }
                        pending.clear();
                    }
                    let count = failed.len();
                    tracing::error!(stream = self.stream, error = %e, writes = count, "store commit failed");
                    self.health.write_failed(self.stream, &e, count);
                    answer(failed, (0..count).map(|_| Err(e.clone())).collect());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    type Log = Arc<Mutex<Vec<Vec<i32>>>>;

    /// A writer whose commit fails any transaction holding a negative item
    /// (or every one, with `full`); remembers what it committed and every
    /// transaction it was asked for.
    fn writer(full: bool) -> (BatchWriter<i32, i32>, Log, Log) {
        let committed = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (log, tried) = (committed.clone(), attempts.clone());
        let writer = BatchWriter::spawn(
            "chat",
            Health::new(),
            &Tasks::default(),
            move |items: &[i32]| {
                let (log, tried) = (log.clone(), tried.clone());
                let items = items.to_vec();
                Box::pin(async move {
                    tried.lock().unwrap().push(items.clone());
                    // Long enough for every submission to queue up behind the first.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    if full {
                        return Err(StoreError::disk_full());
                    }
                    if items.iter().any(|&i| i < 0) {
                        return Err(StoreError::bad_item());
                    }
                    log.lock().unwrap().push(items.clone());
                    Ok(items.iter().map(|i| i * 10).collect())
                }) as BoxFuture<'_, _>
            },
        );
        (writer, committed, attempts)
    }

    #[tokio::test]
    async fn one_failing_item_fails_alone() {
        let (writer, committed, _) = writer(false);
        // A first write keeps the writer busy while the batch queues up.
        let first = writer.submit(0);
        let rest: Vec<i32> = (1..=40).map(|i| if i == 17 { -17 } else { i }).collect();
        let answers = futures_util::future::join_all(
            std::iter::once(first).chain(rest.iter().map(|&i| writer.submit(i))),
        )
        .await;
        for (i, answer) in std::iter::once(0).chain(rest.iter().copied()).zip(&answers) {
            if i < 0 {
                assert!(
                    answer.as_ref().is_err_and(|e| e.is_item_failure()),
                    "{i}: {answer:?}"
                );
            } else {
                assert_eq!(answer.as_ref().ok(), Some(&(i * 10)), "{i}");
            }
        }
        let committed = committed.lock().unwrap();
        let all: Vec<i32> = committed.iter().flatten().copied().collect();
        let expected: Vec<i32> = (0..=40).filter(|&i| i != 17).collect();
        assert_eq!(all, expected, "every other item committed, in order");
        assert!(
            committed.len() <= 16,
            "split in halves, not one by one: {} commits",
            committed.len()
        );
    }

    #[tokio::test]
    async fn a_storage_failure_fails_the_whole_batch_without_splitting() {
        let (writer, _, attempts) = writer(true);
        let answers = futures_util::future::join_all((0..20).map(|i| writer.submit(i))).await;
        for answer in answers {
            assert!(answer.is_err_and(|e| e.is_unwritable()));
        }
        let attempts = attempts.lock().unwrap();
        assert!(
            attempts.len() <= 2,
            "one transaction per batch: {attempts:?}"
        );
    }
}
