//! This machine and its processes, as writer markers and temporary files name them, so a
//! prune can tell a writer that is gone from one that is only slow.

/// The host name recorded in snapshots and writer markers.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether process `pid` of this host still runs (or exists under another user).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// True when a writer recorded as (`host`, `pid`) is known to be gone: same host, and no
/// such process. On another host nothing can be known this way.
pub fn writer_gone(host: &str, pid: u32) -> bool {
    host == hostname() && !pid_alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_gone() {
        assert!(pid_alive(std::process::id()));
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert!(writer_gone(&hostname(), pid));
        assert!(!writer_gone("another-host", pid));
    }
}
