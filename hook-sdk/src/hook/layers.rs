//! The guarantees around a phase's work, as tower layers (the way `lambda_runtime` catches
//! panics): [`Deadline`] stops the work at the time kept for reporting, [`CatchPanic`] turns a
//! panic into a failure. Both end in a [`Verdict`], never in an error the hook could not
//! report.

use std::future::Future;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

use super::BoxFuture;
use super::verdict::{Failure, Verdict};

/// A piece of work with a time it must end by.
pub(crate) trait Deadlined {
    /// When the work is stopped.
    fn deadline(&self) -> Instant;
    /// Why the work failed when it was stopped.
    fn overrun(&self) -> Failure;
}

/// Stops the inner service's work at the request's [`Deadlined::deadline`]: dropping its
/// future cancels it, and the verdict says it ran out of time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner }
    }
}

/// See [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
}

impl<S, R> Service<R> for Deadline<S>
where
    R: Deadlined,
    S: Service<R, Response = (), Error = Failure>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = Failure;
    type Future = BoxFuture<Verdict>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Verdict> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let deadline = req.deadline();
        let overrun = req.overrun();
        let work = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, work).await {
                Ok(verdict) => verdict,
                Err(_) => Err(overrun),
            }
        })
    }
}

/// Runs the inner service's work as a task of its own, so that a panic in it becomes a
/// failed verdict with the panic's message; dropping the future aborts the task.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// See [`CatchPanicLayer`].
#[derive(Debug, Clone)]
pub(crate) struct CatchPanic<S> {
    inner: S,
}

impl<S, R> Service<R> for CatchPanic<S>
where
    S: Service<R, Response = (), Error = Failure>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = Failure;
    type Future = BoxFuture<Verdict>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Verdict> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let task = AbortOnDrop(tokio::spawn(self.inner.call(req).in_current_span()));
        Box::pin(async move {
            match task.await {
                Ok(verdict) => verdict,
                Err(join) if join.is_panic() => {
                    let payload = join.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".to_string());
                    Err(Failure::Panicked(message))
                }
                Err(join) => Err(Failure::Ended(join.to_string())),
            }
        })
    }
}

/// A task handle that aborts the task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;

    struct Job {
        deadline: Instant,
        panic: bool,
        sleep: Duration,
        finished: Arc<AtomicBool>,
    }

    impl Deadlined for Job {
        fn deadline(&self) -> Instant {
            self.deadline
        }
        fn overrun(&self) -> Failure {
            Failure::Ended("out of time".to_string())
        }
    }

    fn job(sleep_ms: u64, deadline_ms: u64, panic: bool) -> (Job, Arc<AtomicBool>) {
        let finished = Arc::new(AtomicBool::new(false));
        let job = Job {
            deadline: Instant::now() + Duration::from_millis(deadline_ms),
            panic,
            sleep: Duration::from_millis(sleep_ms),
            finished: finished.clone(),
        };
        (job, finished)
    }

    async fn run(job: Job) -> Verdict {
        ServiceBuilder::new()
            .layer(DeadlineLayer)
            .layer(CatchPanicLayer)
            .service(service_fn(|job: Job| async move {
                tokio::time::sleep(job.sleep).await;
                if job.panic {
                    panic!("boom at {}", 42);
                }
                job.finished.store(true, Ordering::SeqCst);
                Ok::<(), Failure>(())
            }))
            .oneshot(job)
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn work_in_time_passes() {
        let (j, finished) = job(10, 1_000, false);
        assert_eq!(run(j).await, Ok(()));
        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_is_a_failed_verdict_with_its_message() {
        let (j, _) = job(10, 1_000, true);
        assert_eq!(run(j).await, Err(Failure::Panicked("boom at 42".to_string())));
        assert_eq!(
            run(job(10, 1_000, true).0).await.unwrap_err().to_string(),
            "the handler panicked: boom at 42"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn work_past_the_deadline_is_stopped_and_never_finishes() {
        let (j, finished) = job(5_000, 100, false);
        assert_eq!(run(j).await, Err(Failure::Ended("out of time".to_string())));
        // The aborted task does not go on in the background.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!finished.load(Ordering::SeqCst));
    }
}
