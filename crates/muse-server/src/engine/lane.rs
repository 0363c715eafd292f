//! A [`Lane`]: one thread that owns a service (the image model, the knowledge bases) and runs
//! the calls queued to it in order. Like the text worker, its queue is bounded, so a burst
//! beyond it is refused at once (HTTP 429) rather than piling up; a call whose requester has
//! gone is skipped. Images and knowledge-base work get lanes of their own so that a
//! seconds-long image never stalls the decode steps of streaming chats.

use crate::backend::{BackendError, Pending};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use tokio::sync::oneshot;

type Call<S> = Box<dyn FnOnce(&mut S) + Send>;

pub struct Lane<S> {
    queue: SyncSender<Call<S>>,
    depth: Arc<AtomicUsize>,
}

impl<S: 'static> Lane<S> {
    /// Start the thread `name`, build the service on it with `load`, and wait until it is ready.
    pub fn start(
        name: &str,
        load: impl FnOnce() -> Result<S, String> + Send + 'static,
        capacity: usize,
    ) -> Result<Self, String> {
        let (queue, calls) = sync_channel::<Call<S>>(capacity.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let depth = Arc::new(AtomicUsize::new(0));
        let thread_depth = depth.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut service = match load() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if ready_tx.send(Ok(())).is_err() {
                    return;
                }
                while let Ok(call) = calls.recv() {
                    thread_depth.fetch_sub(1, Ordering::SeqCst);
                    call(&mut service);
                }
            })
            .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| format!("the {name} thread stopped while loading"))??;
        Ok(Self { queue, depth })
    }

    /// Queue `f`; its result arrives on the returned receiver.
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<Pending<T>, BackendError> {
        let (reply, rx) = oneshot::channel();
        let call: Call<S> = Box::new(move |s| {
            if !reply.is_closed() {
                let _ = reply.send(f(s));
            }
        });
        self.depth.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(call) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => BackendError::Overloaded { retry_after: 2 },
                    TrySendError::Disconnected(_) => {
                        BackendError::Internal("a model thread stopped".into())
                    }
                })
            }
        }
    }

    /// Calls waiting.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::Lane;
    use crate::backend::BackendError;

    #[tokio::test]
    async fn runs_calls_in_order_on_its_own_state_and_refuses_when_full() {
        let lane = Lane::start("test-lane", || Ok(Vec::<u32>::new()), 64).unwrap();
        let a = lane.call(|v| {
            v.push(1);
            Ok(v.len())
        });
        let b = lane.call(|v| {
            v.push(2);
            Ok(v.clone())
        });
        assert_eq!(a.unwrap().await.unwrap(), Ok(1));
        assert_eq!(b.unwrap().await.unwrap(), Ok(vec![1, 2]));
        let failed = Lane::<()>::start("bad-lane", || Err("no model".into()), 1);
        assert_eq!(failed.err().as_deref(), Some("no model"));

        // Block the thread, fill its one-slot queue, and the next call is refused.
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let small = Lane::start("small-lane", || Ok(()), 1).unwrap();
        let first = small.call(move |_| {
            let _ = release.recv();
            Ok(())
        });
        // Wait until the thread has taken the blocking call off the queue.
        while small.depth() > 0 {
            std::thread::yield_now();
        }
        let queued = small.call(|_| Ok(()));
        assert!(queued.is_ok());
        assert!(matches!(
            small.call(|_| Ok(())),
            Err(BackendError::Overloaded { .. })
        ));
        drop(hold);
        assert_eq!(first.unwrap().await.unwrap(), Ok(()));
    }
}
