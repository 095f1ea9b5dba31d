//! Group commit: many callers submit one write each, a single task commits all
//! the writes waiting at that moment in one transaction and answers each caller
//! after the commit.
//!
//! Under load the batch grows by itself (everything that arrived during the
//! previous commit goes into the next one), so throughput is bounded by rows
//! per transaction, not by fsyncs per row; with one writer there is also no
//! lock contention on SQLite. When idle a write commits at once, alone.

use std::{future::Future, sync::Arc};

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// Writes that may wait for the writer before `submit` itself waits.
const QUEUE: usize = 8192;

struct Job<T, R> {
    item: T,
    reply: oneshot::Sender<Result<R, Arc<StoreError>>>,
}

/// The submitting side of a writer task. Cheap to clone; the task ends when
/// the last clone is dropped, after finishing what was submitted.
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

impl<T: Send + 'static, R: Send + 'static> BatchWriter<T, R> {
    /// Starts the writer task. `commit` writes a whole batch in one transaction
    /// and returns one result per item, in order; if it fails, every caller in
    /// the batch gets the error and nothing of the batch is stored.
    pub fn spawn<F, Fut>(mut commit: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
    {
        let (jobs, mut queue) = mpsc::channel::<Job<T, R>>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (items, replies): (Vec<T>, Vec<_>) =
                    batch.drain(..).map(|job| (job.item, job.reply)).unzip();
                let expected = items.len();
                match commit(items).await {
                    Ok(results) if results.len() == expected => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            reply.send(Ok(result)).ok();
                        }
                    }
                    Ok(results) => {
                        tracing::error!(
                            expected,
                            got = results.len(),
                            "store writer returned a wrong count"
                        );
                        let error = Arc::new(StoreError::WriterGone);
                        replies
                            .into_iter()
                            .for_each(|r| drop(r.send(Err(error.clone()))));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, writes = expected, "store commit failed");
                        let error = Arc::new(e);
                        replies
                            .into_iter()
                            .for_each(|r| drop(r.send(Err(error.clone()))));
                    }
                }
            }
        });
        Self { jobs }
    }

    /// Queues one write and resolves once its transaction has committed.
    pub async fn submit(&self, item: T) -> Result<R, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { item, reply })
            .await
            .map_err(|_| Arc::new(StoreError::WriterGone))?;
        answer.await.map_err(|_| Arc::new(StoreError::WriterGone))?
    }
}
