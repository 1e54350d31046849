//! Progress display: a live line on a terminal, nothing when output is piped. Operations
//! only bump atomic counters; drawing happens on indicatif's own tick thread.

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Counters an operation advances; shared with the display.
#[derive(Default)]
pub struct Counters {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    pub counters: Arc<Counters>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    /// Shows a live line only when `enabled` and stderr is a terminal.
    pub fn new(enabled: bool, verb: &'static str) -> Progress {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("template"));
            b.enable_steady_tick(Duration::from_millis(200));
            let (c, s, bb) = (counters.clone(), stop.clone(), b.clone());
            std::thread::spawn(move || {
                while !s.load(Relaxed) {
                    let bytes = c.bytes.load(Relaxed);
                    bb.set_message(format!("{verb}: {} files, {}", c.files.load(Relaxed), HumanBytes(bytes)));
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            b
        });
        Progress { bar, counters, stop }
    }

    pub fn finish(&self) {
        self.stop.store(true, Relaxed);
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
