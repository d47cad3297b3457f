//! Thread priorities: the two cores shared on purpose. At the end of a turn whisper (the
//! transcript every reply waits for) and Smart Turn (whose answer a whole transcript makes moot)
//! start at the same probe; on two cores the end-of-turn thread runs at a lower priority so that
//! whisper's threads keep both cores (`turn.nice`; `zoe bench latency` measured the choice).

/// Lowers the calling thread's priority by `nice` steps (0: unchanged). Linux gives each thread
/// its own nice value; elsewhere this does nothing. A refusal is returned, not fatal.
pub fn lower_this_thread(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpriority and setpriority only read their integer arguments; `who = 0` is the
        // calling thread (Linux applies PRIO_PROCESS to one thread id). The value is absolute:
        // the current one plus `nice`, at most 19.
        let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, (now + nice).min(19)) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The thread's own nice value goes down by the steps asked; other threads keep theirs.
    #[test]
    fn lowers_only_the_calling_thread() {
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let lowered = std::thread::spawn(|| {
            super::lower_this_thread(5).unwrap();
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 5).min(19));
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before);
    }
}
