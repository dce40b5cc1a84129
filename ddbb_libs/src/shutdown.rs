//! One "stop now" signal for every task that must end together: a replica's tasks, or the
//! loops of a lin_test run (Ctrl-C).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Sends the signal; dropping it signals too.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Waits for the signal. Cheap to clone; one per task.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new trigger and its first listener.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Tells every listener to stop; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A listener that is never signalled (for callers without a way to stop).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `recv()` pends instead of returning.
        std::mem::forget(tx);
        Shutdown(rx)
    }

    /// Resolves once the signal was sent (or the trigger dropped: nobody can send it any more,
    /// so waiting would be forever; callers treat it as "stop").
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// True once the signal was sent.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `duration` unless signalled first; returns false if signalled.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        self.sleep_until(Instant::now() + duration).await
    }

    /// Sleeps until `deadline` unless signalled first; returns false if signalled.
    pub async fn sleep_until(&mut self, deadline: Instant) -> bool {
        tokio::select! {
            _ = self.recv() => false,
            _ = tokio::time::sleep_until(deadline) => !self.is_triggered(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_reaches_every_listener_and_never_never_fires() {
        let (trigger, mut a) = channel();
        let mut b = a.clone();
        assert!(!a.is_triggered());
        trigger.trigger();
        a.recv().await;
        assert!(b.is_triggered() && !b.sleep(Duration::from_secs(60)).await);
        let mut n = Shutdown::never();
        assert!(n.sleep(Duration::from_millis(1)).await);
        drop(trigger);
    }
}
