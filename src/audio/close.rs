//! Closing a device stream off the caller's thread.
//!
//! When the sound server dies under it, ALSA's pulse plugin can deadlock inside libpulse: its
//! mainloop thread, holding the lock, waits for a memory block that the stream's device thread
//! holds while it waits for that lock (seen here in about half of the sound-server restarts under
//! load). Closing such a stream joins the device thread, so it would hang the closing thread for
//! good: the audio worker would never reopen the microphone. Streams are therefore closed on a
//! short-lived thread of their own; one that never finishes leaks its (sleeping) threads instead
//! of stopping Zoe, and is counted so the log says so.

use std::sync::atomic::{AtomicUsize, Ordering};

static CLOSING: AtomicUsize = AtomicUsize::new(0);

/// Drops `stream` (a device stream and what it owns) on its own thread; returns at once.
pub fn close_aside<T: Send + 'static>(what: &'static str, stream: T) {
    CLOSING.fetch_add(1, Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("zoe-close".into())
        .spawn(move || {
            drop(stream);
            CLOSING.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!("closed the old {what} stream");
        });
    if let Err(e) = spawned {
        // No thread to spare: the value was dropped with the failed spawn's closure.
        CLOSING.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!("closing the old {what} stream on this thread: {e}");
    }
}

/// Streams handed to [`close_aside`] that have not finished closing.
pub fn still_closing() -> usize {
    CLOSING.load(Ordering::Relaxed)
}

/// Waits up to `limit` for every stream handed to [`close_aside`] to finish closing (at exit);
/// true if they all did. One stuck in its sound library is left to it.
pub fn wait_closed(limit: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while still_closing() > 0 {
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // The closing threads end right after they count themselves out.
    std::thread::sleep(std::time::Duration::from_millis(5));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A value whose drop blocks until told, like a stream stuck in its sound library.
    struct Stuck(mpsc::Receiver<()>);

    impl Drop for Stuck {
        fn drop(&mut self) {
            let _ = self.0.recv();
        }
    }

    #[test]
    fn a_stuck_close_does_not_block_the_caller() {
        let (release, rx) = mpsc::channel();
        let before = still_closing();
        close_aside("test", Stuck(rx));
        // The caller is back while the drop is still blocked, and it is counted.
        assert_eq!(still_closing(), before + 1);
        release.send(()).unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while still_closing() > before {
            assert!(
                std::time::Instant::now() < until,
                "the close never finished"
            );
            std::thread::yield_now();
        }
    }
}
