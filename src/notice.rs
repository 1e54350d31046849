//! Where the library reports what a user should hear about but that does not stop an
//! operation (a skipped hint file, a cold pack being thawed, a symlink S3 cannot hold).
//! The library never prints: it hands notices to a sink, and the CLI decides how they look
//! (stderr lines, or nothing under `--json`); tests collect them and assert on them.

use parking_lot::Mutex;

/// How much a notice matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Expected, informative ("waiting for 3 cold packs").
    Note,
    /// Something was skipped or degraded; the operation still did its job.
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    pub level: Level,
    pub message: String,
}

/// Receives notices, possibly from several threads.
pub trait NoticeSink: Send + Sync {
    fn notice(&self, n: Notice);
}

/// Helpers every sink gets.
pub trait NoticeExt {
    fn note(&self, message: impl Into<String>);
    fn warn(&self, message: impl Into<String>);
}

impl<T: NoticeSink + ?Sized> NoticeExt for T {
    fn note(&self, message: impl Into<String>) {
        self.notice(Notice { level: Level::Note, message: message.into() });
    }
    fn warn(&self, message: impl Into<String>) {
        self.notice(Notice { level: Level::Warning, message: message.into() });
    }
}

/// Drops every notice (library users that do not care).
pub struct Discard;

impl NoticeSink for Discard {
    fn notice(&self, _: Notice) {}
}

/// Keeps every notice, in order (tests, and reports that list them).
#[derive(Default)]
pub struct Collect(Mutex<Vec<Notice>>);

impl Collect {
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl NoticeSink for Collect {
    fn notice(&self, n: Notice) {
        self.0.lock().push(n);
    }
}
