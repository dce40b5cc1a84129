//! The request to end a run early (Ctrl-C), seen by every loop of the run.

use tokio::sync::watch;

/// Pulls the handle: every [`Stop`] made from it reports stopped.
#[derive(Debug)]
pub struct StopTrigger(watch::Sender<bool>);

/// A cloneable view of whether the run was asked to stop.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

/// A trigger and its first view.
pub fn channel() -> (StopTrigger, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopTrigger(tx), Stop(rx))
}

impl StopTrigger {
    /// Asks the run to stop; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// A view that never stops (for callers without Ctrl-C handling).
    pub fn never() -> Stop {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `stopped()` pends instead of returning.
        std::mem::forget(tx);
        Stop(rx)
    }

    /// True once the trigger was pulled.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the trigger is pulled (or dropped: nobody can stop the run any more,
    /// so waiting would be forever; callers treat it as "stop").
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps for `duration` unless stopped first; returns false if stopped.
    pub async fn sleep(&mut self, duration: std::time::Duration) -> bool {
        tokio::select! {
            _ = self.stopped() => false,
            _ = tokio::time::sleep(duration) => !self.is_stopped(),
        }
    }

    /// Sleeps until `deadline` unless stopped first; returns false if stopped.
    pub async fn sleep_until(&mut self, deadline: tokio::time::Instant) -> bool {
        tokio::select! {
            _ = self.stopped() => false,
            _ = tokio::time::sleep_until(deadline) => !self.is_stopped(),
        }
    }
}
